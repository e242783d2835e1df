"""Venue restarts and rate limits (issue 8).

The venue: while the matching engine restarts, order endpoints answer 425; for two minutes
after, orders that are not post-only get 503 post_only_mode with retry_after_seconds; a 429
carries Retry-After. The bot: market-making quotes are post-only, so quoting resumes at once;
other placements wait the advised time; the adapter waits out a 429's Retry-After.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sim_helpers import (
    START,
    Flat,
    RunningRound,
    connect,
    market_info,
    reward_terms,
    round_input,
)
from temporalio.exceptions import ApplicationError

from activities.liquidation import non_retryable_venue_errors
from dualmm.config import MarketMakerConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Side
from dualmm.exchange import clob
from dualmm.exchange.base import OrderStatus, PlaceOrder, RateLimited, VenueUnavailable
from dualmm.sim.clock import ManualClock
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import Faults, SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
INFO = market_info("0xrestart", "401", "402", **reward_terms("50"))


class Clock:
    """The server's real-time clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> Iterator[SimServer]:
    market = SimMarket(INFO, Flat(), START, book_seed="restart")
    venue = SimVenue([market], ManualClock(START), rules=VenueRules.harsh())
    with SimServer(venue, admin=True, clock=clock) as running:
        yield running


def bid(key: str, post_only: bool, price: str = "0.45") -> PlaceOrder:
    return PlaceOrder(
        key=key,
        market=INFO,
        token_id=INFO.yes_token_id,
        side=Side.BUY,
        price=D(price),
        size=D(10),
        post_only=post_only,
    )


# --- the venue ----------------------------------------------------------------------------


def post(server: SimServer, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=5)


def test_a_restart_answers_425_then_refuses_all_but_post_only_for_two_minutes(
    server: SimServer, clock: Clock
) -> None:
    server.restart(down_seconds=90, post_only_seconds=120)
    down = post(server, "/order", {"order": {}, "postOnly": True})
    assert down.status_code == 425
    assert httpx.get(server.url + "/time").status_code == 200  # market data stays up

    clock.now += 90
    refused = post(server, "/order", {"order": {}, "postOnly": False})
    assert refused.status_code == 503
    assert refused.json() == {"error": "post_only_mode", "retry_after_seconds": 120}
    # A post-only order goes through to the endpoint (here: refused for its empty order).
    assert post(server, "/order", {"order": {}, "postOnly": True}).status_code == 401

    clock.now += 120
    assert post(server, "/order", {"order": {}, "postOnly": False}).status_code == 401


def test_restarts_come_on_schedule(server: SimServer, clock: Clock) -> None:
    server.set_faults(Faults(restart_every_s=600, restart_down_s=10, restart_post_only_s=20))
    assert post(server, "/order", {"order": {}}).status_code == 401  # the schedule starts
    clock.now += 600
    assert post(server, "/order", {"order": {}}).status_code == 425
    clock.now += 10
    assert post(server, "/order", {"order": {}}).status_code == 503
    clock.now += 20
    assert post(server, "/order", {"order": {}}).status_code == 401
    clock.now += 570
    assert post(server, "/order", {"order": {}}).status_code == 425


def test_a_429_carries_retry_after(server: SimServer) -> None:
    server.set_faults(Faults(rate_limit_rate=1.0, retry_after_s=7))
    answer = httpx.get(server.url + "/time")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"


# --- the bot ------------------------------------------------------------------------------


async def test_post_only_placements_go_through_the_post_restart_window(server: SimServer) -> None:
    exchange = await connect(server)
    server.restart(down_seconds=0, post_only_seconds=120)
    with pytest.raises(VenueUnavailable) as refused:
        await exchange.place_order(bid("plain", post_only=False))
    assert refused.value.retry_after == 120
    placed = await exchange.place_order(bid("quote", post_only=True))
    assert placed.status is OrderStatus.LIVE


async def test_a_refusal_with_a_retry_after_retries_after_that_wait() -> None:
    with pytest.raises(ApplicationError) as raised:
        async with non_retryable_venue_errors():
            raise VenueUnavailable("HTTP 503: post_only_mode", retry_after=45)
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=45)


async def test_the_adapter_waits_out_a_429s_retry_after(
    server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchange = await connect(server)
    server.set_faults(Faults(rate_limit_rate=1.0, retry_after_s=3))
    with pytest.raises(RateLimited) as limited:
        await exchange.midpoint(INFO.yes_token_id)
    assert limited.value.retry_after == 3
    server.set_faults(Faults())
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def record(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(clob.asyncio, "sleep", record)
    await exchange.midpoint(INFO.yes_token_id)
    assert len(waits) == 1 and 2 < waits[0] <= 3


async def test_market_making_quotes_right_after_a_restart(server: SimServer) -> None:
    """During the post-only window the round's quotes (post-only) are accepted at once."""
    exchange = await connect(server)
    server.restart(down_seconds=0, post_only_seconds=120)
    config = MarketMakerConfig(order_size=D(20), quote_interval_ms=20)
    running = RunningRound(exchange, round_input(INFO, "restart", config))
    try:
        await running.until_quoted()
    finally:
        running.env.cancel()
        await running.task
    placed = server.venue.ledger()["orders"]
    assert len(placed) == 2 and all(o["post_only"] for o in placed)


# --- tick changes -------------------------------------------------------------------------


class Path:
    """0.50, then 0.975 from 60 s, then back to 0.50 from 600 s (or the reverse)."""

    def __init__(self, high_first: bool = False) -> None:
        self.high_first = high_first

    def mid_at(self, seconds: float) -> Decimal:
        high = 60 <= seconds < 600
        return D("0.975") if high != self.high_first else D("0.50")

    def change_times(self, after: float, until: float) -> Sequence[float]:
        return [t for t in (60.0, 600.0) if after < t <= until]


def ticking_venue(high_first: bool = False) -> SimVenue:
    market = SimMarket(INFO, Path(high_first), START, book_seed="tick")
    venue = SimVenue([market], ManualClock(START), rules=VenueRules(dynamic_tick=True))
    venue.ensure_wallet("0xt")
    return venue


def test_the_tick_follows_the_price_past_096_and_back() -> None:
    from dualmm.exchange.base import InvalidOrder

    venue = ticking_venue()
    assert venue.tick_size("401") == D("0.01")
    venue.advance(60)
    assert venue.tick_size("401") == D("0.001") == venue.book("401").tick_size
    venue.place("0xt", "fine", "401", Side.BUY, D("0.955"), D(10))
    venue.advance(540)
    assert venue.tick_size("401") == D("0.01")
    with pytest.raises(InvalidOrder, match=r"breaks minimum tick size rule: 0\.01"):
        venue.place("0xt", "coarse", "401", Side.BUY, D("0.455"), D(10))


async def test_a_liquidation_re_reads_the_tick_and_places_on_it() -> None:
    """PASSIVE at the midpoint: 0.975 on the 0.001 tick, then 0.50 on the 0.01 tick once the
    price is back (the resting 0.975 ask is never reached)."""
    from dualmm.config import LiquidationConfig
    from dualmm.domain.types import Token
    from dualmm.replay import replay_market
    from dualmm.sim.exchange import SimExchange

    venue = ticking_venue(high_first=True)
    venue.credit("0xt", "401", D(10))
    replay = await replay_market(
        venue,
        SimExchange(venue, "0xt"),
        INFO,
        PositionTracker.opening(Token.YES, D(10), D("0.40")),
        LiquidationConfig(skew_start_minutes=D(30)),
        START,
        START + timedelta(minutes=5),
    )
    assert [o.price for o in replay.orders] == [D("0.975"), D("0.50")]

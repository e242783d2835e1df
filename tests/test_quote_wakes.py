"""The quote loop wakes on the market (issue 18): a repricing moves both quotes within one
event of the market channel, not one poll, in one batch each way; a move inside the requote
threshold costs no request; a channel that goes down falls back to the poll and says so in
the round's checkpoint (what `dualmm status` shows)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from sim_helpers import START, RunningRound, Steered, round_input

from activities.market_making import MARKET_CHANNEL, POLL, Checkpoint, Outcome
from dualmm.config import MarketMakerConfig
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo, Token
from dualmm.exchange.base import ExchangeError, Order, PlaceOrder, Wake
from dualmm.exchange.market_channel import market_key
from dualmm.exchange.wake import FillWaker
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue

WAIT = 30.0  # the poll is 10 minutes away: anything sooner is the channel's doing
WALLET = "0x" + "5a" * 20


class PushedSim(SimExchange):
    """The in-process venue with a market channel the test drives (`push`): the adapter's
    MarketFeed and BatchOrders over SimExchange, counting what the round asks."""

    def __init__(self, venue: SimVenue) -> None:
        super().__init__(venue, WALLET)
        self.waker = FillWaker()
        self.live = True
        self.waited_on: set[str] = set()
        self.trades: dict[str, tuple[int, Decimal | None]] = {}
        self.calls: list[str] = []
        self.batches: list[tuple[str, int]] = []
        self.resolved: MarketResolution | None = None

    def push(self, condition_id: str) -> None:
        self.waker.notify(market_key(condition_id))

    async def market_live(self, condition_id: str) -> bool:
        return self.live

    async def market_mark(self, condition_id: str) -> int:
        return self.waker.mark(market_key(condition_id))

    async def trades_seen(self, token_id: str) -> tuple[int, Decimal | None]:
        return self.trades.get(token_id, (0, None))

    async def market_resolution(self, condition_id: str) -> MarketResolution | None:
        return self.resolved

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        condition_id = market.condition_id
        self.waited_on.add(condition_id)
        woke = await self.waker.wait_any(
            {condition_id: fill_mark, market_key(condition_id): market_mark}, timeout
        )
        if woke is None:
            return Wake.TIMEOUT
        return Wake.FILL if woke == condition_id else Wake.MARKET

    async def open_orders(self, condition_id: str | None = None) -> list[Order]:
        self.calls.append("open_orders")
        return await super().open_orders(condition_id)

    async def place_orders(self, requests: list[PlaceOrder]) -> list[Order | ExchangeError]:
        self.batches.append(("place", len(requests)))
        results: list[Order | ExchangeError] = []
        for request in requests:
            try:
                results.append(await self.place_order(request))
            except ExchangeError as exc:
                results.append(exc)
        return results

    async def cancel_orders(self, order_ids: list[str]) -> None:
        self.batches.append(("cancel", len(order_ids)))
        for order_id in order_ids:
            await self.cancel_order(order_id)


class Market:
    """A reward market at 0.50 whose band (20 cents) keeps our bids 10 cents off the
    midpoint: a 5-cent move re-prices them without filling them."""

    def __init__(self) -> None:
        self.info = MarketInfo(
            condition_id="0xwakes",
            yes_token_id="701",
            no_token_id="702",
            tick_size=Decimal("0.01"),
            min_order_size=Decimal(5),
            rewards_daily_rate=Decimal(100),
            rewards_max_spread_cents=Decimal(20),
            rewards_min_size=Decimal(10),
        )
        self.path = Steered()
        self.clock = ManualClock(START)
        self.venue = SimVenue(
            [
                SimMarket(
                    self.info, self.path, START, book_seed="wakes", half_spread=Decimal("0.01")
                )
            ],
            self.clock,
        )

    def move(self, mid: str) -> None:
        at = (self.clock.now() - START).total_seconds() + 1
        self.path.points.append((at, Decimal(mid)))
        self.venue.advance(1)


def bids(checkpoint: Checkpoint) -> dict[Token, Decimal]:
    return {q.token: q.price for q in checkpoint.quotes}


async def until(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
def market() -> Market:
    return Market()


def config(interval_ms: int = 600_000) -> MarketMakerConfig:
    return MarketMakerConfig(
        order_size=Decimal(10), position_limit=Decimal(100), quote_interval_ms=interval_ms
    )


async def test_a_five_cent_repricing_moves_both_quotes_within_one_event(market: Market) -> None:
    exchange = PushedSim(market.venue)
    round_ = RunningRound(exchange, round_input(market.info, "wakes", config()))
    await round_.until_quoted()
    before = bids(round_.beats[-1])
    assert round_.beats[-1].market_feed in (None, MARKET_CHANNEL)
    exchange.batches.clear()

    market.move("0.55")
    exchange.push(market.info.condition_id)  # one event
    await until(
        lambda: bids(round_.beats[-1]) != before and len(round_.beats[-1].quotes) == 2, "re-priced"
    )
    after = bids(round_.beats[-1])
    assert after[Token.YES] == before[Token.YES] + Decimal("0.05")
    assert after[Token.NO] == before[Token.NO] - Decimal("0.05")
    # Both sides in one round trip each way.
    assert exchange.batches == [("cancel", 2), ("place", 2)]
    assert round_.beats[-1].market_feed == MARKET_CHANNEL
    assert exchange.waited_on == {market.info.condition_id}
    round_.env.cancel()
    await asyncio.wait_for(round_.task, WAIT)


async def test_a_move_inside_the_threshold_costs_no_request(market: Market) -> None:
    exchange = PushedSim(market.venue)
    round_ = RunningRound(exchange, round_input(market.info, "quiet", config()))
    await round_.until_quoted()
    await asyncio.sleep(0.1)
    calls = len(exchange.calls)
    for _ in range(20):  # the book changes, the midpoint does not
        exchange.push(market.info.condition_id)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    assert len(exchange.calls) == calls
    round_.env.cancel()
    await asyncio.wait_for(round_.task, WAIT)


async def test_a_trade_at_our_price_reads_the_fills_at_once(market: Market) -> None:
    exchange = PushedSim(market.venue)
    round_ = RunningRound(exchange, round_input(market.info, "trade", config()))
    await round_.until_quoted()
    await asyncio.sleep(0.1)
    calls = len(exchange.calls)
    yes_bid = bids(round_.beats[-1])[Token.YES]
    exchange.push(market.info.condition_id)  # no trade yet
    await asyncio.sleep(0.2)
    # A trade above both bids (NO at 0.50 is YES at 0.50): it reaches neither.
    exchange.trades[market.info.no_token_id] = (1, Decimal("0.50"))
    exchange.push(market.info.condition_id)
    await asyncio.sleep(0.2)
    assert len(exchange.calls) == calls  # nothing read
    exchange.trades[market.info.yes_token_id] = (1, yes_bid)  # at our YES bid
    exchange.push(market.info.condition_id)
    await until(lambda: len(exchange.calls) > calls, "the fills read")
    round_.env.cancel()
    await asyncio.wait_for(round_.task, WAIT)


async def test_a_channel_that_goes_down_falls_back_to_the_poll_and_says_so(
    market: Market,
) -> None:
    exchange = PushedSim(market.venue)
    round_ = RunningRound(exchange, round_input(market.info, "down", config(interval_ms=200)))
    await round_.until_quoted()
    await until(lambda: round_.beats[-1].market_feed == MARKET_CHANNEL, "on the channel")
    # Live: the poll is LIVE_POLL_SECONDS away, though the interval is 0.2 s.
    calls = len(exchange.calls)
    await asyncio.sleep(1.0)
    assert len(exchange.calls) == calls
    exchange.live = False
    exchange.push(market.info.condition_id)  # the channel's last word: it is down
    await until(lambda: round_.beats[-1].market_feed == POLL, "polling, and saying so")
    calls = len(exchange.calls)
    market.move("0.55")  # nobody pushes this: the poll finds it
    before = bids(round_.beats[-1])
    await until(lambda: bids(round_.beats[-1]) != before, "re-priced by the poll")
    assert len(exchange.calls) > calls
    round_.env.cancel()
    await asyncio.wait_for(round_.task, WAIT)


async def test_a_resolved_market_is_left_at_once(market: Market) -> None:
    exchange = PushedSim(market.venue)
    round_ = RunningRound(exchange, round_input(market.info, "resolved", config()))
    await round_.until_quoted()
    exchange.resolved = MarketResolution(
        winning_asset_id=market.info.yes_token_id, winning_outcome="Yes"
    )
    exchange.push(market.info.condition_id)  # the channel's market_resolved
    result = await asyncio.wait_for(round_.task, WAIT)  # the poll is 10 minutes away
    assert result.outcome is Outcome.POSITION_LIMIT  # left: the workflow moves on
    assert result.checkpoint.quotes == ()
    assert await exchange.open_orders(market.info.condition_id) == []  # quotes cancelled


async def test_status_says_when_the_round_polls() -> None:
    """`dualmm status` reads the round's last heartbeat: a channel down shows as the poll."""
    from types import SimpleNamespace

    from temporalio.api.common.v1 import Payloads
    from temporalio.api.workflow.v1 import PendingActivityInfo
    from temporalio.contrib.pydantic import pydantic_data_converter

    from dualmm.domain.position import PositionTracker
    from dualmm.status import _market_feed, render_status

    checkpoint = Checkpoint(position=PositionTracker(), cursor="0", market_feed=POLL)
    payloads = await pydantic_data_converter.encode([checkpoint])
    pending = PendingActivityInfo(heartbeat_details=Payloads(payloads=payloads))
    pending.activity_type.name = "make_market"
    description = SimpleNamespace(raw_description=SimpleNamespace(pending_activities=[pending]))
    client = SimpleNamespace(data_converter=pydantic_data_converter)
    assert await _market_feed(client, description) == POLL  # type: ignore[arg-type]
    report = {
        "bot_id": "b",
        "state": "running",
        "mode": "sim",
        "uptime_seconds": 5,
        "problem": None,
        "market_feed": POLL,
        "markets": [],
        "totals": {
            "pnl": "0.00",
            "realized_pnl": "0.00",
            "unrealized_pnl": "0.00",
            "rewards_estimated": None,
            "rewards_reported": None,
            "capital_in_use": "0.00",
        },
    }
    assert "market data: REST poll (market channel down)" in render_status(report)
    report["market_feed"] = MARKET_CHANNEL
    assert "market data: market channel" in render_status(report)

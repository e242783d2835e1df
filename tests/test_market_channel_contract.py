"""The adapter's market channel against the simulator's (issue 18), with faults: the local
book equals the REST book after every change of the venue and after every recovery (a missed
price_change, a cut connection, a silent channel)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sim_helpers import START, Steered, connect

from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange import ws_client
from dualmm.exchange.base import PlaceOrder
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.market_channel import MarketChannel
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue

WAIT = 30.0


class Market:
    def __init__(self) -> None:
        self.info = MarketInfo(
            condition_id="0xcontract",
            yes_token_id="801",
            no_token_id="802",
            tick_size=Decimal("0.01"),
            min_order_size=Decimal(5),
            rewards_daily_rate=Decimal(100),
            rewards_max_spread_cents=Decimal(3),
            rewards_min_size=Decimal(10),
        )
        self.path = Steered()
        self.clock = ManualClock(START)
        self.venue = SimVenue([SimMarket(self.info, self.path, START, book_seed="k")], self.clock)

    def move(self, mid: str) -> None:
        at = (self.clock.now() - START).total_seconds() + 1
        self.path.points.append((at, Decimal(mid)))
        self.venue.advance(1)


@pytest.fixture
async def running(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Market, SimServer, ClobExchange, MarketChannel]]:
    monkeypatch.setattr(ws_client, "BACKOFF_MIN_SECONDS", 0.05)
    market = Market()
    with SimServer(market.venue) as server:
        exchange = await connect(server)
        channel = exchange.market_channel
        assert channel is not None
        channel._ping_seconds, channel._silence_seconds = 0.1, 0.8  # silence seen quickly
        info = market.info
        channel.want(info.condition_id, (info.yes_token_id, info.no_token_id))
        yield market, server, exchange, channel
        await exchange.close()


def local(channel: MarketChannel, token: str) -> tuple[Any, ...] | None:
    book = channel.live_book(token)
    return None if book is None else (dict(book.bids), dict(book.asks))


async def rest(exchange: ClobExchange, token: str) -> tuple[Any, ...]:
    book = await exchange._rest_book(token)
    return {x.price: x.size for x in book.bids}, {x.price: x.size for x in book.asks}


async def in_step(exchange: ClobExchange, channel: MarketChannel, info: MarketInfo) -> None:
    """Until both local books are live and equal the REST books (read after them)."""
    deadline = time.monotonic() + WAIT
    while True:
        seen = [local(channel, t) for t in (info.yes_token_id, info.no_token_id)]
        if None not in seen:
            truth = [await rest(exchange, t) for t in (info.yes_token_id, info.no_token_id)]
            if seen == truth and seen == [
                local(channel, t) for t in (info.yes_token_id, info.no_token_id)
            ]:
                return
        if time.monotonic() >= deadline:
            truth = [await rest(exchange, t) for t in (info.yes_token_id, info.no_token_id)]
            raise AssertionError(f"local {seen} never became REST's {truth}")
        await asyncio.sleep(0.02)


async def test_the_local_book_follows_every_change_and_every_recovery(
    running: tuple[Market, SimServer, ClobExchange, MarketChannel],
) -> None:
    market, server, exchange, channel = running
    info = market.info
    await in_step(exchange, channel, info)
    # The other makers move, and our own orders come and go: each time in step.
    for mid in ("0.52", "0.55", "0.49"):
        market.move(mid)
        await in_step(exchange, channel, info)
    order = await exchange.place_order(
        PlaceOrder(
            key="contract-1",
            market=info,
            token_id=info.yes_token_id,
            side=Side.BUY,
            price=Decimal("0.45"),
            size=Decimal(20),
            post_only=True,
        )
    )
    await in_step(exchange, channel, info)
    await exchange.cancel_order(order.order_id)
    await in_step(exchange, channel, info)
    assert channel.gaps == 0

    # A lost price_change: the next hash does not add up, the book is read again.
    server.market_channel.fault(miss=1)
    market.move("0.53")
    await asyncio.sleep(0.3)  # published (and lost) before the next move
    market.move("0.56")
    await in_step(exchange, channel, info)
    assert channel.gaps >= 1

    # A connection cut without a close frame: reconnected and rebuilt.
    subscriptions = channel.subscriptions
    server.market_channel.fault(drop=True)
    market.move("0.50")
    deadline = time.monotonic() + WAIT
    while channel.subscriptions == subscriptions:
        assert time.monotonic() < deadline, "never reconnected"
        await asyncio.sleep(0.02)
    await in_step(exchange, channel, info)

    # A channel that falls silent (no event, no PONG): not live, then back in step.
    subscriptions = channel.subscriptions
    assert server.market_channel.fault(silence_seconds=5) == 1
    market.move("0.47")
    deadline = time.monotonic() + WAIT
    while channel.live(info.condition_id):
        assert time.monotonic() < deadline, "silence never noticed"
        await asyncio.sleep(0.02)
    while channel.subscriptions == subscriptions:
        assert time.monotonic() < deadline, "never reconnected"
        await asyncio.sleep(0.02)
    await in_step(exchange, channel, info)


async def test_the_adapter_reads_the_pushed_book_instead_of_rest(
    running: tuple[Market, SimServer, ClobExchange, MarketChannel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market, _, exchange, channel = running
    info = market.info
    await in_step(exchange, channel, info)
    reads: list[str] = []
    real_get = exchange._reads.get

    async def counted(url: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(url)
        return await real_get(url, *args, **kwargs)

    monkeypatch.setattr(exchange._reads, "get", counted)
    book = await exchange.book(info.yes_token_id)
    assert reads == []  # no request: the pushed book
    assert {x.price: x.size for x in book.bids} == (await rest(exchange, info.yes_token_id))[0]
    assert book.tick_size == Decimal("0.01") and book.min_order_size == Decimal(5)
    await channel.close()  # the channel down: REST again
    await exchange.book(info.yes_token_id)
    assert len(reads) == 2


async def test_the_adapter_hears_the_simulators_resolution_and_rest_closes_the_market(
    running: tuple[Market, SimServer, ClobExchange, MarketChannel],
) -> None:
    market, server, exchange, channel = running
    info = market.info
    await in_step(exchange, channel, info)
    assert await exchange.market_resolution(info.condition_id) is None
    market.venue.resolve(info.condition_id, Token.YES)
    assert server.market_channel.announce_resolution(info.condition_id) == 1
    deadline = time.monotonic() + WAIT
    while (resolution := await exchange.market_resolution(info.condition_id)) is None:
        assert time.monotonic() < deadline, "the resolution never arrived"
        await asyncio.sleep(0.01)
    assert resolution == MarketResolution(winning_asset_id=info.yes_token_id, winning_outcome="Yes")
    markets = await exchange.reward_markets()
    listed = [m for m in markets if m.info.condition_id == info.condition_id]
    assert [(m.accepting_orders, m.active) for m in listed] == [(False, False)]

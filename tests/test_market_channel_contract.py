"""Contract (issue 18): the adapter's market channel (dualmm.exchange.market_channel) against the
simulator's (/ws/market), with the simulator's faults: the local book equals the REST book
after every change and after every recovery (a missed event, a cut connection, a silence)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest
from sim_helpers import START, Steered

from dualmm.domain.types import MarketInfo, Side
from dualmm.exchange.base import Book
from dualmm.exchange.clob_wire import book_of
from dualmm.exchange.market_channel import MarketChannel
from dualmm.exchange.wake import FillWaker
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue

YES, NO = "801", "802"
WALLET = "0x" + "ef" * 20
WAIT = 60.0


class Venue:
    def __init__(self) -> None:
        info = MarketInfo(
            condition_id="0xct",
            yes_token_id=YES,
            no_token_id=NO,
            tick_size=Decimal("0.01"),
            min_order_size=Decimal(5),
        )
        self.path, self.clock = Steered(), ManualClock(START)
        self.venue = SimVenue([SimMarket(info, self.path, START, book_seed="ct")], self.clock)
        self.venue.ensure_wallet(WALLET)
        self.orders = 0

    def move(self, mid: str) -> None:
        at = (self.clock.now() - START).total_seconds() + 1
        self.path.points.append((at, Decimal(mid)))
        self.venue.advance(1)

    def bid(self, token: str, price: str) -> None:
        self.orders += 1
        self.venue.place(WALLET, f"o{self.orders}", token, Side.BUY, Decimal(price), Decimal(10))


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Venue, SimServer, MarketChannel]]:
    sim = Venue()
    server = SimServer(sim.venue, admin=True).start()
    http = httpx.AsyncClient(base_url=server.url)

    async def rest_book(token_id: str) -> Book:
        answer = await http.get("/book", params={"token_id": token_id})
        answer.raise_for_status()
        return book_of(answer.json(), token_id)

    url = server.url.replace("http://", "ws://") + "/ws/market"
    channel = MarketChannel(url, rest_book, FillWaker(), ping_seconds=0.1, silence_seconds=1.0)
    channel.watch("0xct", (YES, NO))
    try:
        yield sim, server, channel
    finally:
        await channel.close()
        await http.aclose()
        server.stop()


def in_step(sim: Venue, channel: MarketChannel) -> bool:
    """Both local books live and equal to what REST serves now."""
    for token in (YES, NO):
        local = channel.live_book(token)
        rest = sim.venue.book(token)
        if local is None:
            return False
        if (local.bids, local.asks) != (
            {x.price: x.size for x in rest.bids},
            {x.price: x.size for x in rest.asks},
        ):
            return False
    return True


async def test_the_local_book_equals_the_rest_book_through_changes_and_faults(
    setup: tuple[Venue, SimServer, MarketChannel],
) -> None:
    sim, server, channel = setup
    await until(lambda: in_step(sim, channel), "in step after subscribing")
    changes: list[Callable[[], None]] = [
        lambda: sim.move("0.53"),
        lambda: sim.bid(YES, "0.50"),
        lambda: sim.bid(NO, "0.44"),
        lambda: sim.move("0.47"),  # fills our YES bid: a trade, then the book
        lambda: sim.venue.set_tick_size("0xct", Decimal("0.001")),
        lambda: sim.move("0.512"),
    ]
    for change in changes:
        change()
        await until(lambda: in_step(sim, channel), "in step after a change")

    gaps = channel.gaps
    server.market_channel.fault(miss=1)
    sim.move("0.55")  # lost: the next hash does not add up
    await until(lambda: server.market_channel.connections and _missed(server), "a miss")
    sim.bid(YES, "0.30")  # a price_change on a book the client no longer has
    await until(lambda: channel.gaps > gaps, "the gap is seen")
    await until(lambda: in_step(sim, channel), "in step after the gap is rebuilt")

    subscriptions = channel.subscriptions
    server.market_channel.fault(drop=True)
    sim.move("0.52")  # while the connection is down
    await until(lambda: channel.subscriptions > subscriptions, "reconnected")
    await until(lambda: in_step(sim, channel), "in step after the reconnect")

    subscriptions = channel.subscriptions
    server.market_channel.fault(silence_seconds=3.0)
    sim.bid(YES, "0.45")  # while nothing comes
    await until(lambda: channel.subscriptions > subscriptions, "silence taken as a dead socket")
    await until(lambda: in_step(sim, channel), "in step after the silence")


def _missed(server: SimServer) -> bool:
    return any(getattr(s, "missed", 0) for s in server.market_channel._sessions)

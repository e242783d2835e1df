"""The dead-man switch (issue 8): once a wallet sends heartbeats, the venue cancels all its open
orders ~10 s after they stop. The bot's market-making round sends them and the adapter keeps
them going while the process lives, so a killed worker leaves no quote behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

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

from dualmm.config import MarketMakerConfig
from dualmm.domain.types import Side
from dualmm.exchange.base import OrderStatus, PlaceOrder
from dualmm.exchange.clob import ClobExchange
from dualmm.sim.clock import ManualClock
from dualmm.sim.heartbeats import Heartbeats
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
INFO = market_info("0xbeat", "501", "502", **reward_terms("50"))


def serve(timeout: float) -> SimServer:
    market = SimMarket(INFO, Flat(), START, book_seed="beat")
    rules = VenueRules(heartbeat_timeout_seconds=timeout)
    return SimServer(SimVenue([market], ManualClock(START), rules=rules))


def test_silence_after_heartbeats_cancels_the_wallets_orders() -> None:
    now = [0.0]
    cancelled: list[str] = []

    def cancel_all(address: str) -> list[str]:
        cancelled.append(address)
        return [f"{address}-order"]

    beats = Heartbeats(10, cancel_all, clock=lambda: now[0])
    assert beats.reap() == []  # never armed: nothing to cancel
    beats.beat("0xA")
    now[0] = 9.0
    beats.beat("0xB")
    now[0] = 10.5
    assert beats.reap() == ["0xa-order"] and cancelled == ["0xa"]
    now[0] = 30.0
    assert beats.reap() == ["0xb-order"]
    assert beats.reap() == []  # disarmed until the next heartbeat


@pytest.fixture
def quick_server() -> Iterator[SimServer]:
    with serve(timeout=1.0) as server:
        yield server


async def test_orders_stay_while_the_process_beats_and_go_when_it_stops(
    quick_server: SimServer,
) -> None:
    exchange = await connect(quick_server)
    exchange.heartbeat_seconds = 0.3  # inside this venue's 1 s timeout
    order = await exchange.place_order(
        PlaceOrder(key="k", market=INFO, token_id="501", side=Side.BUY, price=D("0.45"), size=D(10))
    )
    await exchange.heartbeat()
    await asyncio.sleep(2.5)  # past the timeout: the adapter kept beating on its own
    assert (await exchange.get_order(order.order_id)).status is OrderStatus.LIVE  # type: ignore[union-attr]
    assert exchange._keep_alive is not None
    exchange._keep_alive.cancel()  # the process dies
    await asyncio.sleep(2.5)
    assert (await exchange.get_order(order.order_id)).status is OrderStatus.CANCELED  # type: ignore[union-attr]


async def test_a_beat_while_the_keep_alive_loop_is_fresh_sends_nothing(
    quick_server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every liquidation check calls heartbeat(): with the loop beating, that is a request per
    check for nothing (N/30 a second at N liquidations). A stale or failed loop still beats."""
    beats: list[str] = []
    serve_request = quick_server.serve

    def counting(request: Any) -> Any:
        if request.path == "/v1/heartbeats":
            beats.append(request.path)
        return serve_request(request)

    monkeypatch.setattr(quick_server, "serve", counting)
    exchange = await connect(quick_server)
    exchange.heartbeat_seconds = 0.5
    for _ in range(3):
        await exchange.heartbeat()
    assert len(beats) == 1
    await asyncio.sleep(1.2)  # the loop beat on its own meanwhile
    assert len(beats) >= 2
    counted = len(beats)
    assert exchange._keep_alive is not None
    exchange._keep_alive.cancel()  # no loop any more: a call beats again
    await asyncio.sleep(0)
    await exchange.heartbeat()
    assert len(beats) == counted + 1
    exchange._keep_alive.cancel()


class Freezable:
    """An exchange that hangs forever once frozen, like a process that was killed."""

    def __init__(self, inner: ClobExchange) -> None:
        self.inner = inner
        self.frozen = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.frozen.is_set():
                await asyncio.Event().wait()
            return await method(*args, **kwargs)

        return call


async def test_kill_the_worker_and_its_quotes_leave_the_book_within_15_seconds() -> None:
    with serve(timeout=10.0) as server:  # the venue's documented ~10 s
        inner = await connect(server)
        exchange = Freezable(inner)
        config = MarketMakerConfig(order_size=D(20), quote_interval_ms=200)
        running = RunningRound(exchange, round_input(INFO, "beat", config))
        await running.until_quoted()
        assert len(server.venue.open_orders(inner._client.builder.funder)) == 2

        exchange.frozen.set()  # SIGKILL: no more requests, no goodbye, no heartbeats
        assert inner._keep_alive is not None
        inner._keep_alive.cancel()
        killed_at = time.monotonic()
        async with asyncio.timeout(15):
            while server.venue.open_orders(inner._client.builder.funder):
                await asyncio.sleep(0.2)
        assert time.monotonic() - killed_at <= 15
        running.task.cancel()

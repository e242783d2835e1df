"""A liquidation check's reads (book, open orders, trades, an order) run on the event loop.

At a thousand liquidations they are a hundred requests a second; run in threads, the threads'
fight for the GIL stalled the worker's event loop and workflow tasks waited for it
(bench/capacity.py, BENCHMARKS.md "Capacity"). They answer and fail as the SDK's calls do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from test_exchange_contract import contract_venue, fresh_key, sim_settings

from dualmm.domain.types import Side
from dualmm.exchange.base import (
    NotFound,
    PlaceOrder,
    RateLimited,
    VenueTimeout,
    VenueUnavailable,
)
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.sync import sync_market
from dualmm.sim.server import Faults, SimServer


class NoThreads(ThreadPoolExecutor):
    """A default executor that refuses work: any `asyncio.to_thread` fails the test."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise AssertionError(f"a read ran in a thread: {getattr(fn, '__name__', fn)}")


async def test_a_liquidation_check_reads_without_a_thread() -> None:
    venue = contract_venue()
    market = venue.markets()[0]
    with SimServer(venue) as server:
        exchange = await ClobExchange.connect(sim_settings(server.url, fresh_key()))
        venue.credit(exchange._client.builder.funder, market.yes_token_id, Decimal(10))
        placed = await exchange.place_order(  # signing and posting stay in a thread
            PlaceOrder(
                key="reads",
                market=market,
                token_id=market.yes_token_id,
                side=Side.SELL,
                price=Decimal("0.90"),
                size=Decimal(10),
            )
        )
        loop = asyncio.get_running_loop()
        loop.set_default_executor(NoThreads())
        try:
            synced = await sync_market(exchange, market, None, placed.order_id, venue.now())
            assert synced.resting_remaining == Decimal(10)
            listed = await exchange.open_orders(market.condition_id)
            assert [order.order_id for order in listed] == [placed.order_id]
            assert (await exchange.get_order(placed.order_id)) is not None
            assert await exchange.get_order("0x" + "ab" * 32) is None  # 404: no such order
            await exchange.close()
            assert (await exchange.book(market.yes_token_id)).token_id == market.yes_token_id
        finally:
            loop.set_default_executor(ThreadPoolExecutor())
        await exchange.close()


async def test_reads_fail_as_the_sdk_calls_do() -> None:
    venue = contract_venue()
    market = venue.markets()[0]
    with SimServer(venue, admin=True) as server:
        exchange = await ClobExchange.connect(sim_settings(server.url, fresh_key()))
        server.set_faults(Faults(error_rate=1.0, seed=1))
        with pytest.raises(VenueUnavailable):
            await exchange.open_orders(market.condition_id)
        server.set_faults(Faults(rate_limit_rate=1.0, retry_after_s=0, seed=1))
        with pytest.raises(RateLimited):
            await exchange.fills(market)
        server.set_faults(Faults(seed=0))
        with pytest.raises(NotFound):
            await exchange.book("12345")  # no such token: the venue's 404
        await exchange.close()
    with pytest.raises(VenueTimeout):  # the venue is gone: no answer at all (as the SDK's)
        await exchange.book(market.yes_token_id)


async def test_l2_reads_ride_out_5xx_and_429() -> None:
    venue = contract_venue()
    market = venue.markets()[0]
    with SimServer(venue, admin=True) as server:
        exchange = await ClobExchange.connect(sim_settings(server.url, fresh_key()))
        server.set_faults(Faults(error_rate=0.15, rate_limit_rate=0.05, retry_after_s=0, seed=3))
        for _ in range(20):
            await sync_market(exchange, market, None, None, venue.now())
        await exchange.close()

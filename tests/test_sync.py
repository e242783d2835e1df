"""One liquidation check's read of the venue (dualmm.exchange.sync.sync_market): what remains
of our resting order, with as few requests as the answer needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from dualmm.domain.types import Side, Token
from dualmm.exchange.base import Order
from dualmm.exchange.sync import sync_market
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import ManualClock, SimVenue

D = Decimal
START = datetime(2026, 3, 2, 12, tzinfo=UTC)
WALLET = "0x00000000000000000000000000000000000000aa"


class Counting:
    """An exchange that counts its calls and can hide orders from its open-order list (a
    venue whose list lags a placement)."""

    def __init__(self, inner: SimExchange, hidden: set[str] | None = None) -> None:
        self.inner = inner
        self.hidden = hidden or set()
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            result = await method(*args, **kwargs)
            if name == "open_orders":
                result = [o for o in result if o.order_id not in self.hidden]
            return result

        return call


def venue_with_ask() -> tuple[SimVenue, Any, Order]:
    venue = SimVenue.synthetic(3, 1, ManualClock(START))
    info = venue.markets()[1]
    venue.credit(WALLET, info.token_id(Token.YES), D(10))
    order = venue.place(WALLET, "ask", info.token_id(Token.YES), Side.SELL, D("0.99"), D(10))
    return venue, info, order


async def test_a_resting_order_is_read_from_the_open_orders_without_a_lookup() -> None:
    venue, info, order = venue_with_ask()
    exchange = Counting(SimExchange(venue, WALLET))
    synced = await sync_market(exchange, info, None, order.order_id, START)  # type: ignore[arg-type]
    assert synced.resting_remaining == D(10)
    assert "get_order" not in exchange.calls
    assert exchange.calls.count("open_orders") == 1  # the snapshot's own orders are the same read


async def test_an_order_missing_from_the_list_is_looked_up_before_it_counts_as_gone() -> None:
    """A list that lags a placement must not make a resting order look gone: the workflow
    would place a second one."""
    venue, info, order = venue_with_ask()
    exchange = Counting(SimExchange(venue, WALLET), hidden={order.order_id})
    synced = await sync_market(exchange, info, None, order.order_id, START)  # type: ignore[arg-type]
    assert synced.resting_remaining == D(10)
    assert "get_order" in exchange.calls


async def test_a_cancelled_order_has_nothing_remaining() -> None:
    venue, info, order = venue_with_ask()
    venue.cancel(WALLET, order.order_id)
    later = START + timedelta(seconds=1)
    synced = await sync_market(SimExchange(venue, WALLET), info, None, order.order_id, later)
    assert synced.resting_remaining is None

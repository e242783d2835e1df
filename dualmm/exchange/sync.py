"""Reading a market's state through the Exchange protocol, shared by activities and the replay."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dualmm.domain.position import FillBoundary
from dualmm.domain.types import Fill, Frozen, MarketInfo, MarketSnapshot
from dualmm.exchange.base import Exchange, Order, OrderStatus


async def market_snapshot(exchange: Exchange, market: MarketInfo, at: datetime) -> MarketSnapshot:
    """The YES midpoint and touch, with tick size and minimum as the venue has them now."""
    book = await exchange.book(market.yes_token_id)
    midpoint = await exchange.midpoint(market.yes_token_id)
    return MarketSnapshot(
        condition_id=market.condition_id,
        tick_size=book.tick_size,
        min_order_size=book.min_order_size,
        midpoint=midpoint,
        best_bid=book.best_bid,
        best_ask=book.best_ask,
        at=at,
    )


class FillStart(Frozen):
    """Where a new owner of a market (a round, a liquidation) starts reading fills: the cursor
    to read from, and the boundary its tracker counts fills after (see FillBoundary)."""

    cursor: str
    boundary: FillBoundary | None


async def fill_start(exchange: Exchange, market: MarketInfo) -> FillStart:
    """Every fill the venue reports on `market` now belongs to earlier owners."""
    page = await exchange.fills(market)
    return FillStart(cursor=page.cursor, boundary=FillBoundary.after(page.fills))


def still_resting(order: Order | None) -> bool:
    """Whether an order is still on the book with something left to fill."""
    return order is not None and order.status is OrderStatus.LIVE and order.remaining > 0


class MarketSync(Frozen):
    """One liquidation check's view of the venue."""

    snapshot: MarketSnapshot
    fills: tuple[Fill, ...]
    cursor: str
    resting_remaining: Decimal | None  # None: the order is gone or fully filled


async def sync_market(
    exchange: Exchange,
    market: MarketInfo,
    cursor: str | None,
    resting_order_id: str | None,
    at: datetime,
) -> MarketSync:
    """New fills since `cursor`, the market snapshot, and what remains of our resting order."""
    # The order before the fills: a fill landing between the two reads is then in the page
    # too, so the position never lags the order (which would re-place more than is held).
    remaining = None
    if resting_order_id is not None:
        order = await exchange.get_order(resting_order_id)
        if order is not None and still_resting(order):
            remaining = order.remaining
    page = await exchange.fills(market, cursor)
    snapshot = await market_snapshot(exchange, market, at)
    return MarketSync(
        snapshot=snapshot, fills=page.fills, cursor=page.cursor, resting_remaining=remaining
    )

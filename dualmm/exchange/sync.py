"""Reading a market's state through the Exchange protocol, shared by activities and the replay."""

from __future__ import annotations

from datetime import datetime

from dualmm.domain.types import MarketInfo, MarketSnapshot
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


def still_resting(order: Order | None) -> bool:
    """Whether an order is still on the book with something left to fill."""
    return order is not None and order.status is OrderStatus.LIVE and order.remaining > 0

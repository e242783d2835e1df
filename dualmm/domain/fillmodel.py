"""The touch fill model (docs/design.md, "Fill models"), shared by the replay, paper trading
and the simulator.

The touch around a midpoint is bid = (mid - tick/2) rounded down, ask = (mid + tick/2) rounded
up. An order that crosses when placed fills at the touch; a resting SELL at p fills at p once
the best bid reaches p, a resting BUY once the best ask falls to p. (The backtest's quotes fill
by queue position instead: `dualmm.domain.queue`.)
"""

from __future__ import annotations

from decimal import Decimal

from dualmm.domain.prices import best_bid_ask
from dualmm.domain.types import Side

touch = best_bid_ask


def price_on_placement(side: Side, price: Decimal, bid: Decimal, ask: Decimal) -> Decimal | None:
    """The fill price of an order that crosses the touch when placed, else None (it rests)."""
    if side is Side.SELL and price <= bid:
        return bid
    if side is Side.BUY and price >= ask:
        return ask
    return None


def resting_fills(side: Side, price: Decimal, bid: Decimal, ask: Decimal) -> bool:
    """Whether a resting order at `price` fills (at its own price) against this touch."""
    if side is Side.SELL:
        return bid >= price
    return ask <= price

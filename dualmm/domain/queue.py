"""Where our resting order stands in the queue at its price, and what reaches it.

An order joins behind the others' size already resting at its price (`join`). Size that joins
later stands behind it. Trades at the price take the size ahead first, then ours
(`on_trade_at_price`); a trade through the price has taken the whole level, ours included.
When the level shrinks without a trade (cancels), the two models differ (`on_level`):

- conservative: the cancels are behind us; only what the level no longer holds moves us up;
- probabilistic: a share `f(ahead) / (f(ahead) + f(behind))` of each cancel is ahead of us,
  with f(x) = x ** QUEUE_POWER (the power family of queue-position estimators: just after
  joining every cancel is ahead, at the front none is). Cancels the size behind us cannot
  hold come from ahead too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

FillModel = Literal["conservative", "probabilistic"]
FILL_MODELS: tuple[FillModel, ...] = ("conservative", "probabilistic")
QUEUE_POWER = 3
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class QueueSpot:
    ahead: Decimal  # the others' shares at our price that trade before ours
    level: Decimal  # the others' shares at our price, ahead and behind


def join(level: Decimal) -> QueueSpot:
    """A new order: behind everything already at its price."""
    return QueueSpot(ahead=level, level=level)


def cancel_share_ahead(ahead: Decimal, behind: Decimal) -> Decimal:
    """The share of a cancel that comes from ahead of us (probabilistic model)."""
    front, back = ahead**QUEUE_POWER, behind**QUEUE_POWER
    return front / (front + back) if front + back > 0 else ZERO


def on_level(spot: QueueSpot, level: Decimal, model: FillModel) -> QueueSpot:
    """The others' size at our price is now `level` (no trade): joins or cancels."""
    if level >= spot.level:
        return QueueSpot(spot.ahead, level)  # joined behind us
    cancelled = spot.level - level
    behind = spot.level - spot.ahead
    if model == "conservative":
        from_ahead = max(cancelled - behind, ZERO)
    else:
        from_ahead = cancelled * cancel_share_ahead(spot.ahead, behind)
        from_ahead += max(cancelled - from_ahead - behind, ZERO)
    return QueueSpot(min(max(spot.ahead - from_ahead, ZERO), level), level)


def on_trade_at_price(spot: QueueSpot, size: Decimal, left: Decimal) -> tuple[Decimal, QueueSpot]:
    """(our fill, the queue after) when `size` shares trade at our price; we have `left`."""
    taken = min(spot.ahead, size)
    ours = min(left, size - taken)
    return ours, QueueSpot(spot.ahead - taken, spot.level - taken)

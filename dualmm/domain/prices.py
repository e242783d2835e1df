"""Decimal tick arithmetic. Prices live in [tick, 1 - tick]; sizes round down to 0.01 share."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import StrEnum

VALID_TICKS: frozenset[Decimal] = frozenset(
    Decimal(t) for t in ("0.1", "0.01", "0.001", "0.0001", "0.005", "0.0025")
)
SIZE_STEP = Decimal("0.01")
ONE = Decimal(1)


class Rounding(StrEnum):
    NEAREST = "NEAREST"  # ties to even, like py-clob-client's round()
    DOWN = "DOWN"
    UP = "UP"


_MODES = {Rounding.NEAREST: ROUND_HALF_EVEN, Rounding.DOWN: ROUND_FLOOR, Rounding.UP: ROUND_CEILING}


def check_tick(tick: Decimal) -> Decimal:
    if tick not in VALID_TICKS:
        raise ValueError(f"unsupported tick size {tick}")
    return tick


def round_to_tick(price: Decimal, tick: Decimal, mode: Rounding = Rounding.NEAREST) -> Decimal:
    """Round a price to a multiple of `tick` (ticks like 0.005 are not powers of ten)."""
    steps = (price / tick).to_integral_value(rounding=_MODES[mode])
    return steps * tick  # an integral count of ticks keeps the tick's exponent


def clamp_price(price: Decimal, tick: Decimal) -> Decimal:
    return min(max(price, tick), ONE - tick)


def to_valid_price(price: Decimal, tick: Decimal, mode: Rounding = Rounding.NEAREST) -> Decimal:
    """Round to the tick, then clamp into [tick, 1 - tick]."""
    return clamp_price(round_to_tick(price, tick, mode), tick)


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    return (price / tick) == (price / tick).to_integral_value()


def round_size(size: Decimal) -> Decimal:
    """Sizes round down to 0.01 share."""
    return size.quantize(SIZE_STEP, rounding=ROUND_DOWN) if size > 0 else Decimal("0.00")


def best_bid_ask(mid: Decimal, tick: Decimal) -> tuple[Decimal, Decimal]:
    """The touch fill model's touch: bid = (mid - tick/2) down, ask = (mid + tick/2) up."""
    half = tick / 2
    bid = clamp_price(round_to_tick(mid - half, tick, Rounding.DOWN), tick)
    ask = clamp_price(round_to_tick(mid + half, tick, Rounding.UP), tick)
    return bid, ask

"""Taker fees as Polymarket charges them on fee-enabled markets: per share,
`rate * (p * (1 - p)) ** exponent` at the fill price `p`, from the market's `fd` (`r`, `e`).
Makers (resting orders reached by the market) pay nothing."""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)
FEE_PLACES = Decimal("0.000001")  # USDC has 6 decimals


def taker_fee(price: Decimal, size: Decimal, rate: Decimal, exponent: Decimal) -> Decimal:
    """The USDC fee of a taker fill of `size` shares at `price` (rounded to 6 decimals)."""
    if rate <= 0 or size <= 0:
        return ZERO
    per_share = rate * (price * (1 - price)) ** exponent
    return (per_share * size).quantize(FEE_PLACES)

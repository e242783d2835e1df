"""Taker fees as Polymarket charges them: per fill, `C * rate * (p * (1 - p)) ** exponent` at
the fill price `p` for `C` shares, floored to 5 decimals, from the market's fee schedule
(`r`, `e`; the documented exponent is 1). Makers (resting orders reached by the market) pay
nothing. Rates by category, as documented (docs.polymarket.com, "Fees"); a market of unknown
category pays the general rate."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
FEE_PLACES = Decimal("0.00001")
CATEGORY_RATES: dict[str, Decimal] = {
    "crypto": Decimal("0.07"),
    "sports": Decimal("0.03"),
    "finance": Decimal("0.04"),
    "politics": Decimal("0.04"),
    "economics": Decimal("0.05"),
    "culture": Decimal("0.05"),
    "weather": Decimal("0.05"),
    "mentions": Decimal("0.04"),
    "tech": Decimal("0.04"),
    "geopolitics": ZERO,
    "general": Decimal("0.05"),
}
GENERAL_RATE = CATEGORY_RATES["general"]


def taker_fee(price: Decimal, size: Decimal, rate: Decimal, exponent: Decimal) -> Decimal:
    """The USDC fee of a taker fill of `size` shares at `price` (the one rounding rule)."""
    if rate <= 0 or size <= 0:
        return ZERO
    fee = size * rate * (price * (1 - price)) ** exponent
    return fee.quantize(FEE_PLACES, rounding=ROUND_FLOOR)


@dataclass(frozen=True)
class Fees:
    """A fee schedule: `rate` None charges each market its category's documented rate."""

    rate: Decimal | None = None
    exponent: Decimal = ONE

    def rate_for(self, category: str) -> Decimal:
        if self.rate is not None:
            return self.rate
        return CATEGORY_RATES.get(category.lower(), GENERAL_RATE)

    def for_category(self, category: str) -> Fees:
        """This schedule with one market's rate fixed."""
        return Fees(rate=self.rate_for(category), exponent=self.exponent)

    def taker(self, price: Decimal, size: Decimal) -> Decimal:
        return taker_fee(price, size, self.rate_for(""), self.exponent)

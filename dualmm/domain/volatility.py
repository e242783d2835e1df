"""How much a market's midpoint moved: the discovery filter's measure of volatility."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal


def price_range(prices: Iterable[Decimal]) -> Decimal:
    """Highest minus lowest price over a window (0 with fewer than two prices).

    In price units, so 0.05 reads "moved 5 cents": the distance a resting quote inside the
    reward band could have been run over by, which is what costs a maker money.
    """
    seen = list(prices)
    return max(seen) - min(seen) if seen else Decimal(0)

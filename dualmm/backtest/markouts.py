"""Markouts: how the midpoint moved after our fills, in cents per share.

For each fill, at 1, 5, 30 and 60 minutes after it, the token's reference midpoint less the
fill price (a BUY; the reverse for a SELL): positive when the price moved our way. The mean is
weighted by shares. Quoting fills (the active market's quotes) and liquidation fills (the
exits) are kept apart: the first measure adverse selection, the second what exits pay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from dualmm.backtest.markets import MarketData
from dualmm.domain.prices import ONE
from dualmm.domain.types import Side, Token

ZERO = Decimal(0)
CENTS = Decimal(100)
MARKOUT_MINUTES = (1, 5, 30, 60)
KINDS = ("quoting", "liquidation")


@dataclass
class Markouts:
    """Share-weighted sums of the moves after fills, per kind and horizon."""

    moves: dict[str, list[Decimal]] = field(
        default_factory=lambda: {kind: [ZERO] * len(MARKOUT_MINUTES) for kind in KINDS}
    )
    shares: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(KINDS, ZERO))

    def add(
        self,
        kind: str,
        market: MarketData,
        at: float,
        token: Token,
        side: Side,
        price: Decimal,
        size: Decimal,
    ) -> None:
        sums = self.moves[kind]
        for n, minutes in enumerate(MARKOUT_MINUTES):
            yes_mid = market.mid(max(market.index_at(at + 60 * minutes), 0))
            mid = yes_mid if token is Token.YES else ONE - yes_mid
            sums[n] += size * (mid - price if side is Side.BUY else price - mid)
        self.shares[kind] += size

    def cents(self, kind: str) -> dict[str, Decimal | None]:
        """{"1": ..., "5": ..., "30": ..., "60": ...}: the mean move in cents per share."""
        shares = self.shares[kind]
        return {
            str(minutes): (total / shares * CENTS if shares > 0 else None)
            for minutes, total in zip(MARKOUT_MINUTES, self.moves[kind], strict=True)
        }

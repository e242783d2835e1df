"""Expected adverse selection of resting quotes, for ranking markets by what they net.

A price jump runs through the bid on the side it moves toward (a fall hits the YES bid, a
rise the NO bid) and leaves that bid `J - d` under water, for a jump of `J` cents and a bid
`d` cents below its own midpoint; a jump smaller than `d` does not reach it. Expected cost a
day = jumps a day x 1/2 (either direction) x sum over the bids of size x E[max(0, J - d)].

The prior is the real long-dated markets' (`dualmm/backtest/calibration.json`, "real"):
jumps (moves over 2 cents between 2-minute polls) a day and their sizes, pooled over the
categories by the reward snapshot's category weights. The bot cannot see a market's jumps
before it quotes it, so every market gets the pooled prior; what differs is how far its bids
sit from the midpoint (band, tick) and how large they are (minimum size).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from dualmm.domain.prices import ONE
from dualmm.domain.types import OrderIntent, Side, Token

ZERO = Decimal(0)
CENTS = Decimal(100)
HALF = Decimal("0.5")
PRIOR_JUMPS_PER_DAY = Decimal("0.72")
# (jump size in cents, share of jumps), the pooled real sizes grouped to half cents
PRIOR_JUMP_CENTS: tuple[tuple[Decimal, Decimal], ...] = tuple(
    (Decimal(c), Decimal(s))
    for c, s in (
        ("2.5", "0.42"),
        ("3", "0.25"),
        ("3.5", "0.08"),
        ("4", "0.08"),
        ("5", "0.08"),
        ("6", "0.036"),
        ("7.5", "0.03"),
        ("12", "0.024"),
    )
)


def expected_shortfall_cents(
    distance_cents: Decimal, jumps: Iterable[tuple[Decimal, Decimal]] = PRIOR_JUMP_CENTS
) -> Decimal:
    """E[max(0, J - d)] in cents over the jump sizes' distribution."""
    return sum((share * max(ZERO, size - distance_cents) for size, share in jumps), ZERO)


def daily_adverse_selection(
    quotes: Iterable[OrderIntent],
    yes_mid: Decimal,
    jumps_per_day: Decimal = PRIOR_JUMPS_PER_DAY,
    jumps: tuple[tuple[Decimal, Decimal], ...] = PRIOR_JUMP_CENTS,
) -> Decimal:
    """USDC a day the bids are expected to lose to jumps that run through them."""
    total = ZERO
    for quote in quotes:
        if quote.side is not Side.BUY:
            continue
        own_mid = yes_mid if quote.token is Token.YES else ONE - yes_mid
        distance = max(ZERO, own_mid - quote.price) * CENTS
        total += quote.size * expected_shortfall_cents(distance, jumps) / CENTS
    return jumps_per_day * HALF * total

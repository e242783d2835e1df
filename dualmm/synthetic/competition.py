"""The other reward makers: each one a maker with its own orders, drawn per market.

The snapshot of real reward markets says how many markets are contested (53 %), thin (9 %) or
have no other reward maker at all (38 %), not how much size the others hold. That is modelled
as capital that follows the pool: the contested makers together hold `pool / yield` USDC,
`yield` being what a USDC of their capital earns a day. The yield is a guess, so it is an input
with stated uncertainty: `low`, `calibrated` and `high` competition (half, once and twice that
capital; more or fewer uncontested markets). Richer pools are contested more often: none
above 50 USDC a day is uncontested or thin.

A maker is `(bids, asks)`, each `(distance_cents, size)` from the reference midpoint, so it
follows the market; one-sided makers exist (they score a third, or nothing near 0 and 1).
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from dualmm.synthetic.calibration import parameters

ZERO = Decimal(0)
COMPETITION_LEVELS = ("low", "calibrated", "high")

Quote = tuple[Decimal, Decimal]  # (distance from the reference midpoint in cents, size)
Maker = tuple[tuple[Quote, ...], tuple[Quote, ...]]  # YES bids, YES asks


def _model() -> dict[str, Any]:
    model: dict[str, Any] = parameters()["competition"]
    return model


def check_level(level: str) -> str:
    if level not in COMPETITION_LEVELS:
        raise ValueError(f"competition {level!r}: use one of {', '.join(COMPETITION_LEVELS)}")
    return level


def draw_makers(
    rng: random.Random,
    daily_rate: Decimal,
    max_spread_cents: Decimal,
    min_size: Decimal,
    touch_cents: Decimal,
    level: str,
) -> tuple[Maker, ...]:
    """The competing reward makers of one market.

    `rng` draws the same numbers whatever `level`, so a market uncontested under `calibrated`
    competition stays uncontested under `low`, and its makers only grow under `high`.
    """
    model, scale = _model(), _model()["levels"][check_level(level)]
    kind, count, unit = rng.random(), rng.randint(*model["contested_makers"]), rng.random()
    factor = _pool_factor(daily_rate, model["odds_by_pool"])
    none = model["none"] * scale["none"] * factor
    inner = max(touch_cents, max_spread_cents * Decimal("0.1"))
    outer = max_spread_cents * Decimal("0.8")
    if kind < none:
        return ()
    if kind < none + model["thin"] * factor:
        size = min_size * (1 + int(unit * 3))
        distance = _between(rng, max(inner, max_spread_cents / 2), outer)
        return ((((distance, size),), ((distance, size),)),)
    capital = daily_rate / Decimal(str(model["contested_daily_yield"]))
    capital *= Decimal(str(scale["capital"]))
    weights = [rng.random() + 0.2 for _ in range(count)]
    makers: list[Maker] = []
    for weight in weights:
        # shares a side ~ USDC held: two sides at prices around the middle of [0, 1]
        size = max(min_size, (capital * Decimal(weight / sum(weights))).quantize(Decimal(1)))
        quote = (_between(rng, inner, outer), size)
        sides = rng.random()
        if sides < model["one_sided"] / 2:
            makers.append(((quote,), ()))
        elif sides < model["one_sided"]:
            makers.append(((), (quote,)))
        else:
            makers.append(((quote,), (quote,)))
    return tuple(makers)


def calibrated_levels(
    daily_rate: Decimal, max_spread_cents: Decimal, min_size: Decimal
) -> tuple[Quote, ...]:
    """A contested market's competition as symmetric levels, for a scenario market that states
    none: the calibrated capital for its pool, in three equal makers at 30, 50 and 70 % of the
    band."""
    capital = daily_rate / Decimal(str(_model()["contested_daily_yield"]))
    size = max(min_size, (capital / 3).quantize(Decimal(1)))
    return tuple((max_spread_cents * Decimal(f), size) for f in ("0.3", "0.5", "0.7"))


def _pool_factor(daily_rate: Decimal, odds: list[list[float]]) -> float:
    """How much likelier than average a market with this pool is uncontested or thin."""
    for upto, factor in odds:
        if daily_rate <= Decimal(str(upto)):
            return float(factor)
    return float(odds[-1][1])


def _between(rng: random.Random, low: Decimal, high: Decimal) -> Decimal:
    """A distance in [low, high] cents, to 0.1 cent."""
    if high <= low:
        return low.quantize(Decimal("0.1"))
    return (low + (high - low) * Decimal(rng.random())).quantize(Decimal("0.1"))

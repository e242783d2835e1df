"""Polymarket liquidity-rewards math: order scores, two-sided Q_min, earnings, market ranking.

Distances are measured on the YES book in cents: a NO order at `p` sits at YES price `1 - p`
(a NO bid is a YES ask, a NO ask a YES bid). Q_one sums the YES-bid side (YES bids + NO asks),
Q_two the YES-ask side (YES asks + NO bids).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from dualmm.config import MarketMakerConfig
from dualmm.domain.adverse import daily_adverse_selection
from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import ONE
from dualmm.domain.quoting import (
    CENTS_PER_UNIT,
    SINGLE_SIDED_MAX_MID,
    SINGLE_SIDED_MIN_MID,
    desired_quotes,
)
from dualmm.domain.types import Frozen, MarketInfo, OrderIntent, Side, Token

ZERO = Decimal(0)
# Single-sided liquidity counts 1/c of the larger side, only while the mid is in this range.
SINGLE_SIDED_DIVISOR = Decimal(3)

Level = tuple[Decimal, Decimal]  # (YES price, size) of one book level


def order_score(spread_cents: Decimal, max_spread_cents: Decimal, size: Decimal) -> Decimal:
    """`S = ((v - s) / v)^2 * size` for an order `s` cents from the mid; 0 outside the band."""
    if spread_cents < 0:
        raise ValueError(f"spread {spread_cents} must be a distance (>= 0)")
    if spread_cents >= max_spread_cents:
        return ZERO
    return ((max_spread_cents - spread_cents) / max_spread_cents) ** 2 * size


def _level_score(
    yes_price: Decimal, size: Decimal, yes_mid: Decimal, max_spread_cents: Decimal
) -> Decimal:
    return order_score(abs(yes_mid - yes_price) * CENTS_PER_UNIT, max_spread_cents, size)


def order_side_scores(
    orders: Iterable[OrderIntent],
    yes_mid: Decimal,
    max_spread_cents: Decimal,
    min_size: Decimal = ZERO,
) -> tuple[Decimal, Decimal]:
    """(Q_one, Q_two) of orders; orders below the reward minimum size score nothing."""
    q_one = q_two = ZERO
    for order in orders:
        if order.size < min_size:
            continue
        yes_price = order.price if order.token is Token.YES else ONE - order.price
        score = _level_score(yes_price, order.size, yes_mid, max_spread_cents)
        if (order.token is Token.YES) == (order.side is Side.BUY):
            q_one += score
        else:
            q_two += score
    return q_one, q_two


def book_side_scores(
    bids: Iterable[Level],
    asks: Iterable[Level],
    yes_mid: Decimal,
    max_spread_cents: Decimal,
    min_size: Decimal = ZERO,
) -> tuple[Decimal, Decimal]:
    """(Q_one, Q_two) of YES-book levels.

    A level smaller than the reward minimum cannot hold a scoring order, so it is skipped; a
    larger level is counted whole (the book does not say who holds it), which overstates the
    competition a little rather than understating it.
    """
    q_one = sum(
        (_level_score(p, s, yes_mid, max_spread_cents) for p, s in bids if s >= min_size), ZERO
    )
    q_two = sum(
        (_level_score(p, s, yes_mid, max_spread_cents) for p, s in asks if s >= min_size), ZERO
    )
    return q_one, q_two


def q_min(q_one: Decimal, q_two: Decimal, yes_mid: Decimal) -> Decimal:
    """Two-sided score: one side alone counts a third (c = 3), and nothing near 0 or 1."""
    if SINGLE_SIDED_MIN_MID <= yes_mid <= SINGLE_SIDED_MAX_MID:
        return max(min(q_one, q_two), max(q_one, q_two) / SINGLE_SIDED_DIVISOR)
    return min(q_one, q_two)


def size_cutoff_midpoint(
    bids: Iterable[Level], asks: Iterable[Level], min_size: Decimal
) -> Decimal | None:
    """The midpoint the reward scorer measures spreads from: on each side, the price at which
    the book (best level first) first holds `min_size` shares, so that an order smaller than
    the reward minimum cannot move it. None when a side never holds that much."""
    cutoffs = []
    for side, best_first in ((bids, True), (asks, False)):
        held = ZERO
        for price, size in sorted(side, reverse=best_first):
            held += size
            if held >= min_size:
                cutoffs.append(price)
                break
        else:
            return None
    return (cutoffs[0] + cutoffs[1]) / 2


def makers_score(
    makers: Iterable[tuple[Iterable[Level], Iterable[Level]]],
    yes_mid: Decimal,
    max_spread_cents: Decimal,
    min_size: Decimal,
) -> Decimal:
    """The others' total score: each maker's own two-sided Q_min, summed (a maker quoting one
    side counts a third of it, however many others quote the other side)."""
    return sum(
        (
            q_min(*book_side_scores(bids, asks, yes_mid, max_spread_cents, min_size), yes_mid)
            for bids, asks in makers
        ),
        ZERO,
    )


def estimated_daily_earnings(
    daily_rate: Decimal, q_ours: Decimal, q_competitors: Decimal
) -> Decimal:
    """Our share of the market's daily reward pool: `rate * Q_ours / (Q_ours + Q_others)`."""
    if q_ours <= 0:
        return ZERO
    return daily_rate * q_ours / (q_ours + q_competitors)


class RewardCandidate(Frozen):
    """A market we could make: its facts, YES midpoint and the competitors' YES book."""

    market: MarketInfo
    yes_mid: Decimal
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()


class MarketEstimate(Frozen):
    """What quoting a candidate would earn, and the capital our two bids lock up."""

    market: MarketInfo
    yes_mid: Decimal
    quotes: tuple[OrderIntent, ...]
    q_ours: Decimal
    q_competitors: Decimal
    daily_earnings: Decimal
    capital: Decimal
    earnings_per_usdc: Decimal
    # Expected USDC a day lost to jumps through the quotes, as weighted by the config
    # (`dualmm.domain.adverse`); 0 when the ranking ignores adverse selection.
    adverse_selection: Decimal = ZERO

    @property
    def net_per_usdc(self) -> Decimal:
        """Expected daily earnings after adverse selection, per USDC of capital."""
        if not self.capital:
            return self.earnings_per_usdc
        return self.earnings_per_usdc - self.adverse_selection / self.capital


def estimate_market(candidate: RewardCandidate, config: MarketMakerConfig) -> MarketEstimate:
    """Score the quotes we would place on a fresh (flat) position in this market.

    The candidate's book must not contain our own orders, or we would compete with ourselves.
    """
    market, mid = candidate.market, candidate.yes_mid
    v, min_size = market.rewards_max_spread_cents, market.rewards_min_size
    quotes = desired_quotes(market, mid, PositionTracker(), config)
    q_ours = q_min(*order_side_scores(quotes, mid, v, min_size), mid)
    q_others = q_min(*book_side_scores(candidate.bids, candidate.asks, mid, v, min_size), mid)
    earnings = estimated_daily_earnings(market.rewards_daily_rate, q_ours, q_others)
    capital = sum((q.price * q.size for q in quotes), ZERO)
    weight = config.adverse_selection_weight
    adverse = weight * daily_adverse_selection(quotes, mid) if weight else ZERO
    return MarketEstimate(
        market=market,
        yes_mid=mid,
        quotes=quotes,
        q_ours=q_ours,
        q_competitors=q_others,
        daily_earnings=earnings,
        capital=capital,
        earnings_per_usdc=earnings / capital if capital else ZERO,
        adverse_selection=adverse,
    )


def rank_markets(
    candidates: Iterable[RewardCandidate],
    config: MarketMakerConfig,
    exclude: set[str],
    max_capital: Decimal | None = None,
) -> list[MarketEstimate]:
    """Candidates by expected daily net per USDC of capital (earnings less the weighted
    expected adverse selection; earnings alone at weight 0), best first.

    Left out: condition ids in `exclude` (e.g. markets in liquidation), markets where our
    quotes would earn nothing (among them markets whose minimum order is above the position
    limit: no side can be quoted) or, adverse selection weighed, lose more than they earn,
    and markets needing more capital than `max_capital`. Ties go to the lower condition id,
    so the choice is deterministic.
    """
    estimates = [
        estimate_market(c, config) for c in candidates if c.market.condition_id not in exclude
    ]
    kept = [
        e
        for e in estimates
        if e.daily_earnings > e.adverse_selection
        and (max_capital is None or e.capital <= max_capital)
    ]
    return sorted(kept, key=lambda e: (-e.net_per_usdc, e.market.condition_id))

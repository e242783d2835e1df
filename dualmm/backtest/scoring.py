"""One minute's liquidity reward of our resting orders in a market (Polymarket's method).

Our orders inside the band and at or above the reward minimum score `((v - s)/v)^2 * size`,
summed per side into Q_one/Q_two, then `q_min`; the others' book scores the same way, and our
share of the minute's `daily_rate / 1440` is `Q_ours / (Q_ours + Q_others)`. All of it is
`dualmm.domain.rewards`, the code discovery ranks markets with.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from dualmm.backtest.markets import MarketData
from dualmm.domain.rewards import (
    book_side_scores,
    estimated_daily_earnings,
    order_side_scores,
    q_min,
)
from dualmm.domain.types import OrderIntent

ZERO = Decimal(0)
MINUTES_PER_DAY = Decimal(1440)


def others_score(market: MarketData, i: int, cache: dict[int, Decimal]) -> Decimal:
    """The competition's Q_min in state `i` (cached: it is read every minute)."""
    score = cache.get(i)
    if score is None:
        info = market.info
        bids, asks = market.competition(i)
        mid = market.mid(i)
        sides = book_side_scores(
            bids, asks, mid, info.rewards_max_spread_cents, info.rewards_min_size
        )
        score = cache[i] = q_min(*sides, mid)
    return score


def minute_reward(
    market: MarketData, i: int, orders: Sequence[OrderIntent], cache: dict[int, Decimal]
) -> tuple[Decimal, Decimal]:
    """(our reward for this minute, our Q_min); (0, 0) when nothing of ours scores."""
    info = market.info
    if not orders or info.rewards_max_spread_cents <= 0:
        return ZERO, ZERO
    mid = market.mid(i)
    sides = order_side_scores(orders, mid, info.rewards_max_spread_cents, info.rewards_min_size)
    ours = q_min(*sides, mid)
    if ours <= 0:
        return ZERO, ZERO
    daily = estimated_daily_earnings(info.rewards_daily_rate, ours, others_score(market, i, cache))
    return daily / MINUTES_PER_DAY, ours

"""Liquidity rewards as Polymarket documents them, sampled once a minute.

- The sample is taken at a random second of each minute (`sample_second`, seeded by the
  minute), not at the moment the bot requotes: the book may have moved since.
- Spreads are measured from the size-cutoff-adjusted midpoint of the whole book, ours included
  (`size_cutoff_midpoint`); without that much size on a side, from the reference midpoint.
- Every maker scores on its own: our orders' `Q_min` against the sum of each other maker's
  `Q_min` (`MarketData.competing_makers`), and our share of the minute is
  `daily_rate / 1440 * Q_ours / (Q_ours + Q_others)`.
- A day pays only if its rewards reach `MIN_PAYOUT` (1 USDC); less is not paid (`payable`).
All of the arithmetic is `dualmm.domain.rewards`, the code discovery ranks markets with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

from dualmm.backtest.markets import MarketData, yes_view
from dualmm.domain.rewards import (
    Level,
    estimated_daily_earnings,
    makers_score,
    order_side_scores,
    q_min,
    size_cutoff_midpoint,
)
from dualmm.domain.types import OrderIntent

ZERO = Decimal(0)
MINUTES_PER_DAY = Decimal(1440)
MIN_PAYOUT = Decimal(1)


def sample_second(minute: int) -> int:
    """The second of `minute` at which the rewards are sampled (the same for every market)."""
    digest = hashlib.sha256(f"reward-sample:{minute}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 60


def payable(day_rewards: Decimal) -> Decimal:
    """What a day's rewards pay: nothing below the minimum payout."""
    return day_rewards if day_rewards >= MIN_PAYOUT else ZERO


def scoring_midpoint(
    market: MarketData, i: int, orders: Sequence[OrderIntent], cache: dict[object, Decimal]
) -> Decimal:
    """The size-cutoff-adjusted midpoint of the others' book and our orders in state `i`
    (cached by reference midpoint, book and orders: they change far less often than the
    state)."""
    bids, asks = market.competition(i)
    ours = tuple((o.token, o.side, o.price, o.size) for o in orders)
    key = (market.mid(i), tuple(bids), tuple(asks), ours)
    mid = cache.get(key)
    if mid is None:
        mid = cache[key] = _cutoff_midpoint(market, i, bids, asks, orders)
    return mid


def _cutoff_midpoint(
    market: MarketData,
    i: int,
    bids: Sequence[Level],
    asks: Sequence[Level],
    orders: Sequence[OrderIntent],
) -> Decimal:
    all_bids: list[Level] = list(bids)
    all_asks: list[Level] = list(asks)
    for order in orders:
        is_yes_bid, yes_price = yes_view(order)
        (all_bids if is_yes_bid else all_asks).append((yes_price, order.size))
    mid = size_cutoff_midpoint(all_bids, all_asks, market.info.rewards_min_size)
    return market.mid(i) if mid is None else mid


def others_score(market: MarketData, i: int, mid: Decimal, cache: dict[int, Decimal]) -> Decimal:
    """The other makers' summed Q_min in state `i` around `mid` (cached while the scoring
    midpoint is the reference one: it is read every minute)."""
    cached = mid == market.mid(i)
    score = cache.get(i) if cached else None
    if score is None:
        info = market.info
        score = makers_score(
            market.competing_makers(i), mid, info.rewards_max_spread_cents, info.rewards_min_size
        )
        if cached:
            cache[i] = score
    return score


def minute_reward(
    market: MarketData, i: int, orders: Sequence[OrderIntent], cache: dict[int, Decimal]
) -> tuple[Decimal, Decimal]:
    """(our reward for the minute sampled in state `i`, our Q_min); (0, 0) when nothing of ours
    scores."""
    info = market.info
    if not orders or info.rewards_max_spread_cents <= 0:
        return ZERO, ZERO
    mid = scoring_midpoint(market, i, orders, market.midpoint_cache)
    sides = order_side_scores(orders, mid, info.rewards_max_spread_cents, info.rewards_min_size)
    ours = q_min(*sides, mid)
    if ours <= 0:
        return ZERO, ZERO
    others = others_score(market, i, mid, cache)
    daily = estimated_daily_earnings(info.rewards_daily_rate, ours, others)
    return daily / MINUTES_PER_DAY, ours

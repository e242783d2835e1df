"""Reward-market discovery: which markets the bot may quote, best estimated earnings first.

Fetches the venue's reward markets (paged), drops the ones we should not quote (not accepting
orders, closed, excluded, neg-risk when opted out, ending too soon, no reward band), fetches
the YES book of the rest, keeps midpoints inside [min price, max price], and ranks them with
the domain's estimate (`dualmm.domain.rewards.rank_markets`: estimated daily earnings per USDC
of capital for our quote size).

With `max_volatility` set, a market whose YES midpoint moved further than that (highest minus
lowest, `dualmm.domain.volatility.price_range`) over the lookback is left out; its history comes
from the venue's `/prices-history` (a market with no history in the lookback has not moved, so
it passes). The books may hold our own resting orders, which then
count as competition (run it before quoting, or read it as a conservative estimate).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from dualmm.domain.types import Frozen

if TYPE_CHECKING:
    from dualmm.config import MarketMakerConfig
    from dualmm.domain.rewards import MarketEstimate, RewardCandidate
    from dualmm.exchange.base import Book, Exchange, Order, RewardMarket

BOOK_FETCH_CONCURRENCY = 8
# About this many history points per lookback: fine enough to see a swing, one page to fetch.
HISTORY_POINTS = 96


class Filters(Frozen):
    """Which reward markets are worth quoting at all."""

    min_price: Decimal = Decimal("0.10")
    max_price: Decimal = Decimal("0.90")
    min_hours_to_end: Decimal = Decimal(24)
    allow_neg_risk: bool = True
    exclude: frozenset[str] = frozenset()
    max_volatility: Decimal | None = None  # most the YES mid may have moved over the lookback
    volatility_lookback_hours: Decimal = Decimal(24)

    @property
    def volatility_lookback(self) -> timedelta:
        return timedelta(hours=float(self.volatility_lookback_hours))


def quotable(market: RewardMarket, filters: Filters, now: datetime) -> bool:
    """Whether a market passes the filters that need no order book."""
    info = market.info
    if not (market.accepting_orders and market.active) or info.condition_id in filters.exclude:
        return False
    if info.neg_risk and not filters.allow_neg_risk:
        return False
    if info.rewards_daily_rate <= 0 or info.rewards_max_spread_cents <= 0:
        return False
    margin = timedelta(hours=float(filters.min_hours_to_end))
    return market.end_date is None or market.end_date - now >= margin


def candidate(
    market: RewardMarket, yes_book: Book, own: Sequence[Order] = ()
) -> RewardCandidate | None:
    """The market with the YES midpoint and book of the other makers (our `own` orders taken
    out), or None when a side of that book is empty."""
    from dualmm.domain.book import without_own
    from dualmm.domain.rewards import RewardCandidate
    from dualmm.exchange.sync import own_intents

    bids, asks = without_own(
        ((level.price, level.size) for level in yes_book.bids),
        ((level.price, level.size) for level in yes_book.asks),
        own_intents(market.info, own),
    )
    if not bids or not asks:
        return None
    return RewardCandidate(
        market=market.info.model_copy(update={"tick_size": yes_book.tick_size}),
        yes_mid=(bids[0][0] + asks[0][0]) / 2,
        bids=bids,
        asks=asks,
    )


def rank(
    candidates: Iterable[RewardCandidate],
    filters: Filters,
    config: MarketMakerConfig,
    max_capital: Decimal | None,
) -> list[MarketEstimate]:
    """Candidates with a midpoint inside the price band, best estimated earnings per USDC first."""
    from dualmm.domain.rewards import rank_markets

    in_band = [c for c in candidates if filters.min_price <= c.yes_mid <= filters.max_price]
    return rank_markets(in_band, config, set(filters.exclude), max_capital)


async def discover(
    exchange: Exchange,
    filters: Filters,
    config: MarketMakerConfig,
    max_capital: Decimal | None,
    now: datetime,
    own: Sequence[Order] = (),
) -> list[MarketEstimate]:
    """Fetch, filter and rank the venue's reward markets; `own` (our open orders) are taken
    out of every book first, so we never rank against ourselves."""
    markets = [m for m in await exchange.reward_markets() if quotable(m, filters, now)]
    gate = asyncio.Semaphore(BOOK_FETCH_CONCURRENCY)

    async def with_book(market: RewardMarket) -> RewardCandidate | None:
        async with gate:
            if not await calm(exchange, market.info.yes_token_id, filters, now):
                return None
            book = await exchange.book(market.info.yes_token_id)
            return candidate(
                market, book, [o for o in own if o.condition_id == market.info.condition_id]
            )

    found = await asyncio.gather(*(with_book(m) for m in markets))
    return rank((c for c in found if c is not None), filters, config, max_capital)


async def calm(exchange: Exchange, token_id: str, filters: Filters, now: datetime) -> bool:
    """Whether the token's midpoint stayed within `max_volatility` over the lookback."""
    from dualmm.domain.volatility import price_range

    if filters.max_volatility is None:
        return True
    lookback = filters.volatility_lookback
    fidelity = max(int(lookback.total_seconds() // 60) // HISTORY_POINTS, 1)
    history = await exchange.price_history(token_id, now - lookback, now, fidelity)
    return price_range(point.price for point in history) <= filters.max_volatility

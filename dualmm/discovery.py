"""Reward-market discovery: `dualmm markets`.

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
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cliutil import UsageError, decimal_flag, fail, load_settings
from dualmm.domain.types import Frozen

if TYPE_CHECKING:
    from dualmm.config import MarketMakerConfig, Settings
    from dualmm.domain.rewards import MarketEstimate, RewardCandidate
    from dualmm.exchange.base import Book, Exchange, Order, RewardMarket

BOOK_FETCH_CONCURRENCY = 8
# About this many history points per lookback: fine enough to see a swing, one page to fetch.
HISTORY_POINTS = 96
MAX_LOOKBACK_HOURS = Decimal(24 * 30)
MAX_HOURS_TO_END = Decimal(24 * 365 * 10)
EXCHANGES = ("sim", "polymarket")


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


# --- output -----------------------------------------------------------------------------------

_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")


def estimate_json(estimate: MarketEstimate) -> dict[str, Any]:
    info = estimate.market
    return {
        "condition_id": info.condition_id,
        "question": info.question,
        "yes_mid": str(estimate.yes_mid),
        "rewards_daily_rate": str(info.rewards_daily_rate),
        "rewards_max_spread_cents": str(info.rewards_max_spread_cents),
        "rewards_min_size": str(info.rewards_min_size),
        "neg_risk": info.neg_risk,
        "quotes": [
            {
                "token": q.token.value,
                "side": q.side.value,
                "price": str(q.price),
                "size": str(q.size),
            }
            for q in estimate.quotes
        ],
        "q_ours": str(estimate.q_ours.quantize(_MICRO)),
        "q_competitors": str(estimate.q_competitors.quantize(_MICRO)),
        "daily_earnings": str(estimate.daily_earnings.quantize(_MICRO)),
        "capital": str(estimate.capital),
        "earnings_per_usdc": str(estimate.earnings_per_usdc.quantize(_MICRO)),
    }


def print_table(estimates: list[MarketEstimate], venue: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Reward markets on {venue}, best estimated earnings per USDC first")
    for name in ("#", "market", "question", "mid", "rate/day", "spread¢", "min size"):
        table.add_column(name, justify="left" if name in ("market", "question") else "right")
    for name in ("est. $/day", "capital", "% per day"):
        table.add_column(name, justify="right")
    for i, e in enumerate(estimates, 1):
        info = e.market
        table.add_row(
            str(i),
            info.condition_id[:14],
            info.question[:48],
            str(e.yes_mid),
            str(info.rewards_daily_rate),
            str(info.rewards_max_spread_cents),
            str(info.rewards_min_size),
            str(e.daily_earnings.quantize(_CENT)),
            str(e.capital.quantize(_CENT)),
            str((e.earnings_per_usdc * 100).quantize(Decimal("0.001"))),
        )
    Console(width=160).print(table)


# --- the command ------------------------------------------------------------------------------


def _settings(exchange: str | None, url: str | None) -> Settings:
    overrides: dict[str, Any] = {}
    if exchange is not None:
        if exchange not in EXCHANGES:
            raise UsageError(f"--exchange: {exchange!r} is not one of {', '.join(EXCHANGES)}")
        overrides["exchange"] = exchange
    if url is not None:
        overrides["clob_url"] = url
    return load_settings({"clob_url": "--url", "exchange": "--exchange"}, **overrides)


async def _open_exchange(
    settings: Settings, seed: int, n_markets: int, now: datetime
) -> tuple[Exchange, str]:
    """A read-only view of the venue, and its name for the table title. The in-process
    simulator's markets have a day of price history, like `dualmm sim-server`'s."""
    if settings.exchange == "sim" and "clob_url" not in settings.model_fields_set:
        from dualmm.sim.exchange import SimExchange
        from dualmm.sim.synthetic import SYNTHETIC_HISTORY
        from dualmm.sim.venue import SimVenue, WallClock

        start = now - SYNTHETIC_HISTORY
        venue = SimVenue.synthetic(n_markets, seed, WallClock(now), start=start)
        return SimExchange(venue, "0x" + "0" * 40), f"an in-process simulator (seed {seed})"
    from dualmm.exchange.clob import ClobExchange
    from dualmm.exchange.factory import venue_settings

    settings = venue_settings(settings)
    return await ClobExchange.connect(settings, read_only=True), settings.clob_url


def markets(
    liquidity: Annotated[
        str | None,
        typer.Option("--liquidity", help="Most USDC one market's quotes may lock [default: 1000]."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show this many markets.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="sim or polymarket (default: settings).")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="CLOB URL (default: settings).")] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Skip this condition id (repeatable).")
    ] = None,
    order_size: Annotated[
        str | None, typer.Option("--order-size", help="Our quote size in shares.")
    ] = None,
    min_price: Annotated[
        str, typer.Option("--min-price", help="Lowest YES midpoint to quote.")
    ] = "0.10",
    max_price: Annotated[
        str, typer.Option("--max-price", help="Highest YES midpoint to quote.")
    ] = "0.90",
    min_hours_to_end: Annotated[
        str, typer.Option("--min-hours-to-end", help="Skip markets ending sooner.")
    ] = "24",
    neg_risk: Annotated[
        bool, typer.Option("--neg-risk/--no-neg-risk", help="Include neg-risk markets.")
    ] = True,
    max_volatility: Annotated[
        str | None,
        typer.Option(
            "--max-volatility",
            help="Skip markets whose YES midpoint moved more than this (high - low) "
            "over the lookback, e.g. 0.05.",
        ),
    ] = None,
    volatility_lookback: Annotated[
        str, typer.Option("--volatility-lookback", help="Hours of history --max-volatility reads.")
    ] = "24",
    seed: Annotated[int, typer.Option("--seed", help="In-process simulator seed.")] = 7,
    sim_markets: Annotated[
        int,
        typer.Option("--sim-markets", min=1, max=1000, help="In-process simulator market count."),
    ] = 12,
) -> None:
    """Rank the venue's reward markets by estimated daily earnings per USDC."""
    from pydantic import ValidationError

    from dualmm.config import (
        MAX_USDC,
        MarketMakerConfig,
        OrchestratorConfig,
        describe_validation_error,
    )
    from dualmm.exchange.base import ExchangeError

    settings = _settings(exchange, url)
    # The client logs each failed request itself; here the one-line error says it all.
    logging.getLogger("py_clob_client_v2").addHandler(logging.NullHandler())
    try:
        filters = Filters(
            min_price=decimal_flag("--min-price", min_price),
            max_price=decimal_flag("--max-price", max_price),
            min_hours_to_end=decimal_flag("--min-hours-to-end", min_hours_to_end),
            allow_neg_risk=neg_risk,
            exclude=frozenset(exclude or ()),
            max_volatility=decimal_flag("--max-volatility", max_volatility),
            volatility_lookback_hours=decimal_flag("--volatility-lookback", volatility_lookback),
        )
        size = decimal_flag("--order-size", order_size)
        config = MarketMakerConfig(**({"order_size": size} if size is not None else {}))
    except ValidationError as exc:
        message = describe_validation_error(exc)
        raise UsageError(message.replace("order_size", "--order-size", 1)) from None
    if not Decimal(0) <= filters.min_price <= filters.max_price <= 1:
        raise UsageError("--min-price/--max-price: need 0 <= min <= max <= 1")
    if not Decimal(0) <= filters.min_hours_to_end <= MAX_HOURS_TO_END:
        raise UsageError(f"--min-hours-to-end: need hours in [0, {MAX_HOURS_TO_END}]")
    if filters.max_volatility is not None and not Decimal(0) <= filters.max_volatility <= 1:
        raise UsageError("--max-volatility: need a price move between 0 and 1")
    if not Decimal(0) < filters.volatility_lookback_hours <= MAX_LOOKBACK_HOURS:
        raise UsageError(f"--volatility-lookback: need hours in (0, {MAX_LOOKBACK_HOURS}]")
    max_capital = decimal_flag("--liquidity", liquidity)
    if max_capital is None:
        max_capital = OrchestratorConfig().liquidity_budget
    if not Decimal(0) < max_capital <= MAX_USDC:
        raise UsageError(f"--liquidity: need USDC in (0, {MAX_USDC}]")

    async def run() -> tuple[list[MarketEstimate], str]:
        from datetime import UTC

        now = datetime.now(UTC)
        venue, name = await _open_exchange(settings, seed, sim_markets, now)
        found = await discover(venue, filters, config, max_capital, now)
        return found, name

    try:
        estimates, venue_name = asyncio.run(run())
    except ExchangeError as exc:
        fail(f"{settings.exchange}: {type(exc).__name__}: {exc}", code=1)
    shown = estimates[:limit]
    if as_json:
        print(json.dumps([estimate_json(e) for e in shown], indent=2))
    else:
        print_table(shown, venue_name)


def register(app: typer.Typer) -> None:
    app.command("markets")(markets)

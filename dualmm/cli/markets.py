"""`dualmm markets`: the venue's reward markets as discovery ranks them, as a table or JSON.

Without a CLOB URL and with DUALMM_EXCHANGE=sim it ranks an in-process simulator's markets
(with a day of price history, like `dualmm sim-server`'s); the live path never builds one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cli.markets_output import estimate_json, print_table
from dualmm.cli.options import ConfigFlags, config_options, decimal_flag, orchestrator_config
from dualmm.discovery import Filters, discover
from dualmm.errors import UsageError, fail
from dualmm.process import load_settings

if TYPE_CHECKING:
    from dualmm.config import ProcessSettings
    from dualmm.domain.rewards import MarketEstimate
    from dualmm.exchange.base import Exchange

MAX_LOOKBACK_HOURS = Decimal(24 * 30)
MAX_HOURS_TO_END = Decimal(24 * 365 * 10)
EXCHANGES = ("sim", "polymarket")


def _settings(exchange: str | None, url: str | None) -> ProcessSettings:
    overrides: dict[str, Any] = {}
    if exchange is not None:
        if exchange not in EXCHANGES:
            raise UsageError(f"--exchange: {exchange!r} is not one of {', '.join(EXCHANGES)}")
        overrides["exchange"] = exchange
    if url is not None:
        overrides["clob_url"] = url
    return load_settings({"clob_url": "--url", "exchange": "--exchange"}, **overrides)


async def _open_exchange(
    settings: ProcessSettings, seed: int, n_markets: int, now: datetime
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


@config_options(only=("liquidity_budget", "market_maker.order_size"))
def markets(
    liquidity: Annotated[
        str | None,
        typer.Option("--liquidity", help="The former name of --liquidity-budget."),
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
    *,
    config_flags: ConfigFlags,
) -> None:
    """Rank the venue's reward markets by estimated daily earnings per USDC."""
    from pydantic import ValidationError

    from dualmm.config import describe_validation_error
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
    except ValidationError as exc:
        raise UsageError(describe_validation_error(exc)) from None
    if liquidity is not None:
        if "--liquidity-budget" in config_flags:
            raise UsageError("--liquidity: the former name of --liquidity-budget; give one")
        config_flags["--liquidity-budget"] = decimal_flag("--liquidity", liquidity)
    # The bot's own settings: one market's quotes lock at most its liquidity budget.
    config = orchestrator_config(config_flags)
    if not Decimal(0) <= filters.min_price <= filters.max_price <= 1:
        raise UsageError("--min-price/--max-price: need 0 <= min <= max <= 1")
    if not Decimal(0) <= filters.min_hours_to_end <= MAX_HOURS_TO_END:
        raise UsageError(f"--min-hours-to-end: need hours in [0, {MAX_HOURS_TO_END}]")
    if filters.max_volatility is not None and not Decimal(0) <= filters.max_volatility <= 1:
        raise UsageError("--max-volatility: need a price move between 0 and 1")
    if not Decimal(0) < filters.volatility_lookback_hours <= MAX_LOOKBACK_HOURS:
        raise UsageError(f"--volatility-lookback: need hours in (0, {MAX_LOOKBACK_HOURS}]")

    async def run() -> tuple[list[MarketEstimate], str]:
        from datetime import UTC

        now = datetime.now(UTC)
        venue, name = await _open_exchange(settings, seed, sim_markets, now)
        found = await discover(venue, filters, config.market_maker, config.liquidity_budget, now)
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

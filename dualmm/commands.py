"""The operator commands: `orchestrate`, `status`, and the signals to a running bot."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from dualmm.cliutil import (
    LiqBlockLosing,
    LiqCheckInterval,
    LiqProfitMargin,
    LiqSkewMax,
    LiqSkewRate,
    LiqSkewStart,
    LiqStopLoss,
    LiqStopLossThreshold,
    LiqTimeout,
    UsageError,
    decimal_flag,
    hard_exit,
    liquidation_config,
)
from dualmm.config import OrchestratorConfig, Settings, describe_validation_error
from dualmm.runtime import BotId, run_client_command, run_or_fail, settings, start_or_attach
from dualmm.status import bot_status, render_status

if TYPE_CHECKING:
    from temporalio.client import Client


def orchestrator_config(
    *,
    bot_id: str = "dualmm",
    dual_market_mode: bool = True,
    liquidity_budget: str | None = None,
    order_size: str | None = None,
    spread_fraction: str | None = None,
    requote_threshold: str | None = None,
    position_limit: str | None = None,
    quote_interval: int | None = None,
    **liquidation_flags: Any,
) -> OrchestratorConfig:
    """An OrchestratorConfig from the `orchestrate` flags; anything unset keeps its default."""
    maker = {
        "order_size": decimal_flag("--order-size", order_size),
        "spread_fraction": decimal_flag("--spread-fraction", spread_fraction),
        "requote_threshold": decimal_flag("--requote-threshold", requote_threshold),
        "position_limit": decimal_flag("--position-limit", position_limit),
        "quote_interval_ms": quote_interval,
    }
    values = {
        "bot_id": bot_id,
        "dual_market_mode": dual_market_mode,
        "liquidity_budget": decimal_flag("--liquidity-budget", liquidity_budget),
        "market_maker": {k: v for k, v in maker.items() if v is not None},
        "liquidation": liquidation_config(**liquidation_flags),
    }
    try:
        return OrchestratorConfig.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        message = describe_validation_error(exc)
        field, _, reason = message.partition(": ")
        if field in _ORCHESTRATOR_FLAGS:
            message = f"{_ORCHESTRATOR_FLAGS[field]} ({field}): {reason}"
        raise UsageError(f"orchestrator config: {message}") from None


# The config field each `orchestrate` flag sets, so an error names the flag the operator typed.
_ORCHESTRATOR_FLAGS = {
    "bot_id": "--bot-id",
    "liquidity_budget": "--liquidity-budget",
    "market_maker.order_size": "--order-size",
    "market_maker.spread_fraction": "--spread-fraction",
    "market_maker.requote_threshold": "--requote-threshold",
    "market_maker.position_limit": "--position-limit",
    "market_maker.quote_interval_ms": "--quote-interval",
}


async def check_position_limit(config: Settings, limit: Decimal) -> None:
    """Refuse a position limit below every reward market's minimum order size (the bot could
    never quote). Read-only public data, no key; skipped with a warning when the venue does
    not answer (the worker may reach a venue this process cannot)."""
    import asyncio
    import logging
    import sys

    from dualmm.exchange.base import ExchangeError
    from dualmm.exchange.clob import ClobExchange
    from dualmm.exchange.factory import venue_settings

    logging.getLogger("py_clob_client_v2").addHandler(logging.NullHandler())
    try:
        venue = await ClobExchange.connect(venue_settings(config), read_only=True)
        markets = await asyncio.wait_for(venue.reward_markets(), _PREFLIGHT_SECONDS)
    except (ExchangeError, TimeoutError) as exc:
        print(
            f"warning: --position-limit not checked against the venue's markets ({exc})",
            file=sys.stderr,
            flush=True,
        )
        return
    sizes = [m.info.min_order_size for m in markets if m.active and m.accepting_orders]
    if sizes and limit < min(sizes):
        raise UsageError(
            f"--position-limit: {limit} is below every market's minimum order size "
            f"(the smallest of {len(sizes)} is {min(sizes)}): the bot could never quote"
        )


_PREFLIGHT_SECONDS = 15


def register(app: typer.Typer) -> None:
    @app.command()
    def orchestrate(
        bot_id: BotId = "dualmm",
        dual_market_mode: Annotated[
            bool,
            typer.Option(
                "--dual-market-mode/--single-market-mode",
                help="Quote the next market while liquidating (dual) or wait (single).",
            ),
        ] = True,
        position_limit: Annotated[
            str | None, typer.Option("--position-limit", help="|net| shares before liquidating.")
        ] = None,
        order_size: Annotated[
            str | None, typer.Option("--order-size", help="Shares per quote.")
        ] = None,
        spread_fraction: Annotated[
            str | None,
            typer.Option("--spread-fraction", help="Quote this fraction of the reward band out."),
        ] = None,
        requote_threshold: Annotated[
            str | None, typer.Option("--requote-threshold", help="Midpoint move that requotes.")
        ] = None,
        quote_interval: Annotated[
            int | None, typer.Option("--quote-interval", help="Quote loop interval (ms).")
        ] = None,
        liquidity_budget: Annotated[
            str | None, typer.Option("--liquidity-budget", help="Capital for quotes (USDC).")
        ] = None,
        profit_margin: LiqProfitMargin = None,
        skew_start: LiqSkewStart = None,
        skew_rate: LiqSkewRate = None,
        skew_max: LiqSkewMax = None,
        stop_loss_threshold: LiqStopLossThreshold = None,
        stop_loss: LiqStopLoss = True,
        timeout: LiqTimeout = None,
        check_interval: LiqCheckInterval = None,
        block_losing: LiqBlockLosing = True,
    ) -> None:
        """Start the bot's ActiveMarketWorkflow, or attach to the one already running."""
        config = orchestrator_config(
            bot_id=bot_id,
            dual_market_mode=dual_market_mode,
            liquidity_budget=liquidity_budget,
            order_size=order_size,
            spread_fraction=spread_fraction,
            requote_threshold=requote_threshold,
            position_limit=position_limit,
            quote_interval=quote_interval,
            profit_margin=profit_margin,
            skew_start=skew_start,
            skew_rate=skew_rate,
            skew_max=skew_max,
            stop_loss_threshold=stop_loss_threshold,
            stop_loss=stop_loss,
            timeout=timeout,
            check_interval=check_interval,
            block_losing=block_losing,
        )

        run_or_fail(check_position_limit(settings(), config.market_maker.position_limit))

        async def body(client: Client) -> None:
            handle, started = await start_or_attach(client, settings().task_queue, config)
            verb = "started" if started else "attached to the running"
            note = "" if started else " (its own config stays; these flags are ignored)"
            print(f"{verb} workflow {handle.id}{note}", flush=True)

        run_client_command(body)
        hard_exit(0)

    @app.command()
    def status(
        bot_id: BotId = "dualmm",
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Active market, quotes, position, liquidations with their stages, earning uptime."""
        import json

        answer = run_client_command(lambda client: bot_status(client, bot_id))
        print(json.dumps(answer, indent=2) if as_json else render_status(answer), flush=True)
        hard_exit(0)

    def signal_command(name: str, signal_name: str, help_text: str) -> None:
        def command(bot_id: BotId = "dualmm") -> None:
            from workflows.active_market import active_market_workflow_id

            async def body(client: Client) -> None:
                await client.get_workflow_handle(active_market_workflow_id(bot_id)).signal(
                    signal_name
                )

            run_client_command(body)
            print(f"sent {signal_name} to {active_market_workflow_id(bot_id)}", flush=True)
            hard_exit(0)

        command.__doc__ = help_text
        app.command(name=name)(command)

    signal_command(
        "exit-market", "exit_market", "Move the active market to liquidation now; quote the next."
    )
    signal_command(
        "liquidate-all",
        "liquidate_all",
        "Stop quoting, liquidate everything, wait for every liquidation, then stop.",
    )
    signal_command("pause", "pause", "Withdraw the quotes and stop quoting (liquidations go on).")
    signal_command("resume", "resume", "Quote again after a pause.")

"""The operator commands: `orchestrate`, `status`, `bots`, `liquidate-all` and the other signals.

`orchestrate` takes its values from a TOML file (`--config`, laid out as OrchestratorConfig),
the environment (the `DUALMM_*` variables its `--help` names) and flags: a flag wins over the
environment, which wins over the file; anything unset keeps the default `--help` shows.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cli.options import BotId, ConfigFlags, config_options, orchestrator_config
from dualmm.config import ProcessSettings
from dualmm.errors import UsageError
from dualmm.process import hard_exit
from dualmm.runtime import (
    run_client_command,
    run_or_fail,
    settings,
    start_or_attach,
)
from dualmm.status import UNHEALTHY, bot_names, bot_status, render_status, status_line
from workflows.contracts import (
    EXIT_MARKET_SIGNAL,
    PAUSE_SIGNAL,
    RESUME_SIGNAL,
    active_market_workflow_id,
)

if TYPE_CHECKING:
    from temporalio.client import Client


async def check_position_limit(config: ProcessSettings, limit: Decimal) -> None:
    """Refuse a position limit below every reward market's minimum order size (the bot could
    never quote). Read-only public data, no key; skipped with a warning when the venue does
    not answer (the worker may reach a venue this process cannot)."""
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


async def _liquidate_all(client: Client, bot_id: str, now: bool, wait: bool) -> int:
    """Signal `liquidate_all` (and `force_exit` to every liquidation with `--now`, those the
    bot starts afterwards too); then, unless told not to wait, a progress line per change
    until the bot's workflow has closed. The exit code: 0 once everything is liquidated."""
    from workflows.active_market import ActiveMarketWorkflow
    from workflows.liquidation import LiquidationWorkflow

    report = await bot_status(client, bot_id)  # names the bots there are if this one is not
    handle = client.get_workflow_handle(active_market_workflow_id(bot_id))
    await handle.signal(ActiveMarketWorkflow.liquidate_all)
    forcing = " (and force_exit to each liquidation)" if now else ""
    print(f"sent liquidate_all to {handle.id}{forcing}", flush=True)
    forced: set[str] = set()
    last = ""
    while True:
        if now:
            for market in report["markets"]:
                wid = market["workflow_id"]
                if market["role"] == "liquidating" and wid not in forced:
                    if market["workflow_state"] == "running":
                        await client.get_workflow_handle(wid).signal(LiquidationWorkflow.force_exit)
                    forced.add(wid)
        if not wait:
            return 0
        line = _progress(report)
        if line != last:
            print(line, flush=True)
            last = line
        if report["state"] == "completed":
            print(status_line(report), flush=True)
            return 0
        if report["state"] != "running":
            print(f"bot {bot_id} is {report['state']}: {report['problem']}", flush=True)
            return 1
        await asyncio.sleep(1)
        report = await bot_status(client, bot_id)


def _progress(report: dict[str, Any]) -> str:
    live = [m for m in report["markets"] if m["role"] == "liquidating"]
    quoting = any(m["role"] == "active" for m in report["markets"])
    stages = ", ".join(f"{m['question'][:30]} {m['stage']} {m['qty']} left" for m in live)
    return (
        f"liquidate-all: {len(live)} liquidating{f' ({stages})' if stages else ''}"
        f"{', still withdrawing quotes' if quoting else ''}; "
        f"finished {report.get('finished_total', 0)}; "
        f"realized {report['totals']['realized_pnl']} USDC"
    )


def register(app: typer.Typer) -> None:
    @app.command()
    @config_options(toml=True)
    def orchestrate(
        config_file: Annotated[
            Path | None,
            typer.Option(
                "--config",
                help="A TOML file of OrchestratorConfig fields, each named by its option's "
                "[toml: ...] (flags and environment win).",
            ),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Paper trading: the venue's real data, simulated fills, no real order "
                "(the worker must run without --live).",
            ),
        ] = False,
        live: Annotated[
            bool,
            typer.Option(
                "--live",
                help="Declare the bot live: real orders (needs DUALMM_EXCHANGE=polymarket and "
                "a worker started with --live).",
            ),
        ] = False,
        *,
        config_flags: ConfigFlags,
    ) -> None:
        """Start the bot's ActiveMarketWorkflow, or attach to the one already running."""
        from dualmm.exchange.factory import trading_mode

        config = orchestrator_config(config_flags, config_file)
        mode = trading_mode(settings(), live=live, dry_run=dry_run)
        run_or_fail(check_position_limit(settings(), config.market_maker.position_limit))

        async def body(client: Client) -> None:
            handle, started = await start_or_attach(
                client, settings().task_queue, config, mode=mode
            )
            verb = "started" if started else "attached to the running"
            note = "" if started else " (its own config stays; these flags are ignored)"
            print(f"{verb} workflow {handle.id} (mode {mode}){note}", flush=True)

        run_client_command(body)
        hard_exit(0)

    @app.command()
    def status(
        bot_id: BotId = "dualmm",
        as_json: Annotated[
            bool,
            typer.Option(
                "--json",
                help="One JSON object: money, sizes and prices as exact decimal strings, "
                "counts and seconds as integers, unknown values as null.",
            ),
        ] = False,
        watch: Annotated[
            bool, typer.Option("--watch", help="Refresh in place until Ctrl-C.")
        ] = False,
        interval: Annotated[
            float,
            typer.Option(
                "--interval", help="Seconds between refreshes (--watch).", min=0.2, max=3600
            ),
        ] = 2.0,
    ) -> None:
        """Is the bot alive and making money: state and mode, P&L (realized, unrealized at the
        book) per market and in total, rewards, capital in use, uptime, liquidations.

        Exits 1 when the bot's workflow has failed, was terminated, or is stuck on a failing
        workflow task; 2 when there is no such bot (the error names the bots there are).
        """
        import json

        def show(report: dict[str, Any]) -> None:
            print(json.dumps(report, indent=2) if as_json else render_status(report), flush=True)

        async def body(client: Client) -> int:
            report = await bot_status(client, bot_id)
            if not watch:
                show(report)
                return 1 if report["state"] in UNHEALTHY else 0
            while True:
                print("\x1b[H\x1b[2J", end="")  # home, clear: refresh in place
                show(report)
                await asyncio.sleep(interval)
                report = await bot_status(client, bot_id)

        hard_exit(run_client_command(body))

    @app.command()
    def bots() -> None:
        """The bots on this Temporal namespace (bot id, workflow, state)."""

        async def body(client: Client) -> list[tuple[str, str]]:
            return await bot_names(client)

        found = run_client_command(body)
        if not found:
            print("no bot has run on this namespace", flush=True)
        for workflow_id, state in found:
            print(f"{workflow_id.removeprefix('active-market-'):<24} {state:<12} {workflow_id}")
        hard_exit(0)

    @app.command(name="liquidate-all")
    def liquidate_all(
        bot_id: BotId = "dualmm",
        now: Annotated[
            bool, typer.Option("--now", help="Move every liquidation to MARKET at once.")
        ] = False,
        wait: Annotated[
            bool,
            typer.Option(
                "--wait/--no-wait",
                help="Show progress until every liquidation is done and the bot has stopped.",
            ),
        ] = True,
    ) -> None:
        """Stop quoting, liquidate every position, and stop the bot once all are done.

        By default it shows progress until then (--no-wait returns at once); --now moves every
        liquidation, and any the bot starts meanwhile, to MARKET (crosses the book).
        """
        hard_exit(run_client_command(lambda client: _liquidate_all(client, bot_id, now, wait)))

    def signal_command(name: str, signal_name: str, help_text: str) -> None:
        def command(bot_id: BotId = "dualmm") -> None:
            async def body(client: Client) -> None:
                await bot_status(client, bot_id)  # a missing bot names the ones there are
                await client.get_workflow_handle(active_market_workflow_id(bot_id)).signal(
                    signal_name
                )

            run_client_command(body)
            print(f"sent {signal_name} to {active_market_workflow_id(bot_id)}", flush=True)
            hard_exit(0)

        command.__doc__ = help_text
        app.command(name=name)(command)

    signal_command(
        "exit-market",
        EXIT_MARKET_SIGNAL,
        "Move the active market to liquidation now; quote the next.",
    )
    signal_command(
        "pause", PAUSE_SIGNAL, "Withdraw the quotes and stop quoting (liquidations go on)."
    )
    signal_command("resume", RESUME_SIGNAL, "Quote again after a pause.")

"""Running the bot on Temporal: `dualmm worker`, `orchestrate`, `demo` and the operator commands.

Heavy imports (temporalio, the workflows, the exchange adapters) stay inside the functions, so
`dualmm --help` stays fast. Every command that uses a Temporal client ends with `hard_exit`
after flushing (sdk-python #300).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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
    check_bot_id,
    decimal_flag,
    hard_exit,
    liquidation_config,
    load_settings,
)
from dualmm.config import (
    OrchestratorConfig,
    Settings,
    describe_validation_error,
)

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle
    from temporalio.worker import Worker

    from dualmm.exchange.base import Exchange

_T = TypeVar("_T")

BotId = Annotated[
    str,
    typer.Option(
        "--bot-id", help="Which bot (workflow active-market-<id>).", callback=check_bot_id
    ),
]
Live = Annotated[
    bool,
    typer.Option(
        "--live",
        help="Allow real Polymarket orders. Without it DUALMM_EXCHANGE=polymarket runs paper.",
    ),
]


def settings() -> Settings:
    return load_settings()


# -- Temporal plumbing (used by the CLI, worker.py, starter.py and the tests) -------------------


async def connect(config: Settings) -> Client:
    """A client with the pydantic converter and tracing; TLS or API key from the settings."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from dualmm.telemetry import tracing_interceptor

    api_key = config.temporal_api_key.get_secret_value() if config.temporal_api_key else None
    return await Client.connect(
        config.temporal_address,
        namespace=config.temporal_namespace,
        api_key=api_key,
        tls=config.temporal_tls or api_key is not None,
        data_converter=pydantic_data_converter,
        interceptors=[tracing_interceptor()],
    )


def exchange_kind(config: Settings, live: bool) -> str:
    """The adapter to build: real Polymarket orders only with `--live`, paper otherwise."""
    if config.exchange == "polymarket" and not live:
        return "paper"
    return config.exchange


async def build_exchange(config: Settings, live: bool) -> Exchange:
    from dualmm.exchange.factory import build_exchange as build

    return await build(config, dry_run=exchange_kind(config, live) == "paper")


def build_worker(client: Client, task_queue: str, exchange: Exchange) -> Worker:
    """One worker for both workflows and every activity, over one exchange."""
    from temporalio.worker import Worker

    from activities.liquidation import LiquidationActivities
    from activities.market_making import MarketMakingActivities
    from workflows.active_market import ActiveMarketWorkflow
    from workflows.liquidation import LiquidationWorkflow

    making = MarketMakingActivities(exchange, client)
    liquidating = LiquidationActivities(exchange)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
        activities=[
            making.pick_market,
            making.make_market,
            making.withdraw_quotes,
            liquidating.sync_market,
            liquidating.place_order,
            liquidating.cancel_order,
        ],
    )


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


async def start_or_attach(
    client: Client, task_queue: str, config: OrchestratorConfig
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """The bot's running workflow, or a new one; True when it was started here."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.service import RPCError

    from workflows.active_market import (
        ActiveMarketInput,
        ActiveMarketWorkflow,
        active_market_workflow_id,
    )

    workflow_id = active_market_workflow_id(config.bot_id)
    handle = client.get_workflow_handle(workflow_id)
    try:
        running = (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    except RPCError:
        running = False  # never started
    if running:
        return handle, False
    started = await client.start_workflow(
        ActiveMarketWorkflow.run,
        ActiveMarketInput(config=config),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return started, True


async def check_position_limit(config: Settings, limit: Decimal) -> None:
    """Refuse a position limit below every reward market's minimum order size (the bot could
    never quote). Read-only public data, no key; skipped with a warning when the venue does
    not answer (the worker may reach a venue this process cannot)."""
    import logging

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


async def bot_status(client: Client, bot_id: str) -> dict[str, Any]:
    """The bot's `status` query (each live liquidation with the stage its child last signalled),
    each live liquidation enriched with the child's own `status` (elapsed, unrealized P&L)."""
    from temporalio.service import RPCError

    from workflows.active_market import ActiveMarketWorkflow, active_market_workflow_id
    from workflows.liquidation import LiquidationWorkflow

    handle = client.get_workflow_handle_for(
        ActiveMarketWorkflow.run, active_market_workflow_id(bot_id)
    )
    status = (await handle.query(ActiveMarketWorkflow.status)).model_dump(mode="json")
    for entry in status["liquidations"]:
        child = client.get_workflow_handle_for(LiquidationWorkflow.run, entry["workflow_id"])
        try:
            entry["status"] = (await child.query(LiquidationWorkflow.status)).model_dump(
                mode="json", exclude={"fills", "config"}
            )
        except RPCError as exc:
            entry["status"] = {"error": exc.message}
    return status


def render_status(status: dict[str, Any]) -> str:
    """A few readable lines of a `bot_status` answer."""
    mode = "dual-market" if status["dual_market_mode"] else "single-market"
    flags = " PAUSED" if status["paused"] else ""
    flags += " LIQUIDATING-ALL" if status["liquidating_all"] else ""
    uptime = Decimal(status["earning_uptime"]) * 100
    lines = [
        f"bot {status['bot_id']} ({mode}){flags}: running {status['running_seconds']}s, "
        f"earning uptime {uptime:.1f}%, liquidations finished {status['liquidations_finished']} "
        f"(realized {status['liquidations_realized_pnl']})"
    ]
    market = status["active_market"]
    if market is None:
        lines.append("active: none")
    else:
        position = status["position"] or {}
        quotes = ", ".join(f"BUY {q['token']} {q['size']} @ {q['price']}" for q in status["quotes"])
        lines.append(
            f"active: {market['condition_id']} {market['question']!r} "
            f"YES {position.get('yes_qty', '0')} NO {position.get('no_qty', '0')}; "
            f"quotes: {quotes or 'none'}"
        )
    for entry in status["liquidations"]:
        child = entry.get("status", {})
        lines.append(
            f"liquidating: {entry['condition_id']} {entry['held']} {entry['qty']} "
            f"stage {entry['stage']} after {child.get('elapsed_seconds', '?')}s "
            f"unrealized {child.get('unrealized_pnl', '?')}"
        )
    for done in status["finished"][-3:]:
        lines.append(
            f"finished: {done['condition_id']} {done['status']} in {done['exit_stage']} "
            f"after {done['duration_seconds']}s, realized {done['realized_pnl']}"
        )
    return "\n".join(lines)


async def _connect_or_fail(config: Settings) -> Client:
    try:
        return await connect(config)
    except RuntimeError as exc:  # the connection failed
        raise UsageError(f"cannot reach Temporal at {config.temporal_address}: {exc}") from None


def _run_or_fail(main: Coroutine[Any, Any, _T]) -> _T:
    """Run; bad input or a missing server is one line and exit code 2, without interpreter
    teardown once a Temporal client may exist (sdk-python #300)."""
    try:
        return asyncio.run(main)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        hard_exit(2)


def _run_client_command(body: Callable[[Client], Awaitable[_T]]) -> _T:
    """Connect, run `body`; Temporal's refusals are one line and exit code 2."""
    from temporalio.service import RPCError

    async def main() -> _T:
        client = await _connect_or_fail(settings())
        try:
            return await body(client)
        except RPCError as exc:
            raise UsageError(f"temporal: {exc.message}") from None

    return _run_or_fail(main())


async def run_worker(live: bool, trace_file: Path | None, tracing: bool) -> None:
    import logging

    from dualmm.exchange.base import ExchangeError
    from dualmm.telemetry import setup_tracing

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings()
    try:
        setup_tracing("worker", trace_file, enabled=tracing)
    except OSError as exc:
        raise UsageError(f"--trace-file: cannot write {trace_file}: {exc.strerror}") from None
    kind = exchange_kind(config, live)
    try:
        exchange = await build_exchange(config, live)
    except ExchangeError as exc:
        raise UsageError(f"exchange {kind}: {exc}") from None
    client = await _connect_or_fail(config)
    worker = build_worker(client, config.task_queue, exchange)
    print(
        f"worker: task queue {config.task_queue!r} on {config.temporal_address} "
        f"(namespace {config.temporal_namespace}), exchange {kind}",
        flush=True,
    )
    # SIGINT (Ctrl-C) and SIGTERM (systemd) shut down gracefully: running market-making
    # rounds keep their quotes for the next worker to adopt.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    print("worker: stopped", flush=True)


# -- commands -----------------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        live: Live = False,
        trace_file: Annotated[
            Path | None, typer.Option("--trace-file", help="Write spans here, not stderr.")
        ] = None,
        tracing: Annotated[
            bool, typer.Option("--tracing/--no-tracing", help="Export spans.")
        ] = True,
    ) -> None:
        """Run a Temporal worker for both workflows and all activities (Ctrl-C stops it)."""
        from dualmm.telemetry import flush_tracing

        _run_or_fail(run_worker(live, trace_file, tracing))
        flush_tracing()
        hard_exit(0)

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

        _run_or_fail(check_position_limit(settings(), config.market_maker.position_limit))

        async def body(client: Client) -> None:
            handle, started = await start_or_attach(client, settings().task_queue, config)
            verb = "started" if started else "attached to the running"
            note = "" if started else " (its own config stays; these flags are ignored)"
            print(f"{verb} workflow {handle.id}{note}", flush=True)

        _run_client_command(body)
        hard_exit(0)

    @app.command()
    def status(
        bot_id: BotId = "dualmm",
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Active market, quotes, position, liquidations with their stages, earning uptime."""
        import json

        answer = _run_client_command(lambda client: bot_status(client, bot_id))
        print(json.dumps(answer, indent=2) if as_json else render_status(answer), flush=True)
        hard_exit(0)

    def signal_command(name: str, signal_name: str, help_text: str) -> None:
        def command(bot_id: BotId = "dualmm") -> None:
            from workflows.active_market import active_market_workflow_id

            async def body(client: Client) -> None:
                await client.get_workflow_handle(active_market_workflow_id(bot_id)).signal(
                    signal_name
                )

            _run_client_command(body)
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

    @app.command()
    def demo(
        duration: Annotated[
            int | None,
            typer.Option(
                "--duration", help="Stop after this many seconds.", min=1, max=_DEMO_MAX_SECONDS
            ),
        ] = None,
    ) -> None:
        """Dev server (UI on :8233) + simulator + worker + orchestrator; Ctrl-C stops all."""
        hard_exit(run_demo(duration))


# -- the demo -------------------------------------------------------------------------------------

DEMO_BOT = "demo"
DEMO_UI = "http://localhost:8233"
_DEMO_TEMPORAL_PORT = 7233
_DEMO_SIM_SPEED = "300"  # simulated seconds per second: prices move enough to fill in minutes
_DEMO_STATUS_EVERY = 5.0
_DEMO_MAX_SECONDS = 30 * 24 * 3600
# Small positions, a quick quote loop and short liquidation stages, so every part shows soon.
_DEMO_ORCHESTRATE = (
    *("--bot-id", DEMO_BOT, "--order-size", "50", "--position-limit", "50"),
    *("--quote-interval", "1000", "--liq-check-interval", "2000"),
    *("--liq-skew-start", "1", "--liq-timeout", "4"),
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _Demo:
    """The demo's child processes, started in order and stopped in reverse."""

    def __init__(self, var: Path) -> None:
        import os

        self.var = var
        self.env = dict(os.environ)
        self.procs: list[tuple[str, Any]] = []

    def start(self, name: str, argv: list[str]) -> None:
        import subprocess

        log = (self.var / f"{name}.log").open("ab")
        # Own session: Ctrl-C reaches only the demo, which then stops them in order.
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.procs.append((name, proc))
        print(f"  {name:<9} pid {proc.pid}, log {self.var / (name + '.log')}", flush=True)

    def wait_port(self, name: str, port: int, seconds: float = 60) -> None:
        import time

        deadline = time.monotonic() + seconds
        while not _port_open(port):
            self.check(name)
            if time.monotonic() > deadline:
                raise UsageError(f"{name} did not open port {port} in {seconds:.0f}s")
            time.sleep(0.2)

    def check(self, name: str | None = None) -> None:
        for proc_name, proc in self.procs:
            if (name is None or proc_name == name) and proc.poll() is not None:
                raise UsageError(
                    f"{proc_name} exited with code {proc.returncode}; "
                    f"see {self.var / (proc_name + '.log')}"
                )

    def stop(self) -> None:
        import signal as signals
        import subprocess

        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signals.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            print(f"  stopped {name}", flush=True)


async def _end_demo_workflows(client: Client, reason: str) -> None:
    """Terminate the demo bot and running liquidations: their simulator is gone with the demo."""
    from workflows.active_market import active_market_workflow_id

    ids = [active_market_workflow_id(DEMO_BOT)]
    query = "WorkflowType = 'LiquidationWorkflow' AND ExecutionStatus = 'Running'"
    ids += [w.id async for w in client.list_workflows(query)]
    for workflow_id in ids:
        handle = client.get_workflow_handle(workflow_id)
        try:
            await handle.terminate(reason)
        except Exception:  # not running
            continue


def _status_line(status: dict[str, Any]) -> str:
    market = status["active_market"]
    active = "none" if market is None else market["question"]
    position = status["position"] or {}
    stages = ", ".join(e["stage"] for e in status["liquidations"])
    uptime = Decimal(status["earning_uptime"]) * 100
    return (
        f"[{int(status['running_seconds']):>5}s] active: {active} "
        f"(quotes {len(status['quotes'])}, YES {position.get('yes_qty', '0')} "
        f"NO {position.get('no_qty', '0')}) | liquidating {len(status['liquidations'])}"
        f"{f' ({stages})' if stages else ''} | finished {status['liquidations_finished']} "
        f"(realized {status['liquidations_realized_pnl']}) "
        f"| earning uptime {uptime:.0f}%"
    )


async def _watch(duration: int | None, demo: _Demo) -> None:
    """Print a status line every few seconds until Ctrl-C or `duration` seconds."""
    from temporalio.service import RPCError

    config = settings().model_copy(update={"temporal_address": f"127.0.0.1:{_DEMO_TEMPORAL_PORT}"})
    client = await connect(config)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    while not stop.is_set():
        demo.check()
        try:
            print(_status_line(await bot_status(client, DEMO_BOT)), flush=True)
        except RPCError as exc:
            print(f"(status not available yet: {exc.message})", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _DEMO_STATUS_EVERY)
    await _end_demo_workflows(client, "demo stopped")


def run_demo(duration: int | None) -> int:
    """Dev server + simulator + worker + orchestrator, a live status line; the exit code."""
    import subprocess

    from eth_account import Account

    from dualmm.temporal_bin import DEV_SERVER, temporal_binary

    if _port_open(_DEMO_TEMPORAL_PORT):
        raise UsageError(
            f"port {_DEMO_TEMPORAL_PORT} is in use: is another Temporal server or demo running?"
        )
    var = Path("var")
    var.mkdir(exist_ok=True)
    sim_port = _free_port()
    demo = _Demo(var)
    demo.env.update(
        DUALMM_EXCHANGE="sim",
        DUALMM_CLOB_URL=f"http://127.0.0.1:{sim_port}",
        DUALMM_TEMPORAL_ADDRESS=f"127.0.0.1:{_DEMO_TEMPORAL_PORT}",
        DUALMM_TEMPORAL_NAMESPACE="default",
        # A throwaway key for the simulator only, handed over by environment, never printed.
        DUALMM_PRIVATE_KEY="0x" + Account.create().key.hex().removeprefix("0x"),
    )
    dualmm = [sys.executable, "-m", "dualmm"]
    print("dualmm demo: starting (logs in var/)", flush=True)
    try:
        demo.start(
            "temporal",
            [
                temporal_binary(DEV_SERVER),
                *("server", "start-dev", "--db-filename", str(var / "temporal.db")),
                *("--port", str(_DEMO_TEMPORAL_PORT), "--ui-port", "8233"),
                *("--log-level", "warn"),
            ],
        )
        demo.wait_port("temporal", _DEMO_TEMPORAL_PORT)
        asyncio.run(_clear_previous_demo())
        demo.start(
            "simulator",
            [
                *(*dualmm, "sim-server", "--port", str(sim_port), "--markets", "12"),
                *("--speed", _DEMO_SIM_SPEED),
            ],
        )
        demo.wait_port("simulator", sim_port)
        demo.start("worker", [*dualmm, "worker", "--trace-file", str(var / "traces.jsonl")])
        started = subprocess.run(
            [*dualmm, "orchestrate", *_DEMO_ORCHESTRATE],
            env=demo.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise UsageError(f"orchestrate failed: {started.stderr.strip()}")
        print(f"  {started.stdout.strip()}", flush=True)
        print(
            f"\nOpen {DEMO_UI} to watch the workflows (active-market-{DEMO_BOT} and its "
            "liquidation-* children).\nOperator commands in another shell: "
            f"DUALMM_TEMPORAL_ADDRESS=127.0.0.1:{_DEMO_TEMPORAL_PORT} dualmm status "
            f"--bot-id {DEMO_BOT} (also exit-market, pause, resume, liquidate-all).\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        asyncio.run(_watch(duration, demo))
        return 0
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        print("dualmm demo: stopping", flush=True)
        demo.stop()


async def _clear_previous_demo() -> None:
    """A bot left by a demo that crashed would trade on a simulator that no longer exists."""
    config = settings().model_copy(update={"temporal_address": f"127.0.0.1:{_DEMO_TEMPORAL_PORT}"})
    await _end_demo_workflows(await connect(config), "a new demo started")

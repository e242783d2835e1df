"""The local stack behind `dualmm demo`: a dev server, the simulator, a worker and the bot,
supervised as child processes, with a status line every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cliutil import UsageError, hard_exit
from dualmm.runtime import connect, settings
from dualmm.status import bot_status, status_line

if TYPE_CHECKING:
    from temporalio.client import Client


def register(app: typer.Typer) -> None:
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
            print(status_line(await bot_status(client, DEMO_BOT)), flush=True)
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

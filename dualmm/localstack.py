"""The local stack behind `dualmm demo`: a dev server, the simulator, a worker and the bot,
supervised as child processes, with a status line every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from dualmm.devserver import free_port, port_open
from dualmm.errors import UsageError
from dualmm.runtime import connect, settings
from dualmm.status import bot_status, status_line

if TYPE_CHECKING:
    from temporalio.client import Client


DEMO_BOT = "demo"
_DEMO_RESTART_EVERY = "600"  # seconds between simulated matching-engine restarts
_DEMO_SIM_SPEED = "300"  # simulated seconds per second: prices move enough to fill in minutes
_DEMO_STATUS_EVERY = 5.0
DEMO_MAX_SECONDS = 30 * 24 * 3600
# Small positions, a quick quote loop and short liquidation stages, so every part shows soon.
_DEMO_ORCHESTRATE = (
    *("--bot-id", DEMO_BOT, "--order-size", "50", "--position-limit", "50"),
    *("--quote-interval", "1000", "--liq-check-interval", "2000"),
    *("--liq-skew-start", "1", "--liq-timeout", "4"),
)


# Every way an operator stops the demo: Ctrl-C, a closed terminal (SIGHUP: the shell hangs up
# its jobs), SIGTERM (`make` passes it on; so do systemd and `kill`).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class OutputGone(Exception):
    """The demo's output cannot be written any more (`| head` exited, the terminal closed)."""


class _Stops:
    """The stop signals all raise KeyboardInterrupt, the demo's one way out (it stops its
    processes in `run_demo`'s `finally`), but never while a process is being started: one
    started and not yet on the list would not be stopped in order."""

    def __init__(self) -> None:
        self._held = False
        self._pending = False
        self.stopping = False

    def install(self) -> None:
        import os

        from dualmm.lifeline import die_with_parent

        hangup_ignored = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN  # under nohup
        for sig in _STOP_SIGNALS:
            if not (sig is signal.SIGHUP and hangup_ignored):
                signal.signal(sig, self._on_signal)
        if not hangup_ignored:
            # `make` or the shell killed outright sends nothing on: its death does.
            die_with_parent(signal.SIGHUP, os.getppid())

    def _on_signal(self, signum: int, frame: object) -> None:
        if self.stopping:
            return
        if self._held:
            self._pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._held = True
        try:
            yield
        finally:
            self._held = False
            if self._pending and not self.stopping:
                raise KeyboardInterrupt


class _Console:
    """The demo's output. The first line that cannot be written (EPIPE: the reader exited;
    EIO: the terminal hung up) raises OutputGone, which stops the demo; from then on that
    stream writes to /dev/null, so stopping is never interrupted by a message."""

    def __init__(self, stops: _Stops) -> None:
        self._stops = stops

    def say(self, text: str, *, err: bool = False) -> None:
        import os

        stream = sys.stderr if err else sys.stdout
        try:
            print(text, file=stream, flush=True)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
            if not self._stops.stopping:
                raise OutputGone from None


class _Demo:
    """The demo's child processes, started in order and stopped in reverse."""

    def __init__(self, var: Path, stops: _Stops, console: _Console) -> None:
        import os

        self.var = var
        self.env = dict(os.environ)
        self.procs: list[tuple[str, Any]] = []
        self.stops = stops
        self.say = console.say

    def start(self, name: str, argv: list[str]) -> None:
        import subprocess

        from dualmm.lifeline import tied_to_this_process

        with (self.var / f"{name}.log").open("ab") as log, self.stops.held():
            # Own session: Ctrl-C reaches only the demo, which then stops them in order;
            # tied to the demo: they end with it even when it is killed outright.
            proc = subprocess.Popen(
                tied_to_this_process(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
            self.procs.append((name, proc))
        self.say(f"  {name:<9} pid {proc.pid}, log {self.var / (name + '.log')}")

    def wait_port(self, name: str, port: int, seconds: float = 60) -> None:
        import time

        deadline = time.monotonic() + seconds
        while not port_open(port):
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
        """Stop every process, the last started first; from here on a stop signal is ignored
        (a second Ctrl-C must not leave the rest running)."""
        import subprocess

        self.stops.stopping = True
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.say(f"  stopped {name}")


class DemoPlan(NamedTuple):
    duration: int | None
    reset: bool
    temporal_port: int
    ui_port: int
    var: Path


# What a demo keeps between runs (`--reset` deletes them).
_KEPT = ("temporal.db", "temporal.db-shm", "temporal.db-wal", "venue.pickle", "demo.key")


def _demo_key(var: Path) -> str:
    """The simulator wallet's throwaway key, the same across resumed runs (it owns the
    positions); created once, mode 0600, never printed."""
    import os

    from eth_account import Account

    path = var / "demo.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("0x" + Account.create().key.hex().removeprefix("0x"))
    return path.read_text().strip()


def _command_prefix() -> str:
    """How the operator runs `dualmm` from here (the venv's script when there is no other)."""
    import shutil

    script = Path(sys.executable).parent / "dualmm"
    if shutil.which("dualmm") == str(script) or not script.exists():
        return "dualmm"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


async def _previous_bot(client: Client) -> str | None:
    """A line about the bot a previous demo left running, or None."""
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    from workflows.contracts import active_market_workflow_id

    try:
        described = await client.get_workflow_handle(active_market_workflow_id(DEMO_BOT)).describe()
    except RPCError:
        return None
    if described.status is not WorkflowExecutionStatus.RUNNING:
        return None
    running = "WorkflowType = 'LiquidationWorkflow' AND ExecutionStatus = 'Running'"
    children = [w async for w in client.list_workflows(running)]
    ids = [active_market_workflow_id(DEMO_BOT), *(child.id for child in children)]
    if not await _replays_here(client, ids):
        raise UsageError(
            "the demo's history was written by an older dualmm version (its workflows do not "
            "replay on this code): run `make demo-reset` to start afresh"
        )
    return (
        f"resuming bot {DEMO_BOT!r} (running since {described.start_time:%Y-%m-%d %H:%M:%S} "
        f"UTC) with {len(children)} running liquidation(s) from the history on disk"
    )


async def _replays_here(client: Client, workflow_ids: list[str]) -> bool:
    """Whether these running workflows' histories replay on this code (the demo's worker is
    unversioned: it would take them over; docs/versioning.md)."""
    from temporalio.worker import Replayer

    from workflows.active_market import ActiveMarketWorkflow
    from workflows.liquidation import LiquidationWorkflow

    replayer = Replayer(
        workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
        data_converter=client.data_converter,
    )
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if replayed.replay_failure is not None:
            return False
    return True


async def _watch(duration: int | None, demo: _Demo, address: str) -> None:
    """Print a status line every few seconds until `duration` seconds (a stop signal raises
    KeyboardInterrupt through the loop)."""
    from temporalio.service import RPCError

    client = await connect(settings().model_copy(update={"temporal_address": address}))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    if duration is not None:
        loop.call_later(duration, stop.set)
    while not stop.is_set():
        demo.check()
        try:
            demo.say(status_line(await bot_status(client, DEMO_BOT)))
        except (RPCError, UsageError) as exc:
            demo.say(f"(status not available yet: {exc})")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), _DEMO_STATUS_EVERY)


def _check_ports(plan: DemoPlan) -> None:
    for port, what in ((plan.temporal_port, "Temporal"), (plan.ui_port, "the Temporal UI")):
        if port_open(port):
            flag = "--temporal-port" if port == plan.temporal_port else "--ui-port"
            raise UsageError(
                f"port {port} ({what}) is in use: is another Temporal server or demo running? "
                f"Stop it, or choose another port with {flag}"
            )


def run_demo(plan: DemoPlan) -> int:
    """Dev server + simulator + worker + orchestrator, a live status line; the exit code."""
    import subprocess

    from dualmm.lifeline import tied_to_this_process
    from dualmm.temporal_bin import DEV_SERVER, temporal_binary
    from workflows.search_attributes import dev_server_args

    stops = _Stops()
    stops.install()
    console = _Console(stops)
    try:
        _check_ports(plan)
    except UsageError as exc:
        console.say(f"error: {exc}", err=True)
        return 2
    var = plan.var
    var.mkdir(parents=True, exist_ok=True)
    if plan.reset:
        for name in _KEPT:
            (var / name).unlink(missing_ok=True)
    address = f"127.0.0.1:{plan.temporal_port}"
    sim_port = free_port()
    demo = _Demo(var, stops, console)
    demo.env.update(
        DUALMM_EXCHANGE="sim",
        DUALMM_CLOB_URL=f"http://127.0.0.1:{sim_port}",
        DUALMM_TEMPORAL_ADDRESS=address,
        DUALMM_TEMPORAL_NAMESPACE="default",
        # A throwaway key for the simulator only, handed over by environment, never printed.
        DUALMM_PRIVATE_KEY=_demo_key(var),
    )
    dualmm = [sys.executable, "-m", "dualmm"]
    try:
        demo.say(f"dualmm demo: starting (logs in {var}/)")
        demo.start(
            "temporal",
            [
                temporal_binary(DEV_SERVER),
                *("server", "start-dev", "--db-filename", str(var / "temporal.db")),
                *("--port", str(plan.temporal_port), "--ui-port", str(plan.ui_port)),
                *("--log-level", "warn", *dev_server_args()),
            ],
        )
        demo.wait_port("temporal", plan.temporal_port)
        resuming = asyncio.run(_previous_bot_at(address))
        if resuming:
            demo.say(f"  {resuming}")
        demo.start(
            "simulator",
            [
                *(*dualmm, "sim-server", "--port", str(sim_port), "--markets", "12"),
                *("--speed", _DEMO_SIM_SPEED, "--state", str(var / "venue.pickle")),
                # The harsh venue (the default), with an engine restart every few minutes.
                *("--restart-every", _DEMO_RESTART_EVERY, "--restart-down", "15"),
            ],
        )
        demo.wait_port("simulator", sim_port)
        demo.start("worker", [*dualmm, "worker", "--trace-file", str(var / "traces.jsonl")])
        started = subprocess.run(
            tied_to_this_process([*dualmm, "orchestrate", *_DEMO_ORCHESTRATE]),
            env=demo.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if started.returncode != 0:
            raise UsageError(f"orchestrate failed: {started.stderr.strip()}")
        demo.say(f"  {started.stdout.strip()}")
        prefix = "" if plan.temporal_port == 7233 else f"DUALMM_TEMPORAL_ADDRESS={address} "
        demo.say(
            f"\nOpen http://localhost:{plan.ui_port} to watch the workflows "
            f"(active-market-{DEMO_BOT} and its liquidation-* children).\n"
            f"Status, in another shell:\n    {prefix}{_command_prefix()} status "
            f"--bot-id {DEMO_BOT}\n"
            "(also --watch, --json; and exit-market, pause, resume, liquidate-all).\n"
            "Ctrl-C stops the processes; the workflows stay on the history in "
            f"{var / 'temporal.db'}: the next `make demo` resumes them "
            "(`make demo-reset` starts clean).\n"
        )
        asyncio.run(_watch(plan.duration, demo, address))
        return 0
    except UsageError as exc:
        console.say(f"error: {exc}", err=True)
        return 2
    except (KeyboardInterrupt, OutputGone):
        return 0
    finally:
        stops.stopping = True
        console.say("dualmm demo: stopping (the workflows stay on the history)")
        demo.stop()


async def _previous_bot_at(address: str) -> str | None:
    client = await connect(settings().model_copy(update={"temporal_address": address}))
    return await _previous_bot(client)

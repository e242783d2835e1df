"""Real processes for benchmarks and tests: a `temporal server start-dev` of its own on free
ports, and the command and environment of a `dualmm worker` trading on the simulator.

(tests/conftest.py's shared dev server is the SDK's WorkflowEnvironment; this is for a run that
starts, kills and restarts the processes itself.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

from dualmm.temporal_bin import DEV_SERVER, temporal_binary

# `dualmm worker` in a process of its own, on this interpreter.
WORKER_COMMAND = (sys.executable, "-m", "dualmm", "worker", "--no-tracing")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DevServer:
    """A dev server started by `start_dev_server`; `stop()` (or leaving a `with`) ends it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, metrics_port: int) -> None:
        self.process = process
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # Prometheus

    def wait_until_answering(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited ({self.process.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Temporal dev server did not open port {self.port}")
            time.sleep(0.2)

    def stop(self, timeout: float = 60) -> None:
        stop_process(self.process, timeout)

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_dev_server(
    port: int | None = None,
    *,
    db_file: Path | None = None,
    output: int | IO[Any] = subprocess.DEVNULL,
    new_session: bool = False,
    dynamic_config: Sequence[str] = (),
) -> DevServer:
    """`temporal server start-dev`, headless, on `port` (a free one by default) with its HTTP
    and metrics ports free ones, in memory unless `db_file`, with `dynamic_config` values
    (KEY=VALUE); returns once it answers."""
    port = port or free_port()
    metrics_port = free_port()
    process = subprocess.Popen(
        [
            temporal_binary(DEV_SERVER),
            *("server", "start-dev", "--headless", "--port", str(port)),
            *("--http-port", str(free_port()), "--metrics-port", str(metrics_port)),
            *(("--db-filename", str(db_file)) if db_file is not None else ()),
            *(arg for value in dynamic_config for arg in ("--dynamic-config-value", value)),
            *("--log-level", "error"),
        ],
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
        start_new_session=new_session,
    )
    server = DevServer(process, port, metrics_port)
    try:
        server.wait_until_answering()
    except BaseException:
        server.stop()
        raise
    return server


def worker_env(
    clob_url: str, key: str, temporal_address: str, task_queue: str, **settings: str
) -> dict[str, str]:
    """This process's environment plus what a worker needs to trade on the simulator at
    `clob_url` as `key`; `settings` add (or override) DUALMM_* variables."""
    return {
        **os.environ,
        "DUALMM_EXCHANGE": "sim",
        "DUALMM_CLOB_URL": clob_url,
        "DUALMM_PRIVATE_KEY": key,
        "DUALMM_TEMPORAL_ADDRESS": temporal_address,
        "DUALMM_TASK_QUEUE": task_queue,
        **settings,
    }


def stop_process(process: subprocess.Popen[Any], timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_worker(
    env: dict[str, str], output: int | IO[Any] = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """`dualmm worker` in a process (and session) of its own with `env` (see `worker_env`)."""
    return subprocess.Popen(
        WORKER_COMMAND,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
        start_new_session=True,
    )


class Quoting(NamedTuple):
    """The bot's running `make_market` attempt, as its pending activity says."""

    activity_id: str
    attempt: int
    worker: str  # the worker's identity: "pid@host"

    @property
    def worker_pid(self) -> int:
        return int(self.worker.split("@", 1)[0])


async def quoting(client: Any, bot_id: str) -> Quoting | None:
    """Who runs the bot's quote loop now (None while no attempt is running: between
    rounds, or a retry waiting for its worker)."""
    from temporalio.api.enums.v1 import PendingActivityState

    from workflows.contracts import active_market_workflow_id

    described = await client.get_workflow_handle(active_market_workflow_id(bot_id)).describe()
    for pending in described.raw_description.pending_activities:
        started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        if pending.activity_type.name == "make_market" and started:
            return Quoting(pending.activity_id, pending.attempt, pending.last_worker_identity)
    return None

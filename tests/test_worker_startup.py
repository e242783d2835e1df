"""The worker waits for Temporal and the venue at start-up (backoff, one log line per retry)
instead of exiting; `--start-timeout` gives up with one error line and exit code 2."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment
from test_exchange_contract import contract_venue, fresh_key

from dualmm.devserver import (
    WORKER_COMMAND,
    free_port,
    start_dev_server,
    stop_process,
    worker_env,
)
from dualmm.sim.faults import Faults
from dualmm.sim.server import SimServer

READY = "worker: task queue"


class _Output:
    """A process's merged output, read by a thread, searchable while it runs."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def wait_for(self, text: str, seconds: float = 90) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not seen in {seconds}s:\n" + "".join(self.lines[-30:]))


@contextmanager
def worker_process(
    env: dict[str, str], *args: str
) -> Iterator[tuple[subprocess.Popen[str], _Output]]:
    proc = subprocess.Popen(
        [*WORKER_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    try:
        yield proc, _Output(proc)
    finally:
        stop_process(proc, timeout=30)


def test_worker_waits_for_temporal_to_come_up(tmp_path: Path) -> None:
    """... and is ready (its --ready-file, a readiness probe's) only once it polls, and no
    longer once it drains."""
    port = free_port()
    ready = tmp_path / "ready"
    with SimServer(contract_venue()) as sim:
        env = worker_env(sim.url, fresh_key(), f"127.0.0.1:{port}", "startup-test")
        with worker_process(env, "--ready-file", str(ready)) as (proc, out):
            out.wait_for(f"Temporal at 127.0.0.1:{port} failed (attempt 2)")
            assert proc.poll() is None, "the worker exited instead of waiting"
            assert not ready.exists()
            with start_dev_server(port, db_file=tmp_path / "temporal.db"):
                out.wait_for(READY, seconds=120)
                assert ready.exists()
                proc.send_signal(signal.SIGTERM)
                out.wait_for("worker: draining")
                assert proc.wait(timeout=60) == 0
                out.wait_for("worker: stopped")
                assert not ready.exists()


def test_sigterm_stops_a_worker_still_waiting_for_temporal() -> None:
    """systemd or Kubernetes stopping a worker whose Temporal is down: it stops at once (it
    waited on, and was killed at the end of the grace period)."""
    with SimServer(contract_venue()) as sim:
        env = worker_env(sim.url, fresh_key(), f"127.0.0.1:{free_port()}", "startup-test")
        with worker_process(env) as (proc, out):
            out.wait_for("failed (attempt 2)")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            out.wait_for("worker: stopped")


async def test_worker_waits_out_429_and_5xx_from_the_venue(dev_env: WorkflowEnvironment) -> None:
    venue = contract_venue()
    with SimServer(venue, admin=True, faults=Faults(rate_limit_rate=1.0)) as sim:
        address = dev_env.client.service_client.config.target_host
        env = worker_env(
            sim.url, fresh_key(), address, "startup-test-429", DUALMM_CLOB_TIMEOUT_SECONDS="2"
        )
        with worker_process(env) as (proc, out):
            line = out.wait_for("failed (attempt 1)")
            assert "exchange sim at" in line and "429" in line, line
            httpx.post(f"{sim.url}/_sim/faults", json={"rate_limit_rate": 0, "error_rate": 1})
            out.wait_for("HTTP 500")
            assert proc.poll() is None, "the worker exited instead of waiting"
            httpx.post(f"{sim.url}/_sim/faults", json={"error_rate": 0})
            out.wait_for(READY, seconds=120)


def test_start_timeout_gives_up_in_one_error_line() -> None:
    env = {
        **os.environ,
        "DUALMM_EXCHANGE": "paper",
        "DUALMM_TEMPORAL_ADDRESS": "127.0.0.1:9",
    }
    done = subprocess.run(
        [*WORKER_COMMAND, "--start-timeout", "10"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert "Temporal at 127.0.0.1:9 failed (attempt 1)" in done.stderr  # the retries are logged
    assert lines[-1].startswith("error: Temporal at 127.0.0.1:9: still failing after ")
    assert "Traceback" not in done.stderr


async def test_key_set_up_under_5xx_fails_only_retryably() -> None:
    """The SDK's create-or-derive hid a 5xx on the create behind a 400 on the derive (no key
    yet), which is non-retryable: the worker gave up. Every failure must be retryable."""
    from test_exchange_contract import sim_settings

    from dualmm.exchange.base import NonRetryableError, RetryableError
    from dualmm.exchange.clob import ClobExchange

    outcomes: list[str] = []
    with SimServer(contract_venue(), faults=Faults(error_rate=0.5, seed=5)) as sim:
        for _ in range(20):
            try:
                await ClobExchange.connect(sim_settings(sim.url, fresh_key()))
                outcomes.append("ok")
            except RetryableError:
                outcomes.append("retry")
            except NonRetryableError as exc:
                outcomes.append(f"gave up: {exc}")
    assert "ok" in outcomes and "retry" in outcomes
    assert not [o for o in outcomes if o.startswith("gave up")], outcomes

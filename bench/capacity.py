"""Capacity and latency: N liquidations on one worker, the dev server and the simulator over HTTP.

    .venv/bin/python bench/capacity.py --n 100 500 1000 2000 [--window 180] [--json]

For each N: a fresh dev server (in memory), a simulator with N synthetic markets served over
HTTP from this process (its CPU is this process's, the driver's own share being small: it
sleeps), and one `dualmm worker` process. N LiquidationWorkflows start at once, each holding
10 shares bought at 0.90 on a market near 0.50 with checks every 30 s: the profit floor keeps
every order resting at 0.91, so nothing fills and every workflow keeps checking. After a
warm-up of one check interval, the window's checks are measured from the histories:

    lag = the check's sync activity started (ActivityTaskStarted) - the timer's due time
          (TimerStarted + start_to_fire_timeout)

and reported as checks/s, lag p50/p99/max, worker, dev server and simulator CPU (% of one
core, averaged over the window) and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from timing import machine  # noqa: E402

CHECK_MS = 30_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def start_liquidations(client: Any, venue: Any, address: str, n: int, queue: str) -> None:
    from dualmm.config import LiquidationConfig
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.types import Token
    from workflows.liquidation import LiquidationInput, LiquidationWorkflow

    config = LiquidationConfig(price_check_interval_ms=CHECK_MS)
    markets = venue.markets()[:n]
    now = datetime.now(UTC)
    semaphore = asyncio.Semaphore(50)

    async def one(info: Any) -> None:
        venue.credit(address, info.token_id(Token.YES), Decimal(10))
        async with semaphore:
            await client.start_workflow(
                LiquidationWorkflow.run,
                LiquidationInput(
                    market=info,
                    position=PositionTracker.opening(Token.YES, Decimal(10), Decimal("0.90")),
                    config=config,
                    started_at=now,
                ),
                id=f"bench-liquidation-{info.condition_id}",
                task_queue=queue,
            )

    await asyncio.gather(*(one(m) for m in markets))


async def lags(client: Any, ids: list[str], since: datetime, until: datetime) -> list[float]:
    """Each check's lag (seconds) whose timer fell due inside [since, until]."""
    found: list[float] = []
    semaphore = asyncio.Semaphore(20)

    async def one(workflow_id: str) -> None:
        async with semaphore:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        due: datetime | None = None
        for event in history.events:
            kind = event.WhichOneof("attributes")
            at = event.event_time.ToDatetime(tzinfo=UTC)
            if kind == "timer_started_event_attributes":
                fire = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
                due = at + fire
            elif kind == "activity_task_started_event_attributes" and due is not None:
                if since <= due <= until:
                    found.append((at - due).total_seconds())
                due = None

    await asyncio.gather(*(one(w) for w in ids))
    return found


def measure(n: int, window: float, address_key: str) -> dict[str, Any]:
    from eth_account import Account
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from dualmm.sim.server import SimServer
    from dualmm.sim.synthetic import SYNTHETIC_HISTORY
    from dualmm.sim.venue import SimVenue, WallClock
    from dualmm.temporal_bin import DEV_SERVER, temporal_binary

    address = Account.from_key(address_key).address
    now = datetime.now(UTC)
    venue = SimVenue.synthetic(n, 1, WallClock(now), start=now - timedelta(hours=1))
    del SYNTHETIC_HISTORY
    venue.ensure_wallet(address)
    sim = SimServer(venue)
    sim.start()
    port = free_port()
    temporal = subprocess.Popen(
        [
            temporal_binary(DEV_SERVER),
            *("server", "start-dev", "--headless", "--port", str(port)),
            *("--http-port", str(free_port()), "--metrics-port", str(free_port())),
            *("--log-level", "error"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    queue = f"bench-{n}"
    env = {
        **os.environ,
        "DUALMM_EXCHANGE": "sim",
        "DUALMM_CLOB_URL": sim.url,
        "DUALMM_PRIVATE_KEY": address_key,
        "DUALMM_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "DUALMM_TASK_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "dualmm", "worker", "--no-tracing"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        start_new_session=True,
    )
    try:

        async def run() -> dict[str, Any]:
            client = None
            for _ in range(60):
                try:
                    client = await Client.connect(
                        f"127.0.0.1:{port}", data_converter=pydantic_data_converter
                    )
                    break
                except RuntimeError:
                    await asyncio.sleep(1)
            assert client is not None
            began = time.monotonic()
            await start_liquidations(client, venue, address, n, queue)
            started_in = time.monotonic() - began
            await asyncio.sleep(CHECK_MS / 1000 + 10)  # warm-up: every workflow checked once
            pids = {"worker": worker.pid, "dev server": temporal.pid, "simulator": os.getpid()}
            cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
            since = datetime.now(UTC)
            t0 = time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            until = datetime.now(UTC)
            cpu = {k: 100 * (cpu_seconds(p) - cpu0[k]) / elapsed for k, p in pids.items()}
            rss = {k: rss_mb(p) for k, p in pids.items() if k != "simulator"}
            rss["simulator"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ids = [f"bench-liquidation-{m.condition_id}" for m in venue.markets()[:n]]
            measured = await lags(client, ids, since, until)
            return {
                "n": n,
                "started_in_s": round(started_in, 1),
                "checks": len(measured),
                "checks_per_s": round(len(measured) / window, 1),
                "lag_p50_s": round(percentile(measured, 50), 2),
                "lag_p99_s": round(percentile(measured, 99), 2),
                "lag_max_s": round(max(measured, default=float("nan")), 2),
                "lag_mean_s": round(statistics.fmean(measured), 2) if measured else None,
                "cpu_pct": {k: round(v) for k, v in cpu.items()},
                "rss_mb": {k: round(v) for k, v in rss.items()},
            }

        return asyncio.run(run())
    finally:
        for proc in (worker, temporal):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--window", type=float, default=180.0, help="Measured seconds.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from eth_account import Account

    print(f"# {machine()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows = []
    for n in args.n:
        # One process per N: a fresh simulator and a clean RSS peak.
        key = "0x" + bytes(Account.create().key).hex()
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), str(args.window), key],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )  # fmt: skip
        if out.returncode != 0:
            print(f"N={n}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            cpu, rss = row["cpu_pct"], row["rss_mb"]
            print(
                f"| {n} | {row['checks_per_s']} | {row['lag_p50_s']} / {row['lag_p99_s']} / "
                f"{row['lag_max_s']} s | {cpu['worker']} % / {rss['worker']} MB | "
                f"{cpu['dev server']} % / {rss['dev server']} MB | "
                f"{cpu['simulator']} % / {rss['simulator']} MB | {row['started_in_s']} s |",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])))
    else:
        main()

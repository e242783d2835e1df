"""Capacity and latency: N liquidations on one worker, the dev server and the simulator over HTTP.

    .venv/bin/python bench/capacity.py --n 100 500 1000 2000 [--window 180] [--aligned] [--json]
        [--dynamic-config KEY=VALUE ...]

For each N: a fresh dev server (in memory), a simulator with N synthetic markets served over
HTTP from this process (its CPU is this process's, the driver's own share being small: it
sleeps), and one `dualmm worker` process. N LiquidationWorkflows start, each holding 10 shares
bought at 0.90 on a market near 0.50 with checks every 30 s: the profit floor keeps every order
resting at 0.91, so nothing fills and every workflow keeps checking. Their first checks are
spread evenly over one check interval, as liquidations that begin at fill times are: the
steady load is N/30 checks/s. `--aligned` starts every first check at once instead (all N due
in the same second every 30 s: the herd after a worker outage, not a steady state). After a
warm-up of two check intervals (every workflow has placed its order and checked at least
once), the window's checks are measured from the histories:

    lag = the check's sync started - the check's due time

The due time is the workflow's: its check timer's label says it (`next check at <ISO time>`,
workflows/ui_text.py). The sync is a local activity (workflows/liquidation.py): its start is
the `original_schedule_time` the worker records in the check's `core_local_activity` marker
(the moment the workflow, woken by the timer, asked for the sync). The lag is split in four:
set late (the task that set the timer completed after the workflow's clock: the server starts
a timer on completion), timer (the server fired it late), dispatch (the task it woke waited for
a worker's poll) and worker (the worker's own queueing and the workflow code). Reported as
checks/s, lag p50/p99/max and its parts, worker, dev server and simulator CPU (% of one core,
averaged over the window; and CPU ms per check, which the other load on the machine changes
less) and peak RSS. To study a run: CAPACITY_CHECKS_FILE=F writes every check's times,
CAPACITY_METRICS_DIR=D the dev server's Prometheus metrics at the window's start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from timing import machine, percentile  # noqa: E402

CHECK_MS = 30_000


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


async def start_liquidations(
    client: Any, venue: Any, address: str, n: int, queue: str, aligned: bool
) -> None:
    from dualmm.config import LiquidationConfig
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.types import Token
    from workflows.liquidation import LiquidationInput, LiquidationWorkflow

    config = LiquidationConfig(price_check_interval_ms=CHECK_MS)
    markets = venue.markets()[:n]
    now = datetime.now(UTC)
    semaphore = asyncio.Semaphore(50)

    async def one(number: int, info: Any) -> None:
        venue.credit(address, info.token_id(Token.YES), Decimal(10))
        spread = timedelta(0) if aligned else timedelta(milliseconds=CHECK_MS * number / n)
        async with semaphore:
            await client.start_workflow(
                LiquidationWorkflow.run,
                LiquidationInput(
                    market=info,
                    position=PositionTracker.opening(Token.YES, Decimal(10), Decimal("0.90")),
                    config=config,
                    started_at=now,
                    next_check_at=now + spread,
                ),
                id=f"bench-liquidation-{info.condition_id}",
                task_queue=queue,
            )

    await asyncio.gather(*(one(number, m) for number, m in enumerate(markets)))


async def lags(
    client: Any, ids: list[str], since: datetime, until: datetime
) -> tuple[list[Check], int]:
    """Each check whose timer fell due inside [since, until], and the number of history
    events written inside it.

    The due time is the timer's label. Histories from before the label: the start of the
    task that set the timer plus its duration, which is early by the sync's run time (the
    workflow's clock moves on when a local activity completes: this bench's figures before
    December 2026 counted each check's sync in its lag).
    """
    found: list[Check] = []
    events = 0
    semaphore = asyncio.Semaphore(20)

    async def one(workflow_id: str) -> None:
        nonlocal events
        async with semaphore:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        check: Check | None = None
        task_started: datetime | None = None
        for event in history.events:
            kind = event.WhichOneof("attributes")
            at = event.event_time.ToDatetime(tzinfo=UTC)
            events += since <= at <= until
            if kind == "workflow_task_started_event_attributes":
                task_started = at
                if check is not None and check.task_started is None and check.fired is not None:
                    check.task_started = at
            elif kind == "timer_started_event_attributes" and task_started is not None:
                fire = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
                due = labelled_due(event) or task_started + fire
                check = Check(due=due, set_at=at, set_by=task_started, fire=fire)
            elif check is None:
                continue
            elif kind == "timer_fired_event_attributes":
                check.fired = at
            elif kind == "workflow_task_scheduled_event_attributes" and check.scheduled is None:
                check.scheduled = at if check.fired is not None else None
            elif (started := sync_started(event, kind, at)) is not None:
                check.sync = started
                if since <= check.due <= until:
                    found.append(check)
                check = None

    await asyncio.gather(*(one(w) for w in ids))
    return found, events


@dataclass
class Check:
    """One check's times: due (the workflow's), set_at/fire (the server started the timer,
    for this long), fired (the server's TimerFired), scheduled/task_started (the workflow
    task it woke: queued, then handed to the worker) and sync (the workflow asked for it)."""

    due: datetime
    set_at: datetime  # TimerStarted: the server starts the timer when the task completes
    set_by: datetime  # the start of the workflow task that set it
    fire: timedelta  # the timer's duration
    fired: datetime | None = None
    scheduled: datetime | None = None
    task_started: datetime | None = None
    sync: datetime | None = None

    @property
    def lag(self) -> float:
        assert self.sync is not None
        return (self.sync - self.due).total_seconds()

    def parts(self) -> dict[str, float] | None:
        """The lag in parts (see the module's docstring)."""
        if None in (self.fired, self.scheduled, self.task_started, self.sync):
            return None
        assert self.fired and self.scheduled and self.task_started and self.sync
        return {
            "set late": (self.set_at + self.fire - self.due).total_seconds(),
            "timer": (self.fired - self.set_at - self.fire).total_seconds(),
            "dispatch": (self.task_started - self.scheduled).total_seconds(),
            "worker": (self.sync - self.task_started).total_seconds(),
        }


def labelled_due(event: Any) -> datetime | None:
    """A check timer's due time from its label (`next check at <ISO time>`, see
    workflows/ui_text.py); None for a history from before the label carried it."""
    summary = event.user_metadata.summary
    if not summary.data:
        return None
    label = json.loads(summary.data)
    if not isinstance(label, str) or not label.startswith("next check at "):
        return None
    return datetime.fromisoformat(label.removeprefix("next check at "))


def sync_started(event: Any, kind: str, at: datetime) -> datetime | None:
    """When a check's sync started, if this event says: an activity's start, or a local
    activity's marker (the time the workflow scheduled it, as the worker recorded it)."""
    if kind == "activity_task_started_event_attributes":
        return at
    if kind != "marker_recorded_event_attributes":
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity":
        return None
    data = json.loads(marker.details["data"].payloads[0].data)
    scheduled = data["original_schedule_time"]
    return datetime.fromtimestamp(scheduled["seconds"] + scheduled["nanos"] / 1e9, UTC)


def scrape(url: str, name: str) -> None:
    """The dev server's Prometheus metrics, to study (CAPACITY_METRICS_DIR)."""
    if folder := os.environ.get("CAPACITY_METRICS_DIR"):
        import urllib.request

        with urllib.request.urlopen(url, timeout=30) as answer:
            Path(folder, f"{name}.txt").write_bytes(answer.read())


def measure(
    n: int, window: float, address_key: str, aligned: bool, dynamic_config: list[str]
) -> dict[str, Any]:
    from eth_account import Account
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from dualmm.devserver import WORKER_COMMAND, start_dev_server, stop_process, worker_env
    from dualmm.sim.server import SimServer
    from dualmm.sim.venue import SimVenue, WallClock

    address = Account.from_key(address_key).address
    now = datetime.now(UTC)
    venue = SimVenue.synthetic(n, 1, WallClock(now), start=now - timedelta(hours=1))
    venue.ensure_wallet(address)
    sim = SimServer(venue)
    sim.start()
    temporal = start_dev_server(new_session=True, dynamic_config=dynamic_config)
    queue = f"bench-{n}"
    env = worker_env(sim.url, address_key, temporal.address, queue)
    worker_log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed below); warnings counted
    worker = subprocess.Popen(
        WORKER_COMMAND,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        start_new_session=True,
    )
    try:

        async def run() -> dict[str, Any]:
            client = None
            for _ in range(60):
                try:
                    client = await Client.connect(
                        temporal.address, data_converter=pydantic_data_converter
                    )
                    break
                except RuntimeError:
                    await asyncio.sleep(1)
            assert client is not None
            began = time.monotonic()
            await start_liquidations(client, venue, address, n, queue, aligned)
            started_in = time.monotonic() - began
            await asyncio.sleep(2 * CHECK_MS / 1000)  # warm-up: orders placed, checks steady
            pids = {
                "worker": worker.pid,
                "dev server": temporal.process.pid,
                "simulator": os.getpid(),
            }
            cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
            since = datetime.now(UTC)
            scrape(temporal.metrics_url, "start")
            load = [os.getloadavg()[0]]
            logged = os.fstat(worker_log.fileno()).st_size  # warnings count from here
            t0 = time.monotonic()
            await asyncio.sleep(window)
            elapsed = time.monotonic() - t0
            until = datetime.now(UTC)
            scrape(temporal.metrics_url, "end")
            load.append(os.getloadavg()[0])
            cpu = {k: 100 * (cpu_seconds(p) - cpu0[k]) / elapsed for k, p in pids.items()}
            rss = {k: rss_mb(p) for k, p in pids.items() if k != "simulator"}
            rss["simulator"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ids = [f"bench-liquidation-{m.condition_id}" for m in venue.markets()[:n]]
            checks, events = await lags(client, ids, since, until)
            measured = [c.lag for c in checks]
            if dump := os.environ.get("CAPACITY_CHECKS_FILE"):  # every check's times, to study
                rows = [
                    {"due": c.due.timestamp(), "lag": c.lag, **(c.parts() or {})} for c in checks
                ]
                Path(dump).write_text(json.dumps(rows))
            split = [parts for c in checks if (parts := c.parts()) is not None]
            breakdown = {
                part: [round(percentile([s[part] for s in split], p), 2) for p in (50, 99)]
                + [round(max((s[part] for s in split), default=float("nan")), 2)]
                for part in ("set late", "timer", "dispatch", "worker")
            }
            worker_log.seek(logged)
            log = worker_log.read().splitlines()
            problems = [line for line in log if " WARNING " in line or " ERROR " in line]
            return {
                "n": n,
                "started_in_s": round(started_in, 1),
                "checks": len(measured),
                "checks_per_s": round(len(measured) / window, 1),
                "lag_p50_s": round(percentile(measured, 50), 2),
                "lag_p99_s": round(percentile(measured, 99), 2),
                "lag_max_s": round(max(measured, default=float("nan")), 2),
                "lag_mean_s": round(statistics.fmean(measured), 2) if measured else None,
                "lag_parts_p50_p99_max_s": breakdown,
                "events_per_check": round(events / len(measured), 1) if measured else None,
                "cpu_pct": {k: round(v) for k, v in cpu.items()},
                # CPU per check: what a check costs each process, whatever else the machine runs
                "cpu_ms_per_check": {
                    k: round(10 * v * elapsed / max(len(measured), 1), 1) for k, v in cpu.items()
                },
                "load": [round(x, 1) for x in load],
                "worker_warnings": len(problems),  # in the window
                "worker_warning_sample": problems[:3],
                "rss_mb": {k: round(v) for k, v in rss.items()},
            }

        return asyncio.run(run())
    finally:
        stop_process(worker)
        temporal.stop()
        sim.stop()
        worker_log.close()


HEADER = (
    "| N | checks/s (due N/30) | lag p50 / p99 / max | p99 of its parts: set late / timer / "
    "dispatch / worker | worker CPU / RSS | dev server CPU / RSS | simulator CPU / RSS "
    "| CPU ms/check w / d / s | events/check | N starts took | load avg (start → end) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def row_line(row: dict[str, Any]) -> str:
    cpu, rss, n, per = row["cpu_pct"], row["rss_mb"], row["n"], row["cpu_ms_per_check"]
    warned = f" ({row['worker_warnings']} worker warnings)" if row["worker_warnings"] else ""
    return (
        f"| {n} | {row['checks_per_s']} ({n / (CHECK_MS / 1000):.1f}) | {row['lag_p50_s']} / "
        f"{row['lag_p99_s']} / {row['lag_max_s']} s | "
        + " / ".join(f"{p99:.2f}" for _, p99, _ in row["lag_parts_p50_p99_max_s"].values())
        + f" s | {cpu['worker']} % / {rss['worker']} MB | "
        f"{cpu['dev server']} % / {rss['dev server']} MB | "
        f"{cpu['simulator']} % / {rss['simulator']} MB | "
        f"{per['worker']} / {per['dev server']} / {per['simulator']} | {row['events_per_check']} | "
        f"{row['started_in_s']} s | {row['load'][0]} → {row['load'][1]}{warned} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument("--window", type=float, default=180.0, help="Measured seconds.")
    parser.add_argument(
        "--aligned", action="store_true", help="Every first check at once (a herd), not spread."
    )
    parser.add_argument("--json", action="store_true", help="One JSON line per N as well.")
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="A dynamic config value for the dev server (repeatable), e.g. "
        "history.timerProcessorMaxTimeShift='\"100ms\"'.",
    )
    args = parser.parse_args()
    from eth_account import Account

    print(f"# {machine()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    print(HEADER, flush=True)
    for n in args.n:
        # One process per N: a fresh simulator and a clean RSS peak.
        key = "0x" + bytes(Account.create().key).hex()
        command = [sys.executable, __file__, "--one", str(n), str(args.window), key]
        out = subprocess.run(
            [
                *command,
                *(["--aligned"] if args.aligned else []),
                *(f"--dynamic-config={value}" for value in args.dynamic_config),
            ],
            capture_output=True, text=True, check=False, cwd=ROOT,
        )  # fmt: skip
        if out.returncode != 0:
            print(f"N={n}: failed\n{out.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(row_line(row), flush=True)
        if args.json:
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "--one":
        dynamic = [a.split("=", 1)[1] for a in sys.argv[5:] if a.startswith("--dynamic-config=")]
        one = measure(
            int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], "--aligned" in sys.argv, dynamic
        )
        print(json.dumps(one))
    else:
        main()

"""Chaos run: the bot in dual mode against a real Temporal dev server (SQLite) and the harsh
simulator over HTTP, while the worker is SIGKILLed (the first kills aimed in turn at market
making, a placement, a liquidation check and a merge, read from the pending activities; then
at random moments), Temporal is restarted on the same database, the venue answers 5xx and 429,
loses answers, settles late, fails trades and restarts its matching engine (425, then
post-only). Liquidations merge their YES+NO pairs on-chain (an EOA, ChainMerger) through the
simulator's Polygon node (dualmm/sim/chain.py over the venue's ledger, 1-3 s blocks), so a
kill can land while a merge waits for its receipt. Then the ledger and the bot are audited.
`make chaos` runs the full profile; tests/chaos/test_chaos.py a short one. With `--workers 2`
two workers share the task queue: the stop aimed at a moment goes to the worker doing it,
every other stop is a SIGTERM (a rolling restart), and the other worker takes the work over.

    .venv/bin/python tests/chaos/chaos.py --minutes 15 [--workers 2] [--seed N] [--keep DIR]

Audited, with the faults switched off and the bot paused at the end:
- never two live orders of ours for one intent (token and side) at any moment (the ledger is
  sampled every second during the run);
- no orphan at rest: after the pause and every liquidation's end, no order of ours is live;
- every fill counted once and every merge applied once: per market, the bot's positions (the
  active round plus every liquidation run's final position, merges taken out) equal the
  venue's balances (merges burned there by the mined transactions), to the cent, once every
  trade has settled and no merge is pending;
- every liquidation terminal (COMPLETED), and the parent's registry agrees (nothing live or
  pending, as many finished as completed runs); none closed holding YES+NO pairs (they would
  stay in the wallet for a later owner of the market to sell as its own) or still counting a
  FAILED trade; a mismatch lists each owner's holdings and the venue's trades of the market;
- the bot's workflow RUNNING.
Prints the counts (kills and what each interrupted, restarts, faults, orders, fills, merges,
violations); exit code 1 on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account

from dualmm.devserver import free_port
from dualmm.sim.chain import SimChain
from dualmm.sim.chain_http import ChainServer
from dualmm.sim.chain_venue import UNITS, VenueContracts
from dualmm.sim.faults import Faults
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.synthetic import SYNTHETIC_HISTORY
from dualmm.sim.venue import SimVenue, WallClock
from dualmm.sim.wire import Reply, Request
from dualmm.temporal_bin import DEV_SERVER, temporal_binary

ROOT = Path(__file__).resolve().parents[2]
BOT = "chaos"
QUIET_SECONDS = 15


@dataclass(frozen=True)
class Profile:
    minutes: float
    kills: int  # at least this many worker SIGKILLs, spread over the run
    temporal_restarts: int
    markets: int = 6  # few, so markets are revisited
    error_rate: float = 0.10
    rate_limit_rate: float = 0.05
    lost_rate: float = 0.05
    speed: float = 300.0
    settle_seconds: tuple[float, float] = (2.0, 10.0)  # simulated time, so brief here
    failed_trade_rate: float = 0.10  # of our fills: enough that every run sees some
    # Matching-engine restarts (real seconds): every so often the order endpoints answer 425
    # for `down`, then accept post-only orders only for `post_only`.
    venue_restart_every: float = 240.0
    venue_restart_down: float = 15.0
    venue_restart_post_only: float = 20.0
    # Seconds a merge transaction waits for its block on the simulated Polygon node: long
    # enough for a kill to land while the merge activity waits for its receipt.
    block_time: tuple[float, float] = (1.0, 3.0)
    # A run this long has several liquidations, some holding pairs: a run without a merge,
    # or without a kill during one, tested less than it claims (a violation). A short run may
    # have one liquidation without pairs.
    expect_merges: bool = True
    # Workers on the task queue. With two, every other stop is a SIGTERM (a rolling restart)
    # of the worker holding the moment, and the other one takes its work over meanwhile.
    workers: int = 1


FULL = Profile(minutes=15, kills=24, temporal_restarts=3)
SHORT = Profile(
    minutes=2.5,
    kills=5,
    temporal_restarts=1,
    venue_restart_every=60.0,
    venue_restart_down=8.0,
    expect_merges=False,
)

# What the worker may be doing when it is killed: its pending activities, by name. Kills aim
# at each of these in turn (then at random moments), so the run covers every kind of moment.
MOMENTS = {
    "make_market": "market making",
    "liquidation_place_order": "placement",
    "liquidation_sync_position": "liquidation check",
    "liquidation_wait_for_move": "liquidation watch",
    "liquidation_sign_merge": "merge signature",
    "liquidation_merge_pairs": "merge",
    "liquidation_cancel_order": "cancel",
    "pick_market": "market pick",
    "withdraw_quotes": "withdrawal",
    "running_liquidations": "registry rebuild",
}
TARGETS = ("market making", "placement", "liquidation check", "merge")
# How long an aimed kill waits for its moment: a liquidation's moments need a liquidation
# first, and a merge one holding YES+NO pairs.
TARGET_WAIT_SECONDS = {"market making": 20.0, "merge": 120.0}
LIQUIDATION_WAIT_SECONDS = 60.0
# A restarted worker takes a few seconds to pick its work up again: a kill sooner finds it
# idle (kills whose time passed while an aimed kill waited came 2-3 s apart: 13 of 24 idle).
KILL_GAP_SECONDS = 8.0


def spaced(times: list[float], earliest: float, gap: float) -> list[float]:
    """`times` (ascending) moved so none is before `earliest` and each is `gap` after the last."""
    moved = []
    for at in times:
        earliest = max(at, earliest)
        moved.append(earliest)
        earliest += gap
    return moved


ORDER_SIZE = Decimal(20)
# One and a half orders: two fills on one side hand a market over, and a fill on each side
# first leaves YES+NO pairs for the liquidation to merge.
POSITION_LIMIT = Decimal(30)
ORCHESTRATE = (
    *("--bot-id", BOT, "--dual-market-mode"),
    *("--order-size", str(ORDER_SIZE), "--position-limit", str(POSITION_LIMIT)),
    *("--quote-interval", "1000", "--liq-check-interval", "2000"),
    *("--liq-skew-start", "0.5", "--liq-timeout", "1.5", "--spread-fraction", "0.1"),
)


class CountingSim(SimServer):
    """The simulator, counting the faults it injects."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.injected: Counter[str] = Counter()

    def serve(self, request: Request) -> Reply:
        reply = super().serve(request)
        if not request.path.startswith("/_sim/"):
            if reply.status == 500 and "simulated" in json.dumps(reply.body):
                self.injected["5xx"] += 1
            elif reply.status == 429:
                self.injected["429"] += 1
            elif reply.status == 425:
                self.injected["425 (engine restarting)"] += 1
            elif reply.lost_for_s is not None:
                self.injected["lost answers"] += 1
        return reply


@dataclass
class Run:
    profile: Profile
    seed: int
    var: Path
    log: list[str] = field(default_factory=list)
    kills: int = 0  # worker stops: SIGKILLs, and `terms` of them SIGTERMs
    terms: int = 0
    merges: int = 0
    kill_moments: Counter[str] = field(default_factory=Counter)
    restarts: int = 0
    violations: list[str] = field(default_factory=list)
    samples: int = 0
    max_live: int = 0

    def say(self, line: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        print(f"[chaos {stamp}] {line}", flush=True)

    def violate(self, line: str) -> None:
        if len(self.violations) < 200:
            self.violations.append(line)
        self.say(f"VIOLATION: {line}")


class Stack:
    """The dev server and the workers as child processes, restartable."""

    def __init__(self, run: Run, env: dict[str, str], temporal_port: int) -> None:
        self.run = run
        self.env = env
        self.port = temporal_port
        self.temporal: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_temporal(self) -> None:
        log = (self.run.var / "temporal.log").open("ab")
        self.temporal = subprocess.Popen(
            [
                temporal_binary(DEV_SERVER),
                *("server", "start-dev", "--headless", "--port", str(self.port)),
                *("--db-filename", str(self.run.var / "temporal.db"), "--log-level", "error"),
                *("--http-port", str(free_port()), "--metrics-port", str(free_port())),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("the Temporal dev server did not open its port")

    def restart_temporal(self, hard: bool) -> None:
        assert self.temporal is not None
        self.temporal.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        self.temporal.wait(timeout=60)
        time.sleep(random.uniform(0.5, 3))
        self.start_temporal()

    def start_workers(self) -> None:
        """Start workers until the profile's count runs."""
        self.workers = [w for w in self.workers if w.poll() is None]
        while len(self.workers) < self.run.profile.workers:
            log = (self.run.var / "worker.log").open("ab")
            self.workers.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "dualmm", "worker"),
                        *("--trace-file", str(self.run.var / "spans.jsonl")),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=ROOT,
                    start_new_session=True,
                )
            )

    def stop_worker(self, worker: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """SIGKILL (a crash) or SIGTERM (a rolling restart: it drains, then exits)."""
        worker.send_signal(sig)
        worker.wait(timeout=60)
        self.workers.remove(worker)

    def stop(self) -> None:
        for proc in (*self.workers, self.temporal):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


class MomentWatch:
    """What the worker is doing now: the kinds of its pending activities (MOMENTS), read from
    Temporal (the bot's and every running liquidation's description)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.client: Any = None

    def now(self, worker_pid: int) -> set[str]:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(self._now(worker_pid), 5))
        except Exception:  # Temporal restarting: nothing known
            self.client = None
            return set()

    async def _now(self, worker_pid: int) -> set[str]:
        from temporalio.client import Client

        from workflows.contracts import active_market_workflow_id

        if self.client is None:
            self.client = await Client.connect(f"127.0.0.1:{self.port}")
        ids = [active_market_workflow_id(BOT)]
        query = "WorkflowType = 'LiquidationWorkflow' AND ExecutionStatus = 'Running'"
        ids += [w.id async for w in self.client.list_workflows(query)]
        from temporalio.api.enums.v1 import PendingActivityState, PendingWorkflowTaskState

        found: set[str] = set()
        for workflow_id in ids:
            described = await self.client.get_workflow_handle(workflow_id).describe()
            for pending in described.raw_description.pending_activities:
                # Only what this worker runs now: a killed worker's activity stays pending
                # (STARTED by it) until its timeout, and a scheduled retry is not running.
                running = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                if running and pending.last_worker_identity.startswith(f"{worker_pid}@"):
                    name = pending.activity_type.name
                    found.add(MOMENTS.get(name, name))
            # A liquidation's check syncs in a local activity, inside its workflow task: a
            # started task of a liquidation is a check under way.
            task = described.raw_description.pending_workflow_task
            started = PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
            if workflow_id != ids[0] and task.state == started:
                found.add("liquidation check")
        return found

    def busiest(
        self, workers: list[subprocess.Popen[bytes]], target: str | None
    ) -> tuple[subprocess.Popen[bytes], set[str]]:
        """The worker doing `target` now (else the busiest one) and what it is doing."""
        seen = [(worker, self.now(worker.pid)) for worker in workers]
        return max(seen, key=lambda ws: (target in ws[1], len(ws[1])))

    def close(self) -> None:
        self.loop.close()


def dualmm(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualmm", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout, check=False,
    )  # fmt: skip


class LedgerWatch(threading.Thread):
    """Samples the ledger every second: never two live orders of ours for one intent."""

    def __init__(self, chaos_run: Run, url: str, address: str) -> None:
        super().__init__(daemon=True)
        self.chaos_run, self.url, self.address = chaos_run, url, address.lower()
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)

    def run(self) -> None:
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        with httpx.Client(timeout=30) as http:
            while not self.stopped.wait(1.0):
                try:
                    ledger = http.get(f"{self.url}/_sim/ledger").json()
                except httpx.HTTPError:
                    continue
                live = [
                    o
                    for o in ledger["orders"]
                    if o["address"].lower() == self.address and o["status"].endswith("LIVE")
                ]
                self.chaos_run.samples += 1
                self.chaos_run.max_live = max(self.chaos_run.max_live, len(live))
                by_intent: dict[tuple[str, str], list[str]] = {}
                for order in live:
                    by_intent.setdefault((order["token_id"], order["side"]), []).append(
                        order["order_id"]
                    )
                for (token, side), ids in by_intent.items():
                    key = (token, side, tuple(sorted(ids)))
                    if len(ids) > 1 and key not in seen:
                        seen.add(key)
                        self.chaos_run.violate(
                            f"{len(ids)} live {side} orders for token ...{token[-8:]}: {ids}"
                        )


async def _client(port: int) -> Any:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    for _ in range(60):
        try:
            return await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        except RuntimeError:
            await asyncio.sleep(1)
    raise RuntimeError("cannot reach Temporal")


async def _status(client: Any, attempts: int = 40) -> dict[str, Any]:
    """The bot's own `status` query (the registry as the workflow holds it)."""
    from workflows.active_market import ActiveMarketWorkflow
    from workflows.contracts import active_market_workflow_id

    handle = client.get_workflow_handle_for(
        ActiveMarketWorkflow.run, active_market_workflow_id(BOT)
    )
    last: Exception | None = None
    for _ in range(attempts):
        try:
            answer = await asyncio.wait_for(handle.query(ActiveMarketWorkflow.status), 20)
            status: dict[str, Any] = answer.model_dump(mode="json")
            return status
        except Exception as exc:  # the worker may be restarting
            last = exc
            await asyncio.sleep(2)
    raise RuntimeError(f"no status from the bot: {last}")


async def _liquidation_runs(client: Any) -> list[Any]:
    query = "WorkflowType = 'LiquidationWorkflow'"
    return [w async for w in client.list_workflows(query)]


async def check_histories(run: Run, client: Any, secrets: dict[str, str]) -> list[int]:
    """Every workflow history replays on this code (a nondeterminism shows here even where no
    worker happened to replay it), and no secret is in one (as exported), in the worker's log
    or in its spans."""
    from temporalio.worker import Replayer

    from workflows.active_market import ActiveMarketWorkflow
    from workflows.liquidation import LiquidationWorkflow

    replayer = Replayer(
        workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
        data_converter=client.data_converter,
    )
    histories = []
    async for execution in client.list_workflows(""):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if replayed.replay_failure is not None:
            failure = str(replayed.replay_failure)[:300]
            run.violate(f"{execution.id} run {execution.run_id[:8]} fails replay: {failure}")
        histories.append(history.to_json())
    log = (run.var / "worker.log").read_text(errors="replace")
    spans_file = run.var / "spans.jsonl"
    spans = spans_file.read_text(errors="replace") if spans_file.exists() else ""
    if not spans:
        run.violate("the worker exported no span: the secret scan would be empty")
    for where, text in (("a history", "\n".join(histories)), ("the log", log), ("a span", spans)):
        for name, secret in secrets.items():
            if secret and secret.lower() in text.lower():
                run.violate(f"the {name} appears in {where}")
    return [len(histories), log.count("\n"), spans.count("\n")]


async def audit(
    run: Run,
    stack: Stack,
    sim: CountingSim,
    chain: SimChain,
    address: str,
    secrets: dict[str, str],
) -> dict[str, Any]:
    """Faults off, pause, let every liquidation end and every trade settle, then compare."""
    from temporalio.client import WorkflowExecutionStatus

    from dualmm.domain.position import PositionTracker
    from dualmm.domain.types import Token
    from dualmm.scenario import token_id_for
    from workflows.contracts import active_market_workflow_id
    from workflows.liquidation import LiquidationResult, LiquidationWorkflow

    sim.set_faults(Faults(seed=run.seed))
    stack.start_workers()
    client = await _client(stack.port)
    paused = dualmm(stack.env, "pause", "--bot-id", BOT)
    run.say(f"pause: {paused.stdout.strip() or paused.stderr.strip()}")

    # Quiet: nothing live or pending in the bot, no order of ours live, every trade of ours
    # settled, for QUIET_SECONDS in a row. Liquidations get two minutes on their own, then a
    # manual exit (MARKET); an orphan or a stuck liquidation shows as a violation below.
    start = time.monotonic()
    forced: set[str] = set()
    quiet_since: float | None = None
    ledger: dict[str, Any] = {}
    while time.monotonic() - start < 420:
        status = await _status(client)
        ledger = httpx.get(f"{sim.url}/_sim/ledger", timeout=30).json()
        mine = [o for o in ledger["orders"] if o["address"].lower() == address.lower()]
        busy = (
            not status["paused"]
            or status["liquidations"]
            or status["pending"]
            or status["quotes"]
            or any(o["status"].endswith("LIVE") for o in mine)
            or not all(_settled(f) for f in ledger["fills"] if _is_ours(f, address))
            or bool(chain.pool)  # a merge waiting for its block
            or _round_settling(status)
        )
        if not busy:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= QUIET_SECONDS:
                break
        else:
            quiet_since = None
        if time.monotonic() - start > 120:
            for entry in status["liquidations"]:
                if entry["workflow_id"] in forced:
                    continue
                forced.add(entry["workflow_id"])
                try:
                    await client.get_workflow_handle(entry["workflow_id"]).signal(
                        LiquidationWorkflow.force_exit
                    )
                except Exception as exc:
                    run.say(f"force_exit {entry['workflow_id']}: {exc}")
        await asyncio.sleep(2)
    run.say(f"audit after {time.monotonic() - start:.0f}s of settling ({len(forced)} forced exits)")
    status = await _status(client)

    orders = [o for o in ledger["orders"] if o["address"].lower() == address.lower()]
    live = [o for o in orders if o["status"].endswith("LIVE")]
    for order in live:
        run.violate(
            f"orphan at rest: {order['side']} {order['size']} @ {order['price']} on "
            f"{order['condition_id'][:12]} ({order['order_id'][:12]})"
        )

    # The bot's view per market: every liquidation run's final position + the active round.
    runs = await _liquidation_runs(client)
    expected: dict[str, list[Decimal]] = {}
    owners: dict[str, list[str]] = {}  # what each owner of a market holds, for a mismatch
    completed = 0
    for execution in runs:
        if execution.status is WorkflowExecutionStatus.CONTINUED_AS_NEW:
            continue  # a link of a chain: its position is carried into the next run
        if execution.status is not WorkflowExecutionStatus.COMPLETED:
            run.violate(
                f"liquidation {execution.id} run {execution.run_id[:8]}: {execution.status.name}"
            )
            continue
        completed += 1
        handle = client.get_workflow_handle(
            execution.id, run_id=execution.run_id, result_type=LiquidationResult
        )
        result = await handle.result(follow_runs=False)
        position = result.position
        owners.setdefault(result.condition_id, []).append(
            f"liquidation run {execution.run_id[:8]} ({result.status}: {result.reason}): "
            f"YES {position.yes_qty} NO {position.no_qty}, "
            f"FAILED still counted {list(position.pending_reversals)}"
        )
        held = expected.setdefault(result.condition_id, [Decimal(0), Decimal(0)])
        held[0] += position.yes_qty
        held[1] += position.no_qty
        # Pairs left in the wallet belong to nobody afterwards: a later owner of the market
        # may sell them as its own. The chaos wallet can always merge (an EOA).
        pairs = min(position.yes_qty, position.no_qty)
        if pairs > 0 and result.status == "closed":
            run.violate(f"liquidation {execution.id[:24]} ended holding {pairs} YES+NO pairs")
        if position.pending_reversals:
            run.violate(
                f"liquidation {execution.id[:24]} ended counting FAILED trades "
                f"{list(position.pending_reversals)}"
            )
    if status["active_market"] is not None and status["position"] is not None:
        cid = status["active_market"]["condition_id"]
        position = PositionTracker.model_validate(status["position"])
        held = expected.setdefault(cid, [Decimal(0)] * 2)
        held[0] += position.yes_qty
        held[1] += position.no_qty
        owners.setdefault(cid, []).append(
            f"active round: YES {position.yes_qty} NO {position.no_qty}, "
            f"FAILED still counted {list(position.pending_reversals)}"
        )
    wallet = _wallet(ledger, address)
    markets = {o["condition_id"] for o in orders} | set(expected)
    for condition_id in sorted(markets):
        yes = wallet.get(token_id_for(condition_id, Token.YES), Decimal(0))
        no = wallet.get(token_id_for(condition_id, Token.NO), Decimal(0))
        bot_yes, bot_no = expected.get(condition_id, [Decimal(0), Decimal(0)])
        if (yes.quantize(Decimal("0.01")), no.quantize(Decimal("0.01"))) != (
            bot_yes.quantize(Decimal("0.01")),
            bot_no.quantize(Decimal("0.01")),
        ):
            run.violate(
                f"position {condition_id[:12]}: venue YES {yes} NO {no}, "
                f"bot YES {bot_yes} NO {bot_no}"
            )
            explain_mismatch(run, condition_id, owners.get(condition_id, []), ledger, address)

    if status["liquidations"] or status["pending"]:
        run.violate(f"registry still lists {status['liquidations']} / {status['pending']}")
    if status["liquidations_finished"] != completed:
        run.violate(
            f"registry counts {status['liquidations_finished']} finished liquidations, "
            f"Temporal {completed} completed runs"
        )
    bot = await client.get_workflow_handle(active_market_workflow_id(BOT)).describe()
    if bot.status is not WorkflowExecutionStatus.RUNNING:
        run.violate(f"the bot's workflow is {bot.status.name if bot.status else '?'}")
    checked = await check_histories(run, client, secrets)
    if not orders:
        run.violate("the bot placed no order in the whole run: nothing was tested")
    ours = [f for f in ledger["fills"] if _is_ours(f, address)]
    merged = merge_counts(chain)
    run.merges = len(chain.merges)
    if run.profile.expect_merges and not chain.merges:
        run.violate("no merge in the whole run: the merge path was not tested")
    if run.profile.expect_merges and not run.kill_moments["merge"]:
        run.violate("no kill landed during a merge")
    revisited = sum(1 for n in Counter(e.id for e in runs).values() if n > 1)
    return {
        "orders": len(orders),
        "fills": len(ours),
        "failed trades": sum(1 for f in ours if "FAILED" in str(f.get("status", ""))),
        "liquidations": completed,
        **merged,
        "markets revisited": revisited,
        "replayed and scanned for secrets (histories, log lines, spans)": checked,
        "bot": bot.status.name if bot.status else "?",
    }


def explain_mismatch(
    run: Run, condition_id: str, owners: list[str], ledger: dict[str, Any], address: str
) -> None:
    """What each owner of the market holds in the bot's books, and the venue's trades of ours
    there, so a mismatch can be traced to the trade behind it."""
    for line in owners:
        run.say(f"  bot: {line}")
    for fill in ledger["fills"]:
        if fill["condition_id"] == condition_id and _is_ours(fill, address):
            run.say(
                f"  venue trade {fill['trade_id'][:12]} at {fill['at']}: {fill['side']} "
                f"{fill['size']} {fill['token']} @ {fill['price']} {fill['status']} "
                f"(order {fill['order_id'][:12]})"
            )


def merge_counts(chain: SimChain) -> dict[str, Any]:
    """What the simulated Polygon node saw. That each merge burned the venue's pairs once is
    audited by the positions (a double burn leaves the venue short of the bot's count)."""
    return {
        "merges": len(chain.merges),
        "pairs merged": str(sum(Decimal(units) for *_, units in chain.merges) / UNITS),
        "merge transactions (signed, broadcasts incl. resends, reverted)": [
            len({tx.tx_hash for tx in chain.sent}),
            len(chain.sent),
            sum(1 for status in chain.receipts.values() if status == 0),
        ],
    }


def _round_settling(status: dict[str, Any]) -> bool:
    """The paused round still has trades whose settlement it has not read."""
    from dualmm.domain.position import PositionTracker, unsettled_trades

    position = status.get("position")
    return position is not None and bool(unsettled_trades(PositionTracker.model_validate(position)))


def _is_ours(fill: dict[str, Any], address: str) -> bool:
    return str(fill.get("address", "")).lower() == address.lower()


def _settled(fill: dict[str, Any]) -> bool:
    status = str(fill.get("status", ""))
    return status.endswith("CONFIRMED") or status.endswith("FAILED")


def _wallet(ledger: dict[str, Any], address: str) -> dict[str, Decimal]:
    for owner, wallet in ledger["wallets"].items():
        if owner.lower() == address.lower():
            return {token: Decimal(qty) for token, qty in wallet["tokens"].items()}
    return {}


def chaos(profile: Profile, seed: int, var: Path) -> Run:
    rng = random.Random(seed)
    run = Run(profile, seed, var)
    now = datetime.now(UTC)
    rules = VenueRules.harsh(
        settle_min_seconds=profile.settle_seconds[0] * profile.speed,
        settle_max_seconds=profile.settle_seconds[1] * profile.speed,
        failed_trade_rate=profile.failed_trade_rate,
        seed=seed,
    )
    # A seed whose markets all ask more than our order size for rewards leaves the bot idle
    # for the whole run (it proves nothing): the venue's markets come from the first seed in
    # seed, seed + 10000, ... that gives at least two rewardable markets.
    venue_seed = seed
    while True:
        venue = SimVenue.synthetic(
            profile.markets,
            venue_seed,
            WallClock(now, speed=profile.speed),
            start=now - SYNTHETIC_HISTORY,
            rules=rules,
        )
        rewardable = [m for m in venue.markets() if m.rewards_min_size <= ORDER_SIZE]
        if len(rewardable) >= 2:
            break
        venue_seed += 10_000
    faults = Faults(
        error_rate=profile.error_rate,
        rate_limit_rate=profile.rate_limit_rate,
        accept_timeout_rate=profile.lost_rate,
        restart_every_s=profile.venue_restart_every,
        restart_down_s=profile.venue_restart_down,
        restart_post_only_s=profile.venue_restart_post_only,
        seed=seed,
    )
    key = "0x" + bytes(Account.create().key).hex()
    address = Account.from_key(key).address
    temporal_port = free_port()
    sim = CountingSim(venue, admin=True, faults=faults)
    sim.start()
    # Polygon for the merges: the simulator's ledger behind a JSON-RPC node, a "provider key"
    # in its URL (scanned for below, like the private key).
    rpc_key = bytes(Account.create().key).hex()[:32]
    chain = SimChain(VenueContracts(venue), block_time=profile.block_time, seed=seed)
    node = ChainServer(chain, path=f"/v2/{rpc_key}").start()
    env = {
        **os.environ,
        "DUALMM_EXCHANGE": "sim",
        "DUALMM_CLOB_URL": sim.url,
        "DUALMM_PRIVATE_KEY": key,
        "DUALMM_CLOB_TIMEOUT_SECONDS": "3",
        "DUALMM_POLYGON_RPC_URL": node.url,
        "DUALMM_SIGNATURE_TYPE": "0",  # an EOA: merges go on-chain
        "DUALMM_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DUALMM_TASK_QUEUE": "chaos",
    }
    stack = Stack(run, env, temporal_port)
    watch = LedgerWatch(run, sim.url, address)
    moments = MomentWatch(temporal_port)
    counts: dict[str, Any] = {}
    try:
        stack.start_temporal()
        stack.start_workers()
        for _ in range(30):
            started = dualmm(env, "orchestrate", *ORCHESTRATE)
            if started.returncode == 0:
                break
            time.sleep(2)
        run.say(f"orchestrate: {started.stdout.strip() or started.stderr.strip()}")
        watch.start()
        seconds = profile.minutes * 60
        end = time.monotonic() + seconds
        # Kills spread evenly with jitter; Temporal restarts at fixed fractions of the run.
        kill_at = sorted(rng.uniform(10, seconds - 5) for _ in range(profile.kills))
        restart_at = [
            seconds * (i + 1) / (profile.temporal_restarts + 1)
            for i in range(profile.temporal_restarts)
        ]
        begin = time.monotonic()
        # Kills aimed at a moment wait for it: the last ones may come after the planned end.
        last_kill = 0.0
        while time.monotonic() < end or kill_at:
            elapsed = time.monotonic() - begin
            victim = stack.workers[0]
            moment: set[str] | None = None  # None: no kill now
            if kill_at and elapsed >= kill_at[0]:
                kill_at.pop(0)
                target = TARGETS[run.kills % len(TARGETS)] if run.kills < 2 * len(TARGETS) else None
                victim, moment = moments.busiest(stack.workers, target)
                wait = TARGET_WAIT_SECONDS.get(target or "", LIQUIDATION_WAIT_SECONDS)
                waited_until = time.monotonic() + wait
                while target and target not in moment and time.monotonic() < waited_until:
                    time.sleep(0.2)
                    victim, moment = moments.busiest(stack.workers, target)
            elif (
                not run.kill_moments["merge"]
                and time.monotonic() < end
                and elapsed - last_kill >= KILL_GAP_SECONDS
            ):
                # Merges are few (a liquidation holding pairs) and short (a block or two): the
                # aimed kills' wait may miss them all, so one seen before any was killed is
                # killed at once (a kill on top of the schedule).
                victim, seen = moments.busiest(stack.workers, "merge")
                moment = seen if "merge" in seen else None
            if moment is not None:
                # With several workers, every other stop is a rolling restart's SIGTERM.
                term = len(stack.workers) > 1 and run.kills % 2 == 1
                stack.stop_worker(victim, signal.SIGTERM if term else signal.SIGKILL)
                run.kills += 1
                run.terms += term
                for kind in moment or {"idle (timers only)"}:
                    run.kill_moments[kind] += 1
                during = ", ".join(sorted(moment)) or "timers"
                how = "SIGTERM" if term else "SIGKILL"
                run.say(f"{how} worker #{run.kills} during {during}")
                time.sleep(rng.uniform(0, 3))
                stack.start_workers()
                last_kill = time.monotonic() - begin
                kill_at = spaced(kill_at, last_kill + KILL_GAP_SECONDS, KILL_GAP_SECONDS)
            if restart_at and elapsed >= restart_at[0]:
                restart_at.pop(0)
                hard = run.restarts % 2 == 0
                stack.restart_temporal(hard=hard)
                run.restarts += 1
                run.say(f"Temporal restarted ({'SIGKILL' if hard else 'SIGTERM'}) #{run.restarts}")
            for worker in stack.workers:
                if worker.poll() is not None:
                    run.violate(f"a worker exited by itself (code {worker.returncode})")
            stack.start_workers()
            time.sleep(0.5)
        run.say("chaos over: faults off, pausing the bot, auditing")
        secrets = {
            "private key": key.removeprefix("0x"),
            "API secret": sim.keys._credentials(address, 0).secret,  # what the sim issued
            "RPC key": rpc_key,
        }
        try:
            counts = asyncio.run(audit(run, stack, sim, chain, address, secrets))
        except Exception as exc:  # the counts so far still print; the run fails
            import traceback

            traceback.print_exc()
            run.violate(f"the audit itself failed: {type(exc).__name__}: {exc}")
    finally:
        watch.stop()
        moments.close()
        stack.stop()
        node.stop()
        sim.stop()
    faults_seen = dict(sim.injected)
    print(
        json.dumps(
            {
                "minutes": profile.minutes,
                "seed": seed,
                "workers": profile.workers,
                "kills": run.kills,
                "of them SIGTERM": run.terms,
                "kill moments": dict(run.kill_moments),
                "temporal restarts": run.restarts,
                "venue restart windows": int(
                    profile.minutes * 60 // profile.venue_restart_every
                    if profile.venue_restart_every
                    else 0
                ),
                "faults": faults_seen,
                **counts,
                "ledger samples": run.samples,
                "most live orders at once": run.max_live,
                "violations": len(run.violations),
            },
            indent=2,
        ),
        flush=True,
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=FULL.minutes)
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--restarts", type=int, default=None)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 10_000)
    parser.add_argument("--keep", type=Path, default=None, help="Keep logs and the database here.")
    parser.add_argument(
        "--workers", type=int, choices=(1, 2), default=1,
        help="Workers on the task queue (2: every other stop is a SIGTERM).",
    )  # fmt: skip
    args = parser.parse_args()
    scale = args.minutes / FULL.minutes
    profile = Profile(
        minutes=args.minutes,
        kills=args.kills if args.kills is not None else max(1, round(FULL.kills * scale)),
        temporal_restarts=args.restarts if args.restarts is not None else FULL.temporal_restarts,
        expect_merges=args.minutes >= FULL.minutes / 2,
        workers=args.workers,
    )
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run = chaos(profile, args.seed, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="dualmm-chaos-") as tmp:
            run = chaos(profile, args.seed, Path(tmp))
    for line in run.violations:
        print(f"violation: {line}")
    raise SystemExit(1 if run.violations else 0)


if __name__ == "__main__":
    main()

"""Two worker processes on one task queue (a dev server, the simulator with its dead-man
switch, the bot; dualmm.cluster). The worker running the quote loop is SIGKILLed, then
SIGTERMed (a rolling restart), then both workers are stopped at once and a fresh one started.
Each time the same round moves on to another worker (its pending activity's worker identity)
and the user channel with it; never two quotes for one token at once; nothing cancelled by the
venue's switch while a worker lives. Paused at the end, nothing of ours rests and the bot's
position is the venue's."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from dualmm.cluster import BOT, Cluster
from dualmm.devserver import Quoting

pytestmark = pytest.mark.devserver

_T = TypeVar("_T")
WAIT = 120.0


async def _until(read: Callable[[], Awaitable[_T]], check: Callable[[_T], bool]) -> _T:
    async with asyncio.timeout(WAIT):
        while True:
            value = await read()
            if check(value):
                return value
            await asyncio.sleep(0.1)


class Doubles:
    """Samples our live BUYs every 0.1 s: the most ever live for one (market, token)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.most = 0
        self.task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            counts = self.cluster.our_buys()
            self.most = max([self.most, *counts.values()])
            await asyncio.sleep(0.1)


async def _moved(cluster: Cluster, away_from: set[str]) -> Quoting:
    """The round's attempt once it runs on a worker not in `away_from`, quoting."""
    moved = await _until(cluster.quoting, lambda q: q is not None and q.worker not in away_from)
    assert moved is not None
    await _until(_async(cluster.our_buys), lambda buys: len(buys) >= 1)
    return moved


def _async(read: Callable[[], _T]) -> Callable[[], Awaitable[_T]]:
    async def call() -> _T:
        return read()

    return call


async def _stop(cluster: Cluster, pid: int, sig: signal.Signals) -> None:
    await asyncio.to_thread(cluster.stop_worker, pid, sig)


async def test_the_round_moves_to_the_other_worker_on_a_kill_a_term_and_both(
    tmp_path: Path,
) -> None:
    with Cluster(tmp_path, workers=2, quote_interval_ms=1000) as cluster:
        first = await _moved(cluster, set())
        (market,) = {condition_id for condition_id, _ in cluster.our_buys()}
        listening = await _until(_async(lambda: cluster.listening(market)), bool)
        doubles = Doubles(cluster)
        try:
            await _stop(cluster, first.worker_pid, signal.SIGKILL)  # a crash
            second = await _moved(cluster, {first.worker})
            assert second.activity_id == first.activity_id and second.attempt > first.attempt
            # The user channel follows the round: the new worker listens to its market.
            await _until(_async(lambda: cluster.listening(market)), lambda now: now - listening)

            cluster.add_worker()
            await _stop(cluster, second.worker_pid, signal.SIGTERM)  # a rolling restart
            third = await _moved(cluster, {first.worker, second.worker})
            assert third.activity_id == first.activity_id and third.attempt > second.attempt
            # A worker lived all along: its heartbeats kept the other's quotes on the venue.
            assert cluster.switch_cancels() == 0

            # Both at once: the one quoting crashes while the other drains; a new one resumes.
            cluster.add_worker()
            other = next(w.pid for w in cluster.workers if w.pid != third.worker_pid)
            await asyncio.gather(
                _stop(cluster, third.worker_pid, signal.SIGKILL),
                _stop(cluster, other, signal.SIGTERM),
            )
            fresh = cluster.add_worker()
            last = await _moved(cluster, {first.worker, second.worker, third.worker})
            assert last.worker_pid == fresh.pid and last.activity_id == first.activity_id
        finally:
            doubles.task.cancel()
        assert doubles.most == 1, "two live quotes for one token at once"

        await _audit_after_pause(cluster)


async def _audit_after_pause(cluster: Cluster) -> None:
    import subprocess
    import sys

    from workflows.active_market import ActiveMarketWorkflow
    from workflows.contracts import active_market_workflow_id

    paused = subprocess.run(
        [sys.executable, "-m", "dualmm", "pause", "--bot-id", BOT],
        env=cluster.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert paused.returncode == 0, paused.stderr
    await _until(cluster.quoting, lambda q: q is None)
    await _until(_async(cluster.our_buys), lambda buys: not buys)  # no orphan at rest

    client = await cluster.connect()
    handle = client.get_workflow_handle_for(
        ActiveMarketWorkflow.run, active_market_workflow_id(BOT)
    )
    status = await handle.query(ActiveMarketWorkflow.status)
    assert status.active_market is not None and status.position is not None
    market = status.active_market
    wallet = cluster.sim.venue.ledger()["wallets"]
    (tokens,) = [w["tokens"] for a, w in wallet.items() if a.lower() == cluster.address.lower()]
    venue_yes = Decimal(tokens.get(market.yes_token_id, 0))
    venue_no = Decimal(tokens.get(market.no_token_id, 0))
    assert (status.position.yes_qty, status.position.no_qty) == (venue_yes, venue_no)

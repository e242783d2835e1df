"""Takeover: how long a bot's quote loop takes to run on another worker after the worker
running it is stopped, by SIGKILL (a crash) and by SIGTERM (a rolling restart), with two
workers on one task queue (dualmm.cluster: a dev server, the simulator, worker processes).

Each trial waits until the round runs and quotes, sends the signal to its worker, and times
(from the signal) the moment the bot's pending `make_market` activity is STARTED by another
worker (its identity), and the moment the venue shows our quotes live again after that (0
when the adopted quotes never left the book). The stopped worker is replaced before the next
trial. Sampled every 50 ms all along: the most BUYs of ours live at once for one token (a
doubled quote is 2), and the orders the venue's dead-man switch cancelled.

    .venv/bin/python bench/takeover.py [--trials 10] [--intervals 5000,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import threading
import time
from pathlib import Path

from timing import percentile

from dualmm.cluster import Cluster

POLL_SECONDS = 0.05


class Sampler(threading.Thread):
    """The most live BUYs of ours for one (market, token) at once, all run long."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.most = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            self.most = max([self.most, *self.cluster.our_buys().values()])


async def trial(cluster: Cluster, sig: signal.Signals) -> tuple[float, float]:
    """(seconds to the takeover, seconds to live quotes after the signal)."""
    while True:  # the round running and quoting
        running = await cluster.quoting()
        if running is not None and cluster.our_buys():
            break
        await asyncio.sleep(POLL_SECONDS)
    await asyncio.sleep(1.5)  # mid-loop, as a crash would find it
    start = time.monotonic()
    stopping = asyncio.create_task(asyncio.to_thread(cluster.stop_worker, running.worker_pid, sig))
    while True:
        moved = await cluster.quoting()
        if moved is not None and moved.worker != running.worker:
            took_over = time.monotonic() - start
            break
        await asyncio.sleep(POLL_SECONDS)
    while not cluster.our_buys():
        await asyncio.sleep(POLL_SECONDS)
    live = time.monotonic() - start
    await stopping
    cluster.add_worker()
    await asyncio.sleep(8)  # the new worker up and polling
    return took_over, live


async def bench(var: Path, interval_ms: int, trials: int) -> None:
    with Cluster(var, workers=2, quote_interval_ms=interval_ms) as cluster:
        sampler = Sampler(cluster)
        sampler.start()
        await asyncio.sleep(5)
        for sig in (signal.SIGKILL, signal.SIGTERM):
            takeovers, lives = [], []
            for number in range(trials):
                took_over, live = await trial(cluster, sig)
                takeovers.append(took_over)
                lives.append(live)
                print(
                    f"  {interval_ms} ms {sig.name} #{number + 1}: takeover {took_over:.2f} s, "
                    f"quotes live {live:.2f} s",
                    flush=True,
                )
            _row(interval_ms, sig.name, takeovers, lives, sampler.most, cluster.switch_cancels())
        sampler.stopped.set()


ROWS: list[str] = []


def _row(
    interval: int, sig: str, takeovers: list[float], lives: list[float], most: int, cancels: int
) -> None:
    after = [live - took for took, live in zip(takeovers, lives, strict=True)]
    ROWS.append(
        f"| {interval} ms | {sig} | {len(takeovers)} | "
        f"{percentile(takeovers, 50):.2f} / {percentile(takeovers, 99):.2f} / "
        f"{max(takeovers):.2f} | {max(lives):.2f} | {max(after):.2f} | "
        f"{max(0, most - 1)} | {cancels} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--intervals", default="5000,1000", help="quote intervals (ms)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dualmm-takeover-") as tmp:
        for interval in (int(i) for i in args.intervals.split(",")):
            asyncio.run(bench(Path(tmp), interval, args.trials))
    print(
        "\n| quote interval | signal | n | takeover p50 / p99 / max (s) | quotes live, max (s) "
        "| live after takeover, max (s) | doubled quotes | switch cancels |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(ROWS))


if __name__ == "__main__":
    main()

"""Several workers on one task queue, for the takeover bench and the two-worker tests: a dev
server, the simulator in this process (its dead-man switch on: 10 s), `n` worker processes
trading one wallet, and a bot started with `dualmm orchestrate`. Who quotes is read from the
bot's pending `make_market` activity (its worker identity)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dualmm.devserver import (
    DevServer,
    Quoting,
    quoting,
    start_dev_server,
    start_worker,
    stop_process,
    worker_env,
)

BOT = "cluster"
TASK_QUEUE = "cluster"


class Cluster:
    """`with Cluster(var, workers=2, quote_interval_ms=...) as cluster:` (see the module)."""

    def __init__(
        self,
        var: Path,
        workers: int = 2,
        quote_interval_ms: int = 5000,
        seed: int = 7,
        order_size: str = "20",
        position_limit: str = "1000",
    ) -> None:
        self.var = var
        self.n = workers
        self.seed = seed
        self.orchestrate = (
            *("--bot-id", BOT, "--order-size", order_size, "--position-limit", position_limit),
            *("--quote-interval", str(quote_interval_ms)),
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        self.server: DevServer | None = None
        self.sim: Any = None
        self.client: Any = None

    def __enter__(self) -> Cluster:
        from eth_account import Account

        from dualmm.sim.rules import VenueRules
        from dualmm.sim.server import SimServer
        from dualmm.sim.synthetic import SYNTHETIC_HISTORY
        from dualmm.sim.venue import SimVenue, WallClock

        now = datetime.now(UTC)
        venue = SimVenue.synthetic(
            6,
            self.seed,
            WallClock(now, speed=60),
            start=now - SYNTHETIC_HISTORY,
            rules=VenueRules(heartbeat_timeout_seconds=10.0),
        )
        self.sim = SimServer(venue, admin=True)
        self.sim.start()
        self.key = "0x" + bytes(Account.create().key).hex()
        self.address = Account.from_key(self.key).address
        try:
            self.server = start_dev_server()
            self.env = worker_env(
                self.sim.url, self.key, self.server.address, TASK_QUEUE,
                DUALMM_CLOB_TIMEOUT_SECONDS="3",
            )  # fmt: skip
            for _ in range(self.n):
                self.add_worker()
            self._orchestrate()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            stop_process(worker, timeout=30)
        if self.server is not None:
            self.server.stop()
        if self.sim is not None:
            self.sim.stop()

    def add_worker(self) -> subprocess.Popen[bytes]:
        log = (self.var / "workers.log").open("ab")
        worker = start_worker(self.env, log)
        log.close()
        self.workers.append(worker)
        return worker

    def stop_worker(self, pid: int, sig: signal.Signals) -> None:
        """`sig` to the worker `pid`, and wait for it to end (SIGTERM: its drain)."""
        (worker,) = [w for w in self.workers if w.pid == pid]
        os.kill(pid, sig)
        worker.wait(timeout=120)
        self.workers.remove(worker)

    def _orchestrate(self) -> None:
        for _ in range(30):
            started = subprocess.run(
                [sys.executable, "-m", "dualmm", "orchestrate", *self.orchestrate],
                env=self.env, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if started.returncode == 0:
                return
            time.sleep(2)
        raise RuntimeError(f"orchestrate failed: {started.stderr.strip()}")

    async def connect(self) -> Any:
        from temporalio.client import Client
        from temporalio.contrib.pydantic import pydantic_data_converter

        assert self.server is not None
        if self.client is None:
            self.client = await Client.connect(
                self.server.address, data_converter=pydantic_data_converter
            )
        return self.client

    async def quoting(self) -> Quoting | None:
        return await quoting(await self.connect(), BOT)

    def our_buys(self) -> Counter[tuple[str, str]]:
        """Our live BUY orders per (market, token) on the venue now: a count over 1 is a
        doubled quote."""
        return Counter(
            (o.condition_id, o.token_id)
            for o in self.sim.venue.open_orders(self.address)
            if o.side.value == "BUY"
        )

    def switch_cancels(self) -> int:
        """Orders of ours the venue's dead-man switch cancelled so far."""
        heartbeats = self.sim.heartbeats
        return len(heartbeats.cancelled) if heartbeats is not None else 0

    def listening(self, condition_id: str) -> set[int]:
        """The simulator's user-channel sessions of our wallet that get the market's events
        now (ids: a worker's session before a stop is not the one after)."""
        channel = self.sim.user_channel
        with channel._lock:  # the simulator keeps no public list of its sessions
            sessions = list(channel._sessions)
        return {
            id(session)
            for session in sessions
            if session.creds is not None
            and session.creds.address.lower() == self.address.lower()
            and (not session.markets or condition_id in session.markets)
        }

"""The venue's dead-man switch: heartbeats (POST /v1/heartbeats, /heartbeats in the docs).

Once a wallet has sent a heartbeat, it must keep sending them: when none has come for
`timeout` seconds of real time, all of its open orders are cancelled and the switch disarms
until the next heartbeat. Real time, not the venue's clock: a demo venue may run its prices
300 times faster, but a bot's process dies in real time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable


class Heartbeats:
    def __init__(
        self,
        timeout: float,
        cancel_all: Callable[[str], list[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._cancel_all = cancel_all
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # wallet -> time of its latest heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cancelled: list[str] = []  # order ids the switch cancelled, for the ledger

    def beat(self, address: str) -> str:
        with self._lock:
            self._last[address.lower()] = self._clock()
        return str(uuid.uuid4())

    def reap(self) -> list[str]:
        """Cancel the open orders of every wallet whose heartbeats stopped."""
        now = self._clock()
        with self._lock:
            silent = [a for a, at in self._last.items() if now - at > self.timeout]
            for address in silent:
                del self._last[address]
        cancelled = [oid for address in silent for oid in self._cancel_all(address)]
        self.cancelled.extend(cancelled)
        return cancelled

    def start(self, every: float = 0.5) -> None:
        def run() -> None:
            while not self._stop.wait(every):
                self.reap()

        self._thread = threading.Thread(target=run, name="dualmm-sim-heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

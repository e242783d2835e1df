"""What the bench scripts watch on the simulated venue: our events, as the venue recorded them."""

from __future__ import annotations

import threading
import time
from typing import Any


class Recorder:
    """Our venue events (only `kinds`, if given) with the time the venue recorded them."""

    def __init__(self, address: str, kinds: frozenset[str] | None = None) -> None:
        self.address = address.lower()
        self.kinds = kinds
        self.lock = threading.Lock()
        self.events: list[tuple[float, Any]] = []

    def __call__(self, event: Any) -> None:
        if event.address == self.address and (self.kinds is None or event.kind in self.kinds):
            with self.lock:
                self.events.append((time.monotonic(), event))

    def first(self, since: float, check: Any) -> float | None:
        with self.lock:
            return next((t for t, e in self.events if t >= since and check(e)), None)

"""Simulator clocks: manual (tests, replays) and wall (servers, optionally sped up)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class SimClock(Protocol):
    def now(self) -> datetime: ...


class ManualClock:
    """Simulated time moved by hand; it never goes back."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, t: datetime) -> None:
        if t > self._now:
            self._now = t

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + timedelta(seconds=seconds))


class WallClock:
    """Real time since creation, optionally sped up (`speed` simulated seconds per second)."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start or datetime.now(UTC)
        self._origin = time.monotonic()
        self._speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._origin) * self._speed)

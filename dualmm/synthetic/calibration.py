"""The synthetic generator's fitted parameters, and the path statistics they were fitted on.

`calibration.json` (beside this module) is written by `tools/calibrate.py` from real top-of-book
data; its `derivation` field says how. The statistics here are computed the same way on real
and on generated markets, so the two can be compared (BENCHMARKS.md, tests/test_calibration.py):
  - a market is read on a 120 s grid (the real data's poll interval), each point holding the
    latest book at most 240 s old whose spread is at most 10 cents (a quotable book);
  - spread: the touch's width in cents (p50, p90 over the grid points);
  - 1-hour and 1-day volatility: the root mean square of the midpoint's change over 60 and
    1440 minutes, in cents, over every pair of grid points that far apart;
  - a jump: the midpoint moving by more than `JUMP_CENTS` between two consecutive grid points;
    the rate is per market-day, the size the mean absolute move of a jump, in cents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

GRID_SECONDS = 120
STALE_SECONDS = 240
JUMP_CENTS = 2.0  # more than two ticks of 0.01 between two polls
QUOTABLE_SPREAD_CENTS = 10.0
PARAMETERS = Path(__file__).with_name("calibration.json")


@cache
def parameters() -> dict[str, Any]:
    """The fitted parameters (read once)."""
    loaded: dict[str, Any] = json.loads(PARAMETERS.read_text())
    return loaded


@dataclass
class Series:
    """One market on the statistics grid: midpoint and spread in cents (None: no quotable book)."""

    mids: list[float | None]
    spreads: list[float | None]


def on_grid(
    times: Sequence[int],
    mids: Sequence[float],
    spreads: Sequence[float],
    end: int,
    stale_seconds: int | None = STALE_SECONDS,
) -> Series:
    """Observations (seconds, midpoint cents, spread cents) on the grid from times[0] to `end`;
    polls go stale after `stale_seconds`, a path's states (None) hold until the next one."""
    out_mids: list[float | None] = []
    out_spreads: list[float | None] = []
    j = -1
    for t in range(times[0], end + 1, GRID_SECONDS):
        while j + 1 < len(times) and times[j + 1] <= t:
            j += 1
        recent = stale_seconds is None or t - times[j] <= stale_seconds
        fresh = recent and spreads[j] <= QUOTABLE_SPREAD_CENTS + 1e-9
        out_mids.append(mids[j] if fresh else None)
        out_spreads.append(spreads[j] if fresh else None)
    return Series(out_mids, out_spreads)


@dataclass
class Stats:
    """A category's statistics (or one market's)."""

    markets: int
    days: float
    spread_p50: float
    spread_p90: float
    vol_1h: float
    vol_1d: float
    jumps_per_day: float
    jump_cents: float

    def row(self) -> list[str]:
        return [
            f"{self.spread_p50:.2f}",
            f"{self.spread_p90:.2f}",
            f"{self.vol_1h:.2f}",
            f"{self.vol_1d:.2f}",
            f"{self.jumps_per_day:.2f}",
            f"{self.jump_cents:.1f}",
        ]


def _changes(mids: list[float | None], lag: int) -> Iterable[float]:
    for a, b in zip(mids, mids[lag:], strict=False):
        if a is not None and b is not None:
            yield b - a


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _rms(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


def jumps(series: Series) -> list[float]:
    """The signed moves of the jumps in one market, in cents."""
    return [d for d in _changes(series.mids, 1) if abs(d) > JUMP_CENTS + 1e-9]


def statistics(markets: Sequence[Series]) -> Stats:
    """Pooled statistics of `markets` (each on the grid)."""
    spreads = [s for m in markets for s in m.spreads if s is not None]
    hour = [d for m in markets for d in _changes(m.mids, 3600 // GRID_SECONDS)]
    day = [d for m in markets for d in _changes(m.mids, 86_400 // GRID_SECONDS)]
    steps = sum(1 for m in markets for _ in _changes(m.mids, 1))
    moves = [abs(d) for m in markets for d in jumps(m)]
    days = steps * GRID_SECONDS / 86_400
    return Stats(
        markets=len(markets),
        days=days,
        spread_p50=_percentile(spreads, 0.5),
        spread_p90=_percentile(spreads, 0.9),
        vol_1h=_rms(hour),
        vol_1d=_rms(day),
        jumps_per_day=len(moves) / days if days else 0.0,
        jump_cents=sum(moves) / len(moves) if moves else 0.0,
    )

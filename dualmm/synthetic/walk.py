"""The synthetic midpoint path: a per-minute walk with jumps, in whole units of 0.0001.

One path per market, made a day at a time from generators named by the market, so a path read
for 10 days is the first 10 days of the same path read for 30, and the simulator, which reads
it as its clock runs, sees the backtest's path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

UNITS_PER_CENT = 100
LOW, HIGH = 200, 9800  # the walk stays in [0.02, 0.98]
DAY = 1440  # minutes made at once


@dataclass(frozen=True)
class Dynamics:
    """How one market's midpoint moves (one real market's fitted figures)."""

    sigma: float  # random-walk step, units of 0.0001 a minute (standard deviation)
    jumps_per_day: float  # jump events (a flicker and its undoing count once)
    jump_units: tuple[int, ...]  # sizes to draw from
    revert_odds: float  # share of jumps undone 2-10 minutes later
    reversion: float = 0.0  # share of the distance to the start recovered each minute


def dynamics_of(profile: dict[str, Any], category: dict[str, Any]) -> Dynamics:
    """The walk of one fitted profile of a category of `calibration.json`."""
    return Dynamics(
        sigma=profile["sigma"],
        jumps_per_day=profile["jump_events_per_day"],
        jump_units=tuple(round(c * UNITS_PER_CENT) for c in category["jump_cents"]),
        revert_odds=profile.get("revert_odds", category["revert_odds"]),
        reversion=category.get("reversion", 0.0),
    )


@dataclass
class Walk:
    """Minute-by-minute midpoints (units of 0.0001) from `start`; only the minutes where the
    unit changed are kept (`times` in seconds).

    The state is a float pulled back towards where it started (`reversion` of the distance a
    minute, lasting jumps included: news fades over hours); a flicker is undone within
    minutes. Units are its rounding.
    """

    rng: random.Random
    dynamics: Dynamics
    start: int
    times: list[int] = field(default_factory=list, init=False)
    units: list[int] = field(default_factory=list, init=False)
    made: int = field(default=1, init=False)  # minutes made so far

    def __post_init__(self) -> None:
        self._bits = self.rng.getrandbits(64)
        self._x = self._anchor = float(self.start)
        self._undo_at, self._undo = -1, 0.0
        self.times.append(0)
        self.units.append(self.start)
        self._still = self.dynamics.sigma <= 0 and self.dynamics.jumps_per_day <= 0

    def extend(self, minutes: int) -> None:
        """Make the path up to (at least) minute `minutes`, whole days at a time."""
        while self.made < minutes and not self._still:
            self._day(self.made // DAY)

    def until(self, minutes: int) -> tuple[list[int], list[int]]:
        """(times, units) of the minutes before `minutes`."""
        self.extend(minutes)
        end = len(self.times)
        while self.times[end - 1] >= minutes * 60:
            end -= 1
        return self.times[:end], self.units[:end]

    def _day(self, day: int) -> None:
        import numpy as np  # the draws of a day, in bulk: this loop is the backtest's start-up

        draws = np.random.default_rng([self._bits, day])
        d, rng = self.dynamics, self.rng
        first, stop = max(day * DAY, 1), (day + 1) * DAY
        count = stop - day * DAY
        noise = draws.normal(0, d.sigma, count).tolist() if d.sigma > 0 else [0.0] * count
        hits = np.flatnonzero(draws.random(count) < d.jumps_per_day / DAY).tolist()
        jumps = {day * DAY + m for m in hits}
        sizes = d.jump_units or (0,)
        x, anchor, undo_at, undo = self._x, self._anchor, self._undo_at, self._undo
        last = self.units[-1]
        for minute in range(first, stop):
            x += noise[minute - day * DAY] - d.reversion * (x - anchor)
            if minute == undo_at:
                x -= undo
                undo_at = -1
            elif minute in jumps:
                jump = rng.choice(sizes) * rng.choice((-1, 1))
                x += jump
                if undo_at < 0 and rng.random() < d.revert_odds:
                    undo_at, undo = minute + rng.randint(2, 10), float(jump)
            if x < LOW:
                x, anchor, undo = 2 * LOW - x, 2 * LOW - anchor, -undo
            elif x > HIGH:
                x, anchor, undo = 2 * HIGH - x, 2 * HIGH - anchor, -undo
            unit = round(x)  # a reflected move stays inside: no move is that large
            if unit != last:
                self.times.append(minute * 60)
                self.units.append(unit)
                last = unit
        self._x, self._anchor, self._undo_at, self._undo = x, anchor, undo_at, undo
        self.made = stop


def walk(
    rng: random.Random, minutes: int, dynamics: Dynamics, start: int
) -> tuple[list[int], list[int]]:
    """The first `minutes` of a `Walk` (times in seconds, units of 0.0001)."""
    return Walk(rng, dynamics, start).until(minutes)


def touch_mid_cents(units: int, tick_units: int) -> float:
    """The reference midpoint in cents of a path at `units`: the middle of the fill model's
    touch (`dualmm.domain.fillmodel.touch`), in integers."""
    half = tick_units // 2
    bid = (units - half) // tick_units * tick_units
    ask = -(-(units + half) // tick_units) * tick_units
    return (bid + ask) / 2 / UNITS_PER_CENT

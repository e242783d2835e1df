"""A midpoint path a bench script extends as it goes (the simulator venue's MidProcess
protocol): the benches move the market by appending points."""

from __future__ import annotations

from decimal import Decimal


class Steered:
    """A midpoint path this script extends (the venue's MidProcess protocol)."""

    def __init__(self, mid: Decimal) -> None:
        self.points: list[tuple[float, Decimal]] = [(0.0, mid)]

    def mid_at(self, seconds: float) -> Decimal:
        return [mid for at, mid in self.points if at <= seconds][-1]

    def change_times(self, after: float, until: float) -> list[float]:
        return [at for at, _ in self.points if after < at <= until]

"""The benches' venue: a wall-clock simulator whose markets' midpoints the bench moves as it
goes, and a fresh wallet on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


class Steered:
    """A midpoint path this script extends (the venue's MidProcess protocol)."""

    def __init__(self, mid: Decimal) -> None:
        self.points: list[tuple[float, Decimal]] = [(0.0, mid)]

    def mid_at(self, seconds: float) -> Decimal:
        return [mid for at, mid in self.points if at <= seconds][-1]

    def change_times(self, after: float, until: float) -> list[float]:
        return [at for at, _ in self.points if after < at <= until]


class SteeredVenue:
    """A SimVenue on the wall clock over `infos`, every midpoint starting at `mid` (`move`
    changes one now), with a throwaway wallet (`key`, `address`) registered on it."""

    def __init__(
        self, infos: list[Any], mid: Decimal, book_seed: str, **market_options: Any
    ) -> None:
        from eth_account import Account

        from dualmm.sim.venue import SimMarket, SimVenue, WallClock

        self.key = "0x" + bytes(Account.create().key).hex()
        self.address = Account.from_key(self.key).address
        self._start = datetime.now(UTC)
        self._paths = {m.condition_id: Steered(mid) for m in infos}
        self.venue = SimVenue(
            [
                SimMarket(
                    m,
                    self._paths[m.condition_id],
                    self._start,
                    book_seed=book_seed,
                    **market_options,
                )
                for m in infos
            ],
            WallClock(self._start),
        )
        self.venue.ensure_wallet(self.address)

    def move(self, condition_id: str, mid: Decimal) -> None:
        """The market's midpoint is `mid` from now on, and the venue has seen it."""
        venue = self.venue
        with venue._lock:  # nothing processes the venue between the new point and here
            at = (venue.now() - self._start).total_seconds() + 0.001
            self._paths[condition_id].points.append((at, mid))
            time.sleep(0.002)
            venue.advance_to(venue.now())

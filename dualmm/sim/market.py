"""A simulated market: its facts, the midpoint process that drives the other makers' quotes,
and the fill model's touch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from dualmm.domain.fillmodel import touch
from dualmm.domain.prices import ONE, Rounding, clamp_price, round_to_tick
from dualmm.domain.types import MarketInfo, Token

ZERO = Decimal(0)
# Dynamic tick (VenueRules.dynamic_tick): a 0.01 market quotes in 0.001 beyond 0.96 / below 0.04.
COARSE_TICK, FINE_TICK, FINE_ABOVE = Decimal("0.01"), Decimal("0.001"), Decimal("0.96")
# How far ahead a market looks for its next midpoint change: windows from one minute doubling
# to about six days.
_FIRST_WINDOW, _HORIZON = timedelta(minutes=1), timedelta(days=4)

if TYPE_CHECKING:
    from dualmm.scenario import ScenarioMarket


class MidProcess(Protocol):
    """A YES midpoint over seconds since the market's start (ScenarioMarket, RandomWalk).

    A process whose future is fixed once asked (a `fixed_future = True` class attribute, as
    ScenarioMarket and RandomWalk have) lets the venue wait for its next change in a heap;
    any other (a test extending its path as it goes) is asked on every venue request.
    """

    def mid_at(self, seconds: float) -> Decimal: ...

    def change_times(self, after: float, until: float) -> Sequence[float]: ...


@dataclass
class SimMarket:
    """One binary market: its facts, a midpoint process started at `start`, and the seed of
    its background (competitor) book. `info.tick_size` may change while it runs.

    The other makers' touch follows the process midpoint: one tick wide by the fill model, or
    `half_spread` either side of it (rounded away from the midpoint) when that is set.
    """

    info: MarketInfo
    process: MidProcess
    start: datetime
    book_seed: str
    end_date: datetime | None = None
    half_spread: Decimal | None = None
    winner: Token | None = None  # resolved (POST /_sim/resolve): closed, no order accepted

    def __post_init__(self) -> None:
        self.listed_tick = self.info.tick_size  # the tick it was listed with

    @property
    def fixed_future(self) -> bool:
        """Whether the process's changes, once asked for, never change (see MidProcess)."""
        return bool(getattr(self.process, "fixed_future", False))

    @classmethod
    def from_scenario(cls, market: ScenarioMarket, start: datetime) -> SimMarket:
        return cls(market.info(), market, start, book_seed=market.condition_id)

    def _seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()

    def mid_at(self, at: datetime) -> Decimal:
        return self.process.mid_at(self._seconds(at))

    def touch_at(self, at: datetime, invent: bool = True) -> tuple[Decimal, Decimal]:
        """The other makers' YES best bid and ask.

        With `invent` off, a side whose price falls outside [tick, 1 - tick] is empty: the bid
        is then 0 and the ask 1, prices no order can reach (nothing fills against them).
        """
        mid, tick = self.mid_at(at), self.info.tick_size
        half = tick / 2 if self.half_spread is None else self.half_spread
        if self.half_spread is None and invent:
            return touch(mid, tick)
        bid = round_to_tick(mid - half, tick, Rounding.DOWN)
        ask = round_to_tick(mid + half, tick, Rounding.UP)
        if invent:
            return clamp_price(bid, tick), clamp_price(ask, tick)
        return (bid if bid >= tick else ZERO), (ask if ask <= ONE - tick else ONE)

    def retick(self, at: datetime) -> None:
        """The tick a 0.01 market has at this midpoint: 0.001 beyond 0.96 / below 0.04."""
        if self.listed_tick != COARSE_TICK:
            return
        mid = self.mid_at(at)
        tick = FINE_TICK if mid > FINE_ABOVE or mid < ONE - FINE_ABOVE else COARSE_TICK
        if tick != self.info.tick_size:
            self.info = self.info.model_copy(update={"tick_size": tick})

    def change_times(self, after: datetime, until: datetime) -> list[datetime]:
        times = self.process.change_times(self._seconds(after), self._seconds(until))
        return [self.start + timedelta(seconds=seconds) for seconds in times]

    def next_change_after(self, after: datetime) -> datetime:
        """The first change time after `after`, looking ahead in growing windows; past the
        horizon with no change, the horizon's end (a time to look again)."""
        start, window = after, _FIRST_WINDOW
        while window <= _HORIZON:
            times = self.change_times(start, start + window)
            if times:
                return times[0]
            start, window = start + window, window * 2
        return start


def token_touch(token: Token, yes_bid: Decimal, yes_ask: Decimal) -> tuple[Decimal, Decimal]:
    """A token's (bid, ask) from the YES touch: the NO book mirrors YES."""
    return (yes_bid, yes_ask) if token is Token.YES else (ONE - yes_ask, ONE - yes_bid)

"""A simulated market: its facts, the midpoint process that drives the other makers' quotes,
and the fill model's touch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from dualmm.domain.fillmodel import touch
from dualmm.domain.prices import ONE
from dualmm.domain.types import MarketInfo, Token

if TYPE_CHECKING:
    from dualmm.scenario import ScenarioMarket


class MidProcess(Protocol):
    """A YES midpoint over seconds since the market's start (ScenarioMarket, RandomWalk)."""

    def mid_at(self, seconds: float) -> Decimal: ...

    def change_times(self, after: float, until: float) -> Sequence[float]: ...


@dataclass
class SimMarket:
    """One binary market: its facts, a midpoint process started at `start`, and the seed of
    its background (competitor) book. `info.tick_size` may change while it runs."""

    info: MarketInfo
    process: MidProcess
    start: datetime
    book_seed: str
    end_date: datetime | None = None

    @classmethod
    def from_scenario(cls, market: ScenarioMarket, start: datetime) -> SimMarket:
        return cls(market.info(), market, start, book_seed=market.condition_id)

    def _seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()

    def mid_at(self, at: datetime) -> Decimal:
        return self.process.mid_at(self._seconds(at))

    def touch_at(self, at: datetime) -> tuple[Decimal, Decimal]:
        """The YES best bid and ask by the fill model."""
        return touch(self.mid_at(at), self.info.tick_size)

    def change_times(self, after: datetime, until: datetime) -> list[datetime]:
        times = self.process.change_times(self._seconds(after), self._seconds(until))
        return [self.start + timedelta(seconds=seconds) for seconds in times]


def token_touch(token: Token, yes_bid: Decimal, yes_ask: Decimal) -> tuple[Decimal, Decimal]:
    """A token's (bid, ask) from the YES touch: the NO book mirrors YES."""
    return (yes_bid, yes_ask) if token is Token.YES else (ONE - yes_ask, ONE - yes_bid)

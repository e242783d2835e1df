"""Seeded synthetic reward markets and the simulated competitors' book.

Everything here is a function of the seed, so two simulators with the same seed show the same
markets, the same midpoint paths and the same background depth. The random walk moves in whole
units of 0.0001 (integer arithmetic, no float ever touches a price).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from dualmm.domain.prices import ONE
from dualmm.domain.types import MarketInfo, Token
from dualmm.scenario import token_id_for
from dualmm.seeding import seeded_rng

UNIT = Decimal("0.0001")
DEFAULT_STEP_SECONDS = 5
# How long synthetic markets served to users have been running: a day of price history.
SYNTHETIC_HISTORY = timedelta(days=1)

# Walk shape, in units of 0.0001 per step (a step is DEFAULT_STEP_SECONDS by default).
_REGIME_ODDS = 240  # a new trend regime starts with probability 1/240 per step (~20 min)
_TRENDS = (-1, 0, 0, 0, 1)
_JUMP_ODDS = 1500  # a jump with probability 1/1500 per step (~2 h)
_JUMP_UNITS = (50, 400)


@dataclass
class RandomWalk:
    """A midpoint process: random walk with trend regimes and rare jumps, one step per
    `step_seconds`, reflected inside [low, high] (in units). Steps are generated lazily and
    kept, so the path is the same whatever order it is read in."""

    seed: str
    start_units: int
    volatility: int
    low: int
    high: int
    step_seconds: int = DEFAULT_STEP_SECONDS
    fixed_future: ClassVar[bool] = True  # seeded: its path never changes (see MidProcess)
    _units: list[int] = field(default_factory=list, init=False, repr=False)
    _trend: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = seeded_rng("walk", self.seed)
        self._units.append(min(max(self.start_units, self.low), self.high))

    def _extend(self, step: int) -> None:
        rng = self._rng
        while len(self._units) <= step:
            if rng.randrange(_REGIME_ODDS) == 0:
                self._trend = rng.choice(_TRENDS)
            move = self._trend + rng.randint(-self.volatility, self.volatility)
            if rng.randrange(_JUMP_ODDS) == 0:
                move += rng.choice((-1, 1)) * rng.randint(*_JUMP_UNITS)
            units = self._units[-1] + move
            if units < self.low:
                units, self._trend = min(2 * self.low - units, self.high), abs(self._trend)
            elif units > self.high:
                units, self._trend = max(2 * self.high - units, self.low), -abs(self._trend)
            self._units.append(units)

    def _step(self, seconds: float) -> int:
        return max(int(seconds // self.step_seconds), 0)

    def mid_at(self, seconds: float) -> Decimal:
        step = self._step(seconds)
        self._extend(step)
        return self._units[step] * UNIT

    def change_times(self, after: float, until: float) -> list[int]:
        """Step times t with after < t <= until at which the midpoint actually moved."""
        first, last = self._step(after) + 1, self._step(until)
        if last < first:
            return []
        self._extend(last)
        return [
            step * self.step_seconds
            for step in range(first, last + 1)
            if self._units[step] != self._units[step - 1]
        ]


@dataclass(frozen=True)
class SyntheticMarket:
    info: MarketInfo
    walk: RandomWalk
    end_date: datetime
    book_seed: str


_TICKS = (Decimal("0.01"),) * 4 + (Decimal("0.001"),)
_MIN_ORDER_SIZES = (Decimal(5), Decimal(5), Decimal(10))
_DAILY_RATES = tuple(Decimal(r) for r in ("5", "10", "25", "50", "100", "250"))
_MAX_SPREADS = tuple(Decimal(s) for s in ("2", "3", "3.5", "4.5"))
_MIN_SIZES = tuple(Decimal(s) for s in ("20", "50", "100", "200"))


def synthetic_markets(
    n_markets: int, seed: int, start: datetime, step_seconds: int = DEFAULT_STEP_SECONDS
) -> list[SyntheticMarket]:
    """`n_markets` reward markets with a midpoint walk each; deterministic for `seed`."""
    markets = []
    for index in range(n_markets):
        rng = seeded_rng("market", seed, index)
        condition_id = "0x" + hashlib.sha256(f"dualmm-sim:{seed}:{index}".encode()).hexdigest()
        tick = rng.choice(_TICKS)
        info = MarketInfo(
            condition_id=condition_id,
            question=f"Synthetic market {index + 1} (seed {seed})",
            yes_token_id=token_id_for(condition_id, Token.YES),
            no_token_id=token_id_for(condition_id, Token.NO),
            tick_size=tick,
            min_order_size=rng.choice(_MIN_ORDER_SIZES),
            neg_risk=rng.randrange(4) == 0,
            rewards_daily_rate=rng.choice(_DAILY_RATES),
            rewards_max_spread_cents=rng.choice(_MAX_SPREADS),
            rewards_min_size=rng.choice(_MIN_SIZES),
        )
        tick_units = int(tick / UNIT)
        walk = RandomWalk(
            seed=f"{seed}:{index}",
            start_units=rng.randint(1500, 8500),
            volatility=rng.randint(2, 12),
            low=tick_units,
            high=int(ONE / UNIT) - tick_units,
            step_seconds=step_seconds,
        )
        end_date = start + timedelta(days=rng.randint(2, 90))
        markets.append(SyntheticMarket(info, walk, end_date, book_seed=f"{seed}:{index}"))
    return markets


# Competitors: levels at the touch and then every BOOK_GAP (or tick, if coarser) outwards.
BOOK_LEVELS = 8
BOOK_GAP = Decimal("0.005")


def competitor_size(book_seed: str, is_bid: bool, price: Decimal) -> Decimal:
    """Resting competitor size at one YES price: 100..999 shares, fixed per seed and price."""
    digest = hashlib.sha256(f"book:{book_seed}:{is_bid}:{price.normalize()}".encode()).digest()
    return Decimal(100 + int.from_bytes(digest[:4], "big") % 900)


def competitor_levels(
    book_seed: str, bid: Decimal, ask: Decimal, tick: Decimal
) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """Background YES bids and asks (price -> size) around the touch, inside [tick, 1 - tick]."""
    gap = max(BOOK_GAP, tick)
    bids = {
        price: competitor_size(book_seed, True, price)
        for price in (bid - gap * k if k else bid for k in range(BOOK_LEVELS))
        if price >= tick
    }
    asks = {
        price: competitor_size(book_seed, False, price)
        for price in (ask + gap * k if k else ask for k in range(BOOK_LEVELS))
        if price <= ONE - tick
    }
    return bids, asks

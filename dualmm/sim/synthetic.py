"""The simulator's synthetic markets: the generator's (`dualmm.synthetic`), served as they run.

The markets, their midpoint paths, spreads and books are the backtest's for the same seed. The
simulator plays a path one of its minutes every `step_seconds` of its clock (by default 5 s,
twelve times faster than the backtest, so that a demo sees the market move). The others' book
around any market's touch is the generator's: its depth profile (for a synthetic market with its
own touch size and reward makers; for a scenario market at the fitted touch size).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import ClassVar

from dualmm.domain.types import MarketInfo
from dualmm.synthetic.calibration import parameters
from dualmm.synthetic.markets import UNIT, MarketSpec, depth_levels, draw_market
from dualmm.synthetic.walk import Walk

DEFAULT_STEP_SECONDS = 5
# How long synthetic markets served to users have been running: a day of price history.
SYNTHETIC_HISTORY = timedelta(days=1)
_BOOK_SEED = "synthetic:"  # + "seed:index": the book of a generated market


@dataclass
class GeneratedPath:
    """A generated walk as a midpoint process (`dualmm.sim.market.MidProcess`): path minute
    `m` holds from `m * step_seconds`. Made as it is read; the same whatever the order."""

    walk: Walk
    step_seconds: int = DEFAULT_STEP_SECONDS
    fixed_future: ClassVar[bool] = True  # seeded: its path never changes (see MidProcess)

    def _step(self, seconds: float) -> int:
        return max(int(seconds // self.step_seconds), 0)

    def mid_at(self, seconds: float) -> Decimal:
        step = self._step(seconds)
        self.walk.extend(step + 1)
        return self.walk.units[bisect_right(self.walk.times, step * 60) - 1] * UNIT

    def change_times(self, after: float, until: float) -> list[int]:
        """Step times t with after < t <= until at which the midpoint moved."""
        first, last = self._step(after) + 1, self._step(until)
        if last < first:
            return []
        self.walk.extend(last + 1)
        times = self.walk.times
        moved = times[bisect_left(times, first * 60) : bisect_right(times, last * 60)]
        return [t // 60 * self.step_seconds for t in moved]


@dataclass(frozen=True)
class SyntheticMarket:
    info: MarketInfo
    walk: GeneratedPath
    end_date: datetime
    book_seed: str
    half_spread: Decimal | None  # None: one tick wide (the fill model's touch)


def synthetic_markets(
    n_markets: int, seed: int, start: datetime, step_seconds: int = DEFAULT_STEP_SECONDS
) -> list[SyntheticMarket]:
    """`n_markets` generated reward markets; deterministic for `seed`."""
    markets = []
    for index in range(n_markets):
        spec = _spec(seed, index)
        half = spec.touch_cents / 100
        markets.append(
            SyntheticMarket(
                info=spec.info,
                walk=GeneratedPath(spec.walk(), step_seconds),
                end_date=start + timedelta(days=spec.days_to_end),
                book_seed=f"{_BOOK_SEED}{seed}:{index}",
                half_spread=None if 2 * half <= spec.info.tick_size else half,
            )
        )
    return markets


def competitor_levels(
    book_seed: str, bid: Decimal, ask: Decimal, tick: Decimal
) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """The others' YES bids and asks (price -> size) around the touch `bid`/`ask`, inside
    (0, 1): the generated market's book, or the depth profile at the fitted touch size. The
    depth is a level a cent, whatever the `tick` (the profile was fitted on a 1-cent tick)."""
    if not book_seed.startswith(_BOOK_SEED):
        return depth_levels(bid, ask, _touch_shares())
    seed, index = (int(part) for part in book_seed.removeprefix(_BOOK_SEED).split(":"))
    spec = _spec(seed, index)
    bids, asks = depth_levels(bid, ask, spec.touch_size)
    for maker_bids, maker_asks in spec.placed_makers((bid + ask) / 2, (bid, ask)):
        for price, size in maker_bids:
            bids[price] = bids.get(price, Decimal(0)) + size
        for price, size in maker_asks:
            asks[price] = asks.get(price, Decimal(0)) + size
    return bids, asks


@cache
def _spec(seed: int, index: int) -> MarketSpec:
    return draw_market(seed, index)


@cache
def _touch_shares() -> Decimal:
    return Decimal(str(parameters()["depth"]["touch_shares_median"])).quantize(Decimal(1))

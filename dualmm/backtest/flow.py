"""Synthetic taker flow: the trades that reach resting quotes on a synthetic path.

Two kinds, each a function of (seed, market index), so both modes and every run see the same:
  uninformed  Poisson arrivals on each side (buys and sells of YES alike), log-normal sizes;
  informed    before and during each repricing of the path (a move of `reprice_units` or more
              within `reprice_minutes`), takers trade in the direction of the coming move:
              sells before a fall, buys before a rise, larger than the uninformed.
Every trade is a market order (no price): it walks the others' book from the touch
(`MarketData.quote_fills`). Sizes are whole hundredths of a share; times whole seconds.
The parameters are not fitted to data (the recorded inputs hold no trades): the uninformed
flow is what lets quotes earn the spread, so net P&L moves with it; read results at
`FlowParams(uninformed_per_minute=0)` too.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal

from dualmm.backtest.markets import MarketData, TradeTape
from dualmm.seeding import seeded_rng


@dataclass(frozen=True)
class FlowParams:
    uninformed_per_minute: float = 0.1  # on each side
    uninformed_median: float = 40.0  # shares
    uninformed_sigma: float = 1.0  # of the log size
    informed_lead_minutes: int = 10  # informed trades start this long before a repricing
    informed_per_minute: float = 0.6
    informed_median: float = 250.0
    informed_sigma: float = 0.8
    reprice_units: int = 500  # 5 cents (units of 0.0001)
    reprice_minutes: int = 5


DEFAULT_FLOW = FlowParams()
# How much the others' size at a price moves from one state to the next (`PathMarket.churn`).
SYNTHETIC_CHURN = 0.5


def repricings(market: MarketData, params: FlowParams = DEFAULT_FLOW) -> list[tuple[int, int]]:
    """(start second, direction +1/-1) of each move of `reprice_units` or more within
    `reprice_minutes` on the path (one per move: the next is looked for after it ends)."""
    window = params.reprice_minutes * 60
    units = [int(m * 10_000) for m in market.mids]
    times = market.times
    found: list[tuple[int, int]] = []
    j = 0
    while j < len(times):
        later = bisect_right(times, times[j] + window) - 1
        move = units[later] - units[j]
        if abs(move) >= params.reprice_units:
            found.append((times[j], 1 if move > 0 else -1))
            j = later + 1
        else:
            j += 1
    return found


def synthetic_flow(
    seed: int, index: int, market: MarketData, seconds: int, params: FlowParams = DEFAULT_FLOW
) -> TradeTape:
    """The market's taker trades over `seconds`, uninformed and informed, in time order."""
    rng = seeded_rng("backtest-flow", seed, index)
    rows: list[tuple[int, bool, int]] = []  # (second, taker sells YES, size in hundredths)
    for sells in (True, False):
        for at in _arrivals(rng, 0, seconds, params.uninformed_per_minute):
            rows.append((at, sells, _size(rng, params.uninformed_median, params.uninformed_sigma)))
    for start, direction in repricings(market, params):
        begin = max(0, start - params.informed_lead_minutes * 60)
        end = min(seconds, start + params.reprice_minutes * 60)
        for at in _arrivals(rng, begin, end, params.informed_per_minute):
            size = _size(rng, params.informed_median, params.informed_sigma)
            rows.append((at, direction < 0, size))
    rows.sort()
    return TradeTape(
        times=[at for at, _, _ in rows],
        sells=[sells for _, sells, _ in rows],
        prices=[None] * len(rows),
        sizes=[Decimal(size).scaleb(-2) for _, _, size in rows],
    )


def _arrivals(rng: random.Random, begin: int, end: int, per_minute: float) -> list[int]:
    """Poisson arrival seconds in (begin, end]."""
    out: list[int] = []
    if per_minute <= 0:
        return out
    at = float(begin)
    while True:
        at += rng.expovariate(per_minute / 60)
        if at > end:
            return out
        out.append(max(begin + 1, math.ceil(at)))


def _size(rng: random.Random, median: float, sigma: float) -> int:
    """A log-normal size in hundredths of a share (at least one share)."""
    return max(100, round(rng.lognormvariate(math.log(median), sigma) * 100))

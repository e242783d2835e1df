"""Synthetic taker flow: the trades that reach resting quotes on a synthetic path.

Two kinds, each a function of (seed, market index), so both modes and every run see the same:
  uninformed  Poisson arrivals on each side (buys and sells of YES alike), log-normal sizes;
  informed    before and during each repricing of the path (a move of `reprice_units` or more
              within `reprice_minutes` that lasts `lasting_minutes`), takers trade in the
              direction of the coming move: sells before a fall, buys before a rise, larger
              than the uninformed.
Every trade is a market order (no price) that walks the others' book from the touch
(`MarketData.quote_fills`) down to its limit: an uninformed taker trades at the touch only (it
pays the spread, not the depth: what the touch cannot fill it leaves), an informed one as far as
the price the move will reach (it never pays more than what it knows the share is worth).
Without limits a large trade would pay a quote deep in the book the whole depth, and the path,
which no trade moves, would not move against it. Sizes are whole hundredths of a share; times
whole seconds.
No input here holds trades, so the flow cannot be fitted to them. It is anchored instead on
the competitive zero-profit condition (Glosten-Milgrom, Kyle): where makers compete, what they
earn from the uninformed is what they lose to the informed, so a fill at the touch marks about
zero at the longer horizons before rewards (`touch_markouts`). Competition works market by
market, so the fitted levels give each market uninformed flow in proportion to its repricings
(`uninformed_per_repricing`, fitted by `tools/calibrate_flow.py`): no market is free to quote.
`FLOW_LEVELS` brackets the anchor with less uninformed flow (`low`: touch fills lose) and the
earlier, unfitted flow (`high`: every touch fill earns about the half-spread).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, replace
from decimal import Decimal

from dualmm.backtest.markets import MarketData, TradeTape
from dualmm.seeding import seeded_rng

ZERO = Decimal(0)


@dataclass(frozen=True)
class FlowParams:
    uninformed_per_minute: float = 0.1  # on each side
    # If set, the uninformed arrivals a side per repricing of the market instead: a market's
    # uninformed flow in proportion to its informed flow, so that no market is free to quote.
    uninformed_per_repricing: float | None = None
    uninformed_median: float = 40.0  # shares
    uninformed_sigma: float = 1.0  # of the log size
    informed_lead_minutes: int = 10  # informed trades start this long before a repricing
    informed_per_minute: float = 0.6
    informed_median: float = 250.0
    informed_sigma: float = 0.8
    reprice_units: int = 500  # 5 cents (units of 0.0001)
    reprice_minutes: int = 5
    # A repricing counts only if the price still stands `reprice_units` away this long after
    # it (0: any move): a flicker undone minutes later is nobody's information.
    lasting_minutes: int = 0


# Uninformed trades a side per repricing, fitted by `tools/calibrate_flow.py`; `low` has a
# third of them (more of the flow informed).
CALIBRATED_UNINFORMED = 72.0
LOW_UNINFORMED = CALIBRATED_UNINFORMED / 3
# Informed flow before every move of 2 cents within 5 minutes (the real data's jumps are 2 cents
# or more) that still stands an hour later, 2 trades a minute over the 15 minutes around it;
# the uninformed flow of each market
# in proportion. `high` is the unfitted flow the backtest used before (informed only before
# 5-cent moves, the same uninformed flow on every market).
_FITTED = FlowParams(reprice_units=200, informed_per_minute=2.0, lasting_minutes=60)
FLOW_LEVELS: dict[str, FlowParams] = {
    "low": replace(_FITTED, uninformed_per_repricing=LOW_UNINFORMED),
    "calibrated": replace(_FITTED, uninformed_per_repricing=CALIBRATED_UNINFORMED),
    "high": FlowParams(),
}
DEFAULT_FLOW = FLOW_LEVELS["calibrated"]
# How much the others' size at a price moves from one state to the next (`PathMarket.churn`).
SYNTHETIC_CHURN = 0.5


def check_flow(level: str) -> FlowParams:
    if level not in FLOW_LEVELS:
        raise ValueError(f"flow {level!r}: use one of {', '.join(FLOW_LEVELS)}")
    return FLOW_LEVELS[level]


def repricings(market: MarketData, params: FlowParams = DEFAULT_FLOW) -> list[tuple[int, int]]:
    """(start second, direction +1/-1) of each move of `reprice_units` or more within
    `reprice_minutes` on the path that lasts `lasting_minutes` (one per move: the next is
    looked for after it ends)."""
    window, lasting = params.reprice_minutes * 60, params.lasting_minutes * 60
    units = [int(m * 10_000) for m in market.mids]
    times = market.times
    found: list[tuple[int, int]] = []
    j = 0
    while j < len(times):
        later = bisect_right(times, times[j] + window) - 1
        move = units[later] - units[j]
        if lasting and abs(move) >= params.reprice_units:
            after = units[bisect_right(times, times[later] + lasting) - 1] - units[j]
            if after * move < 0 or abs(after) < params.reprice_units:
                move = 0
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
    # (second, taker sells YES, size in hundredths, limit: None for the touch)
    rows: list[tuple[int, bool, int, Decimal | None]] = []
    moves = repricings(market, params)
    per_minute = params.uninformed_per_minute
    if params.uninformed_per_repricing is not None:
        per_minute = params.uninformed_per_repricing * len(moves) / max(seconds / 60, 1)
    for sells in (True, False):
        for at in _arrivals(rng, 0, seconds, per_minute):
            size = _size(rng, params.uninformed_median, params.uninformed_sigma)
            rows.append((at, sells, size, None))
    window = params.reprice_minutes * 60
    for start, direction in moves:
        begin = max(0, start - params.informed_lead_minutes * 60)
        end = min(seconds, start + window)
        target = market.mid(market.index_at(start + window))
        for at in _arrivals(rng, begin, end, params.informed_per_minute):
            size = _size(rng, params.informed_median, params.informed_sigma)
            rows.append((at, direction < 0, size, target))
    rows.sort(key=lambda row: row[:3])
    return TradeTape(
        times=[at for at, _, _, _ in rows],
        sells=[sells for _, sells, _, _ in rows],
        prices=[None] * len(rows),
        sizes=[Decimal(size).scaleb(-2) for _, _, size, _ in rows],
        limits=[_touch(market, at, sells) if lim is None else lim for at, sells, _, lim in rows],
    )


def _touch(market: MarketData, at: int, sells: bool) -> Decimal | None:
    """The best price a taker selling (or buying) YES meets at `at`."""
    i = market.index_at(at)
    if i < 0:
        return None
    side = market.competition(i)[0 if sells else 1]
    return side[0][0] if side else None


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


def touch_markouts(
    market: MarketData,
    tape: TradeTape,
    size: Decimal,
    minutes: tuple[int, ...] = (30, 60),
    behind: Decimal = ZERO,
) -> tuple[Decimal, list[Decimal]]:
    """(shares, share-weighted summed markouts in YES units per horizon) of an order of `size`
    resting at the front of the others' touch, requoted at every state: each taker trade fills
    it with up to `size` shares at the best price on the side it hits. Positive: the midpoint
    moved the maker's way (`dualmm.backtest.markouts`, at the touch instead of our price).
    With `behind` (a YES price distance), the order rests that far behind the touch, at the
    back of the size there: a trade fills it with what is left once it has taken every share
    ahead, if its limit reaches that far."""
    shares, sums = ZERO, [ZERO] * len(minutes)
    for k, (at, sells, traded) in enumerate(zip(tape.times, tape.sells, tape.sizes, strict=True)):
        i = market.index_at(at)
        if i < 0:
            continue
        bids, asks = market.competition(i)
        side = bids if sells else asks
        if not side:
            continue
        price = side[0][0] - behind if sells else side[0][0] + behind
        limit = tape.limit(k)
        if limit is not None and (limit > price if sells else limit < price):
            continue
        ahead = ZERO
        if behind:
            ahead = sum((s for p, s in side if (p >= price if sells else p <= price)), ZERO)
        filled = min(traded - ahead, size)
        if filled <= 0:
            continue
        for n, horizon in enumerate(minutes):
            later = market.mid(max(market.index_at(at + 60 * horizon), 0))
            sums[n] += filled * (later - price if sells else price - later)
        shares += filled
    return shares, sums

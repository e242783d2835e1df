"""`--synthetic --markets K --days N --seed S`: seeded reward markets fitted to real ones.

Every number comes from `calibration.json` (`tools/calibrate.py` fits it on real top-of-book
data and on a snapshot of real reward markets):
  - a market's category follows the snapshot's mix among the categories the real paths cover
    (politics, macro, culture); its dynamics are those of one real market of that category,
    drawn in proportion to the time it was quotable: spread, tick, a per-minute random walk
    and jumps (sizes drawn from the category's real jumps, some undone a few minutes later,
    as real flickers are);
  - its daily pool, reward minimum size and competing makers follow the snapshot
    (`dualmm.backtest.competition`); the band (max spread) is not in the snapshot: one of
    2, 3, 3.5 or 4.5 cents.
The YES midpoint moves once a minute, in whole units of 0.0001 (no float becomes a price).
Everything is a function of (seed, market index): both modes, every competition level and
every run see the same paths.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from itertools import pairwise
from typing import Any

from dualmm.backtest.calibration import parameters
from dualmm.backtest.competition import Maker, check_level, draw_makers
from dualmm.backtest.flow import (
    SYNTHETIC_CHURN,
    FlowParams,
    check_flow,
    synthetic_flow,
    touch_markouts,
)
from dualmm.backtest.inputs import BacktestInput
from dualmm.backtest.markets import PathMarket
from dualmm.domain.prices import Rounding, round_to_tick
from dualmm.domain.quoting import CENTS_PER_UNIT
from dualmm.domain.rewards import Level
from dualmm.domain.types import MarketInfo, Token
from dualmm.scenario import token_id_for
from dualmm.seeding import seeded_rng

UNIT = Decimal("0.0001")
UNITS_PER_CENT = 100
START = datetime(2026, 1, 1, tzinfo=UTC)
LOW, HIGH = 200, 9800  # the walk stays in [0.02, 0.98]
_MAX_SPREADS = tuple(Decimal(s) for s in ("2", "3", "3.5", "4.5"))
_MIN_ORDER_SIZE = Decimal(5)

Book = tuple[tuple[Level, ...], tuple[Level, ...]]


@dataclass(frozen=True)
class Dynamics:
    """How one market's midpoint moves (one real market's fitted figures)."""

    sigma: float  # random-walk step, units of 0.0001 a minute (standard deviation)
    jumps_per_day: float  # jump events (a flicker and its undoing count once)
    jump_units: tuple[int, ...]  # sizes to draw from
    revert_odds: float  # share of jumps undone 2-10 minutes later
    reversion: float = 0.0  # share of the distance to the start recovered each minute


@dataclass
class SyntheticMarket(PathMarket):
    """A path whose book is its makers' orders and a small non-scoring size at the touch."""

    category: str = ""
    touch_cents: Decimal = Decimal("0.5")  # half the spread
    touch_size: Decimal = Decimal(0)
    makers: tuple[Maker, ...] = ()
    _visible: dict[Decimal, Book] = field(default_factory=dict, repr=False)
    _per_maker: dict[Decimal, tuple[Book, ...]] = field(default_factory=dict, repr=False)

    def touch(self, i: int) -> tuple[Decimal, Decimal]:
        """The visible touch: the market's spread exactly, on the tick, around the (half-tick)
        reference midpoint."""
        mid, tick = self.mid(i), self.info.tick_size
        bid = round_to_tick(mid - self.touch_cents / CENTS_PER_UNIT, tick, Rounding.DOWN)
        return bid, round_to_tick(bid + 2 * self.touch_cents / CENTS_PER_UNIT, tick, Rounding.UP)

    def competing_makers(self, i: int) -> tuple[Book, ...]:
        mid = self.mid(i)
        books = self._per_maker.get(mid)
        if books is None:
            books = self._per_maker[mid] = tuple(self._placed(i, maker) for maker in self.makers)
        return books

    def _depth(self, i: int, bids: bool) -> dict[Decimal, Decimal]:
        """The size resting at each price, which our quote queues behind: the visible book."""
        book = self.competition(i)
        return dict(book[0] if bids else book[1])

    def competition(self, i: int) -> Book:
        """The visible book: every maker's orders and the touch, summed by price."""
        mid = self.mid(i)
        book = self._visible.get(mid)
        if book is None:
            bids: dict[Decimal, Decimal] = {}
            asks: dict[Decimal, Decimal] = {}
            if self.touch_size > 0:
                bid, ask = self.touch(i)
                bids[bid] = asks[ask] = self.touch_size
            for maker_bids, maker_asks in self.competing_makers(i):
                for price, size in maker_bids:
                    bids[price] = bids.get(price, Decimal(0)) + size
                for price, size in maker_asks:
                    asks[price] = asks.get(price, Decimal(0)) + size
            book = self._visible[mid] = (
                tuple(sorted(bids.items(), reverse=True)),
                tuple(sorted(asks.items())),
            )
        return book

    def _placed(self, i: int, maker: Maker) -> Book:
        """A maker's orders in state `i`: `d` cents from the midpoint on the nearest tick, never
        inside the touch, none at 0 or 1 or beyond."""
        mid, tick = self.mid(i), self.info.tick_size
        touch_bid, touch_ask = self.touch(i)
        maker_bids, maker_asks = maker
        bids = (
            (min(round_to_tick(mid - d / CENTS_PER_UNIT, tick), touch_bid), s)
            for d, s in maker_bids
        )
        asks = (
            (max(round_to_tick(mid + d / CENTS_PER_UNIT, tick), touch_ask), s)
            for d, s in maker_asks
        )
        return tuple((p, s) for p, s in bids if p > 0), tuple((p, s) for p, s in asks if p < 1)


def synthetic_input(
    n_markets: int,
    days: Decimal,
    seed: int,
    competition: str = "calibrated",
    flow: str = "calibrated",
) -> BacktestInput:
    """`n_markets` calibrated markets over `days`; `competition` and the taker `flow` are each
    low, calibrated or high."""
    check_level(competition)
    params = check_flow(flow)
    minutes = int(days * 1440)
    markets: list[Any] = [_market(seed, k, minutes, competition) for k in range(n_markets)]
    for k, path in enumerate(markets):  # the taker flow (made when first read), churn
        path.flow = partial(synthetic_flow, seed, k, path, minutes * 60, params)
        path.churn = SYNTHETIC_CHURN
    name = (
        f"synthetic (seed {seed}, {n_markets} markets, {days} days, "
        f"{competition} competition, {flow} flow)"
    )
    return BacktestInput(name, START, minutes * 60, markets, open_ended=True)


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def _daily_pool(u: float, quantiles: list[list[float]]) -> Decimal:
    """The snapshot's pool distribution, log-linear between its quantiles, to the cent."""
    for (q0, v0), (q1, v1) in pairwise(quantiles):
        if u <= q1:
            share = (u - q0) / (q1 - q0)
            value = math.exp(math.log(v0) + share * (math.log(v1) - math.log(v0)))
            return Decimal(str(round(value, 2)))
    return Decimal(str(quantiles[-1][1]))


def _market(seed: int, index: int, minutes: int, level: str) -> SyntheticMarket:
    params = parameters()
    rng = seeded_rng("backtest-market", seed, index)
    condition_id = "0x" + hashlib.sha256(f"dualmm-backtest:{seed}:{index}".encode()).hexdigest()
    category = _weighted(rng, {c: v["weight"] for c, v in params["categories"].items()})
    cat = params["categories"][category]
    profiles = cat["profiles"]
    profile = rng.choices(profiles, weights=[p["days"] for p in profiles])[0]
    rate = _daily_pool(rng.random(), params["pools"]["quantiles"])
    min_size = Decimal(_weighted(rng, params["min_sizes"]))
    band = rng.choice(_MAX_SPREADS)
    tick = Decimal(profile["tick"])
    info = MarketInfo(
        condition_id=condition_id,
        question=f"Synthetic {category} market {index + 1} (seed {seed})",
        yes_token_id=token_id_for(condition_id, Token.YES),
        no_token_id=token_id_for(condition_id, Token.NO),
        tick_size=tick,
        min_order_size=_MIN_ORDER_SIZE,
        rewards_daily_rate=rate,
        rewards_max_spread_cents=band,
        rewards_min_size=min_size,
    )
    touch_cents = Decimal(str(profile["spread"])) / 2
    makers = draw_makers(
        seeded_rng("backtest-competition", seed, index), rate, band, min_size, touch_cents, level
    )
    start = rng.randint(1500, 8500)
    walk_rng = seeded_rng("backtest-walk", seed, index)
    times, units = walk(walk_rng, minutes, dynamics_of(profile, cat), start)
    return SyntheticMarket(
        info=info,
        times=times,
        mids=[u * UNIT for u in units],
        category=category,
        touch_cents=touch_cents,
        touch_size=(min_size / 2).quantize(Decimal(1)),  # visible, below the reward minimum
        makers=makers,
    )


def dynamics_of(profile: dict[str, Any], category: dict[str, Any]) -> Dynamics:
    """The walk of one fitted profile of a category of `calibration.json`."""
    return Dynamics(
        sigma=profile["sigma"],
        jumps_per_day=profile["jump_events_per_day"],
        jump_units=tuple(round(c * UNITS_PER_CENT) for c in category["jump_cents"]),
        revert_odds=profile.get("revert_odds", category["revert_odds"]),
        reversion=category.get("reversion", 0.0),
    )


def touch_mid_cents(units: int, tick_units: int) -> float:
    """The reference midpoint in cents of a path at `units`: the middle of the fill model's
    touch (`dualmm.domain.fillmodel.touch`), in integers."""
    half = tick_units // 2
    bid = (units - half) // tick_units * tick_units
    ask = -(-(units + half) // tick_units) * tick_units
    return (bid + ask) / 2 / UNITS_PER_CENT


def walk(
    rng: random.Random, minutes: int, dynamics: Dynamics, start: int
) -> tuple[list[int], list[int]]:
    """Minute-by-minute midpoints (units of 0.0001); only the minutes where it moved are kept.

    The state is a float pulled back towards where it started (`reversion` of the distance a
    minute, lasting jumps included: news fades over hours); a flicker is undone within
    minutes. Units are its rounding.
    """
    import numpy as np  # the draws a minute, in bulk: the loop below is the backtest's start-up

    draws = np.random.default_rng(rng.getrandbits(64))
    sigma, pull = dynamics.sigma, dynamics.reversion
    noise = draws.normal(0, sigma, minutes).tolist() if sigma > 0 else [0.0] * minutes
    jumps = set(np.flatnonzero(draws.random(minutes) < dynamics.jumps_per_day / 1440).tolist())
    sizes = dynamics.jump_units or (0,)
    x = anchor = float(start)
    undo_at, undo = -1, 0.0
    times, units = [0], [start]
    if sigma <= 0 and not jumps:
        return times, units
    last = start
    for minute in range(1, minutes):
        x += noise[minute] - pull * (x - anchor)
        if minute == undo_at:
            x -= undo
            undo_at = -1
        elif minute in jumps:
            jump = rng.choice(sizes) * rng.choice((-1, 1))
            x += jump
            if undo_at < 0 and rng.random() < dynamics.revert_odds:
                undo_at, undo = minute + rng.randint(2, 10), float(jump)
        if x < LOW:
            x, anchor, undo = 2 * LOW - x, 2 * LOW - anchor, -undo
        elif x > HIGH:
            x, anchor, undo = 2 * HIGH - x, 2 * HIGH - anchor, -undo
        unit = round(x)  # a reflected move stays inside: no move is that large
        if unit != last:
            times.append(minute * 60)
            units.append(unit)
            last = unit
    return times, units


def touch_markout_cents(
    params: FlowParams,
    seeds: Iterable[int],
    markets: int,
    days: Decimal,
    size: Decimal = Decimal(50),
    minutes: tuple[int, ...] = (1, 5, 30, 60),
) -> dict[int, float]:
    """`flow.touch_markouts` under `params` over calibrated synthetic markets, in cents per
    share: what the flow's calibration holds near zero (tools/calibrate_flow.py)."""
    shares, sums = Decimal(0), [Decimal(0)] * len(minutes)
    for seed in seeds:
        data = synthetic_input(markets, days, seed)
        for k, market in enumerate(data.markets):
            tape = synthetic_flow(seed, k, market, data.duration, params)
            n, found = touch_markouts(market, tape, size, minutes)
            shares += n
            sums = [a + b for a, b in zip(sums, found, strict=True)]
    return {h: float(v / shares * 100) for h, v in zip(minutes, sums, strict=True)}

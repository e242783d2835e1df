"""Seeded reward markets fitted to real ones, and the others' book around their midpoint.

The one synthetic market generator: the backtest (`dualmm.backtest.synthetic`) and the
simulator (`dualmm.sim.synthetic`) both draw their markets here. Every number comes from
`calibration.json` (`tools/calibrate.py` and `tools/calibrate_depth.py` fit it on real data):
  - a market's category follows the snapshot of real reward markets among the categories the
    real paths cover (politics, macro, culture); its dynamics are those of one real market of
    that category, drawn in proportion to the time it was quotable: spread, tick, the walk's
    step and jumps (`dualmm.synthetic.walk`);
  - its daily pool, reward minimum size and competing reward makers follow the snapshot
    (`dualmm.synthetic.competition`); the band (max spread) is not in the snapshot: one of
    2, 3, 3.5 or 4.5 cents;
  - the book: the touch holds half the reward minimum (visible, not scoring); behind it, each
    cent out holds the touch's size times the depth profile fitted on real L2 books (small
    orders that do not score); the reward makers' orders come on top.
Everything is a function of (seed, market index): every run, mode and level sees the same.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from dualmm.domain.prices import Rounding, round_to_tick
from dualmm.domain.rewards import Level
from dualmm.domain.types import MarketInfo, Token
from dualmm.scenario import token_id_for
from dualmm.seeding import seeded_rng
from dualmm.synthetic.calibration import parameters
from dualmm.synthetic.competition import Maker, draw_makers
from dualmm.synthetic.walk import Dynamics, Walk, dynamics_of

UNIT = Decimal("0.0001")
CENT = Decimal("0.01")
MAX_SPREADS = tuple(Decimal(s) for s in ("2", "3", "3.5", "4.5"))
MIN_ORDER_SIZE = Decimal(5)
ZERO = Decimal(0)

Book = tuple[tuple[Level, ...], tuple[Level, ...]]


@dataclass(frozen=True)
class MarketSpec:
    """One synthetic market: its facts, how its midpoint moves and who else quotes it."""

    seed: int
    index: int
    info: MarketInfo
    category: str
    dynamics: Dynamics
    start_units: int
    touch_cents: Decimal  # half the spread
    touch_size: Decimal
    makers: tuple[Maker, ...]
    days_to_end: int  # when the market ends (the simulator lists it)

    def walk(self) -> Walk:
        return Walk(
            seeded_rng("backtest-walk", self.seed, self.index), self.dynamics, self.start_units
        )

    def touch(self, mid: Decimal) -> tuple[Decimal, Decimal]:
        """The visible touch: the market's spread exactly, on the tick, around `mid`."""
        tick, half = self.info.tick_size, self.touch_cents * CENT
        bid = round_to_tick(mid - half, tick, Rounding.DOWN)
        return bid, round_to_tick(bid + 2 * half, tick, Rounding.UP)

    def book(self, mid: Decimal) -> Book:
        """The others' visible book around `mid`: the depth profile and every maker's orders,
        summed by price, best first."""
        touch = self.touch(mid)
        bids, asks = depth_levels(*touch, self.touch_size)
        for maker_bids, maker_asks in self.placed_makers(mid, touch):
            for price, size in maker_bids:
                bids[price] = bids.get(price, ZERO) + size
            for price, size in maker_asks:
                asks[price] = asks.get(price, ZERO) + size
        return tuple(sorted(bids.items(), reverse=True)), tuple(sorted(asks.items()))

    def placed_makers(
        self, mid: Decimal, touch: tuple[Decimal, Decimal] | None = None
    ) -> tuple[Book, ...]:
        """Each reward maker's orders around `mid`: `d` cents from it on the nearest tick,
        never inside the touch (by default the market's own around `mid`), none at 0 or 1."""
        tick = self.info.tick_size
        touch_bid, touch_ask = touch or self.touch(mid)
        books = []
        for maker_bids, maker_asks in self.makers:
            bids = ((min(round_to_tick(mid - d * CENT, tick), touch_bid), s) for d, s in maker_bids)
            asks = ((max(round_to_tick(mid + d * CENT, tick), touch_ask), s) for d, s in maker_asks)
            books.append(
                (tuple((p, s) for p, s in bids if p > 0), tuple((p, s) for p, s in asks if p < 1))
            )
        return tuple(books)


def depth_levels(
    bid: Decimal, ask: Decimal, touch_size: Decimal
) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """The non-scoring depth: `touch_size` at the touch and the fitted profile's multiple of it
    each cent behind (`calibration.json` `depth`), inside (0, 1)."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    if touch_size <= 0:
        return bids, asks
    for k, ratio in enumerate(depth_profile()):
        size = (touch_size * ratio).quantize(Decimal(1))
        if size <= 0:
            continue
        if (price := bid - k * CENT) > 0:
            bids[price] = size
        if (price := ask + k * CENT) < 1:
            asks[price] = size
    return bids, asks


def depth_profile() -> tuple[Decimal, ...]:
    """Size k cents behind the touch per share at the touch, k = 0, 1, ..."""
    return tuple(Decimal(str(r)) for r in parameters()["depth"]["behind_touch"])


def draw_market(seed: int, index: int, competition: str = "calibrated") -> MarketSpec:
    """Market `index` of `seed`, its competition at level `competition`."""
    params = parameters()
    rng = seeded_rng("backtest-market", seed, index)
    condition_id = "0x" + hashlib.sha256(f"dualmm-backtest:{seed}:{index}".encode()).hexdigest()
    category = _weighted(rng, {c: v["weight"] for c, v in params["categories"].items()})
    cat = params["categories"][category]
    profiles = cat["profiles"]
    profile = rng.choices(profiles, weights=[p["days"] for p in profiles])[0]
    rate = _daily_pool(rng.random(), params["pools"]["quantiles"])
    min_size = Decimal(_weighted(rng, params["min_sizes"]))
    band = rng.choice(MAX_SPREADS)
    start_units = rng.randint(1500, 8500)
    listing = seeded_rng("synthetic-listing", seed, index)
    info = MarketInfo(
        condition_id=condition_id,
        question=f"Synthetic market {index + 1} (seed {seed}, {category})",
        yes_token_id=token_id_for(condition_id, Token.YES),
        no_token_id=token_id_for(condition_id, Token.NO),
        tick_size=Decimal(profile["tick"]),
        min_order_size=MIN_ORDER_SIZE,
        neg_risk=listing.randrange(4) == 0,
        rewards_daily_rate=rate,
        rewards_max_spread_cents=band,
        rewards_min_size=min_size,
    )
    touch_cents = Decimal(str(profile["spread"])) / 2
    makers = draw_makers(
        seeded_rng("backtest-competition", seed, index),
        rate,
        band,
        min_size,
        touch_cents,
        competition,
    )
    return MarketSpec(
        seed=seed,
        index=index,
        info=info,
        category=category,
        dynamics=dynamics_of(profile, cat),
        start_units=start_units,
        touch_cents=touch_cents,
        touch_size=(min_size / 2).quantize(Decimal(1)),
        makers=makers,
        days_to_end=listing.randint(2, 90),
    )


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

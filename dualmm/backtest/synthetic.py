"""`--synthetic --markets K --days N --seed S`: the generator's markets as backtest paths.

The markets, their paths and their books are `dualmm.synthetic`'s (the simulator serves the
same); here they become `PathMarket`s with the synthetic taker flow (`dualmm.backtest.flow`).
The YES midpoint moves once a minute, in whole units of 0.0001 (no float becomes a price).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from dualmm.backtest.flow import (
    SYNTHETIC_CHURN,
    FlowParams,
    check_flow,
    synthetic_flow,
    touch_markouts,
)
from dualmm.backtest.inputs import BacktestInput
from dualmm.backtest.markets import PathMarket
from dualmm.synthetic.competition import check_level
from dualmm.synthetic.markets import UNIT, Book, MarketSpec, draw_market

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class SyntheticMarket(PathMarket):
    """A generated market: its path, and its book as `spec` lays it around the midpoint."""

    spec: MarketSpec | None = None
    _visible: dict[Decimal, Book] = field(default_factory=dict, repr=False)
    _per_maker: dict[Decimal, tuple[Book, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, spec: MarketSpec, minutes: int) -> SyntheticMarket:
        times, units = spec.walk().until(minutes)
        return cls(
            info=spec.info,
            times=times,
            mids=[u * UNIT for u in units],
            category=spec.category,
            touch_size=spec.touch_size,
            spec=spec,
        )

    def touch(self, i: int) -> tuple[Decimal, Decimal]:
        assert self.spec is not None
        return self.spec.touch(self.mid(i))

    def competing_makers(self, i: int) -> tuple[Book, ...]:
        assert self.spec is not None
        mid = self.mid(i)
        books = self._per_maker.get(mid)
        if books is None:
            books = self._per_maker[mid] = self.spec.placed_makers(mid)
        return books

    def _depth(self, i: int, bids: bool) -> dict[Decimal, Decimal]:
        """The size resting at each price, which our quote queues behind: the visible book."""
        book = self.competition(i)
        return dict(book[0] if bids else book[1])

    def competition(self, i: int) -> Book:
        """The visible book: the depth profile and every maker's orders, summed by price."""
        assert self.spec is not None
        mid = self.mid(i)
        book = self._visible.get(mid)
        if book is None:
            book = self._visible[mid] = self.spec.book(mid)
        return book


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
    markets: list[Any] = [
        SyntheticMarket.of(draw_market(seed, k, competition), minutes) for k in range(n_markets)
    ]
    for k, path in enumerate(markets):  # the taker flow (made when first read), churn
        path.flow = partial(synthetic_flow, seed, k, path, minutes * 60, params)
        path.churn = SYNTHETIC_CHURN
    name = (
        f"synthetic (seed {seed}, {n_markets} markets, {days} days, "
        f"{competition} competition, {flow} flow)"
    )
    return BacktestInput(name, START, minutes * 60, markets, open_ended=True)


def touch_markout_cents(
    params: FlowParams,
    seeds: Iterable[int],
    markets: int,
    days: Decimal,
    size: Decimal = Decimal(50),
    minutes: tuple[int, ...] = (1, 5, 30, 60),
    behind_cents: Decimal = Decimal(0),
) -> dict[int, float]:
    """`flow.touch_markouts` under `params` over calibrated synthetic markets, in cents per
    share: what the flow's calibration holds near zero (tools/calibrate_flow.py); with
    `behind_cents`, of an order that far behind the touch."""
    shares, sums = Decimal(0), [Decimal(0)] * len(minutes)
    for seed in seeds:
        data = synthetic_input(markets, days, seed)
        for k, market in enumerate(data.markets):
            tape = synthetic_flow(seed, k, market, data.duration, params)
            n, found = touch_markouts(market, tape, size, minutes, behind_cents / 100)
            shares += n
            sums = [a + b for a, b in zip(sums, found, strict=True)]
    return {h: float(v / shares * 100) for h, v in zip(minutes, sums, strict=True)}

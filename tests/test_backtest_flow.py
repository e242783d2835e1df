"""The synthetic taker flow's calibration: the competitive zero-profit anchor and its bracket.

A 50-share order resting at the touch marks about zero at 30 and 60 minutes under the
calibrated flow (tolerance 0.25 c/share, a quarter of a typical half-spread), clearly below
zero under `low` and earns about the half-spread under `high`; an order behind the touch earns
no more than one at it. Seeds 1-2 here; the flow was fitted on seeds 101-104
(`tools/calibrate_flow.py`).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualmm.backtest.flow import (
    FLOW_LEVELS,
    check_flow,
    repricings,
    touch_markouts,
)
from dualmm.backtest.markets import PathMarket, TradeTape
from dualmm.backtest.synthetic import synthetic_input, touch_markout_cents
from dualmm.domain.types import MarketInfo

TOLERANCE_CENTS = 0.25


@pytest.fixture(scope="module")
def markouts() -> dict[str, dict[int, float]]:
    return {
        level: touch_markout_cents(params, (1, 2), 20, Decimal(5))
        for level, params in FLOW_LEVELS.items()
    }


def test_calibrated_flow_leaves_touch_fills_at_about_zero(
    markouts: dict[str, dict[int, float]],
) -> None:
    for minutes in (30, 60):
        assert abs(markouts["calibrated"][minutes]) <= TOLERANCE_CENTS


def test_a_quote_behind_the_touch_earns_no_more_than_one_at_it(
    markouts: dict[str, dict[int, float]],
) -> None:
    # Where makers compete, no resting price pays more than another after an hour: an order
    # two cents behind the touch, at the back of the depth there, fills only from trades that
    # walked through all of it, and those trades know where the price is going.
    deep = touch_markout_cents(
        FLOW_LEVELS["calibrated"], (1, 2), 20, Decimal(5), behind_cents=Decimal(2)
    )
    for minutes in (30, 60):
        assert deep[minutes] <= markouts["calibrated"][minutes] + TOLERANCE_CENTS, deep


def test_low_and_high_flow_bracket_it(markouts: dict[str, dict[int, float]]) -> None:
    for minutes in (30, 60):
        assert markouts["low"][minutes] < -0.4
        assert markouts["high"][minutes] > 0.4
        assert markouts["low"][minutes] < markouts["calibrated"][minutes]
        assert markouts["calibrated"][minutes] < markouts["high"][minutes]


def test_touch_markout_by_hand() -> None:
    # touch 0.49/0.51 around 0.50; the midpoint falls to 0.45 after 10 minutes. A taker sells
    # 80 shares at second 30: a 50-share order at the touch buys 50 at 0.49, marked at 0.45
    # after 30 minutes: -4 cents. A taker buy of 20 at second 60 sells 20 at 0.51: +6 cents.
    info = MarketInfo(
        condition_id="0x1",
        question="q",
        yes_token_id="1",
        no_token_id="2",
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        rewards_daily_rate=Decimal(1),
        rewards_max_spread_cents=Decimal(3),
        rewards_min_size=Decimal(20),
    )
    market = PathMarket(info=info, times=[0, 600], mids=[Decimal("0.50"), Decimal("0.45")])
    market.levels = ((Decimal(1), Decimal(100)),)
    tape = TradeTape(
        times=[30, 60], sells=[True, False], prices=[None, None], sizes=[Decimal(80), Decimal(20)]
    )
    shares, sums = touch_markouts(market, tape, Decimal(50), (30,))
    assert shares == 70
    assert sums == [Decimal(50) * Decimal("-0.04") + Decimal(20) * Decimal("0.06")]


def test_the_flow_level_reaches_the_markets() -> None:
    assert check_flow("calibrated") == FLOW_LEVELS["calibrated"]
    with pytest.raises(ValueError, match="flow 'medium'"):
        check_flow("medium")

    def trades(flow: str) -> list[int]:
        data = synthetic_input(10, Decimal(5), 1, flow=flow)
        return [len(market.trades().times) for market in data.markets]

    low, calibrated, high = trades("low"), trades("calibrated"), trades("high")
    assert sum(low) < sum(calibrated) and low != high


def test_a_market_without_repricings_has_no_free_flow() -> None:
    # the fitted levels give a market uninformed flow in proportion to its informed flow: a
    # calm market (no 2-cent move) has no takers at all, so quoting it earns no free spread
    data = synthetic_input(10, Decimal(5), 1, flow="calibrated")
    params = FLOW_LEVELS["calibrated"]
    calm = [m for m in data.markets if not repricings(m, params)]
    moving = [m for m in data.markets if repricings(m, params)]
    assert calm and moving
    assert all(not m.trades().times for m in calm)
    assert all(m.trades().times for m in moving)

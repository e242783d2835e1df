"""The synthetic generator against the real statistics it was fitted to (calibration.json), and
the attributed slice of the real data the fit came from."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from dualmm.backtest.engine import run_mode
from dualmm.backtest.inputs import RewardParams, from_recorded
from dualmm.backtest.synthetic import synthetic_input
from dualmm.config import OrchestratorConfig
from dualmm.synthetic.calibration import Series, on_grid, parameters, statistics
from dualmm.synthetic.markets import MarketSpec, draw_market
from dualmm.synthetic.walk import dynamics_of, touch_mid_cents, walk

SLICE = Path(__file__).parent / "data" / "longdated-slice"
# Stated tolerance: generated within these factors of the real statistic (a few paths a market
# are noisy, mostly where one jumpy market dominates its category).
VOL_FACTOR = 1.35
JUMP_FACTOR = 1.6
PATHS = 6  # walks a profile (the fewer, the more one jumpy market decides a category)


def fitted_paths(category: str) -> list[Series]:
    """Every fitted profile of the category, walked for as long as its real market was
    quotable, `PATHS` times (the real statistics weigh markets by that time too)."""
    cat = parameters()["categories"][category]
    out = []
    for k, profile in enumerate(cat["profiles"]):
        tick = round(float(profile["tick"]) * 10_000)
        minutes = max(int(profile["days"] * 1440), 1440)
        for path in range(PATHS):
            rng = random.Random(f"test:{category}:{k}:{path}")
            times, units = walk(rng, minutes, dynamics_of(profile, cat), rng.randint(2000, 8000))
            mids = [touch_mid_cents(u, tick) for u in units]
            spread = [profile["spread"]] * len(mids)
            out.append(on_grid(times, mids, spread, minutes * 60 - 60, stale_seconds=None))
    return out


def within(got: float, want: float, factor: float) -> bool:
    return want / factor <= got <= want * factor


@pytest.mark.parametrize("category", ["politics", "macro", "culture"])
def test_generated_paths_show_the_real_volatility_and_jump_rate(category: str) -> None:
    real = parameters()["categories"][category]["real"]
    got = statistics(fitted_paths(category))
    assert within(got.vol_1h, real["vol_1h"], VOL_FACTOR), (got.vol_1h, real["vol_1h"])
    assert within(got.vol_1d, real["vol_1d"], VOL_FACTOR), (got.vol_1d, real["vol_1d"])
    assert within(got.jumps_per_day, real["jumps_per_day"], JUMP_FACTOR)
    assert abs(got.spread_p50 - real["spread_p50"]) <= 1


def test_markets_follow_the_reward_snapshot() -> None:
    markets = [draw_market(3, k) for k in range(400)]
    pools = sorted(m.info.rewards_daily_rate for m in markets)
    assert Decimal(1) <= pools[100] <= Decimal(3)  # p25 $2
    assert Decimal(3) <= pools[200] <= Decimal(8)  # median $5
    assert Decimal(12) <= pools[300] <= Decimal(30)  # p75 $20
    sizes = Counter(m.info.rewards_min_size for m in markets)
    assert 0.45 <= sizes[Decimal(50)] / 400 <= 0.60  # 52 %
    none = sum(not m.makers for m in markets) / 400
    assert 0.32 <= none <= 0.44  # 38 % with no other reward maker
    categories = Counter(m.category for m in markets)
    assert 0.55 <= categories["politics"] / 400 <= 0.72  # 32 of the snapshot's 50


def test_competition_levels_keep_the_paths_and_scale_the_makers() -> None:
    low, calibrated, high = (
        synthetic_input(60, Decimal("0.5"), seed=5, competition=level).markets
        for level in ("low", "calibrated", "high")
    )
    assert [m.mids for m in low] == [m.mids for m in calibrated] == [m.mids for m in high]
    specs = [[m.spec for m in ms] for ms in (low, calibrated, high)]  # type: ignore[attr-defined]

    def held(ms: list[MarketSpec]) -> Decimal:
        return sum((s for m in ms for bids, _ in m.makers for _, s in bids), Decimal(0))

    assert held(specs[0]) < held(specs[1]) < held(specs[2])
    uncontested = [sum(not m.makers for m in ms) for ms in specs]
    assert uncontested[0] > uncontested[1] > uncontested[2]
    with pytest.raises(ValueError, match="competition 'fierce'"):
        synthetic_input(1, Decimal(1), seed=1, competition="fierce")


def test_the_backtest_reads_the_attributed_slice() -> None:
    assert "CC BY 4.0" in (SLICE / "README.md").read_text()
    assert "Attribution" in (SLICE / "LICENSE").read_text()
    data = from_recorded(SLICE, RewardParams())
    assert len(data.markets) == 4
    assert Decimal("0.9") < data.days <= 1
    run = run_mode(data, OrchestratorConfig(), dual=True, step=60)
    assert run.rounds >= 1 and run.active_minutes > 0

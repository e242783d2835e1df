"""Paired seeds: the Student-t interval, the bootstrap ratio, pooling (known answers)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dualmm.backtest.engine import ModeRun
from dualmm.backtest.paired import mean_ci90, pool, ratio_ci90, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 6.3138), (2, 2.9200), (4, 2.1318), (19, 1.7291), (200, 1.6525)]
)
def test_t_quantile_matches_the_tables(df: int, expected: float) -> None:
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=2e-4)


def test_the_mean_difference_has_a_student_t_interval() -> None:
    estimate = mean_ci90([Decimal(v) for v in (1, 2, 3, 4, 5)])
    # sd = sqrt(2.5), t(0.95, 4) = 2.1318: half-width 2.1318 * 1.5811 / sqrt(5) = 1.5074
    assert estimate.mean == 3
    assert estimate.ci90 == pytest.approx((3 - 1.5074, 3 + 1.5074), abs=1e-3)
    one = mean_ci90([Decimal(2)])
    assert one.mean == 2 and one.ci90 is None and one.note == "one seed: no interval"


def test_the_ratio_is_of_means_with_a_reproducible_bootstrap() -> None:
    single = [Decimal(v) for v in ("1.0", "1.2", "0.8", "1.1", "0.9", "1.0")]
    dual = [Decimal(v) for v in ("1.3", "1.5", "1.0", "1.4", "1.1", "1.3")]
    estimate = ratio_ci90(single, dual)
    assert estimate.mean == pytest.approx(7.6 / 6.0)
    assert estimate.ci90 is not None
    lo, hi = estimate.ci90
    assert lo < estimate.mean < hi and hi - lo < 0.2
    assert ratio_ci90(single, dual) == estimate  # a fixed bootstrap seed


def test_no_ratio_where_single_loses_on_average() -> None:
    # Both lose; dual loses less. mean(dual) / mean(single) would be 0.5, read as "worse".
    estimate = ratio_ci90([Decimal(-2), Decimal(-2)], [Decimal(-1), Decimal(-1)])
    assert estimate.mean is None and estimate.ci90 is None
    assert estimate.note is not None and "not above 0" in estimate.note
    # One seed in three losing for single: its resamples cross 0 too often for an interval.
    shaky = ratio_ci90([Decimal(3), Decimal("0.1"), Decimal(-3)], [Decimal(1)] * 3)
    assert shaky.mean is not None and shaky.ci90 is None
    assert shaky.note is not None and "resamples" in shaky.note


def test_a_seed_without_the_figure_is_left_out() -> None:
    estimate = ratio_ci90([Decimal(1), None, Decimal(1)], [Decimal(2), Decimal(5), Decimal(2)])
    assert estimate.mean == 2


def test_pooled_runs_add_minutes_days_and_capital() -> None:
    a = ModeRun("dual", Decimal(1), 1440, rewards_active=Decimal(3), capital_minutes=Decimal(1440))
    b = ModeRun("dual", Decimal(1), 1440, rewards_active=Decimal(1), capital_minutes=Decimal(4320))
    pooled = pool([a, b])
    assert (pooled.days, pooled.minutes, pooled.rewards) == (2, 2880, 4)
    assert pooled.avg_capital == 2  # (1 x 1440 + 3 x 1440) / 2880

"""Tick arithmetic, the fill model's touch, and configuration validation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from dualmm.config import (
    LiquidationConfig,
    OrchestratorConfig,
    describe_validation_error,
)
from dualmm.domain.fillmodel import price_on_placement, resting_fills
from dualmm.domain.prices import (
    VALID_TICKS,
    Rounding,
    best_bid_ask,
    check_tick,
    is_on_tick,
    round_size,
    round_to_tick,
    to_valid_price,
)
from dualmm.domain.types import Side, Stage


@pytest.mark.parametrize(
    ("price", "tick", "mode", "expected"),
    [
        ("0.545", "0.01", Rounding.NEAREST, "0.54"),  # ties to even
        ("0.555", "0.01", Rounding.NEAREST, "0.56"),
        ("0.5449", "0.01", Rounding.UP, "0.55"),
        ("0.5451", "0.01", Rounding.DOWN, "0.54"),
        ("0.5574", "0.005", Rounding.NEAREST, "0.555"),
        ("0.5301", "0.0025", Rounding.UP, "0.5325"),
        ("0.04", "0.1", Rounding.NEAREST, "0.0"),
    ],
)
def test_round_to_tick(price: str, tick: str, mode: Rounding, expected: str) -> None:
    assert round_to_tick(D(price), D(tick), mode) == D(expected)


def test_to_valid_price_clamps_into_the_band() -> None:
    assert to_valid_price(D("0.04"), D("0.1")) == D("0.1")
    assert to_valid_price(D("0.9999"), D("0.001")) == D("0.999")


def test_unknown_tick_rejected() -> None:
    assert check_tick(D("0.005")) == D("0.005")
    with pytest.raises(ValueError, match="unsupported tick size"):
        check_tick(D("0.02"))


def test_sizes_round_down_to_a_cent_share() -> None:
    assert round_size(D("20.019")) == D("20.01")
    assert round_size(D("-1")) == D("0")


@given(
    st.sampled_from(sorted(VALID_TICKS)),
    st.decimals(min_value=D("-0.5"), max_value=D("1.5"), places=6),
    st.sampled_from(list(Rounding)),
)
def test_valid_prices_are_on_tick_and_in_bounds(tick: D, price: D, mode: Rounding) -> None:
    valid = to_valid_price(price, tick, mode)
    assert is_on_tick(valid, tick) and tick <= valid <= 1 - tick


@given(
    st.sampled_from(sorted(VALID_TICKS)),
    st.decimals(min_value=D("0.0001"), max_value=D("0.9999"), places=4),
)
def test_touch_brackets_the_midpoint(tick: D, mid: D) -> None:
    assume(tick <= mid <= 1 - tick)  # a midpoint lies between two prices on the book
    bid, ask = best_bid_ask(mid, tick)
    assert is_on_tick(bid, tick) and is_on_tick(ask, tick)
    assert bid < ask
    assert bid <= max(mid, tick) and ask >= min(mid, 1 - tick)


def test_fill_model() -> None:
    bid, ask = D("0.54"), D("0.56")
    assert price_on_placement(Side.SELL, D("0.52"), bid, ask) == bid  # crosses: the touch
    assert price_on_placement(Side.SELL, D("0.55"), bid, ask) is None  # rests
    assert price_on_placement(Side.BUY, D("0.57"), bid, ask) == ask
    assert resting_fills(Side.SELL, D("0.54"), bid, ask)
    assert not resting_fills(Side.SELL, D("0.55"), bid, ask)
    assert resting_fills(Side.BUY, D("0.56"), bid, ask)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"price_check_interval_ms": 0}, "price_check_interval_ms"),
        ({"timeout_minutes": D(0)}, "timeout_minutes"),
        ({"timeout_minutes": D(-5)}, "timeout_minutes"),
        ({"min_profit_margin": D(1)}, "min_profit_margin"),
        ({"min_profit_margin": D("-0.01")}, "min_profit_margin"),
        ({"max_skew": D("-0.01")}, "max_skew"),
        ({"stop_loss_threshold": D(1)}, "stop_loss_threshold"),
        ({"stop_loss_stage": Stage.SKEWED}, "stop_loss_stage"),
        ({"timeout_stage": Stage.MARKET, "stop_loss_stage": Stage.AGGRESSIVE}, "stop_loss_stage"),
        ({"timeout_stage": Stage.SKEWED}, "timeout_stage"),
        ({"skew_start_minutes": D(-1)}, "skew_start_minutes"),
        ({"skew_per_minute": D("-0.001")}, "skew_per_minute"),
        ({"aggressive_offset": D(1)}, "aggressive_offset"),
        ({"market_offset": D("-0.05")}, "market_offset"),
    ],
)
def test_liquidation_config_rejects_nonsense_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        LiquidationConfig.model_validate(kwargs)
    assert describe_validation_error(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"liquidity_budget": D(0)}, "liquidity_budget"),
        ({"market_maker": {"position_limit": D(0)}}, "market_maker.position_limit"),
        ({"market_maker": {"spread_fraction": D("1.5")}}, "market_maker.spread_fraction"),
        ({"market_maker": {"quote_interval_ms": 0}}, "market_maker.quote_interval_ms"),
        ({"liquidation": {"max_skew": D("-0.01")}}, "liquidation.max_skew"),
    ],
)
def test_orchestrator_config_names_the_nested_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OrchestratorConfig.model_validate(kwargs)
    assert describe_validation_error(caught.value).startswith(f"{field}: ")


def test_seed_defaults() -> None:
    config = LiquidationConfig()
    assert (config.min_profit_margin, config.skew_start_minutes) == (D("0.01"), D(5))
    assert (config.skew_per_minute, config.max_skew) == (D("0.002"), D("0.02"))
    assert (config.stop_loss_threshold, config.stop_loss_stage) == (D(-10), Stage.MARKET)
    # 30, not the seed's 60: the walk-forward cannot tell them apart and 30 meets the exit target
    assert (config.timeout_minutes, config.timeout_stage) == (D(30), Stage.AGGRESSIVE)
    assert config.price_check_interval_ms == 30_000
    assert (config.aggressive_offset, config.market_offset) == (D("0.02"), D("0.05"))

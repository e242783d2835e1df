"""The staged liquidation engine: the rules of docs/design.md, table-driven and as properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import (
    LiquidationState,
    RestingOrder,
    decide,
    needs_replace,
    next_boundary,
    next_wake,
    order_key,
    profit_floor,
    resolved_exit,
    skew_amount,
    step,
)
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import VALID_TICKS, best_bid_ask, is_on_tick
from dualmm.domain.types import MarketInfo, MarketSnapshot, OrderIntent, Side, Stage, Token

T0 = datetime(2026, 1, 21, 12, 0, tzinfo=UTC)
CFG = LiquidationConfig(timeout_minutes=D(60))  # the seed's timeout: the worked stages


def snap(mid: str | D, tick: str = "0.01", min_size: str = "5") -> MarketSnapshot:
    t = D(tick)
    bid, ask = best_bid_ask(D(mid), t)
    return MarketSnapshot(
        condition_id="c",
        tick_size=t,
        min_order_size=D(min_size),
        midpoint=D(mid),
        best_bid=bid,
        best_ask=ask,
        at=T0,
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(seconds=round(minutes * 60))


def long(token: Token = Token.YES, qty: str = "20", cost: str = "0.55") -> PositionTracker:
    return PositionTracker.opening(token, D(qty), D(cost))


START = LiquidationState.start("c", T0)


@pytest.mark.parametrize(
    ("label", "position", "mid", "minutes", "stage", "price"),
    [
        # PASSIVE at the midpoint, raised to the floor c + margin = 0.56
        ("passive above floor", long(cost="0.50"), "0.57", 1, Stage.PASSIVE, "0.57"),
        ("passive floor binds", long(), "0.55", 1, Stage.PASSIVE, "0.56"),
        ("passive ties to even", long(cost="0.40"), "0.545", 1, Stage.PASSIVE, "0.54"),
        # SKEWED 0.002/min after 5 min: at 7.5 min skew 0.005, 0.53 - 0.005 = 0.525 -> 0.52
        ("skewed", long(cost="0.50"), "0.53", 7.5, Stage.SKEWED, "0.52"),
        ("skew capped at 0.02", long(cost="0.30"), "0.53", 59, Stage.SKEWED, "0.51"),
        # AGGRESSIVE bypasses the floor: 0.545 - 0.02 rounded down
        ("timeout aggressive", long(), "0.545", 60, Stage.AGGRESSIVE, "0.52"),
        # MARKET: min(best bid 0.43, 0.44 - 0.05) rounded down
        ("stop-loss market", long(qty="100"), "0.44", 30, Stage.MARKET, "0.39"),
        # held NO: mid_held = 1 - 0.40 = 0.60, floor 0.56
        ("held NO passive", long(Token.NO), "0.40", 1, Stage.PASSIVE, "0.60"),
        ("held NO aggressive", long(Token.NO), "0.40", 61, Stage.AGGRESSIVE, "0.58"),
        # then clamp into [tick, 1 - tick]: MARKET min(0.02, 0.03 - 0.05) -> 0.01
        (
            "market clamped to the tick",
            long(qty="100", cost="0.20"),
            "0.03",
            1,
            Stage.MARKET,
            "0.01",
        ),
        ("floor clamped to 1 - tick", long(cost="0.995"), "0.98", 1, Stage.PASSIVE, "0.99"),
    ],
)
def test_stage_and_price(
    label: str, position: PositionTracker, mid: str, minutes: float, stage: Stage, price: str
) -> None:
    decision = decide(START, position, snap(mid), at(minutes), CFG)
    assert decision.state.stage is stage, label
    assert decision.order == OrderIntent(
        token=position.held_token, side=Side.SELL, price=D(price), size=position.held_qty
    ), label


def test_market_stage_uses_best_bid_when_it_is_lower() -> None:
    market = snap("0.50").model_copy(update={"best_bid": D("0.40")})
    decision = decide(START.with_manual_exit(), long(), market, at(1), CFG)
    assert decision.state.stage is Stage.MARKET
    assert decision.order is not None and decision.order.price == D("0.40")


def test_market_stage_for_no_uses_the_no_best_bid() -> None:
    # a NO bid is a YES ask: NO best bid = 1 - 0.60 = 0.40, below 1 - 0.50 - 0.05 = 0.45
    market = snap("0.50").model_copy(update={"best_ask": D("0.60")})
    decision = decide(START.with_manual_exit(), long(Token.NO), market, at(1), CFG)
    assert decision.order is not None
    assert (decision.order.token, decision.order.price) == (Token.NO, D("0.40"))


def test_floor_rounds_up_to_the_tick() -> None:
    assert profit_floor(D("0.5512"), D("0.01"), CFG) == D("0.57")
    assert profit_floor(D("0.5512"), D("0.005"), CFG) == D("0.565")


def test_a_floor_above_one_minus_tick_is_reported_unreachable() -> None:
    decision = decide(START, long(cost="0.995"), snap("0.98"), at(1), CFG)
    assert decision.order is not None and decision.order.price == D("0.99")
    assert "profit floor 1.01 is unreachable" in decision.reason
    assert "resting at the profit floor" not in decision.reason
    reachable = decide(START, long(), snap("0.55"), at(1), CFG)
    assert reachable.reason.endswith("resting at the profit floor 0.56")


def test_no_floor_when_blocking_is_off() -> None:
    config = LiquidationConfig(block_losing_quotes=False)
    decision = decide(START, long(), snap("0.50"), at(1), config)
    assert decision.order is not None and decision.order.price == D("0.50")


def test_stop_loss_disabled_does_not_fire() -> None:
    config = LiquidationConfig(stop_loss_enabled=False)
    decision = decide(START, long(qty="100"), snap("0.20"), at(1), config)
    assert decision.state.stage is Stage.PASSIVE


def test_manual_exit_jumps_to_market_and_is_recorded() -> None:
    decision = decide(START.with_manual_exit(), long(), snap("0.55"), at(2), CFG)
    assert decision.state.stage is Stage.MARKET
    assert decision.state.history[-1].reason == "manual exit"
    assert decision.state.history[-1].at == at(2)


def test_stages_do_not_step_back_when_the_trigger_goes_away() -> None:
    crashed = decide(START, long(qty="100"), snap("0.40"), at(1), CFG)
    assert crashed.state.stage is Stage.MARKET
    recovered = decide(crashed.state, long(qty="100"), snap("0.60"), at(2), CFG)
    assert recovered.state.stage is Stage.MARKET
    assert recovered.reason == "holding MARKET"


def test_flat_and_dust_finish() -> None:
    flat = decide(START, PositionTracker(), snap("0.5"), at(1), CFG)
    assert flat.finished and not flat.dust and flat.order is None
    dust = decide(START, long(qty="4.99"), snap("0.5"), at(1), CFG)
    assert dust.finished and dust.dust and dust.order is None


def test_size_rounds_down_to_a_cent_share() -> None:
    decision = decide(START, long(qty="20.019"), snap("0.6"), at(1), CFG)
    assert decision.order is not None and decision.order.size == D("20.01")


def test_boundaries_fire_on_time() -> None:
    assert next_boundary(START, T0, CFG) == at(5)
    assert next_wake(START, at(4.75), CFG) == at(5)  # not 30 s later
    skewed = START.model_copy(update={"stage": Stage.SKEWED})
    assert next_boundary(skewed, at(5), CFG) == at(60)
    aggressive = START.model_copy(update={"stage": Stage.AGGRESSIVE})
    assert next_boundary(aggressive, at(61), CFG) is None
    assert next_wake(aggressive, at(61), CFG) == at(61.5)


def test_needs_replace_only_on_price_or_size_change() -> None:
    resting = RestingOrder(order_id="o", token=Token.YES, price=D("0.56"), size=D("20"))
    same = OrderIntent(token=Token.YES, side=Side.SELL, price=D("0.56"), size=D("20"))
    assert not needs_replace(resting, same)
    assert needs_replace(resting, same.model_copy(update={"price": D("0.55")}))
    assert needs_replace(resting, same.model_copy(update={"size": D("15")}))
    assert needs_replace(None, same)
    assert needs_replace(resting, None)
    assert not needs_replace(None, None)


def test_step_places_with_fresh_keys_and_cancels_the_old_order() -> None:
    first = step(START, long(), None, snap("0.55"), T0, CFG)
    assert first.cancel is None and first.place is not None
    assert first.place_key == order_key(START)
    assert first.state.orders_placed == 1
    resting = RestingOrder(order_id="o1", token=Token.YES, price=D("0.56"), size=D("20"))
    unchanged = step(first.state, long(), resting, snap("0.55"), at(0.5), CFG)
    assert unchanged.place is None and unchanged.cancel is None
    repriced = step(first.state, long(cost="0.40"), resting, snap("0.60"), at(1), CFG)
    assert repriced.cancel == "o1" and repriced.place is not None
    assert repriced.place_key != first.place_key


def test_partial_fill_shrinks_the_position_and_the_order_alike_so_nothing_is_replaced() -> None:
    first = step(START, long(), None, snap("0.55"), T0, CFG)
    # 8 of the 20 filled: 12 left in the position and on the book, same price
    partly = RestingOrder(order_id="o1", token=Token.YES, price=D("0.56"), size=D("12"))
    plan = step(first.state, long(qty="12"), partly, snap("0.55"), at(1), CFG)
    assert plan.place is None and plan.cancel is None


def test_step_while_paused_cancels_and_places_nothing() -> None:
    resting = RestingOrder(order_id="o1", token=Token.YES, price=D("0.56"), size=D("20"))
    plan = step(START.with_paused(True), long(), resting, snap("0.55"), at(1), CFG)
    assert plan.cancel == "o1" and plan.place is None and not plan.finished


def test_step_finishing_cancels_what_rests() -> None:
    resting = RestingOrder(order_id="o1", token=Token.YES, price=D("0.56"), size=D("2"))
    plan = step(START, long(qty="2"), resting, snap("0.55"), at(1), CFG)
    assert plan.finished and plan.cancel == "o1" and plan.decision.dust


# ---- properties -------------------------------------------------------------------------

ticks = st.sampled_from(sorted(VALID_TICKS))
prices = st.decimals(min_value=D("0.01"), max_value=D("0.99"), places=4)
quantities = st.decimals(min_value=D("5"), max_value=D("5000"), places=4)  # rounds down
minutes_st = st.integers(min_value=0, max_value=180 * 60).map(lambda s: s / 60)
# (timeout stage, stop-loss stage): the stop-loss never triggers an earlier stage
stage_pairs = st.sampled_from(
    [
        (Stage.AGGRESSIVE, Stage.AGGRESSIVE),
        (Stage.AGGRESSIVE, Stage.MARKET),
        (Stage.MARKET, Stage.MARKET),
    ]
)


@st.composite
def configs(draw: st.DrawFn) -> LiquidationConfig:
    timeout_stage, stop_loss_stage = draw(stage_pairs)
    return LiquidationConfig(
        min_profit_margin=draw(st.decimals(min_value=D(0), max_value=D("0.1"), places=3)),
        # minutes with a fraction, so boundaries fall between whole seconds too
        skew_start_minutes=draw(st.decimals(min_value=D(0), max_value=D(30), places=3)),
        skew_per_minute=draw(st.decimals(min_value=D(0), max_value=D("0.01"), places=4)),
        max_skew=draw(st.decimals(min_value=D(0), max_value=D("0.1"), places=3)),
        stop_loss_enabled=draw(st.booleans()),
        stop_loss_threshold=draw(st.integers(-50, 0).map(D)),
        stop_loss_stage=stop_loss_stage,
        timeout_minutes=draw(st.decimals(min_value=D("0.01"), max_value=D(120), places=3)),
        timeout_stage=timeout_stage,
        block_losing_quotes=draw(st.booleans()),
    )


def market_for(mid: D, tick: D) -> MarketSnapshot:
    """A book around `mid`; a midpoint need not be on the tick (it is often a half tick)."""
    return snap(min(max(mid, tick), 1 - tick), str(tick), "5")


@settings(max_examples=300, deadline=None)
@given(
    ticks,
    prices,
    prices,
    quantities,
    st.sampled_from(list(Token)),
    minutes_st,
    configs(),
    st.booleans(),
)
def test_orders_are_on_tick_in_bounds_and_never_oversized(
    tick: D,
    mid: D,
    cost: D,
    qty: D,
    token: Token,
    minutes: float,
    config: LiquidationConfig,
    manual: bool,
) -> None:
    state = START.with_manual_exit() if manual else START
    position = long(token, str(qty), str(cost))
    decision = decide(state, position, market_for(mid, tick), at(minutes), config)
    order = decision.order
    assert order is not None
    assert is_on_tick(order.price, tick)
    assert tick <= order.price <= 1 - tick
    assert order.size <= position.held_qty
    assert order.size % D("0.01") == 0 and position.held_qty - order.size < D("0.01")
    assert order.side is Side.SELL and order.token is token


@settings(max_examples=300, deadline=None)
@given(ticks, prices, prices, quantities, minutes_st, configs())
def test_passive_and_skewed_never_below_the_floor(
    tick: D, mid: D, cost: D, qty: D, minutes: float, config: LiquidationConfig
) -> None:
    config = config.model_copy(update={"block_losing_quotes": True})
    decision = decide(
        START, long(qty=str(qty), cost=str(cost)), market_for(mid, tick), at(minutes), config
    )
    assert decision.order is not None
    if decision.state.stage in (Stage.PASSIVE, Stage.SKEWED):
        floor = min(profit_floor(D(cost), tick, config), 1 - tick)
        assert decision.order.price >= floor


@given(configs(), minutes_st, minutes_st)
def test_skew_is_non_decreasing_and_capped(config: LiquidationConfig, a: float, b: float) -> None:
    early, late = sorted((D(str(a)), D(str(b))))
    assert skew_amount(early, config) <= skew_amount(late, config) <= config.max_skew
    assert skew_amount(early, config) >= 0


@settings(max_examples=200, deadline=None)
@given(configs(), st.lists(st.tuples(prices, st.integers(1, 600)), min_size=1, max_size=25))
def test_stages_never_step_back(config: LiquidationConfig, path: list[tuple[D, int]]) -> None:
    state, now, position = START, T0, long(qty="100")
    for mid, gap in path:
        now += timedelta(seconds=gap)
        decision = decide(state, position, market_for(mid, D("0.01")), now, config)
        assert decision.state.stage.rank >= state.stage.rank
        state = decision.state


@settings(max_examples=300, deadline=None)
@given(prices, prices, quantities, minutes_st, configs(), st.sampled_from(list(Stage)))
def test_stop_loss_always_wins(
    mid: D, cost: D, qty: D, minutes: float, config: LiquidationConfig, reached: Stage
) -> None:
    position = long(qty=str(qty), cost=str(cost))
    market = market_for(mid, D("0.01"))
    state = START.model_copy(update={"stage": reached})
    decision = decide(state, position, market, at(minutes), config)
    if config.stop_loss_enabled and position.unrealized_pnl(market.midpoint) < (
        config.stop_loss_threshold
    ):
        assert decision.state.stage is reached.escalate_to(config.stop_loss_stage)
        if reached.rank < config.stop_loss_stage.rank:
            assert decision.reason.startswith("stop-loss")


@settings(max_examples=200, deadline=None)
@given(configs())
def test_stages_change_exactly_at_the_boundaries(config: LiquidationConfig) -> None:
    """Time alone moves the stage at `next_boundary`, not a second earlier nor later."""
    config = config.model_copy(update={"stop_loss_enabled": False})
    state, now, position, market = START, T0, long(), snap("0.55")
    state = decide(state, position, market, now, config).state  # a zero skew start is due now
    while (boundary := next_boundary(state, now, config)) is not None:
        assert boundary > now
        before = decide(state, position, market, boundary - timedelta(seconds=1), config)
        assert before.state.stage is state.stage
        assert next_wake(state, boundary - timedelta(seconds=1), config) <= boundary
        reached = decide(state, position, market, boundary, config)
        assert reached.state.stage.rank > state.stage.rank
        state, now = reached.state, boundary
    assert state.stage is config.timeout_stage


def test_flat_is_not_finished_while_a_trade_may_still_fail() -> None:
    """The chaos run: a liquidation's SELL matched, the run closed flat, then the trade FAILED
    and the venue handed 20 shares back to nobody. It waits for settlement instead."""
    waiting = decide(START, PositionTracker(), snap("0.5"), at(1), CFG, unsettled=1)
    assert not waiting.finished and waiting.order is None
    assert waiting.reason == "flat; waiting for 1 trade(s) to settle"
    plan = step(START, PositionTracker(), None, snap("0.5"), at(1), CFG, unsettled=1)
    assert not plan.finished and plan.place is None and plan.wake_at > at(1)
    assert step(START, PositionTracker(), None, snap("0.5"), at(1), CFG).finished


def test_dust_is_not_finished_while_a_trade_may_still_fail() -> None:
    """A sell that left dust may still FAIL and hand its shares back: the dust waits too."""
    dust = long(qty="3")
    waiting = decide(START, dust, snap("0.5"), at(1), CFG, unsettled=1)
    assert not waiting.finished and waiting.order is None
    assert waiting.reason == "dust 3; waiting for 1 trade(s) to settle"
    assert decide(START, dust, snap("0.5"), at(1), CFG).dust


def test_a_resolution_values_what_is_held_at_its_payout() -> None:
    market = MarketInfo(
        condition_id="0xc",
        question="",
        yes_token_id="11",
        no_token_id="22",
        tick_size=D("0.01"),
        min_order_size=D(5),
    )
    # 30 YES at 0.60 and 10 NO at 0.30, 2 USDC realized before: 10 pairs redeem for 1 either way.
    position = PositionTracker(
        yes_qty=D(30), yes_cost=D(18), no_qty=D(10), no_cost=D(3), realized_pnl=D(2)
    )
    assert resolved_exit(position, market, None) is None
    yes = resolved_exit(
        position, market, MarketResolution(winning_asset_id="11", winning_outcome="Yes")
    )
    no = resolved_exit(
        position, market, MarketResolution(winning_asset_id="22", winning_outcome="No")
    )
    assert yes is not None and no is not None
    assert (yes.winner, yes.payout, yes.pnl) == (Token.YES, D(30), D(11))
    assert (no.winner, no.payout, no.pnl) == (Token.NO, D(10), D(-9))
    assert "YES won" in yes.reason and "await redemption for 30 USDC" in yes.reason
    # A winner the market does not list: nothing assumed paid (the worst case).
    odd = resolved_exit(
        position, market, MarketResolution(winning_asset_id="99", winning_outcome="?")
    )
    assert odd is not None and (odd.winner, odd.payout, odd.pnl) == (None, D(0), D(-19))


def test_a_resolution_waits_for_the_trades_that_may_still_fail() -> None:
    market = MarketInfo(
        condition_id="0xc",
        yes_token_id="11",
        no_token_id="22",
        tick_size=D("0.01"),
        min_order_size=D(5),
    )
    position = PositionTracker(yes_qty=D(20), yes_cost=D(11))
    resolution = MarketResolution(winning_asset_id="11", winning_outcome="Yes")
    waiting = resolved_exit(position, market, resolution, unsettled=2)
    assert waiting is not None and waiting.waiting
    assert "waiting for 2 trade(s) to settle" in waiting.reason
    done = resolved_exit(position, market, resolution, unsettled=0)
    assert done is not None and not done.waiting and done.pnl == D(9)

"""`dualmm.domain.rotation`: when the active round gives way to a better market."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dualmm.domain.position import PositionTracker
from dualmm.domain.rewards import MarketEstimate
from dualmm.domain.rotation import (
    NextStep,
    cools_down,
    leaves_for,
    market_to_quote,
    may_leave,
    next_step,
    rerank_due,
    rerank_now,
    switch_to,
)
from dualmm.domain.types import Fill, MarketInfo, Side, Token

MIN = Decimal(5)


def _estimate(cid: str, per_usdc: str) -> MarketEstimate:
    info = MarketInfo(
        condition_id=cid,
        question=cid,
        yes_token_id=f"{cid}-yes",
        no_token_id=f"{cid}-no",
        tick_size=Decimal("0.01"),
        min_order_size=MIN,
        rewards_daily_rate=Decimal(100),
        rewards_max_spread_cents=Decimal(3),
        rewards_min_size=Decimal(10),
    )
    rate = Decimal(per_usdc)
    return MarketEstimate(
        market=info,
        yes_mid=Decimal("0.5"),
        quotes=(),
        q_ours=Decimal(1),
        q_competitors=Decimal(1),
        daily_earnings=rate * 10,
        capital=Decimal(10),
        earnings_per_usdc=rate,
    )


def _holding(qty: str, token: Token = Token.YES) -> PositionTracker:
    if Decimal(qty) == 0:
        return PositionTracker()
    return PositionTracker().apply_fills([_fill(qty, token)])


def _fill(qty: str, token: Token) -> Fill:
    return Fill(
        trade_id=f"t-{qty}-{token}",
        condition_id="x",
        token=token,
        side=Side.BUY,
        price=Decimal("0.5"),
        size=Decimal(qty),
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("since", "minutes", "finished", "due"),
    [
        (0, 15, False, False),
        (899, 15, False, False),
        (900, 15, False, True),
        (0, 15, True, True),  # a liquidation finished: its market may be the best again
        (0, 0, True, True),
        (10**6, 0, False, False),  # 0: no periodic re-rank
    ],
)
def test_rerank_due(since: int, minutes: int, finished: bool, due: bool) -> None:
    assert rerank_due(Decimal(since), minutes, finished) is due


@pytest.mark.parametrize(
    ("position", "leave"),
    [
        (PositionTracker(), True),
        (_holding("4.99"), True),  # below the minimum order: no exit order could be placed
        (_holding("5"), False),
        (_holding("40", Token.NO), False),
    ],
)
def test_may_leave_only_without_a_sellable_position(position: PositionTracker, leave: bool) -> None:
    assert may_leave(position, MIN) is leave


def test_merged_pairs_leave_nothing_to_liquidate() -> None:
    both = _holding("20").apply_fills([_fill("20", Token.NO)])
    assert may_leave(both, MIN)


@pytest.mark.parametrize(
    ("ranked", "active", "margin", "chosen"),
    [
        ([], "a", "0.2", None),
        ([("b", "0.02")], None, "0.2", "b"),  # nothing active: the best (pick_market as before)
        ([("b", "0.02")], "a", "0.2", "b"),  # the active one no longer qualifies
        ([("a", "0.02"), ("b", "0.01")], "a", "0.2", "a"),  # already on the best
        ([("b", "0.012"), ("a", "0.010")], "a", "0.2", "a"),  # 20 % better: not enough
        ([("b", "0.0121"), ("a", "0.010")], "a", "0.2", "b"),
        ([("b", "0.0101"), ("a", "0.010")], "a", "0", "b"),  # no hysteresis
        ([("b", "0.03"), ("c", "0.02"), ("a", "0.01")], "a", "0.2", "b"),
    ],
)
def test_market_to_quote(
    ranked: list[tuple[str, str]], active: str | None, margin: str, chosen: str | None
) -> None:
    estimates = [_estimate(cid, rate) for cid, rate in ranked]
    got = market_to_quote(estimates, active, Decimal(margin))
    assert (got.market.condition_id if got else None) == chosen


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="switch_margin"):
        market_to_quote([_estimate("a", "1")], "a", Decimal(-1))


def test_switch_to_never_leaves_a_sellable_position() -> None:
    ranked = [_estimate("b", "1"), _estimate("a", "0.01")]
    assert switch_to(ranked, "a", _holding("5"), MIN, Decimal(0)) is None
    moved = switch_to(ranked, "a", _holding("1"), MIN, Decimal(0))
    assert moved is not None and moved.market.condition_id == "b"


@pytest.mark.parametrize(
    ("active", "dual", "liquidating", "step"),
    [
        (False, True, False, NextStep.PICK),
        (False, True, True, NextStep.PICK),  # dual: the active role moves on at once
        (True, True, True, NextStep.QUOTE),
        (False, False, False, NextStep.PICK),
        (False, False, True, NextStep.WAIT),  # single: nothing quoted during a liquidation
        (True, False, True, NextStep.WAIT),  # even a round just switched to
        (True, False, False, NextStep.QUOTE),
    ],
)
def test_next_step(active: bool, dual: bool, liquidating: bool, step: NextStep) -> None:
    assert next_step(active, dual, liquidating) is step


def test_a_ranking_runs_only_when_due_and_the_round_could_be_left() -> None:
    assert rerank_now(Decimal(0), 0, True, _holding("1"), MIN)
    assert not rerank_now(Decimal(0), 0, True, _holding("5"), MIN)  # a sellable position
    assert not rerank_now(Decimal(599), 10, False, _holding("1"), MIN)
    assert rerank_now(Decimal(600), 10, False, PositionTracker(), MIN)


def test_a_round_leaves_only_for_another_market_with_nothing_to_sell() -> None:
    assert leaves_for("b", "a", _holding("1"), MIN)
    assert not leaves_for("a", "a", _holding("1"), MIN)
    assert not leaves_for("b", "a", _holding("5"), MIN)  # filled while the ranking ran


_rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1), places=4)


@given(
    rates=st.lists(_rates, min_size=1, max_size=6),
    active=st.integers(min_value=0, max_value=5),
    margin=st.decimals(min_value=0, max_value=Decimal(3), places=2),
    held=st.decimals(min_value=0, max_value=Decimal(20), places=2),
)
def test_switching_properties(
    rates: list[Decimal], active: int, margin: Decimal, held: Decimal
) -> None:
    estimates = sorted(
        (_estimate(f"m{i}", str(r)) for i, r in enumerate(rates)),
        key=lambda e: (-e.earnings_per_usdc, e.market.condition_id),
    )
    active_id = f"m{active}"
    chosen = market_to_quote(estimates, active_id, margin)
    assert chosen is not None
    # Only the active market or the best is ever chosen, and the best whenever it is far enough.
    assert chosen is estimates[0] or chosen.market.condition_id == active_id
    ranked_active = [e for e in estimates if e.market.condition_id == active_id]
    if ranked_active and chosen is not ranked_active[0]:
        assert chosen.earnings_per_usdc > ranked_active[0].earnings_per_usdc * (1 + margin)
    # Hysteresis: having moved, the bot does not move back at the next ranking.
    again = market_to_quote(estimates, chosen.market.condition_id, margin)
    assert again is chosen
    # A move never hands a sellable position to a liquidation.
    moved = switch_to(estimates, active_id, _holding(str(held)), MIN, margin)
    if held >= MIN:
        assert moved is None
    if moved is not None:
        assert moved.market.condition_id != active_id


@pytest.mark.parametrize(
    ("pnl", "minutes", "cool"),
    [("-0.01", 60, True), ("0", 60, False), ("1.5", 60, False), ("-5", 0, False)],
)
def test_only_a_losing_exit_cools_its_market_down(pnl: str, minutes: int, cool: bool) -> None:
    assert cools_down(Decimal(pnl), minutes) is cool

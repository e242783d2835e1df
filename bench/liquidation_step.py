"""Cost of one call of the liquidation engine's `step` (dualmm/domain/liquidation.py).

Run: .venv/bin/python bench/liquidation_step.py
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from timing import machine, median_seconds, micros, table

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState, RestingOrder, step
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketSnapshot, Stage, Token

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = LiquidationConfig()
REPEATS = 7
CALLS = 2_000


def snapshot(mid: str, at: datetime) -> MarketSnapshot:
    return MarketSnapshot(
        condition_id="c",
        tick_size=D("0.01"),
        min_order_size=D(5),
        midpoint=D(mid),
        best_bid=D(mid) - D("0.01"),
        best_ask=D(mid) + D("0.01"),
        at=at,
    )


def main() -> None:
    start = LiquidationState.start("c", T0)
    held = PositionTracker.opening(Token.YES, D(20), D("0.50"))
    resting = RestingOrder(order_id="o1", token=Token.YES, price=D("0.57"), size=D(20))
    cases = [
        # (label, state, position, resting, mid, minutes after the start)
        ("PASSIVE, order already right (hold)", start, held, resting, "0.57", 1),
        ("PASSIVE, first order (place)", start, held, None, "0.57", 1),
        ("SKEWED, price moved (cancel + place)", start, held, resting, "0.53", 7.5),
        ("timeout -> AGGRESSIVE", start, held, resting, "0.55", 61),
        (
            "stop-loss -> MARKET",
            start,
            PositionTracker.opening(Token.YES, D(100), D("0.55")),
            None,
            "0.44",
            2,
        ),
        (
            "dust (finish)",
            start,
            PositionTracker.opening(Token.YES, D(3), D("0.5")),
            None,
            "0.57",
            1,
        ),
        (
            "already MARKET (place)",
            start.model_copy(update={"stage": Stage.MARKET}),
            held,
            None,
            "0.57",
            1,
        ),
    ]
    rows = []
    for label, state, position, order, mid, minutes in cases:
        now = T0 + timedelta(seconds=round(minutes * 60))
        market = snapshot(mid, now)

        def call(state=state, position=position, order=order, market=market, now=now) -> None:
            step(state, position, order, market, now, CONFIG)

        plan = step(state, position, order, market, now, CONFIG)
        outcome = (
            "finish"
            if plan.finished
            else (
                f"{plan.state.stage} {'cancel ' if plan.cancel else ''}"
                f"{'place ' + str(plan.place.price) if plan.place else 'hold'}"
            )
        )
        rows.append([label, outcome, micros(median_seconds(call, REPEATS, CALLS))])
    print(f"liquidation step, median of {REPEATS} x {CALLS} calls; {machine()}")
    print(table(["case", "plan", "µs per step"], rows, labels=2))


if __name__ == "__main__":
    main()

"""Crafted backtest inputs whose figures are worked out by hand in the tests."""

from __future__ import annotations

from typing import Any

from dualmm.backtest.inputs import BacktestInput, from_scenario
from dualmm.scenario import parse_scenario

START = "2026-01-21T12:00:00Z"


def market(
    name: str,
    path: list[list[Any]],
    *,
    rate: str = "120",
    competition: list[list[str]] | None = None,
    position: dict[str, str] | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "condition_id": f"0x{name}",
        "question": f"market {name}",
        "tick_size": "0.01",
        "min_order_size": "5",
        "rewards_daily_rate": rate,
        "rewards_max_spread_cents": "3",
        "rewards_min_size": "50",
        "path": path,
    }
    if competition is not None:
        entry["competition"] = competition
    if position is not None:
        entry["position"] = position
    return entry


def scenario_input(*markets: dict[str, Any]) -> BacktestInput:
    return from_scenario(parse_scenario({"name": "crafted", "start": START, "markets": markets}))


# Quotes at a 0.50 midpoint: BUY YES 0.48 and BUY NO 0.48 (a YES ask at 0.52), 50 shares each.
# At 90 s the midpoint drops to 0.465: the YES ask touch (0.47) is through the YES bid, so the
# book traded through it: 50 fill at 0.48. At 120 s the bot re-quotes around 0.465: YES 0.45.
# At 150 s the midpoint is 0.435 (ask 0.44, through 0.45): 50 more fill at 0.45. At 180 s
# |net| = 100 = the limit: hand-over of 100 YES at an average 0.465. The profit floor
# (0.465 + 0.01 -> 0.48) binds; at 600 s the midpoint is back at 0.50 (bid 0.49) and the SELL
# at 0.48 fills: +1.50, 420 s after the hand-over.
FILL_PATH = [[0, "0.50"], [90, "0.465"], [150, "0.435"], [600, "0.50"], [3600, "0.50"]]

"""`dualmm replay`: the seed examples meet their `expect`, output shapes, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from dualmm.config import LiquidationConfig
from dualmm.replay import market_report, render_timeline, run_replay
from dualmm.scenario import load_scenario, parse_scenario

SCENARIO_DIR = Path(__file__).parent.parent / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.json"))


def dualmm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualmm", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_seed_examples_meet_their_expectations(path: Path) -> None:
    """`dualmm replay --json` itself, on each example, meets the file's `expect`."""
    scenario = load_scenario(path)
    expect = scenario.expect
    result = dualmm("replay", str(path), "--json")
    assert result.returncode == 0, result.stderr
    (market,) = json.loads(result.stdout, parse_float=Decimal)["markets"]
    assert market["status"] == "closed"
    assert market["exit_stage"] == expect["exit_stage"]
    realized = Decimal(market["realized_pnl"])
    assert (realized > 0) if expect["realized_pnl_sign"] == "+" else (realized < 0)
    assert market["exit_seconds"] <= int(expect["max_minutes"]) * 60
    assert Decimal(market["remaining_qty"]) == 0
    # the fills account for the whole position, and P&L is theirs to the cent
    position = scenario.markets[0].position
    assert position is not None
    fills = [(Decimal(f["price"]), Decimal(f["size"])) for f in market["fills"]]
    assert sum(size for _, size in fills) == position.qty
    assert realized == sum((price - position.avg_cost) * size for price, size in fills)


async def test_stop_loss_crash_exits_at_the_touch_when_it_fires() -> None:
    scenario = load_scenario(SCENARIO_DIR / "stop-loss-crash.json")
    (result,) = (await run_replay(scenario, LiquidationConfig())).markets
    market = market_report(result)
    # at 30 min the midpoint is 0.44: unrealized 100 * (0.44 - 0.55) = -11 < -10
    assert market["stages"] == [
        {"stage": "PASSIVE", "at_seconds": 0},
        {"stage": "SKEWED", "at_seconds": 300},
        {"stage": "MARKET", "at_seconds": 1800},
    ]
    assert [(f.at, f.price, f.size) for f in result.fills] == [
        (scenario.at(1800), Decimal("0.43"), Decimal("100"))
    ]
    assert result.realized_pnl == Decimal("-12.00")


async def test_without_the_stop_loss_the_crash_runs_to_the_timeout() -> None:
    scenario = load_scenario(SCENARIO_DIR / "stop-loss-crash.json")
    config = LiquidationConfig(stop_loss_enabled=False, timeout_minutes=Decimal(60))
    (result,) = (await run_replay(scenario, config)).markets
    market = market_report(result)
    assert (market["exit_stage"], market["exit_seconds"]) == ("AGGRESSIVE", 3600)
    assert result.realized_pnl < Decimal("-12.00")  # waiting cost more than the stop-loss


def test_cli_json_shape_and_flags() -> None:
    skewed_exit = SCENARIO_DIR / "skewed-exit.json"
    result = dualmm("replay", str(skewed_exit), "--json", "--liq-skew-start", "10")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert set(output) == {"markets"}
    (market,) = output["markets"]
    assert set(market) == {
        "condition_id", "status", "exit_stage", "exit_seconds", "realized_pnl",
        "remaining_qty", "stages", "orders", "fills",
    }  # fmt: skip
    assert (market["status"], market["exit_stage"]) == ("closed", "SKEWED")
    assert Decimal(market["realized_pnl"]) == Decimal("0.40")
    assert Decimal(market["remaining_qty"]) == 0
    # --liq-skew-start 10 moved the boundary: at 12.5 min the skew is 0.005, 0.525 -> 0.52
    assert market["exit_seconds"] == 750
    assert market["stages"] == [
        {"stage": "PASSIVE", "at_seconds": 0},
        {"stage": "SKEWED", "at_seconds": 600},
    ]
    assert market["orders"] == [
        {"at_seconds": 0, "price": "0.53", "size": "20.00"},
        {"at_seconds": 750, "price": "0.52", "size": "20.00"},
    ]
    assert market["fills"] == [{"at_seconds": 750, "price": "0.52", "size": "20.00"}]


def test_cli_human_timeline() -> None:
    result = dualmm("replay", str(SCENARIO_DIR / "quick-profitable-exit.json"))
    assert result.returncode == 0, result.stderr
    assert "00:03:00  fill   20.00 @ 0.56" in result.stdout
    assert "closed in PASSIVE after 00:03:00, realized P&L 0.20" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"name": "x", "start": "2026-01-01T00:00:00Z", "markets": []}', "markets"),
        (
            '{"name": "x", "start": "2026-01-01T00:00:00Z", "markets": [{"condition_id": "c",'
            ' "tick_size": "0.02", "min_order_size": "5", "path": [[0, "0.5"]]}]}',
            "markets.0.tick_size: unsupported tick size 0.02",
        ),
        (
            '{"name": "x", "start": "2026-01-01T00:00:00Z", "markets": [{"condition_id": "c",'
            ' "tick_size": "0.01", "min_order_size": "5", "path": [[0, "1.2"]]}]}',
            "outside (0, 1)",
        ),
        (
            '{"name": "x", "start": "2026-01-01T00:00:00Z", "markets": [{"condition_id": "c",'
            ' "tick_size": "0.01", "min_order_size": "5", "path": [[60, "0.5"], [0, "0.4"]]}]}',
            "increasing",
        ),
        (
            '{"name": "x", "start": "2026-01-01T00:00:00Z", "markets": [{'
            ' "tick_size": "0.01", "min_order_size": "5", "path": [[0, "0.5"]]}]}',
            "condition_id: Field required",
        ),
        (
            '{"name": "x", "start": "2026-01-01T00:00:00Z", "markets": ['
            ' {"condition_id": "c", "tick_size": "0.01", "min_order_size": "5",'
            ' "path": [[0, "0.5"]]},'
            ' {"condition_id": "c", "tick_size": "0.01", "min_order_size": "5",'
            ' "path": [[0, "0.3"]]}]}',
            "condition_id c appears twice",
        ),
    ],
)
def test_cli_bad_scenario_exits_2_with_one_line(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = dualmm("replay", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_bad_flag_exits_2() -> None:
    result = dualmm("replay", str(SCENARIO_DIR / "skewed-exit.json"), "--liq-check-interval", "0")
    assert result.returncode == 2
    assert result.stderr == (
        "error: liquidation config: --liq-check-interval (price_check_interval_ms): "
        "Input should be greater than 0\n"
    )
    missing = dualmm("replay", "does-not-exist.json")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


async def test_dust_position_ends_at_once_and_says_what_is_left() -> None:
    scenario = parse_scenario(
        {
            "name": "dust",
            "start": "2026-01-01T00:00:00Z",
            "markets": [
                {
                    "condition_id": "c",
                    "tick_size": "0.01",
                    "min_order_size": "5",
                    "path": [[0, "0.5"]],
                    "position": {"held": "NO", "qty": "4.999", "avg_cost": "0.5"},
                }
            ],
        }
    )
    result = await run_replay(scenario, LiquidationConfig())
    (market,) = result.markets
    assert (market.status, market_report(market)["exit_seconds"], market.orders) == ("dust", 0, ())
    assert market.remaining_qty == Decimal("4.999")
    assert "dust in PASSIVE after 00:00:00 (4.999 left, below the minimum order size)" in (
        render_timeline(scenario, result)
    )


async def test_unfilled_liquidation_is_reported_open_at_the_horizon() -> None:
    scenario = parse_scenario(
        {
            "name": "stuck",
            "start": "2026-01-01T00:00:00Z",
            "markets": [
                {
                    "condition_id": "c",
                    "tick_size": "0.01",
                    "min_order_size": "5",
                    "path": [[0, "0.50"]],
                    "position": {"held": "YES", "qty": "20", "avg_cost": "0.55"},
                }
            ],
        }
    )
    # AGGRESSIVE at the midpoint itself never reaches the best bid 0.49.
    config = LiquidationConfig(aggressive_offset=Decimal(0), timeout_minutes=Decimal(60))
    result = await run_replay(scenario, config)
    (market,) = result.markets
    report = market_report(market)
    assert (report["status"], report["exit_stage"], report["exit_seconds"]) == ("open", None, None)
    assert market.remaining_qty == 20 and market.fills == ()
    assert [(o["at_seconds"], o["price"]) for o in report["orders"]] == [  # type: ignore[attr-defined]
        (0, "0.56"),
        (3600, "0.50"),
    ]
    assert "open: 20 still held" in render_timeline(scenario, result)

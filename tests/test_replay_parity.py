"""`dualmm replay` and `dualmm replay --temporal` print the same report for every scenario."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from dualmm.config import LiquidationConfig
from dualmm.replay import run_replay
from dualmm.scenario import load_scenario, parse_scenario
from dualmm.temporal_replay import run_temporal_replay

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.json"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_temporal_replay_matches_the_pure_replay(
    temporal_env: WorkflowEnvironment, path: Path
) -> None:
    scenario = load_scenario(path)
    config = LiquidationConfig()
    pure = await run_replay(scenario, config)
    on_temporal = await run_temporal_replay(scenario, config, env=temporal_env)
    assert on_temporal.to_json() == pure.to_json()
    assert [m.status for m in pure.markets] == ["closed"]


async def test_parity_holds_with_other_settings_and_when_the_replay_gives_up(
    temporal_env: WorkflowEnvironment,
) -> None:
    # No stop-loss, a 45 s check and an AGGRESSIVE price at the midpoint (it never reaches the
    # bid on a flat path): the crash scenario is still open at the replay horizon, so both stop
    # there with the position held.
    scenario = load_scenario(SCENARIOS[0].parent / "stop-loss-crash.json")
    config = LiquidationConfig(
        stop_loss_enabled=False, aggressive_offset=Decimal(0), price_check_interval_ms=45_000
    )
    pure = await run_replay(scenario, config)
    on_temporal = await run_temporal_replay(scenario, config, env=temporal_env)
    assert on_temporal.to_json() == pure.to_json()
    assert [m.status for m in pure.markets] == ["open"]


async def test_parity_holds_for_several_markets(temporal_env: WorkflowEnvironment) -> None:
    # Two liquidations (one of them a NO position) and a market without a position.
    def market(
        name: str, path: list[list[object]], position: dict[str, str] | None
    ) -> dict[str, object]:
        return {
            "condition_id": f"0x{name}",
            "tick_size": "0.01",
            "min_order_size": "5",
            "path": path,
            **({"position": position} if position else {}),
        }

    scenario = parse_scenario(
        {
            "name": "several",
            "start": "2026-01-21T12:00:00Z",
            "markets": [
                market(
                    "aa",
                    [[0, "0.40"], [400, "0.36"]],
                    {"held": "NO", "qty": "30", "avg_cost": "0.58"},
                ),
                market("bb", [[0, "0.50"]], None),
                market(
                    "cc",
                    [[0, "0.55"], [90, "0.60"]],
                    {"held": "YES", "qty": "12.5", "avg_cost": "0.52"},
                ),
            ],
        }
    )
    config = LiquidationConfig()
    pure = await run_replay(scenario, config)
    on_temporal = await run_temporal_replay(scenario, config, env=temporal_env)
    assert on_temporal.to_json() == pure.to_json()
    assert [(m.condition_id, m.status) for m in pure.markets] == [
        ("0xaa", "closed"),
        ("0xcc", "closed"),
    ]

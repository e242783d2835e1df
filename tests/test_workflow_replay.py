"""Recorded LiquidationWorkflow and ActiveMarketWorkflow histories replay without
nondeterminism, and a change that would break the current version's histories is caught.

Fresh runs (a seed scenario, and one driven through every signal and the update) are recorded
and replayed; so are the histories committed under tests/histories/, recorded from the current
code (upgrades across versions follow Worker Versioning: docs/versioning.md). Re-record them
after a deliberate change with DUALMM_RECORD_HISTORIES=1.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from liquidation_harness import one_market, running_liquidation
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from dualmm.scenario import load_scenario
from workflows.active_market import ActiveMarketInput, ActiveMarketResult, ActiveMarketWorkflow
from workflows.liquidation import LiquidationInput, LiquidationResult, LiquidationWorkflow

HISTORIES = Path(__file__).parent / "histories"
SCENARIOS = Path(__file__).parent.parent / "scenarios"


def replayer() -> Replayer:
    return Replayer(workflows=[LiquidationWorkflow], data_converter=pydantic_data_converter)


async def record_seed_scenario(env: WorkflowEnvironment, task_queue: str) -> WorkflowHistory:
    scenario = load_scenario(SCENARIOS / "skewed-exit.json")
    async with running_liquidation(env, task_queue, scenario) as run:
        await run.handle.result()
    return await run.handle.fetch_history()


async def record_signalled_run(env: WorkflowEnvironment, task_queue: str) -> WorkflowHistory:
    scenario = one_market([(0, "0.545"), (600, "0.55"), (7200, "0.55")])
    async with running_liquidation(env, task_queue, scenario) as run:
        await run.wait_status(lambda s: s.order is not None)
        await run.handle.execute_update(LiquidationWorkflow.set_config, {"max_skew": "0.03"})
        await run.handle.signal(LiquidationWorkflow.pause)
        await run.wait_status(lambda s: s.paused and s.order is None)
        await env.sleep(timedelta(minutes=1))
        await run.handle.signal(LiquidationWorkflow.resume)
        await run.wait_status(lambda s: not s.paused and s.order is not None)
        await run.handle.signal(LiquidationWorkflow.force_exit)
        await run.handle.result()
    return await run.handle.fetch_history()


async def test_fresh_histories_replay(temporal_env: WorkflowEnvironment, task_queue: str) -> None:
    recorded = {
        "skewed-exit": await record_seed_scenario(temporal_env, f"{task_queue}-seed"),
        "signals-and-update": await record_signalled_run(temporal_env, f"{task_queue}-signals"),
    }
    for name, history in recorded.items():
        result = await replayer().replay_workflow(history)
        assert result.replay_failure is None, name
        if os.environ.get("DUALMM_RECORD_HISTORIES"):
            HISTORIES.mkdir(exist_ok=True)
            (HISTORIES / f"liquidation-{name}.json").write_text(history.to_json())


async def test_a_check_syncs_in_a_local_activity(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A check is one workflow task: its sync is a local activity (a marker), not an activity
    task and a second workflow task; placements stay ordinary activities."""
    history = await record_seed_scenario(temporal_env, task_queue)
    converter = pydantic_data_converter.payload_converter
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    local = [
        converter.from_payload(event.marker_recorded_event_attributes.details["data"].payloads[0])
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]
    timers = sum(event.HasField("timer_fired_event_attributes") for event in history.events)
    assert not {"liquidation_sync_market", "liquidation_sync_position"} & set(scheduled)
    assert "liquidation_place_order" in scheduled
    syncs = [m for m in local if m["activity_type"] == "liquidation_sync_position"]
    assert len(syncs) >= timers > 0  # every wake-up synced


COMMITTED = sorted(HISTORIES.glob("liquidation-*.json"))
BOT_HISTORIES = sorted(HISTORIES.glob("active-market-*.json"))


def load_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_histories_are_committed() -> None:
    assert len(COMMITTED) >= 2
    assert len(BOT_HISTORIES) >= 1  # recorded by the liquidate-all dev-server test


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
async def test_committed_history_replays(path: Path) -> None:
    await replayer().replay_workflow(load_history(path))


@workflow.defn(name="LiquidationWorkflow", sandboxed=False)
class DriftedLiquidation:
    """An incompatible edit: it sleeps before its first check."""

    @workflow.run
    async def run(self, input: LiquidationInput) -> LiquidationResult:
        await workflow.sleep(timedelta(seconds=1))
        raise AssertionError("replay should have failed before this")


async def test_an_incompatible_change_is_caught() -> None:
    drifted = Replayer(workflows=[DriftedLiquidation], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await drifted.replay_workflow(load_history(COMMITTED[0]))


@pytest.mark.parametrize("path", BOT_HISTORIES, ids=[p.stem for p in BOT_HISTORIES])
async def test_committed_bot_history_replays(path: Path) -> None:
    bot_replayer = Replayer(
        workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
        data_converter=pydantic_data_converter,
    )
    await bot_replayer.replay_workflow(load_history(path))


@workflow.defn(name="ActiveMarketWorkflow", sandboxed=False)
class DriftedActiveMarket:
    """An incompatible edit of the bot: it sleeps before choosing a market."""

    @workflow.run
    async def run(self, request: ActiveMarketInput) -> ActiveMarketResult:
        await workflow.sleep(timedelta(seconds=1))
        raise AssertionError("replay should have failed before this")


async def test_an_incompatible_change_to_the_bot_is_caught() -> None:
    drifted = Replayer(
        workflows=[DriftedActiveMarket, LiquidationWorkflow], data_converter=pydantic_data_converter
    )
    with pytest.raises(NondeterminismError):
        await drifted.replay_workflow(load_history(BOT_HISTORIES[0]))


@pytest.mark.parametrize("path", COMMITTED + BOT_HISTORIES, ids=lambda p: p.stem)
def test_committed_histories_carry_no_patch_marker(path: Path) -> None:
    """Upgrades follow worker versioning, not `workflow.patched`: no history records a patch."""
    assert '"core_patch"' not in path.read_text()

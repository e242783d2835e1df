"""Metrics through the Temporal runtime's meter, read back from an in-memory buffer: a
liquidation produces stage, order, fill, venue-latency and P&L metrics (workflow-side ones
through the replay-safe workflow meter, activity-side ones from the metered exchange)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

import dualmm.temporal_replay as temporal_replay
from dualmm.config import LiquidationConfig
from dualmm.metrics import metered
from dualmm.scenario import load_scenario
from dualmm.temporal_bin import TEST_SERVER, temporal_binary

SDK_LABELS = {"namespace", "task_queue", "workflow_type", "activity_type", "service_name"}
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


async def test_a_liquidation_records_stage_order_and_pnl_metrics(monkeypatch: Any) -> None:
    buffer = MetricBuffer(100_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    # The replay's worker trades through the same metered exchange as `dualmm worker`.
    real_worker = temporal_replay.liquidation_worker
    monkeypatch.setattr(
        temporal_replay,
        "liquidation_worker",
        lambda client, venue, exchange, queue, workflow_class: real_worker(
            client, venue, metered(exchange), queue, workflow_class
        ),
    )
    scenario = load_scenario(SCENARIOS / "stop-loss-crash.json")
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        runtime=runtime,
        test_server_existing_path=temporal_binary(TEST_SERVER),
    ) as env:
        result = await temporal_replay.run_temporal_replay(scenario, LiquidationConfig(), env)

    seen: dict[str, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    for update in buffer.retrieve_updates():
        seen[update.metric.name].append((update.value, dict(update.attributes)))
    (market,) = result.markets
    stages = {attrs["stage"] for _, attrs in seen["dualmm_liquidation_stage_transitions"]}
    assert "MARKET" in stages  # the stop-loss fired
    assert sum(v for v, _ in seen["dualmm_orders_placed"]) == len(market.orders)
    assert {attrs["side"] for _, attrs in seen["dualmm_orders_placed"]} == {"SELL"}
    assert seen["dualmm_fills"], "no fill counted"
    assert {a["op"] for _, a in seen["dualmm_venue_latency"]} >= {"place_order", "fills"}
    finished = seen["dualmm_liquidations_finished"]
    assert [(v, a["outcome"], a["exit_stage"]) for v, a in finished] == [
        (1, market.status, "MARKET")
    ]
    (duration, _), *_ = seen["dualmm_liquidation_duration"]
    assert duration == market.duration_seconds

    def last(name: str) -> float:
        values = [v for v, a in seen[name] if a["market"] == market.condition_id]
        assert values, name
        return float(values[-1])

    # The stop-loss sold at a loss: realized = profit - loss, and it was under water before.
    assert last("dualmm_realized_profit") - last("dualmm_realized_loss") == float(
        market.realized_pnl
    )
    assert market.realized_pnl < 0
    assert max(v for v, _ in seen["dualmm_unrealized_loss"]) > 0
    # Labels are ids, sides, stages and kinds (plus the SDK's own): no price, size or key.
    labels = {
        k
        for name, updates in seen.items()
        if name.startswith("dualmm_")
        for _, attrs in updates
        for k in attrs
    }
    assert (
        labels <= {"market", "stage", "side", "op", "kind", "outcome", "exit_stage"} | SDK_LABELS
    ), labels

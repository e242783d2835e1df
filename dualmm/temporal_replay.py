"""`dualmm replay --temporal`: a scenario through the real LiquidationWorkflow and activities.

Each market with a starting position runs on Temporal's time-skipping test server against its
own scenario SimVenue, and the workflow's result becomes the same `MarketReplay` the pure
replay prints. The test server's clock starts at the real time and only moves forward, so
each market's scenario is moved to start a little after the server's current time; reports
count whole seconds from the start, so nothing else changes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.liquidation import LiquidationActivities
from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState
from dualmm.exchange.base import Exchange
from dualmm.replay import (
    REPLAY_WALLET,
    MarketReplay,
    ReplayResult,
    market_replay,
    opening_position,
    replay_horizon,
)
from dualmm.scenario import Scenario, ScenarioMarket
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from dualmm.temporal_bin import TEST_SERVER, temporal_binary
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationInput, LiquidationResult, LiquidationWorkflow

# Room between the server's clock and the moved scenario start: the workflow's first check
# waits on a timer for the start, so it never runs early however slow the worker is to start.
START_LEAD = timedelta(minutes=1)


async def run_temporal_replay(
    scenario: Scenario, config: LiquidationConfig, env: WorkflowEnvironment | None = None
) -> ReplayResult:
    """Replay every market with a starting position through LiquidationWorkflow, in turn.

    `env` must be a time-skipping environment with the pydantic data converter; by default
    one is started (from the installed test-server binary) and shut down afterwards.
    """
    if env is not None:
        return await _replay_all(env, scenario, config)
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
        test_server_existing_path=temporal_binary(TEST_SERVER),
    ) as started:
        return await _replay_all(started, scenario, config)


def _quiet_runtime() -> Runtime:
    """Core errors only, through Python logging (stderr): stdout carries the report.

    (The test server does not advertise every capability the core asks about; it warns.)
    """
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    return Runtime(telemetry=TelemetryConfig(logging=logging_config))


async def _replay_all(
    env: WorkflowEnvironment, scenario: Scenario, config: LiquidationConfig
) -> ReplayResult:
    results = []
    for market in scenario.markets:
        if market.position is not None:
            start = (await env.get_current_time()).replace(microsecond=0) + START_LEAD
            moved = scenario.model_copy(update={"start": start})
            results.append(await _replay_market(env.client, moved, market, config))
    return ReplayResult(markets=tuple(results))


def scenario_venue(
    scenario: Scenario, market: ScenarioMarket, fill_cap: Decimal | None = None
) -> SimVenue:
    """A venue on the scenario's paths with the market's starting position in REPLAY_WALLET."""
    venue = SimVenue.from_scenario(scenario, fill_cap=fill_cap)
    venue.ensure_wallet(REPLAY_WALLET)
    if market.position is not None:
        token_id = market.info().token_id(market.position.held)
        venue.credit(REPLAY_WALLET, token_id, market.position.qty)
    return venue


def liquidation_worker(
    client: Client, venue: SimVenue, exchange: Exchange, task_queue: str
) -> Worker:
    """A worker for LiquidationWorkflow whose activities trade through `exchange` (a wallet on
    `venue`), the venue's clock following the workflow's check times."""
    activities = LiquidationActivities(exchange, before_sync=venue.advance_to)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[LiquidationWorkflow],
        activities=[
            activities.sync_position,
            activities.place_order,
            activities.cancel_order,
            activities.merge_pairs,
        ],
    )


async def _replay_market(
    client: Client, scenario: Scenario, market: ScenarioMarket, config: LiquidationConfig
) -> MarketReplay:
    info = market.info()
    task_queue = f"replay-{uuid.uuid4()}"
    venue = scenario_venue(scenario, market)
    exchange = SimExchange(venue, REPLAY_WALLET)
    async with liquidation_worker(client, venue, exchange, task_queue):
        result = await client.execute_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=opening_position(market),
                config=config,
                started_at=scenario.start,
                stop_at=replay_horizon(scenario, market, config),
            ),
            id=f"{liquidation_workflow_id(info.condition_id)}-{task_queue}",
            task_queue=task_queue,
        )
    return replay_of(scenario.start, result)


def replay_of(start: datetime, result: LiquidationResult) -> MarketReplay:
    """The pure replay's report of a workflow's result."""
    state = LiquidationState(
        condition_id=result.condition_id,
        started_at=result.started_at,
        stage=result.exit_stage,
        history=result.stages,
    )
    return market_replay(
        start=start,
        condition_id=result.condition_id,
        status=result.status,
        state=state,
        position=result.position,
        orders=[(order.at, order.price, order.size) for order in result.orders],
        fills=list(result.fills),
        finished_at=None if result.status == "open" else result.finished_at,
    )

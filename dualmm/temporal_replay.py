"""`dualmm replay --temporal`: a scenario through the real LiquidationWorkflow and activities.

Each market with a starting position runs on Temporal's time-skipping test server against its
own scenario SimVenue; the workflow's result is the same LiquidationResult the pure replay
returns, so both print the same report. The test server's clock starts at the real time and
only moves forward, so each market's scenario is moved to start a little after the server's
current time; reports count whole seconds from the start, so nothing else changes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import activity, workflow
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

from activities.liquidation import (
    LiquidationActivities,
    MarketMove,
    MoveWaitRequest,
    PositionSyncRequest,
)
from dualmm.config import LiquidationConfig
from dualmm.exchange.base import Exchange
from dualmm.exchange.sync import PositionSync
from dualmm.replay import REPLAY_WALLET, ReplayResult, opening_position, replay_horizon
from dualmm.scenario import Scenario, ScenarioMarket
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from dualmm.temporal_bin import TEST_SERVER, temporal_binary
from workflows.contracts import LIQUIDATION_WORKFLOW, liquidation_workflow_id
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


class ClockedActivities(LiquidationActivities):
    """The liquidation's activities on a simulated venue whose clock follows the workflow's
    check times: each sync first moves the venue to the check it is for. Nothing moves the
    venue between checks, so nothing is watched there (unless `watch`: a test moves it)."""

    def __init__(self, exchange: Exchange, venue: SimVenue, *, watch: bool = False) -> None:
        super().__init__(exchange)
        self._venue = venue
        self._watch = watch

    @activity.defn(name="liquidation_sync_position")
    async def sync_position(self, request: PositionSyncRequest) -> PositionSync:
        self._venue.advance_to(request.as_of)
        return await super().sync_position(request)

    def watches(self) -> bool:
        return self._watch and super().watches()

    @activity.defn(name="liquidation_wait_for_move")
    async def wait_for_move(self, request: MoveWaitRequest) -> MarketMove:
        if not self._watch:
            return MarketMove(watched=False)
        return await super().wait_for_move(request)


# The replay's horizon travels in the memo: the workflow's input has no place for it.
HORIZON_MEMO = "replay_horizon"


@workflow.defn(name=LIQUIDATION_WORKFLOW, sandboxed=False)
class HorizonLiquidation(LiquidationWorkflow):
    """The LiquidationWorkflow, its time up at the replay's horizon ("open"), as the pure
    replay gives up there. Registered only on the replay's own worker."""

    @workflow.run
    async def run(self, input: LiquidationInput) -> LiquidationResult:
        return await super().run(input)

    async def sleep_until(self, at: datetime) -> datetime | None:  # type: ignore[override]
        horizon = datetime.fromisoformat(workflow.memo_value(HORIZON_MEMO, type_hint=str))
        if at > horizon:
            return None
        return await super().sleep_until(at)


def liquidation_worker(
    client: Client,
    venue: SimVenue,
    exchange: Exchange,
    task_queue: str,
    workflow_class: type[LiquidationWorkflow] = LiquidationWorkflow,
    *,
    watch: bool = False,
) -> Worker:
    """A worker for the liquidation whose activities trade through `exchange` (a wallet on
    `venue`), the venue's clock following the workflow's check times (`watch`: the market is
    watched between checks too, for a caller that moves the venue itself)."""
    activities = ClockedActivities(exchange, venue, watch=watch)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[workflow_class],
        activities=[
            activities.sync_position,
            activities.wait_for_move,
            activities.place_order,
            activities.cancel_order,
            activities.sign_merge,
            activities.merge_pairs,
        ],
    )


async def _replay_market(
    client: Client, scenario: Scenario, market: ScenarioMarket, config: LiquidationConfig
) -> LiquidationResult:
    info = market.info()
    task_queue = f"replay-{uuid.uuid4()}"
    venue = scenario_venue(scenario, market)
    exchange = SimExchange(venue, REPLAY_WALLET)
    horizon = replay_horizon(scenario, market, config)
    async with liquidation_worker(client, venue, exchange, task_queue, HorizonLiquidation):
        return await client.execute_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=opening_position(market),
                config=config,
                started_at=scenario.start,
            ),
            id=f"{liquidation_workflow_id(info.condition_id)}-{task_queue}",
            task_queue=task_queue,
            memo={HORIZON_MEMO: horizon.isoformat()},
        )

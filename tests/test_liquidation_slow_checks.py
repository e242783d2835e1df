"""A slow check: the liquidation replays as it ran, and a cancel during it withdraws its order.

Found by chaos (issue 18). A check's sync is a local activity. When it retries and runs past
the workflow task's heartbeat (80 % of the task timeout), the code that scheduled it ran at one
`workflow.now()` and runs at a later one on replay (the time of the task that recorded its
marker). The check time taken from that clock then differs, and so did what the workflow
decided from it: late or not, sync again or start a timer. The history it wrote failed its own
replay ("Nondeterminism error: Missing associated machine for LocalActivity") and the workflow
was stuck. A real server, a 1 s task timeout and a slow first check make the case, retried
(the check's time comes from its sync's record) or refused (the next check counts from when
the refusal resolved; before, a refused sync even failed the whole liquidation: a local
activity's failure is not an ActivityError)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from liquidation_harness import one_market
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.liquidation import PositionSyncRequest
from dualmm.config import LiquidationConfig
from dualmm.exchange.sync import PositionSync
from dualmm.replay import REPLAY_WALLET, opening_position
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from dualmm.temporal_replay import ClockedActivities, scenario_venue
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationResult, LiquidationWorkflow
from workflows.liquidation_types import LiquidationInput

# The workflow task heartbeats every 0.8 s while a local activity runs.
TASK_TIMEOUT = timedelta(seconds=1)


class CountedChecks(ClockedActivities):
    """The liquidation's activities on a scenario venue; counts the syncs and runs
    `before_sync` before each reads the venue."""

    def __init__(self, exchange: SimExchange, venue: SimVenue) -> None:
        super().__init__(exchange, venue)
        self.venue = venue
        self.syncs = 0

    @activity.defn(name="liquidation_sync_position")
    async def sync_position(self, request: PositionSyncRequest) -> PositionSync:
        self.syncs += 1
        await self.before_sync()
        return await super().sync_position(request)

    async def before_sync(self) -> None:
        pass


class SlowFirstCheck(CountedChecks):
    """The first check's sync runs 2.5 s (three task heartbeats), as a busy venue makes it:
    retried once before (`refused` False) or refused after (non-retryable: the check fails)."""

    def __init__(self, exchange: SimExchange, venue: SimVenue, *, refused: bool) -> None:
        super().__init__(exchange, venue)
        self.refused = refused

    async def before_sync(self) -> None:
        if self.syncs > 2:
            return
        if not self.refused and activity.info().attempt == 1:
            raise RuntimeError("venue busy")
        await asyncio.sleep(2.5)
        if self.refused:
            raise ApplicationError("market not found", non_retryable=True)


class SlowLaterChecks(CountedChecks):
    """Every sync after the first takes 3 s."""

    async def before_sync(self) -> None:
        if self.syncs > 1:
            await asyncio.sleep(3)


@asynccontextmanager
async def still_market_liquidation(
    env: WorkflowEnvironment,
    task_queue: str,
    checks_on: Callable[[SimExchange, SimVenue], CountedChecks],
    task_timeout: timedelta | None = None,
) -> AsyncIterator[tuple[WorkflowHandle[LiquidationWorkflow, LiquidationResult], CountedChecks]]:
    """A liquidation of 20 YES in a market that stays at 0.60, checked every second (a slow
    check has passed the next one's time), its activities `checks_on` the venue."""
    scenario = one_market([(0, "0.60")], qty="20", avg_cost="0.50")
    start = (await env.get_current_time()).replace(microsecond=0)
    scenario = scenario.model_copy(update={"start": start})
    market = scenario.markets[0]
    venue = scenario_venue(scenario, market)
    checks = checks_on(SimExchange(venue, REPLAY_WALLET), venue)
    info = market.info()
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[LiquidationWorkflow],
        activities=[
            checks.sync_position,
            checks.wait_for_move,
            checks.place_order,
            checks.cancel_order,
            checks.sign_merge,
            checks.merge_pairs,
        ],
    ):
        handle = await env.client.start_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=opening_position(market),
                config=LiquidationConfig(price_check_interval_ms=1000),
                started_at=start,
            ),
            id=f"{liquidation_workflow_id(info.condition_id)}-{uuid.uuid4().hex[:6]}",
            task_queue=task_queue,
            task_timeout=task_timeout,
        )
        yield handle, checks


async def until_synced(checks: CountedChecks, syncs: int) -> None:
    async with asyncio.timeout(60):
        while checks.syncs < syncs:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("refused", [False, True], ids=["retried", "refused"])
async def test_a_slow_check_replays_as_it_ran(
    dev_env: WorkflowEnvironment, task_queue: str, refused: bool
) -> None:
    def slow_first(exchange: SimExchange, venue: SimVenue) -> SlowFirstCheck:
        return SlowFirstCheck(exchange, venue, refused=refused)

    async with still_market_liquidation(dev_env, task_queue, slow_first, TASK_TIMEOUT) as (
        handle,
        checks,
    ):
        try:
            await until_synced(checks, 6)
        finally:
            await dev_env.client.get_workflow_handle(handle.id).terminate("the test is done")
    histories = await chain_histories(dev_env, handle)
    assert task_heartbeats(histories[0]) >= 2  # the case is made: the check ran over them
    replayer = Replayer(workflows=[LiquidationWorkflow], data_converter=pydantic_data_converter)
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


async def test_a_cancel_during_a_check_takes_the_order_off_the_book(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with still_market_liquidation(dev_env, task_queue, SlowLaterChecks) as (handle, checks):
        await until_synced(checks, 2)  # the order rests, the second check is under way
        venue = checks.venue
        assert len(venue.open_orders(REPLAY_WALLET)) == 1
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert venue.open_orders(REPLAY_WALLET) == []


def task_heartbeats(history: WorkflowHistory) -> int:
    """Workflow tasks completed with nothing to do but start the next (a local activity runs)."""
    events = [event.event_type for event in history.events]
    return sum(
        1
        for done, following in itertools.pairwise(events)
        if done == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        and following == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    )


async def chain_histories(
    env: WorkflowEnvironment, first: WorkflowHandle[LiquidationWorkflow, LiquidationResult]
) -> list[WorkflowHistory]:
    """The history of every run of the workflow, following continue-as-new."""
    histories = []
    run_id = first.result_run_id
    while run_id is not None:
        history = await env.client.get_workflow_handle(first.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.workflow_execution_continued_as_new_event_attributes
        run_id = continued.new_execution_run_id or None
    return histories

"""Run a LiquidationWorkflow on a small scenario venue and watch it (tests only)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from dualmm.config import LiquidationConfig
from dualmm.exchange.base import Exchange, Order
from dualmm.replay import REPLAY_WALLET, opening_position
from dualmm.scenario import Scenario, parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from dualmm.temporal_replay import liquidation_worker, scenario_venue
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import (
    LiquidationInput,
    LiquidationResult,
    LiquidationStatus,
    LiquidationWorkflow,
)

# How long (real time) a test waits for the workflow to reach a state before failing.
WAIT_LIMIT_SECONDS = 20.0


def one_market(
    path: Sequence[tuple[int, str]],
    *,
    qty: str = "20",
    avg_cost: str = "0.55",
    held: str = "YES",
    min_order_size: str = "5",
) -> Scenario:
    """A one-market scenario with a starting position and a fresh condition id."""
    return parse_scenario(
        {
            "name": "test",
            "start": "2026-01-21T12:00:00Z",
            "markets": [
                {
                    "condition_id": f"0x{uuid.uuid4().hex}",
                    "tick_size": "0.01",
                    "min_order_size": min_order_size,
                    "path": [[t, mid] for t, mid in path],
                    "position": {"held": held, "qty": qty, "avg_cost": avg_cost},
                }
            ],
        }
    )


@dataclass
class Liquidation:
    env: WorkflowEnvironment
    venue: SimVenue
    handle: WorkflowHandle[LiquidationWorkflow, LiquidationResult]
    start: datetime

    async def status(self) -> LiquidationStatus:
        return await self.handle.query(LiquidationWorkflow.status)

    async def wait_status(self, until: Callable[[LiquidationStatus], bool]) -> LiquidationStatus:
        """Poll the status query until `until` holds (fails after WAIT_LIMIT_SECONDS)."""
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            while True:
                status = await self.status()
                if until(status):
                    return status
                await asyncio.sleep(0.05)

    def venue_order(self, order_id: str) -> Order:
        order = self.venue.get_order(order_id, REPLAY_WALLET)
        assert order is not None, f"the venue never saw order {order_id}"
        return order

    def open_orders(self) -> list[Order]:
        return self.venue.open_orders(REPLAY_WALLET)

    def seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()


@asynccontextmanager
async def running_liquidation(
    env: WorkflowEnvironment,
    task_queue: str,
    scenario: Scenario,
    *,
    config: LiquidationConfig | None = None,
    fill_cap: Decimal | None = None,
    credit: bool = True,
    exchange: Callable[[SimVenue], Exchange] | None = None,
    search_attributes: TypedSearchAttributes | None = None,
    watch: bool = False,
    **input_fields: Any,
) -> AsyncIterator[Liquidation]:
    """Start the scenario's liquidation at the server's current time, on its own venue.

    `exchange` wraps the venue for the activities (default: a SimExchange of REPLAY_WALLET);
    `watch`: the liquidation watches the market between checks (the test moves the venue).
    The workflow is terminated on exit if it is still running, so none outlives its test.
    """
    start = (await env.get_current_time()).replace(microsecond=0)
    scenario = scenario.model_copy(update={"start": start})
    market = scenario.markets[0]
    if credit:
        venue = scenario_venue(scenario, market, fill_cap)
    else:
        venue = SimVenue.from_scenario(scenario, fill_cap=fill_cap)
        venue.ensure_wallet(REPLAY_WALLET)
    info = market.info()
    trading = exchange(venue) if exchange else SimExchange(venue, REPLAY_WALLET)
    async with liquidation_worker(env.client, venue, trading, task_queue, watch=watch):
        handle = await env.client.start_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=opening_position(market),
                config=config or LiquidationConfig(),
                started_at=start,
                **input_fields,
            ),
            id=liquidation_workflow_id(info.condition_id),
            task_queue=task_queue,
            search_attributes=search_attributes,
        )
        try:
            yield Liquidation(env=env, venue=venue, handle=handle, start=start)
        finally:
            await stop_liquidation(env, handle.id)


async def stop_liquidation(env: WorkflowEnvironment, workflow_id: str) -> None:
    """Cancel a still-running liquidation and wait for its cleanup.

    Not terminate: on the time-skipping server, terminating a workflow whose activity is in
    flight leaves time skipping locked, and every later sleep runs in real time.
    """
    latest = env.client.get_workflow_handle(workflow_id)
    if (await latest.describe()).status is not WorkflowExecutionStatus.RUNNING:
        return
    await latest.cancel()
    try:
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            await latest.result()
    except WorkflowFailureError:
        pass  # cancelled, as asked

"""Upgrades follow Worker Versioning (docs/versioning.md): a liquidation stays pinned to the
worker version that started it while a changed version takes the new ones, side by side on
the dev server; a version's history replays on that version only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from liquidation_harness import one_market
from temporalio import workflow
from temporalio.api.enums.v1 import VersioningBehavior as VersioningBehaviorProto
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig
from temporalio.workflow import NondeterminismError

from dualmm.config import LiquidationConfig
from dualmm.replay import REPLAY_WALLET, opening_position
from dualmm.scenario import Scenario
from dualmm.sim.exchange import SimExchange
from dualmm.temporal_replay import ClockedActivities, scenario_venue
from dualmm.worker import deployment_version
from workflows.contracts import LIQUIDATION_WORKFLOW, liquidation_workflow_id
from workflows.liquidation import LiquidationInput, LiquidationResult, LiquidationWorkflow

WAIT = 30.0


@workflow.defn(name=LIQUIDATION_WORKFLOW, sandboxed=False)
class ChangedLiquidation(LiquidationWorkflow):
    """Version 2: an incompatible change (a pause before the first check)."""

    @workflow.run
    async def run(self, input: LiquidationInput) -> LiquidationResult:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


@asynccontextmanager
async def versioned_worker(
    client: Client,
    task_queue: str,
    version: WorkerDeploymentVersion,
    workflow_class: type[LiquidationWorkflow],
    scenario: Scenario,
) -> AsyncIterator[None]:
    """A worker of `version` on its own venue (both markets' positions credited)."""
    venue = scenario_venue(scenario, scenario.markets[0])
    for market in scenario.markets[1:]:
        assert market.position is not None
        venue.credit(
            REPLAY_WALLET, market.info().token_id(market.position.held), market.position.qty
        )
    activities = ClockedActivities(SimExchange(venue, REPLAY_WALLET), venue)
    async with Worker(
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
        deployment_config=WorkerDeploymentConfig(
            version=version,
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.PINNED,  # as dualmm.worker's
        ),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await set_current(client, version)
        yield


async def set_current(client: Client, version: WorkerDeploymentVersion) -> None:
    """What an operator runs after a deploy (`temporal worker deployment set-current-version`);
    the version exists once its worker has polled."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace,
        deployment_name=version.deployment_name,
        build_id=version.build_id,
    )
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await client.workflow_service.set_worker_deployment_current_version(request)
                return
            except RPCError:
                await asyncio.sleep(0.2)


async def start(client: Client, task_queue: str, scenario: Scenario, index: int) -> WorkflowHandle:  # type: ignore[type-arg]
    market = scenario.markets[index]
    info = market.info()
    return await client.start_workflow(
        LiquidationWorkflow.run,
        LiquidationInput(
            market=info,
            position=opening_position(market),
            config=LiquidationConfig(),
            started_at=scenario.start,
        ),
        id=liquidation_workflow_id(info.condition_id),
        task_queue=task_queue,
    )


async def pinned_build(handle: WorkflowHandle) -> str:  # type: ignore[type-arg]
    """The build id the workflow is pinned to, once its first task has run."""
    async with asyncio.timeout(WAIT):
        while True:
            info = (await handle.describe()).raw_description.workflow_execution_info
            versioning = info.versioning_info
            if versioning.behavior == VersioningBehaviorProto.VERSIONING_BEHAVIOR_PINNED:
                return versioning.deployment_version.build_id
            await asyncio.sleep(0.2)


async def test_a_liquidation_stays_on_its_version_while_a_new_one_takes_new_liquidations(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    start_at = (await dev_env.get_current_time()).replace(microsecond=0)
    # Two positions on a flat market: each rests its SELL until told to exit.
    first = one_market([(0, "0.545"), (7200, "0.55")])
    second = one_market([(0, "0.545"), (7200, "0.55")])
    scenario = first.model_copy(
        update={"start": start_at, "markets": (*first.markets, *second.markets)}
    )
    name = f"dualmm-test-{uuid.uuid4().hex[:8]}"
    v1 = deployment_version(name, "v1")
    v2 = deployment_version(name, "v2")
    assert v1 is not None and v2 is not None
    async with versioned_worker(client, task_queue, v1, LiquidationWorkflow, scenario):
        old = await start(client, task_queue, scenario, 0)
        assert await pinned_build(old) == "v1"
        async with versioned_worker(client, task_queue, v2, ChangedLiquidation, scenario):
            new = await start(client, task_queue, scenario, 1)
            assert await pinned_build(new) == "v2"
            for handle in (old, new):
                await handle.signal(LiquidationWorkflow.force_exit)
            results = [await asyncio.wait_for(h.result(), WAIT) for h in (old, new)]
    assert [r.status for r in results] == ["closed", "closed"]
    assert await pinned_build(old) == "v1"  # it finished where it started
    # Why it must: the old history does not replay on the changed code.
    history = await old.fetch_history()
    await Replayer(
        workflows=[LiquidationWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)
    changed = Replayer(
        workflows=[ChangedLiquidation],
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await changed.replay_workflow(history)


def test_the_worker_is_versioned_only_with_a_deployment_name() -> None:
    assert deployment_version(None, "v1") is None
    version = deployment_version("dualmm", None)
    assert version is not None and version.build_id  # the package's version


@workflow.defn(name="ActiveMarketWorkflow", sandboxed=False)
class OlderBot:
    """A bot of an older version: its history does not replay on the current code."""

    @workflow.run
    async def run(self, request: object) -> None:
        await workflow.sleep(timedelta(hours=1))


async def test_the_demo_names_a_history_of_an_older_version_and_the_way_out(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    from dualmm.errors import UsageError
    from dualmm.localstack import DEMO_BOT, _previous_bot
    from workflows.contracts import active_market_workflow_id

    client = dev_env.client
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[OlderBot],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            "ActiveMarketWorkflow",
            {},
            id=active_market_workflow_id(DEMO_BOT),
            task_queue=task_queue,
        )
        try:
            async with asyncio.timeout(WAIT):  # its first task has run: a timer is recorded
                while len((await handle.fetch_history()).events) < 5:
                    await asyncio.sleep(0.1)
            with pytest.raises(UsageError, match=r"older dualmm version.*make demo-reset"):
                await _previous_bot(client)
        finally:
            await handle.terminate()


@workflow.defn(name="ContinueAsNewProbe", sandboxed=False)
class ContinueAsNewProbe:
    """Continues as new as the bot does (`next_run_versioning`); answers its run's build id."""

    def __init__(self) -> None:
        self._go = False

    @workflow.run
    async def run(self, continued: bool) -> str:
        from workflows.active_market import next_run_versioning

        if not continued:
            await workflow.wait_condition(lambda: self._go)
            workflow.continue_as_new(True, initial_versioning_behavior=next_run_versioning())
        version = workflow.info().get_current_deployment_version()
        assert version is not None
        return version.build_id

    @workflow.signal
    def go(self) -> None:
        self._go = True


async def test_the_bot_moves_to_the_current_version_at_continue_as_new(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A run stays on its version (pinned); the run it continues as starts on the current one."""
    client = dev_env.client
    name = f"dualmm-can-{uuid.uuid4().hex[:8]}"

    def worker(build_id: str) -> Worker:
        version = deployment_version(name, build_id)
        assert version is not None
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[ContinueAsNewProbe],
            deployment_config=WorkerDeploymentConfig(
                version=version,
                use_worker_versioning=True,
                default_versioning_behavior=VersioningBehavior.PINNED,
            ),
            workflow_runner=UnsandboxedWorkflowRunner(),
        )

    async with worker("v1"):
        await set_current(client, WorkerDeploymentVersion(name, "v1"))
        handle = await client.start_workflow(
            ContinueAsNewProbe.run, False, id=f"probe-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await pinned_build(handle) == "v1"
        async with worker("v2"):
            await set_current(client, WorkerDeploymentVersion(name, "v2"))
            await handle.signal(ContinueAsNewProbe.go)
            assert await asyncio.wait_for(handle.result(), WAIT) == "v2"

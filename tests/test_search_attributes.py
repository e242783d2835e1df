"""The Temporal UI reads like the bot: a liquidation carries its bot, market, stage and outcome
as custom search attributes, found by a visibility query, and its history replays."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from liquidation_harness import one_market, running_liquidation
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from test_active_market_workflow import Venue, _a_to_liquidation_b_quoted, _bot, _config

from dualmm.runtime import bot_search_attributes
from workflows import search_attributes as sa
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationWorkflow

HISTORIES = Path(__file__).parent / "histories"
# Visibility is eventually consistent: how long (real time) a query may take to see a change.
VISIBLE_WITHIN_SECONDS = 30.0


async def found(client: Client, query: str) -> list[str]:
    """Workflow ids the visibility query finds, polling until some appear."""
    async with asyncio.timeout(VISIBLE_WITHIN_SECONDS):
        while True:
            ids = [execution.id async for execution in client.list_workflows(query)]
            if ids:
                return ids
            await asyncio.sleep(0.5)


async def test_a_liquidation_is_found_by_its_market_stage_and_outcome(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Rests PASSIVE (skewing starts after minutes) until the operator's force exit: MARKET.
    scenario = one_market([(0, "0.545"), (600, "0.55"), (7200, "0.55")])
    market = scenario.markets[0].condition_id
    bot = f"bot-{task_queue}"
    attributes = TypedSearchAttributes(
        [SearchAttributePair(sa.BOT_ID, bot), SearchAttributePair(sa.MARKET, market)]
    )
    async with running_liquidation(
        dev_env, task_queue, scenario, search_attributes=attributes
    ) as run:
        await run.wait_status(lambda s: s.order is not None)
        described = (await run.handle.describe()).typed_search_attributes
        assert described.get(sa.STAGE) == "PASSIVE", described
        passive = await found(
            dev_env.client, f"DualmmMarket = '{market}' AND DualmmStage = 'PASSIVE'"
        )
        assert passive == [run.handle.id]
        await run.handle.signal(LiquidationWorkflow.force_exit)
        result = await run.handle.result()
        latest = await run.handle.fetch_history()
    assert result.status == "closed"
    done = await found(
        dev_env.client,
        f"DualmmBotId = '{bot}' AND DualmmStage = 'MARKET' AND DualmmOutcome = 'closed'",
    )
    assert done == [run.handle.id]
    # The upsert commands are in the history, and it replays on the current workflow.
    kinds = [event.event_type for event in latest.events]
    assert kinds.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) >= 2
    replayer = Replayer(workflows=[LiquidationWorkflow], data_converter=pydantic_data_converter)
    assert (await replayer.replay_workflow(latest)).replay_failure is None
    if os.environ.get("DUALMM_RECORD_HISTORIES"):
        named = WorkflowHistory(latest.workflow_id, latest.events)
        (HISTORIES / "liquidation-search-attributes.json").write_text(named.to_json())


async def test_the_bot_carries_attributes_only_where_they_are_registered(
    dev_env: WorkflowEnvironment, temporal_env: WorkflowEnvironment
) -> None:
    registered = await bot_search_attributes(dev_env.client, "b1", "sim")
    assert registered.get(sa.BOT_ID) == "b1"
    assert registered.get(sa.MODE) == "sim"
    # The time-skipping server registers none of them: the bot starts without any.
    assert len(await bot_search_attributes(temporal_env.client, "b1", "sim")) == 0


async def test_the_bot_and_its_liquidation_carry_the_market_question_in_their_memo(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The UI's memo: a liquidation's holds its market's question (and the bot id); the bot's
    holds the question of the market it quotes, updated when it moves on."""
    venue = Venue()
    a, b, _ = venue.markets
    config = _config()

    async def memo_of(workflow_id: str, question: str) -> dict[str, Any]:
        """The workflow's memo once it names `question` (a query may answer from a workflow
        task whose upsert the server has not recorded yet)."""
        handle = dev_env.client.get_workflow_handle(workflow_id)
        async with asyncio.timeout(VISIBLE_WITHIN_SECONDS):
            while (memo := await (await handle.describe()).memo()).get("question") != question:
                await asyncio.sleep(0.2)
        return memo

    async with _bot(dev_env, task_queue, venue, config) as handle:
        quoting_a = await memo_of(handle.id, a.question)
        assert quoting_a["market"] == a.condition_id and quoting_a["bot_id"] == config.bot_id
        await _a_to_liquidation_b_quoted(handle, venue)
        child = await memo_of(liquidation_workflow_id(a.condition_id), a.question)
        assert child == {"question": a.question, "bot_id": config.bot_id}
        quoting_b = await memo_of(handle.id, b.question)
        assert quoting_b["market"] == b.condition_id and quoting_b["mode"] == "sim"

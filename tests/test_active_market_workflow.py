"""ActiveMarketWorkflow on a real dev server, against an in-process simulated venue.

The venue's clock is manual and every market's midpoint is steered by the test, so each fill
happens exactly when a test moves a price: a move of market A to 0.45 fills our BUY YES at
0.48 (position limit 10 reached), a move back to 0.50 fills the liquidation's SELL resting at
the profit floor 0.49. All markets share one competitor book, so they rank by reward rate.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from pydantic import SecretStr
from sim_helpers import FakeParent, Steered
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer

from activities.market_making import (
    Checkpoint,
    MarketMakingActivities,
    MarketMakingInput,
    Outcome,
    PositionLimit,
    Quote,
)
from dualmm.config import LiquidationConfig, MarketMakerConfig, OrchestratorConfig, ProcessSettings
from dualmm.devserver import WORKER_COMMAND, worker_env
from dualmm.domain import position as position_module
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketInfo, Side, Stage, Token
from dualmm.exchange.base import (
    FillPage,
    InsufficientBalance,
    Order,
    PlaceOrder,
    VenueUnavailable,
)
from dualmm.exchange.clob import ClobExchange
from dualmm.runtime import start_or_attach
from dualmm.scenario import token_id_for
from dualmm.sim.exchange import SimExchange
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue
from dualmm.status import bot_status, render_status
from dualmm.telemetry import flush_tracing, setup_tracing, tracing_interceptor
from dualmm.worker import build_worker
from workflows.active_market import (
    ActiveMarketResult,
    ActiveMarketStatus,
    ActiveMarketWorkflow,
)
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationInput, LiquidationWorkflow

START = datetime(2026, 1, 1, tzinfo=UTC)
WALLET = "0x" + "11" * 20
MID = Decimal("0.50")
WAIT = 30.0  # seconds a condition may take on a busy 2-core machine
HISTORIES = Path(__file__).parent / "histories"


class Venue:
    """Three reward markets A > B > C (by daily rate), all at 0.50, on a manual clock."""

    def __init__(self, rules: VenueRules | None = None) -> None:
        tag = uuid.uuid4().hex[:8]
        self.clock = ManualClock(START)
        self.markets = [
            _market(f"{name}-{tag}", rate) for name, rate in (("A", 100), ("B", 50), ("C", 20))
        ]
        self.paths = {m.condition_id: Steered(MID) for m in self.markets}
        self.venue = SimVenue(
            [
                SimMarket(m, self.paths[m.condition_id], START, book_seed="shared")
                for m in self.markets
            ],
            self.clock,
            rules=rules or VenueRules(),
        )
        self.exchange: SimExchange = SimExchange(self.venue, WALLET)

    def move(self, market: MarketInfo, mid: str) -> None:
        at = (self.clock.now() - START).total_seconds() + 1
        self.paths[market.condition_id].points.append((at, Decimal(mid)))
        self.venue.advance(1)

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.venue.ledger()["orders"] if o["status"] == "LIVE"]


def _market(condition_id: str, rate: int) -> MarketInfo:
    return MarketInfo(
        condition_id=condition_id,
        question=f"market {condition_id}",
        yes_token_id=token_id_for(condition_id, Token.YES),
        no_token_id=token_id_for(condition_id, Token.NO),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        rewards_daily_rate=Decimal(rate),
        rewards_max_spread_cents=Decimal(3),
        rewards_min_size=Decimal(10),
    )


def _config(dual: bool = True, rerank: bool = False) -> OrchestratorConfig:
    """Re-ranking is off unless asked for: elsewhere a round ends only at the limit."""
    return OrchestratorConfig(
        bot_id=f"test-{uuid.uuid4().hex[:8]}",
        dual_market_mode=dual,
        rerank=rerank,
        market_maker=MarketMakerConfig(
            order_size=Decimal(10), position_limit=Decimal(10), quote_interval_ms=200
        ),
        liquidation=LiquidationConfig(price_check_interval_ms=1000),
    )


async def _status(handle: WorkflowHandle[Any, Any]) -> ActiveMarketStatus:
    """The status as a reader sees it now (`dualmm status` carries it on to its clock)."""
    status: ActiveMarketStatus = await handle.query(ActiveMarketWorkflow.status)
    return status.at(datetime.now(UTC))


async def _until(
    handle: WorkflowHandle[Any, Any], check: Callable[[ActiveMarketStatus], bool]
) -> ActiveMarketStatus:
    """Poll the `status` query until `check` holds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        status = await _status(handle)
        if check(status):
            return status
        assert asyncio.get_running_loop().time() < deadline, f"gave up waiting; last: {status}"
        await asyncio.sleep(0.2)


def _quoting(market: MarketInfo) -> Callable[[ActiveMarketStatus], bool]:
    def check(status: ActiveMarketStatus) -> bool:
        active = status.active_market
        return (
            active is not None
            and active.condition_id == market.condition_id
            and len(status.quotes) == 2
        )

    return check


def _liquidating(market: MarketInfo) -> Callable[[ActiveMarketStatus], bool]:
    return lambda s: [e.condition_id for e in s.liquidations] == [market.condition_id]


async def _a_to_liquidation_b_quoted(
    handle: WorkflowHandle[Any, Any], venue: Venue
) -> ActiveMarketStatus:
    """Quote A, fill its BUY YES 10 @ 0.48 (the limit): A goes to liquidation, B is quoted."""
    a, b, _ = venue.markets
    await _until(handle, _quoting(a))
    venue.move(a, "0.45")
    return await _until(handle, lambda s: _liquidating(a)(s) and _quoting(b)(s))


async def _one_liquidation(client: Client, workflow_id: str) -> bool:
    """One liquidation ran under this id: one run is live and the others continued as new
    (a second start would follow an execution that ended some other way)."""
    statuses = [w.status async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return statuses.count(WorkflowExecutionStatus.RUNNING) == 1 and all(
        s in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)
        for s in statuses
    )


def _bot(
    env: WorkflowEnvironment, task_queue: str, venue: Venue, config: OrchestratorConfig
) -> AbstractAsyncContextManager[WorkflowHandle[Any, Any]]:
    return _bot_with(env.client, task_queue, venue, config)


@asynccontextmanager
async def _bot_with(
    client: Client, task_queue: str, venue: Venue, config: OrchestratorConfig
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """A worker and a started bot; on the way out every workflow of the test is terminated."""
    async with build_worker(client, task_queue, venue.exchange):
        handle, started = await start_or_attach(client, task_queue, config)
        assert started
        try:
            yield handle
        finally:
            await _terminate(client, handle.id)
            for market in venue.markets:
                await _terminate(client, liquidation_workflow_id(market.condition_id))


async def _terminate(client: Client, workflow_id: str) -> None:
    handle = client.get_workflow_handle(workflow_id)
    try:
        if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")
    except Exception:  # never started
        pass


async def test_position_limit_starts_a_child_and_quotes_the_next_market_at_once(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, b, _ = venue.markets
    async with _bot(dev_env, task_queue, venue, _config(dual=True)) as handle:
        first = await _until(handle, _quoting(a))
        assert {q.token for q in first.quotes} == {Token.YES, Token.NO}
        assert {q.price for q in first.quotes} == {Decimal("0.48")}

        venue.move(a, "0.45")  # our BUY YES 10 @ 0.48 fills: the limit is reached
        status = await _until(handle, lambda s: _liquidating(a)(s) and _quoting(b)(s))
        assert status.liquidations[0].held is Token.YES
        assert status.liquidations[0].qty == Decimal(10)
        child = dev_env.client.get_workflow_handle_for(
            LiquidationWorkflow.run, liquidation_workflow_id(a.condition_id)
        )
        assert (await child.describe()).status is WorkflowExecutionStatus.RUNNING
        # A's quotes are gone; the child's SELL rests at the profit floor 0.48 + 0.01.
        on_a = [o for o in venue.open_orders() if o["condition_id"] == a.condition_id]
        assert [(o["side"], o["price"]) for o in on_a] == [("SELL", "0.49")]
        # `dualmm status`: the parent's view, each liquidation with its child's stage.
        report = await bot_status(dev_env.client, status.bot_id)
        liquidating = [m for m in report["markets"] if m["role"] == "liquidating"]
        assert [(m["condition_id"], m["held"], m["qty"], m["stage"]) for m in liquidating] == [
            (a.condition_id, "YES", "10.00", "PASSIVE")
        ]
        assert "BUY YES 10.00 @ 0.48" in render_status(report)
        # The child escalates (skew from now on; still resting at the floor): the parent's
        # own registry shows it, signalled by the child.
        await child.execute_update(LiquidationWorkflow.set_config, {"skew_start_minutes": 0})
        skewed = await _until(handle, lambda s: s.liquidations[0].stage is Stage.SKEWED)
        assert skewed.liquidations[0].stage_at is not None
        report = await bot_status(dev_env.client, status.bot_id)
        assert [m["stage"] for m in report["markets"] if m["role"] == "liquidating"] == ["SKEWED"]

        venue.move(a, "0.50")  # the SELL fills: the child finishes and reports back
        done = await _until(handle, lambda s: s.liquidations_finished == 1)
        assert done.liquidations == ()
        (finished,) = done.finished
        assert (finished.condition_id, finished.status) == (a.condition_id, "closed")
        assert finished.realized_pnl == Decimal("0.10")
        assert done.active_market is not None and done.active_market.condition_id == b.condition_id


async def test_the_bot_returns_to_the_best_market_once_its_liquidation_finished(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Dual mode: A (the best) goes to liquidation and B is quoted; once A's liquidation has
    finished, the re-rank moves the flat round from B back to A (A earns twice B's per USDC,
    past the 20 % switch margin). B hands nothing to a liquidation."""
    venue = Venue()
    a, b, _ = venue.markets
    config = _config(dual=True, rerank=True)
    async with _bot(dev_env, task_queue, venue, config) as handle:
        await _a_to_liquidation_b_quoted(handle, venue)
        venue.move(a, "0.50")  # the child's SELL fills: A's liquidation finishes
        back = await _until(handle, lambda s: s.liquidations_finished == 1 and _quoting(a)(s))
        assert back.liquidations == () and back.pending == ()
        assert [f.condition_id for f in back.finished] == [a.condition_id]
        assert b.condition_id not in back.pending
        assert back.position is not None and back.position.is_flat
        # B's quotes were withdrawn; only A's two BUYs rest.
        assert {o["condition_id"] for o in venue.open_orders()} == {a.condition_id}
        history = await handle.fetch_history()
        assert "re-rank the reward markets" in _history_text(history)  # the ranking ran
        # It stays there: A is already the best at the next ranking.
        await asyncio.sleep(2)
        assert _quoting(a)(await _status(handle))


async def test_single_market_mode_waits_for_the_child_before_quoting_again(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, _, _ = venue.markets
    async with _bot(dev_env, task_queue, venue, _config(dual=False)) as handle:
        await _until(handle, _quoting(a))
        venue.move(a, "0.45")
        waiting = await _until(handle, _liquidating(a))
        await asyncio.sleep(2)  # time enough to have picked another market in dual mode
        waiting = await _status(handle)
        assert waiting.active_market is None and waiting.quotes == ()
        assert all(o["side"] == "SELL" for o in venue.open_orders())

        venue.move(a, "0.50")
        # The child finished; A is no longer in liquidation and is the best market again.
        again = await _until(handle, _quoting(a))
        assert again.liquidations_finished == 1


async def test_a_duplicate_position_limit_starts_one_child(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, b, c = venue.markets
    client = dev_env.client
    for market in (b, c):
        venue.venue.credit(WALLET, market.yes_token_id, Decimal(10))
    position = PositionTracker.opening(Token.YES, Decimal(10), Decimal("0.40"))
    async with _bot(dev_env, task_queue, venue, _config()) as handle:
        await _until(handle, _quoting(a))
        limit = PositionLimit(market=c, position=position, cursor=None)
        await handle.signal(ActiveMarketWorkflow.position_limit, limit)
        await handle.signal(ActiveMarketWorkflow.position_limit, limit)
        await _until(handle, _liquidating(c))
        # B's liquidation already runs (say a lost registry): the parent adopts it.
        await client.start_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=b,
                position=position,
                started_at=datetime.now(UTC),
                parent_workflow_id=handle.id,
            ),
            id=liquidation_workflow_id(b.condition_id),
            task_queue=task_queue,
        )
        await handle.signal(
            ActiveMarketWorkflow.position_limit,
            PositionLimit(market=b, position=position, cursor=None),
        )
        status = await _until(handle, lambda s: len(s.liquidations) == 2)
        await handle.signal(ActiveMarketWorkflow.position_limit, limit)
        await asyncio.sleep(1)
        assert sorted(e.condition_id for e in (await _status(handle)).liquidations) == sorted(
            [b.condition_id, c.condition_id]
        )
        assert (
            status.active_market is not None and status.active_market.condition_id == a.condition_id
        )
        for market in (b, c):
            assert await _one_liquidation(client, liquidation_workflow_id(market.condition_id))


async def test_a_child_finishing_reaches_the_parent_after_continue_as_new(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The dev server suggests continue-as-new after a few dozen events (conftest)."""
    venue = Venue()
    a, b, _ = venue.markets
    async with _bot(dev_env, task_queue, venue, _config()) as handle:
        before = await _a_to_liquidation_b_quoted(handle, venue)
        # Pausing and resuming cancels and restarts the round: history grows until a new run.
        while (await _status(handle)).runs == before.runs:
            await handle.signal(ActiveMarketWorkflow.pause)
            await handle.signal(ActiveMarketWorkflow.resume)
            await asyncio.sleep(0.3)
        carried = await _until(handle, _liquidating(a))
        assert carried.runs > before.runs

        venue.move(a, "0.50")
        done = await _until(handle, lambda s: s.liquidations_finished == 1)
        assert done.liquidations == () and done.finished[0].condition_id == a.condition_id
        # The new run still makes B's market with the carried round.
        await _until(handle, _quoting(b))


async def test_liquidate_all_stops_quoting_and_completes_after_the_children(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, _, _ = venue.markets
    async with _bot(dev_env, task_queue, venue, _config()) as handle:
        await _a_to_liquidation_b_quoted(handle, venue)
        await handle.signal(ActiveMarketWorkflow.liquidate_all)
        stopped = await _until(handle, lambda s: s.liquidating_all and s.active_market is None)
        assert stopped.quotes == ()
        assert [o["side"] for o in venue.open_orders()] == ["SELL"]  # only A's exit remains
        description = await handle.describe()
        assert description.status is WorkflowExecutionStatus.RUNNING  # waits for the child

        venue.move(a, "0.50")
        result = await asyncio.wait_for(handle.result(), WAIT)
        assert isinstance(result, ActiveMarketResult)
        assert result.liquidations_finished == 1
        assert result.liquidations_realized_pnl == Decimal("0.10")  # 10 bought 0.48, sold 0.49
        assert venue.open_orders() == []

        # Every run's recorded history replays without nondeterminism.
        client = dev_env.client
        replayer = Replayer(
            workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
            data_converter=pydantic_data_converter,
        )
        for workflow_id in (handle.id, liquidation_workflow_id(a.condition_id)):
            async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
                history = await client.get_workflow_handle(
                    workflow_id, run_id=run.run_id
                ).fetch_history()
                await replayer.replay_workflow(history)
                if os.environ.get("DUALMM_RECORD_HISTORIES") and workflow_id == handle.id:
                    (HISTORIES / "active-market-liquidate-all.json").write_text(
                        WorkflowHistory(workflow_id, history.events).to_json()
                    )


async def test_invalid_input_fails_the_bot_instead_of_retrying_forever(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    bad = {"config": {"bot_id": "test-bad", "liquidity_budget": "-1"}}
    async with build_worker(dev_env.client, task_queue, Venue().exchange):
        handle = await dev_env.client.start_workflow(
            "ActiveMarketWorkflow", bad, id=f"active-market-{uuid.uuid4()}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), WAIT)
    assert "liquidity_budget" in str(failure.value.cause)


async def test_pause_withdraws_quotes_resume_quotes_again_and_exit_market_liquidates(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, b, _ = venue.markets
    config = _config()
    config = config.model_copy(
        update={
            "market_maker": config.market_maker.model_copy(update={"position_limit": Decimal(20)})
        }
    )
    async with _bot(dev_env, task_queue, venue, config) as handle:
        await _until(handle, _quoting(a))
        await handle.signal(ActiveMarketWorkflow.pause)
        paused = await _until(handle, lambda s: s.paused and s.quotes == ())
        assert venue.open_orders() == []
        assert paused.active_market is not None and paused.active_market.condition_id == (
            a.condition_id
        )
        await handle.signal(ActiveMarketWorkflow.resume)
        await _until(handle, lambda s: not s.paused and _quoting(a)(s))

        venue.move(a, "0.45")  # BUY YES 10 fills: under the limit of 20, A is still quoted
        holding = await _until(
            handle, lambda s: s.position is not None and s.position.yes_qty == 10
        )
        assert holding.liquidations == ()
        await handle.signal(ActiveMarketWorkflow.exit_market)
        moved = await _until(handle, lambda s: _liquidating(a)(s) and _quoting(b)(s))
        assert (moved.liquidations[0].held, moved.liquidations[0].qty) == (Token.YES, Decimal(10))
        on_a = [
            (o["side"], o["price"])
            for o in venue.open_orders()
            if o["condition_id"] == a.condition_id
        ]
        assert on_a == [("SELL", "0.49")]


def test_a_checkpoint_counts_live_quotes_up_to_a_time_and_stops_with_them() -> None:
    quote = Quote(order_id="1", token=Token.YES, price=Decimal("0.48"), size=Decimal(10))
    fresh = Checkpoint(position=PositionTracker(), cursor="", quoted_seconds=Decimal(5))
    live = fresh.with_quotes((quote,), START)
    assert live.quoted_seconds_at(START + timedelta(seconds=3)) == Decimal(8)
    assert live.quoted_seconds_at(START - timedelta(seconds=1)) == Decimal(5)  # a clock behind
    off = live.with_quotes((), START + timedelta(seconds=4))
    assert (off.quoted_seconds, off.quoting_since) == (Decimal(9), None)
    assert off.quoted_seconds_at(START + timedelta(minutes=1)) == Decimal(9)


async def test_steady_quotes_keep_earning_in_the_status(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Quotes that stand still send the parent no progress; their time still counts as
    earning in the status, up to the round's end and no further."""
    venue = Venue()
    a, _, _ = venue.markets
    async with _bot(dev_env, task_queue, venue, _config()) as handle:
        first = await _until(handle, _quoting(a))
        await asyncio.sleep(8)  # four progress intervals, the market standing still
        steady = await _status(handle)
        ran = steady.running_seconds - first.running_seconds
        assert ran >= 6
        assert steady.quotes == first.quotes
        # Whole seconds of running time against milliseconds of quoting: 1 s either way.
        assert steady.earning_seconds - first.earning_seconds >= ran - 1
        assert steady.earning_uptime > first.earning_uptime - Decimal("0.05")

        await handle.signal(ActiveMarketWorkflow.pause)  # the round ends, its time counted
        paused = await _until(handle, lambda s: s.paused and s.quotes == ())
        assert paused.earning_seconds >= steady.earning_seconds
        await asyncio.sleep(2)
        assert (await _status(handle)).earning_seconds == paused.earning_seconds


async def test_market_making_resumes_from_its_heartbeat_after_a_worker_restart(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a, b, _ = venue.markets
    config = _config()
    client = dev_env.client
    async with build_worker(client, task_queue, venue.exchange):
        handle, _ = await start_or_attach(client, task_queue, config)
        try:
            await _until(handle, _quoting(a))
            before = {o["order_id"] for o in venue.open_orders()}
        except BaseException:
            await _terminate(client, handle.id)
            raise
    # The worker is gone; its quotes stay on the book for the next worker to adopt.
    assert {o["order_id"] for o in venue.open_orders()} == before
    async with _bot_again(dev_env, task_queue, venue, handle):
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            pending = (await handle.describe()).raw_description.pending_activities
            if any(p.attempt >= 2 and p.HasField("heartbeat_details") for p in pending):
                break
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # a few quote loops of the new attempt
        assert {o["order_id"] for o in venue.open_orders()} == before
        assert len(venue.venue.ledger()["orders"]) == 2  # adopted, never placed again

        venue.move(a, "0.45")  # the resumed attempt sees the fill once
        status = await _until(handle, lambda s: _liquidating(a)(s) and _quoting(b)(s))
        assert status.liquidations[0].qty == Decimal(10)
        fills = venue.venue.ledger()["fills"]
        assert [(f["side"], Decimal(f["size"])) for f in fills] == [(Side.BUY.value, 10)]


@asynccontextmanager
async def _bot_again(
    env: WorkflowEnvironment, task_queue: str, venue: Venue, handle: WorkflowHandle[Any, Any]
) -> AsyncIterator[None]:
    async with build_worker(env.client, task_queue, venue.exchange):
        try:
            yield
        finally:
            await _terminate(env.client, handle.id)
            for market in venue.markets:
                await _terminate(env.client, liquidation_workflow_id(market.condition_id))


# -- the market-making activity alone (ActivityEnvironment, no server) ---------------------------


def _round_input(market: MarketInfo) -> MarketMakingInput:
    return MarketMakingInput(
        parent_workflow_id="parent",
        market=market,
        config=MarketMakerConfig(
            order_size=Decimal(10), position_limit=Decimal(10), quote_interval_ms=20
        ),
        position=PositionTracker(),
        cursor=None,
        key_prefix="test",
    )


async def _beats_until(beats: list[Checkpoint], check: Callable[[Checkpoint], bool]) -> None:
    for _ in range(500):
        if beats and check(beats[-1]):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no such heartbeat; last: {beats[-1] if beats else None}")


def _activity_env(beats: list[Checkpoint]) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.extend(details[:1])
    return env


async def _place(venue: Venue, market: MarketInfo, key: str, token: Token, price: str) -> str:
    order = await venue.exchange.place_order(
        PlaceOrder(
            key=key,
            market=market,
            token_id=market.token_id(token),
            side=Side.BUY,
            price=Decimal(price),
            size=Decimal(10),
        )
    )
    return order.order_id


async def test_a_retried_attempt_adopts_one_quote_per_token_and_cancels_the_rest() -> None:
    venue = Venue()
    a = venue.markets[0]
    known = await _place(venue, a, "k1", Token.YES, "0.48")
    extra = await _place(venue, a, "k2", Token.YES, "0.47")
    lost = await _place(venue, a, "k3", Token.NO, "0.48")  # placed after the last heartbeat
    checkpoint = Checkpoint(
        position=PositionTracker(),
        cursor="0",
        quotes=(Quote(order_id=known, token=Token.YES, price=Decimal("0.48"), size=Decimal(10)),),
        sequence=7,
        quoted_mid=MID,
    )
    parent, beats = FakeParent(), []
    env = _activity_env(beats)
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[checkpoint.model_dump(mode="json")]
    )
    activities = MarketMakingActivities(venue.exchange, parent)  # type: ignore[arg-type]
    running = asyncio.create_task(env.run(activities.make_market, _round_input(a)))
    await _beats_until(beats, lambda c: c.sequence == 7 and len(c.quotes) == 2)
    await asyncio.sleep(0.2)  # several quote loops

    assert {o["order_id"] for o in venue.open_orders()} == {known, lost}
    assert len(venue.venue.ledger()["orders"]) == 3  # nothing placed again
    assert {(q.order_id, q.token) for q in beats[-1].quotes} == {
        (known, Token.YES),
        (lost, Token.NO),
    }
    assert extra not in {q.order_id for q in beats[-1].quotes}

    env.cancel()  # the workflow stops the round: quotes withdrawn, position handed back
    result = await running
    assert result.outcome is Outcome.STOPPED and result.checkpoint.quotes == ()
    assert venue.open_orders() == []


async def test_an_order_no_quote_knows_is_cancelled() -> None:
    venue = Venue()
    a = venue.markets[0]
    parent, beats = FakeParent(), []
    env = _activity_env(beats)
    activities = MarketMakingActivities(venue.exchange, parent)  # type: ignore[arg-type]
    running = asyncio.create_task(env.run(activities.make_market, _round_input(a)))
    await _beats_until(beats, lambda c: len(c.quotes) == 2)
    orphan = await _place(venue, a, "lost-in-flight", Token.YES, "0.47")
    await asyncio.sleep(0.2)
    assert orphan not in {o["order_id"] for o in venue.open_orders()}
    assert len(venue.open_orders()) == 2
    env.cancel()
    await running


async def test_the_position_limit_withdraws_quotes_and_signals_the_parent() -> None:
    venue = Venue()
    a = venue.markets[0]
    parent, beats = FakeParent(), []
    env = _activity_env(beats)
    activities = MarketMakingActivities(venue.exchange, parent)  # type: ignore[arg-type]
    running = asyncio.create_task(env.run(activities.make_market, _round_input(a)))
    await _beats_until(beats, lambda c: len(c.quotes) == 2)
    venue.move(a, "0.45")  # BUY YES 10 @ 0.48 fills
    result = await asyncio.wait_for(running, WAIT)

    assert result.outcome is Outcome.POSITION_LIMIT
    assert result.checkpoint.position.yes_qty == Decimal(10)
    assert result.checkpoint.position.avg_cost(Token.YES) == Decimal("0.48")
    assert venue.open_orders() == []
    limits = [arg for name, arg in parent.signals if name == "position_limit"]
    assert len(limits) == 1 and limits[0].position == result.checkpoint.position
    assert limits[0].cursor == result.checkpoint.cursor != ""


async def test_the_worker_traces_workflows_and_activities_without_their_arguments(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    spans = tmp_path / "spans.jsonl"
    setup_tracing("test", spans)
    client = Client(**{**dev_env.client.config(), "interceptors": [tracing_interceptor()]})
    venue = Venue()
    async with _bot_with(client, task_queue, venue, _config()) as handle:
        await _until(handle, _quoting(venue.markets[0]))
    flush_tracing()
    text = spans.read_text()
    for name in (
        "StartWorkflow:ActiveMarketWorkflow",
        "RunWorkflow:ActiveMarketWorkflow",
        "RunActivity:pick_market",
        "RunActivity:make_market",
    ):
        assert f'"name": "{name}"' in text
    assert venue.markets[0].condition_id not in text  # arguments never reach a span


async def test_a_venue_refusal_that_ends_the_round_takes_its_quotes_off_the_book() -> None:
    venue = Venue()
    a = venue.markets[0]

    class BrokeAfterOneOrder(SimExchange):
        placed = 0

        async def place_order(self, request: PlaceOrder) -> Order:
            self.placed += 1
            if self.placed > 1:
                raise InsufficientBalance("not enough balance / allowance")
            return await super().place_order(request)

    exchange = BrokeAfterOneOrder(venue.venue, WALLET)
    activities = MarketMakingActivities(exchange, FakeParent())  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.make_market, _round_input(a))
    assert raised.value.non_retryable and raised.value.type == "InsufficientBalance"
    assert len(venue.venue.ledger()["orders"]) == 1  # the first quote was placed...
    assert venue.open_orders() == []  # ...and withdrawn before the round failed


class FlakyFills(SimExchange):
    """Fills reads fail (503) while `broken`."""

    broken = False

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        if self.broken:
            raise VenueUnavailable("503 service not ready")
        return await super().fills(market, cursor)


async def test_pausing_a_round_stuck_in_retries_still_withdraws_its_quotes(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    a = venue.markets[0]

    venue.exchange = FlakyFills(venue.venue, WALLET)
    async with _bot(dev_env, task_queue, venue, _config()) as handle:
        await _until(handle, _quoting(a))
        venue.exchange.broken = True  # every attempt now fails, leaving the quotes live
        await asyncio.sleep(2)
        assert len(venue.open_orders()) == 2
        await handle.signal(ActiveMarketWorkflow.pause)
        deadline = asyncio.get_running_loop().time() + WAIT
        while venue.open_orders():
            assert asyncio.get_running_loop().time() < deadline, venue.open_orders()
            await asyncio.sleep(0.2)
        paused = await _status(handle)
        assert paused.paused and paused.quotes == ()


def _round_limit_20() -> OrchestratorConfig:
    """A fill of one quote (10) does not reach the limit: the round goes on quoting."""
    config = _config()
    return config.model_copy(
        update={
            "market_maker": config.market_maker.model_copy(update={"position_limit": Decimal(20)})
        }
    )


async def test_a_paused_round_counts_the_fills_that_landed_while_it_was_failing(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The short chaos run (seed 11): a worker killed during market making, the bot paused
    before the round's retry ran; the pause ended the round between attempts, and its position
    stayed at its last progress report: the venue held 10 YES more than the bot counted. The
    withdrawal after a failed round now reads the round's fills since its cursor."""
    venue = Venue()
    a = venue.markets[0]

    venue.exchange = FlakyFills(venue.venue, WALLET)
    async with _bot(dev_env, task_queue, venue, _round_limit_20()) as handle:
        await _until(handle, _quoting(a))
        venue.exchange.broken = True  # the round sees no fill, and soon fails its attempts
        venue.move(a, "0.45")  # the YES bid fills: 10 YES
        await handle.signal(ActiveMarketWorkflow.pause)
        await _until(handle, lambda s: s.paused and not s.quotes)
        venue.exchange.broken = False
        paused = await _until(handle, lambda s: s.position is not None and s.position.yes_qty == 10)
        assert (
            paused.active_market is not None and paused.active_market.condition_id == a.condition_id
        )
        assert venue.venue.balances(WALLET).tokens[a.yes_token_id] == 10


async def test_a_paused_round_takes_back_a_buy_that_failed_after_the_pause(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A paused round's trades may still FAIL: the bot reads them until they settle, so its
    position is the venue's (the chaos audit found a paused round still counting such a buy)."""
    venue = Venue(VenueRules(settle_min_seconds=3600, settle_max_seconds=3600))
    a = venue.markets[0]
    async with _bot(dev_env, task_queue, venue, _round_limit_20()) as handle:
        await _until(handle, _quoting(a))
        venue.move(a, "0.45")  # the YES bid fills: 10 YES, MATCHED, not settled
        await _until(handle, lambda s: s.position is not None and s.position.yes_qty == 10)
        await handle.signal(ActiveMarketWorkflow.pause)
        await _until(handle, lambda s: s.paused and not s.quotes)
        (trade,) = venue.venue.trades(WALLET)
        venue.venue.fail_trade(trade.trade_id)
        await _until(handle, lambda s: s.position is not None and s.position.yes_qty == 0)


async def test_a_paused_round_stops_waiting_for_a_trade_that_never_settles(
    dev_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused round reads its unsettled trades until they settle, but not forever: a trade
    still unsettled SETTLE_WAIT after its match by the venue's clock is not waited for, as
    in a liquidation (the bot read the venue every 5 s for as long as it stayed paused)."""
    monkeypatch.setattr(position_module, "SETTLE_WAIT", timedelta(minutes=10))
    venue = Venue(VenueRules(settle_min_seconds=3600, settle_max_seconds=3600))
    a = venue.markets[0]
    venue.exchange = CountedFills(venue.venue, WALLET)
    async with _bot(dev_env, task_queue, venue, _round_limit_20()) as handle:
        await _until(handle, _quoting(a))
        venue.move(a, "0.45")  # the YES bid fills: 10 YES, MATCHED, settled in an hour
        await _until(handle, lambda s: s.position is not None and s.position.yes_qty == 10)
        await handle.signal(ActiveMarketWorkflow.pause)
        await _until(handle, lambda s: s.paused and not s.quotes)
        reads = venue.exchange.reads
        async with asyncio.timeout(WAIT):  # it reads them while they may still FAIL
            while venue.exchange.reads < reads + 2:
                await asyncio.sleep(0.5)
        venue.venue.advance(11 * 60)  # past the wait, long before the trade settles
        await asyncio.sleep(6)  # the read that sees the venue's time
        reads = venue.exchange.reads
        await asyncio.sleep(12)  # two settle checks (5 s apart) and a margin
        assert venue.exchange.reads == reads


class CountedFills(SimExchange):
    """Counts the fills reads (a paused bot's only reads of the venue)."""

    reads = 0

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        self.reads += 1
        return await super().fills(market, cursor)


# -- crash safety: a real worker process killed mid-round and mid-liquidation ---------------------


def _worker_process(
    env: WorkflowEnvironment,
    task_queue: str,
    clob_url: str,
    key: str,
    log: Path | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """`dualmm worker` in its own process, trading on the simulator over HTTP; its stderr
    (the log) to `log`, if given; `settings` add DUALMM_* variables."""
    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("wb")) if log is not None else subprocess.DEVNULL
        address = env.client.service_client.config.target_host
        return subprocess.Popen(
            WORKER_COMMAND,
            env=worker_env(clob_url, key, address, task_queue, **settings),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


async def _answering(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the workflow answers queries again: until its task leaves the dead worker's
    sticky queue, a query may time out."""
    deadline = asyncio.get_running_loop().time() + 2 * WAIT
    while True:
        try:
            # short attempts: one query can hang on the dead worker's queue past any deadline
            await handle.query(ActiveMarketWorkflow.status, rpc_timeout=timedelta(seconds=5))
            return
        except RPCError:
            assert asyncio.get_running_loop().time() < deadline, "no answer to queries"
            await asyncio.sleep(0.2)


def _history_text(history: WorkflowHistory) -> str:
    """A history's JSON with every payload decoded (payloads are base64 in it)."""
    raw = history.to_json()
    payloads = re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', raw)
    return raw + "".join(base64.b64decode(p).decode("utf-8", "replace") for p in payloads)


def _sigkill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait()


async def test_a_killed_worker_loses_and_doubles_nothing(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """SIGKILL the worker while B is quoted and A's SELL rests; A's SELL fills while no worker
    runs. After a new worker starts, the child sees the fill once and finishes, B is quoted
    with one live order per quote, and the venue's ledger agrees with the bot's books."""
    venue = Venue()
    a, b, _ = venue.markets
    key = "0x" + "42" * 32
    wallet = Account.from_key(key).address.lower()
    client = dev_env.client
    with SimServer(venue.venue) as server:
        worker = _worker_process(dev_env, task_queue, server.url, key)
        handle, _ = await start_or_attach(client, task_queue, _config())
        try:
            await _a_to_liquidation_b_quoted(handle, venue)
            before = venue.open_orders()
            assert sorted((o["condition_id"], o["side"]) for o in before) == sorted(
                [(a.condition_id, "SELL"), (b.condition_id, "BUY"), (b.condition_id, "BUY")]
            )

            _sigkill(worker)
            venue.move(a, "0.50")  # the SELL @ 0.49 fills with no worker alive
            worker = _worker_process(dev_env, task_queue, server.url, key)
            await _answering(handle)
            done = await _until(handle, lambda s: s.liquidations_finished == 1)
            assert done.liquidations == ()
            assert done.liquidations_realized_pnl == Decimal("0.10")
            ledger = venue.venue.ledger()
            # One order per intent: A's two quotes and its SELL, and one live quote per token
            # on B (the new worker adopts B's quotes, or replaces them when the round was being
            # stopped as the worker died, here for the continue-as-new the dev server suggests).
            on_a = [
                (o["token"], o["side"])
                for o in ledger["orders"]
                if o["condition_id"] == a.condition_id
            ]
            assert sorted(on_a) == [("NO", "BUY"), ("YES", "BUY"), ("YES", "SELL")]
            # The bot's quotes and the venue's live orders agree once the new round settled
            # (until then the status may still list the quotes the dead worker reported).
            quoting_b = await _until(
                handle,
                lambda s: (
                    _quoting(b)(s)
                    and {q.order_id for q in s.quotes}
                    == {o["order_id"] for o in venue.open_orders()}
                ),
            )
            assert quoting_b.position is not None and quoting_b.position.is_flat
            live = venue.open_orders()
            assert sorted((o["condition_id"], o["token"], o["side"]) for o in live) == [
                (b.condition_id, "NO", "BUY"),
                (b.condition_id, "YES", "BUY"),
            ]
            assert {q.order_id for q in quoting_b.quotes} == {o["order_id"] for o in live}
            ledger = venue.venue.ledger()
            live_ids = {o["order_id"] for o in live}
            assert all(
                o["status"] == "CANCELED"
                for o in ledger["orders"]
                if o["condition_id"] == b.condition_id and o["order_id"] not in live_ids
            )
            fills = [(f["side"], Decimal(f["size"]), Decimal(f["price"])) for f in ledger["fills"]]
            assert fills == [
                ("BUY", Decimal(10), Decimal("0.48")),
                ("SELL", Decimal(10), Decimal("0.49")),
            ]
            assert Decimal(ledger["wallets"][wallet]["tokens"].get(a.yes_token_id, "0")) == 0
            # The worker's key never reached a workflow or activity argument or result.
            texts = []
            for workflow_id in (handle.id, liquidation_workflow_id(a.condition_id)):
                async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
                    history = await client.get_workflow_handle(
                        workflow_id, run_id=run.run_id
                    ).fetch_history()
                    texts.append(_history_text(history))
            assert a.question in "".join(texts)  # the payloads were decoded
            assert key.removeprefix("0x") not in "".join(texts)
        finally:
            await _terminate(client, handle.id)
            for market in venue.markets:
                await _terminate(client, liquidation_workflow_id(market.condition_id))
            _sigkill(worker)


async def _last_worker_pid(client: Client, workflow_id: str) -> int:
    """The pid of the worker that last completed a task of the workflow's latest run (a
    worker's default identity is `pid@host`)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    identities = [
        event.workflow_task_completed_event_attributes.identity
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    return int(identities[-1].split("@")[0])


async def test_two_workers_share_a_queue_and_the_survivor_finishes_a_liquidation(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Horizontal scale: two `dualmm worker` processes on one task queue; SIGKILL the one that
    runs A's liquidation while its SELL rests; the other finishes it, one order per intent."""
    venue = Venue()
    a, _, _ = venue.markets
    key = "0x" + "43" * 32
    client = dev_env.client
    child_id = liquidation_workflow_id(a.condition_id)
    with SimServer(venue.venue) as server:
        # Both start at once: they race to create the key's venue credentials, and both
        # come up (the one whose create is refused derives the other's).
        workers = [_worker_process(dev_env, task_queue, server.url, key) for _ in range(2)]
        handle, _ = await start_or_attach(client, task_queue, _config())
        try:
            await _a_to_liquidation_b_quoted(handle, venue)
            assert all(worker.poll() is None for worker in workers), "a worker exited"
            assert [(o["condition_id"], o["side"]) for o in venue.open_orders()].count(
                (a.condition_id, "SELL")
            ) == 1
            running_it = await _last_worker_pid(client, child_id)
            (victim,) = [w for w in workers if w.pid == running_it]
            (survivor,) = [w for w in workers if w is not victim]
            assert survivor.poll() is None, "the other worker died on its own"
            _sigkill(victim)
            venue.move(a, "0.50")  # the SELL @ 0.49 fills; only the survivor can see it
            await _answering(handle)
            done = await _until(handle, lambda s: s.liquidations_finished == 1)
            assert done.liquidations_realized_pnl == Decimal("0.10")
            child = await client.get_workflow_handle(child_id).describe()
            assert child.status is WorkflowExecutionStatus.COMPLETED
            assert await _last_worker_pid(client, child_id) == survivor.pid
            assert survivor.poll() is None
            on_a = [
                o for o in venue.venue.ledger()["orders"] if o["condition_id"] == a.condition_id
            ]
            # One SELL (the intent survived the kill), filled. The round may have re-quoted
            # before the hand-over (a slow start under load): its BUYs come in YES/NO pairs,
            # one YES BUY filled and every other one cancelled.
            sells = [(o["token"], o["status"]) for o in on_a if o["side"] == "SELL"]
            assert sells == [("YES", "MATCHED")]
            buys = [(o["token"], o["status"]) for o in on_a if o["side"] == "BUY"]
            tokens = [token for token, _ in buys]
            assert tokens.count("YES") == tokens.count("NO") >= 1
            assert buys.count(("YES", "MATCHED")) == 1
            others = [status for token, status in buys if (token, status) != ("YES", "MATCHED")]
            assert set(others) == {"CANCELED"}
        finally:
            await _terminate(client, handle.id)
            for market in venue.markets:
                await _terminate(client, liquidation_workflow_id(market.condition_id))
            for worker in workers:
                _sigkill(worker)


# -- never dies, never stuck (issues 9 and 11) ----------------------------------------------------


class DryingUp(SimExchange):
    """A venue whose reward-market list runs dry while `dry` is set."""

    dry = False

    async def reward_markets(self) -> list[Any]:
        return [] if self.dry else await super().reward_markets()


async def test_no_market_qualifying_idles_and_quotes_again_once_one_does(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The idle wait times out (1 s here, 30 s by default) without failing the bot; the status
    says why; once a market qualifies again it is quoted."""
    venue = Venue()
    a = venue.markets[0]
    exchange = DryingUp(venue.venue, WALLET)
    exchange.dry = True
    venue.exchange = exchange
    config = _config().model_copy(update={"idle_seconds": 1})
    async with _bot(dev_env, task_queue, venue, config) as handle:
        idle = await _until(handle, lambda s: "no reward market qualifies" in (s.idle_reason or ""))
        assert idle.active_market is None and idle.idle_since is not None
        await asyncio.sleep(4)  # several idle waits time out
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        still = await _until(handle, lambda s: "no reward market" in (s.idle_reason or ""))
        assert still.active_market is None

        exchange.dry = False
        quoting = await _until(handle, _quoting(a))
        assert quoting.idle_reason is None
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


async def test_a_round_failing_for_good_excludes_its_market_and_the_bot_picks_again(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """No collateral for A's quotes: A's round fails non-retryably, the bot leaves A out for a
    while (the status says why) and quotes B instead of retrying A forever."""
    venue = Venue()
    a, b, _ = venue.markets

    class BrokeOnA(SimExchange):
        async def place_order(self, request: PlaceOrder) -> Order:
            if request.market.condition_id == a.condition_id:
                raise InsufficientBalance("not enough balance / allowance")
            return await super().place_order(request)

    venue.exchange = BrokeOnA(venue.venue, WALLET)
    async with _bot(dev_env, task_queue, venue, _config()) as handle:
        status = await _until(handle, _quoting(b))
        (excluded,) = status.excluded
        assert excluded.condition_id == a.condition_id
        assert "InsufficientBalance" in excluded.reason
        assert status.last_error is not None and a.condition_id in status.last_error
        assert all(o["condition_id"] == b.condition_id for o in venue.open_orders())
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


async def test_every_market_failing_for_good_idles_instead_of_failing(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()

    class Broke(SimExchange):
        async def place_order(self, request: PlaceOrder) -> Order:
            raise InsufficientBalance("not enough balance / allowance")

    venue.exchange = Broke(venue.venue, WALLET)
    config = _config().model_copy(update={"idle_seconds": 1})
    async with _bot(dev_env, task_queue, venue, config) as handle:
        idle = await _until(handle, lambda s: len(s.excluded) == 3 and s.idle_reason is not None)
        assert idle.idle_reason is not None and "3 excluded" in idle.idle_reason
        await asyncio.sleep(3)
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        assert venue.open_orders() == []


# -- exact positions across rounds (issue 9) ------------------------------------------------------


async def test_a_new_round_on_a_market_traded_before_counts_only_its_own_fills(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The issue's reproduction, on the simulator over HTTP through ClobExchange: round 1 on A
    buys 10 YES, an hour later its liquidation sells them, round 2 on A buys 10 YES. Round 2's
    tracker holds exactly those 10 (the CLOB cursor re-reads an hour of earlier fills: with the
    liquidation's SELL counted, round 2 said net 0 and never reached its limit), round 2's
    liquidation sells them, and each liquidation's fill list holds only its own SELL."""
    venue = Venue()
    a, b, _ = venue.markets
    key = "0x" + "24" * 32
    wallet = Account.from_key(key).address.lower()
    client = dev_env.client
    with SimServer(venue.venue) as server:
        settings = ProcessSettings(
            exchange="sim",
            clob_url=server.url,
            private_key=SecretStr(key),
            clob_timeout_seconds=5.0,
        )
        exchange = await ClobExchange.connect(settings)
        venue.exchange = exchange  # type: ignore[assignment]
        async with _bot(dev_env, task_queue, venue, _config()) as handle:
            await _a_to_liquidation_b_quoted(handle, venue)
            venue.venue.advance(3700)  # the SELL comes more than an hour after the BUY
            venue.move(a, "0.50")  # the SELL @ 0.49 fills: the liquidation finishes
            await _until(handle, lambda s: s.liquidations_finished == 1)
            await handle.signal(ActiveMarketWorkflow.exit_market)  # B is flat: A is picked
            round_2 = await _until(handle, _quoting(a))
            assert round_2.position is not None and round_2.position.events == ()

            venue.move(a, "0.45")  # round 2's BUY YES 10 @ 0.48 fills: the limit again
            again = await _until(handle, lambda s: _liquidating(a)(s) and _quoting(b)(s))
            assert (again.liquidations[0].held, again.liquidations[0].qty) == (Token.YES, 10)
            child = client.get_workflow_handle_for(
                LiquidationWorkflow.run, liquidation_workflow_id(a.condition_id)
            )
            venue.move(a, "0.50")
            done = await _until(handle, lambda s: s.liquidations_finished == 2)
            result = await child.result()
            assert [(f.side, f.size, f.price) for f in result.fills] == [
                (Side.SELL, Decimal(10), Decimal("0.49"))
            ]
            assert (result.position.yes_qty, result.position.realized_pnl) == (0, Decimal("0.10"))
            assert done.liquidations_realized_pnl == Decimal("0.20")
            ledger = venue.venue.ledger()
            assert Decimal(ledger["wallets"][wallet]["tokens"].get(a.yes_token_id, "0")) == 0
            assert [(f["side"], f["price"]) for f in ledger["fills"]] == [
                ("BUY", "0.48"),
                ("SELL", "0.49"),
                ("BUY", "0.48"),
                ("SELL", "0.49"),
            ]


async def test_a_quote_a_partial_fill_left_below_the_reward_minimum_is_replaced() -> None:
    """A partial fill leaves 6 of a 10 BUY YES (reward minimum 10: it scores nothing), with
    the midpoint inside the requote threshold: the round replaces it with a full quote."""
    venue = Venue()
    venue.venue = SimVenue(
        [
            SimMarket(m, venue.paths[m.condition_id], START, book_seed="shared")
            for m in venue.markets
        ],
        venue.clock,
        fill_cap=Decimal(4),
    )
    venue.exchange = SimExchange(venue.venue, WALLET)
    a = venue.markets[0]
    parent, beats = FakeParent(), []
    env = _activity_env(beats)
    activities = MarketMakingActivities(venue.exchange, parent)  # type: ignore[arg-type]
    request = _round_input(a).model_copy(
        update={
            "config": MarketMakerConfig(
                order_size=Decimal(10),
                position_limit=Decimal(50),
                quote_interval_ms=20,
                requote_threshold=Decimal("0.1"),
            )
        }
    )
    running = asyncio.create_task(env.run(activities.make_market, request))
    await _beats_until(beats, lambda c: len(c.quotes) == 2)
    venue.move(a, "0.47")  # ask 0.48: our BUY YES @ 0.48 fills 4 of 10
    await _beats_until(beats, lambda c: c.position.yes_qty == 4)
    await _beats_until(
        beats, lambda c: {q.token: q.size for q in c.quotes} == {Token.YES: 10, Token.NO: 10}
    )
    live = {
        o["token"]: Decimal(o["size"]) - Decimal(o["size_matched"]) for o in venue.open_orders()
    }
    assert live == {"YES": 10, "NO": 10}
    env.cancel()
    await running


async def test_a_new_bot_adopts_the_liquidations_a_terminated_one_left_running(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A in liquidation, B quoted; the parent is terminated (its child runs on: ABANDON) and a
    new one started: it rebuilds its registry from the running liquidation, so it quotes B, not
    A (the best market), and registers the child's completion."""
    venue = Venue()
    a, b, _ = venue.markets
    client = dev_env.client
    config = _config()
    async with _bot(dev_env, task_queue, venue, config) as handle:
        await _a_to_liquidation_b_quoted(handle, venue)
        await handle.terminate("operator restart")
        assert [o["side"] for o in venue.open_orders() if o["condition_id"] == a.condition_id] == [
            "SELL"
        ]
        again, started = await start_or_attach(client, task_queue, config)
        assert started
        adopted = await _until(again, lambda s: _liquidating(a)(s) and _quoting(b)(s))
        (entry,) = adopted.liquidations
        assert (entry.held, entry.qty) == (Token.YES, Decimal(10))
        assert all(
            o["side"] == "SELL" for o in venue.open_orders() if o["condition_id"] == a.condition_id
        )

        venue.move(a, "0.50")  # the child finishes and reports to the new run
        done = await _until(again, lambda s: s.liquidations_finished == 1)
        assert done.liquidations == () and done.liquidations_realized_pnl == Decimal("0.10")

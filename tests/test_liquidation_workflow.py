"""LiquidationWorkflow on the time-skipping server (and one dev-server test) over a SimVenue."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from liquidation_harness import (
    WAIT_LIMIT_SECONDS,
    Liquidation,
    one_market,
    running_liquidation,
    stop_liquidation,
)
from pydantic import SecretStr
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError, WorkflowAlreadyStartedError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.liquidation import CancelRequest, LiquidationActivities
from dualmm.config import LiquidationConfig, ProcessSettings
from dualmm.domain.types import MarketInfo, Side, Stage, Token
from dualmm.exchange.base import FillPage, Order, OrderStatus, PlaceOrder
from dualmm.exchange.clob import ClobExchange
from dualmm.replay import REPLAY_WALLET, opening_position
from dualmm.scenario import load_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue
from dualmm.temporal_replay import liquidation_worker
from workflows.contracts import (
    FINISHED_SIGNAL,
    LIQUIDATION_ID_PREFIX,
    LIQUIDATION_WORKFLOW,
    STAGE_SIGNAL,
    liquidation_workflow_id,
)
from workflows.liquidation import (
    LiquidationInput,
    LiquidationResult,
    LiquidationStageChange,
    LiquidationWorkflow,
)

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.json"))
D = Decimal
UPDATE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}


def stage_times(run: Liquidation, result: LiquidationResult) -> list[tuple[Stage, float]]:
    return [(change.stage, run.seconds(change.at)) for change in result.stages]


def order_points(
    run: Liquidation, result: LiquidationResult
) -> list[tuple[float, Decimal, Decimal]]:
    return [(run.seconds(o.at), o.price, o.size) for o in result.orders]


def fill_points(
    run: Liquidation, result: LiquidationResult
) -> list[tuple[float, Decimal, Decimal]]:
    return [(run.seconds(f.at), f.price, f.size) for f in result.fills]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_seed_scenario_meets_its_expectation(
    temporal_env: WorkflowEnvironment, task_queue: str, path: Path
) -> None:
    scenario = load_scenario(path)
    expect = scenario.expect
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        result = await run.handle.result()
        assert run.open_orders() == []
    assert result.status == "closed"
    assert result.exit_stage == Stage(expect["exit_stage"])
    assert result.remaining_qty == 0
    sign = {"+": 1, "-": -1}[expect["realized_pnl_sign"]]
    assert result.realized_pnl * sign > 0
    assert result.duration_seconds <= int(expect["max_minutes"]) * 60
    assert result.stages[0].stage is Stage.PASSIVE
    assert sum(fill.size for fill in result.fills) == scenario.markets[0].position.qty  # type: ignore[union-attr]


async def test_stop_loss_fires_while_skewed(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Resting at the profit floor 0.56 through SKEWED; at 600 s the crash to 0.40 makes the
    # unrealized loss -15 < -10: MARKET sells at min(bid 0.39, 0.40 - 0.05) and fills at 0.39.
    scenario = one_market([(0, "0.55"), (600, "0.40"), (1200, "0.40")], qty="100")
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        result = await run.handle.result()
    assert stage_times(run, result) == [
        (Stage.PASSIVE, 0),
        (Stage.SKEWED, 300),
        (Stage.MARKET, 600),
    ]
    assert order_points(run, result) == [(0, D("0.56"), D(100)), (600, D("0.35"), D(100))]
    assert fill_points(run, result) == [(600, D("0.39"), D(100))]
    assert result.realized_pnl == D("-16.00")
    assert result.duration_seconds == 600


async def test_status_then_force_exit_goes_to_market_at_once(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Just under the floor: the order rests at 0.56 and nothing is due before the skew at 300 s.
    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        status = await run.wait_status(lambda s: s.order is not None)
        assert status.stage is Stage.PASSIVE
        assert status.midpoint == D("0.545")
        assert status.order is not None
        assert (status.order.token, status.order.price, status.order.size) == (
            Token.YES,
            D("0.56"),
            D("20.00"),
        )
        assert status.held_token is Token.YES and status.held_qty == 20
        assert status.unrealized_pnl == D("-0.100")  # 20 * (0.545 - 0.55)
        assert status.realized_pnl == 0 and status.fills == ()
        assert status.orders_placed == 1 and not status.paused and not status.manual_exit
        assert run.venue_order(status.order.order_id).status is OrderStatus.LIVE

        await run.handle.signal(LiquidationWorkflow.force_exit)
        result = await run.handle.result()
    market_at = stage_times(run, result)[-1]
    assert market_at[0] is Stage.MARKET and market_at[1] < 300  # before any scheduled check
    assert [stage for stage, _ in stage_times(run, result)] == [Stage.PASSIVE, Stage.MARKET]
    # MARKET: min(bid 0.54, 0.545 - 0.05) down to the tick = 0.49, filled at the touch 0.54.
    assert [(p, s) for _, p, s in order_points(run, result)] == [
        (D("0.56"), D(20)),
        (D("0.49"), D(20)),
    ]
    assert [(p, s) for _, p, s in fill_points(run, result)] == [(D("0.54"), D(20))]
    assert result.realized_pnl == D("-0.2000")
    assert run.venue_order(status.order.order_id).status is OrderStatus.CANCELED


async def test_pause_cancels_and_holds_then_resume_places_again(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # At 120 s the midpoint rises to 0.57: the paused liquidation's old order at 0.55 would
    # have filled, and an active one would re-place at 0.57.
    scenario = one_market([(0, "0.55"), (120, "0.57"), (7200, "0.57")], avg_cost="0.50")
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        first = await run.wait_status(lambda s: s.order is not None)
        assert first.order is not None and first.order.price == D("0.55")

        await run.handle.signal(LiquidationWorkflow.pause)
        paused = await run.wait_status(lambda s: s.paused and s.order is None)
        assert run.venue_order(first.order.order_id).status is OrderStatus.CANCELED
        assert run.open_orders() == []

        await temporal_env.sleep(timedelta(minutes=5))
        await run.wait_status(lambda s: run.seconds(run.venue.now()) >= 300)
        held = await run.status()
        assert held.paused and held.order is None
        assert held.orders_placed == paused.orders_placed == 1
        assert held.fills == () and held.held_qty == 20
        assert run.open_orders() == []

        await run.handle.signal(LiquidationWorkflow.resume)
        resumed = await run.wait_status(lambda s: s.order is not None)
        assert not resumed.paused and resumed.orders_placed == 2
        assert resumed.order is not None and resumed.order.price == D("0.57")
        assert run.venue_order(resumed.order.order_id).status is OrderStatus.LIVE


async def test_force_exit_overrides_a_pause(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        await run.handle.signal(LiquidationWorkflow.pause)
        await run.wait_status(lambda s: s.paused and s.order is None)
        await run.handle.signal(LiquidationWorkflow.force_exit)
        result = await run.handle.result()
    assert (result.status, result.exit_stage) == ("closed", Stage.MARKET)
    assert (result.orders[-1].price, result.orders[-1].size) == (D("0.49"), D(20))
    assert result.fills[0].price == D("0.54")


async def test_set_config_rejects_bad_values_without_touching_history(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.53"), (7200, "0.53")], avg_cost="0.50")
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        await run.wait_status(lambda s: s.order is not None)
        for bad in (
            {"skew_per_minute": "-0.1"},
            {"timeout_minutes": "0"},
            {"timeout_stage": "PASSIVE"},
            {"no_such_setting": 1},
        ):
            with pytest.raises(WorkflowUpdateFailedError):
                await run.handle.execute_update(LiquidationWorkflow.set_config, bad)
        assert (await run.status()).config == LiquidationConfig()
        history = await run.handle.fetch_history()
        assert not [e for e in history.events if e.event_type in UPDATE_EVENTS]


async def test_set_config_accepted_takes_effect(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A 30 s timeout set mid-run: AGGRESSIVE at 30 s sells at 0.51 and fills at the bid 0.52.
    scenario = one_market([(0, "0.53"), (7200, "0.53")], avg_cost="0.50")
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        await run.wait_status(lambda s: s.order is not None)
        config = await run.handle.execute_update(
            LiquidationWorkflow.set_config, {"timeout_minutes": "0.5"}
        )
        assert config == LiquidationConfig(timeout_minutes=D("0.5"))
        assert (await run.status()).config == config
        result = await run.handle.result()
    assert stage_times(run, result) == [(Stage.PASSIVE, 0), (Stage.AGGRESSIVE, 30)]
    assert fill_points(run, result) == [(30, D("0.52"), D(20))]
    assert result.realized_pnl == D("0.4000")
    history = await run.handle.fetch_history()
    assert [e for e in history.events if e.event_type in UPDATE_EVENTS]


async def test_partial_fills_shrink_the_order_without_replacing_until_the_price_moves(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # SKEWED from the start with the floor binding at 0.56: fills of 5 (fill_cap) at each
    # midpoint change leave the order as it is; at 180 s the target rises to 0.58 and the
    # last 5 are re-placed there, crossing the 0.59 bid.
    scenario = one_market([(0, "0.55"), (60, "0.57"), (120, "0.57"), (180, "0.60"), (7200, "0.60")])
    config = LiquidationConfig(skew_start_minutes=D(0), skew_per_minute=D("0.5"))
    async with running_liquidation(
        temporal_env, task_queue, scenario, config=config, fill_cap=D(5)
    ) as run:
        result = await run.handle.result()
    assert order_points(run, result) == [(0, D("0.56"), D(20)), (180, D("0.58"), D(5))]
    assert fill_points(run, result) == [
        (60, D("0.56"), D(5)),
        (120, D("0.56"), D(5)),
        (180, D("0.56"), D(5)),
        (180, D("0.59"), D(5)),
    ]
    assert result.status == "closed" and result.remaining_qty == 0
    assert result.realized_pnl == D("0.35")
    first = run.venue_order(result.orders[0].order_id)
    assert (first.status, first.size_matched) == (OrderStatus.CANCELED, D(15))


async def test_partial_fill_to_dust_ends_and_cancels_the_rest(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.53"), (60, "0.56"), (7200, "0.56")], avg_cost="0.50")
    async with running_liquidation(temporal_env, task_queue, scenario, fill_cap=D(17)) as run:
        result = await run.handle.result()
    assert result.status == "dust"
    assert result.remaining_qty == D(3)
    assert result.duration_seconds == 60
    assert fill_points(run, result) == [(60, D("0.53"), D(17))]
    assert result.realized_pnl == D("0.51")
    order = run.venue_order(result.orders[0].order_id)
    assert (order.status, order.size_matched) == (OrderStatus.CANCELED, D(17))


async def test_dust_position_ends_without_an_order(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.53")], qty="3")
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        result = await run.handle.result()
    assert result.status == "dust"
    assert (result.remaining_qty, result.duration_seconds) == (D(3), 0)
    assert result.orders == () and "dust" in result.reason


@pytest.mark.parametrize(
    ("winner", "payout", "pnl"), [(Token.YES, D(20), D("9.00")), (Token.NO, D(0), D("-11.00"))]
)
async def test_a_market_resolved_under_a_liquidation_ends_it_awaiting_redemption(
    temporal_env: WorkflowEnvironment, task_queue: str, winner: Token, payout: D, pnl: D
) -> None:
    # Resting at 0.56 (the profit floor over 0.55) when the venue resolves the market: it
    # cancels the order and refuses any other, so the held YES can only be redeemed.
    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        resting = await run.wait_status(lambda s: s.order is not None)
        assert resting.order is not None
        run.venue.resolve(resting.condition_id, winner)
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            result = await run.handle.result()
        assert run.open_orders() == []
    assert result.status == "resolved"
    assert result.exit_stage is Stage.PASSIVE  # no escalation toward a closed book
    assert result.remaining_qty == 20 and result.fills == ()
    assert [o.order_id for o in result.orders] == [resting.order.order_id]
    assert result.resolution is not None
    assert (result.resolution.winner, result.resolution.payout) == (winner, payout)
    assert result.realized_pnl == pnl  # 20 held at 0.55 valued at the payout
    assert f"{winner.value} won" in result.reason and "redemption" in result.reason
    assert result.exit_at == result.finished_at


async def test_cancel_cancels_the_resting_order_and_one_market_runs_once(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        status = await run.wait_status(lambda s: s.order is not None)
        assert status.order is not None
        with pytest.raises(WorkflowAlreadyStartedError):
            async with running_liquidation(temporal_env, f"{task_queue}-2", scenario):
                pass
        await run.handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await run.handle.result()
        assert isinstance(failure.value.cause, CancelledError)
    entry = next(o for o in run.venue.ledger()["orders"] if o["order_id"] == status.order.order_id)
    assert entry["status"] == "CANCELED" and entry["cancelled_at"] is not None
    assert run.open_orders() == []


class GatedExchange(SimExchange):
    """Holds placements (and syncs, once `hold_syncs` is set) until the test opens the gate."""

    def __init__(self, venue: SimVenue, hold_placements: bool) -> None:
        super().__init__(venue, REPLAY_WALLET)
        self.hold_placements = hold_placements
        self.hold_syncs = False
        self.held = asyncio.Event()
        self.gate = asyncio.Event()

    async def _hold(self) -> None:
        self.held.set()
        await self.gate.wait()

    async def place_order(self, request: PlaceOrder) -> Order:
        if self.hold_placements:
            await self._hold()
        return await super().place_order(request)

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        if self.hold_syncs:
            await self._hold()
        return await super().fills(market, cursor)


async def cancel_and_expect_cancelled(run: Liquidation) -> None:
    await run.handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            await run.handle.result()
    assert isinstance(failure.value.cause, CancelledError)


async def test_cancel_during_a_placement_cancels_the_order_it_places(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    gated: list[GatedExchange] = []

    def exchange(venue: SimVenue) -> GatedExchange:
        gated.append(GatedExchange(venue, hold_placements=True))
        return gated[0]

    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(temporal_env, task_queue, scenario, exchange=exchange) as run:
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            await gated[0].held.wait()
        # The venue accepts the order only after the cancellation reached the workflow.
        cancelled = asyncio.create_task(cancel_and_expect_cancelled(run))
        await asyncio.sleep(0.2)
        gated[0].gate.set()
        await cancelled
    orders = run.venue.ledger()["orders"]
    assert [(o["price"], o["status"]) for o in orders] == [("0.56", "CANCELED")]


async def test_cancel_during_a_sync_cancels_the_resting_order(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # On the dev server: the held sync completes after the workflow closed, which would leave
    # the time-skipping server's clock locked for the rest of the session.
    gated: list[GatedExchange] = []

    def exchange(venue: SimVenue) -> GatedExchange:
        gated.append(GatedExchange(venue, hold_placements=False))
        return gated[0]

    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(dev_env, task_queue, scenario, exchange=exchange) as run:
        status = await run.wait_status(lambda s: s.order is not None)
        assert status.order is not None
        gated[0].hold_syncs = True
        await run.handle.signal(LiquidationWorkflow.resume)  # wakes the loop: a sync now
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            await gated[0].held.wait()
        await cancel_and_expect_cancelled(run)
        gated[0].gate.set()
    assert run.venue_order(status.order.order_id).status is OrderStatus.CANCELED
    assert run.open_orders() == []


async def test_invalid_input_fails_the_workflow_instead_of_retrying_forever(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.55")])
    async with running_liquidation(temporal_env, task_queue, scenario) as run:
        bad = {
            "market": scenario.markets[0].info().model_dump(mode="json"),
            "position": {"yes_qty": "20", "yes_cost": "11"},
            "config": {"timeout_minutes": "-1"},
            "started_at": run.start.isoformat(),
        }
        handle = await temporal_env.client.start_workflow(
            "LiquidationWorkflow", bad, id=f"{run.handle.id}-bad", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "timeout_minutes" in str(failure.value.cause)


async def test_a_sell_refused_for_balance_is_retried_until_the_tokens_arrive(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Nothing credited yet: the SELL is refused (not enough tokens, as while a buy settles)
    # and the placement is retried rather than given up; the tokens arrive, the order rests.
    scenario = one_market([(0, "0.545"), (7200, "0.545")])
    async with running_liquidation(temporal_env, task_queue, scenario, credit=False) as run:
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            while True:
                pending = (await run.handle.describe()).raw_description.pending_activities
                if any(p.attempt >= 2 and "balance" in p.last_failure.message for p in pending):
                    break
                await asyncio.sleep(0.05)
        market = scenario.markets[0].info()
        run.venue.credit(REPLAY_WALLET, market.yes_token_id, D(20))
        placed = await run.wait_status(lambda s: s.order is not None)
        assert placed.order is not None and placed.order.size == 20


@workflow.defn(sandboxed=False)
class FakeParent:
    """Stands in for ActiveMarketWorkflow: keeps the stage changes it is sent and returns the
    first liquidation result."""

    def __init__(self) -> None:
        self._result: LiquidationResult | None = None
        self._stages: list[LiquidationStageChange] = []

    @workflow.run
    async def run(self) -> LiquidationResult:
        await workflow.wait_condition(lambda: self._result is not None)
        assert self._result is not None
        return self._result

    @workflow.signal(name=FINISHED_SIGNAL)
    def finished(self, result: LiquidationResult) -> None:
        self._result = result

    @workflow.signal(name=STAGE_SIGNAL)
    def stage(self, change: LiquidationStageChange) -> None:
        self._stages.append(change)

    @workflow.query
    def stages(self) -> list[LiquidationStageChange]:
        return self._stages


async def test_stage_changes_and_completion_are_signalled_to_the_parent(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    parent_queue = f"{task_queue}-parent"
    async with Worker(
        temporal_env.client,
        task_queue=parent_queue,
        workflows=[FakeParent],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        parent = await temporal_env.client.start_workflow(
            FakeParent.run, id=parent_queue, task_queue=parent_queue
        )
        # Resting at the floor 0.56 until skew starts (5 min), filled when the mid is 0.60.
        scenario = one_market([(0, "0.55"), (400, "0.60"), (900, "0.60")])
        async with running_liquidation(
            temporal_env, task_queue, scenario, parent_workflow_id=parent.id
        ) as run:
            result = await run.handle.result()
        assert await parent.result() == result
        changes = await parent.query(FakeParent.stages)
    assert result.status == "closed" and result.exit_stage is Stage.SKEWED
    assert [(c.stage, (c.at - run.start).total_seconds()) for c in changes] == [(Stage.SKEWED, 300)]
    assert {c.condition_id for c in changes} == {result.condition_id}


async def test_a_missing_parent_does_not_stop_the_liquidation(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.55"), (60, "0.60"), (600, "0.60")])
    async with running_liquidation(
        temporal_env, task_queue, scenario, parent_workflow_id="no-such-parent"
    ) as run:
        result = await run.handle.result()
    assert result.status == "closed" and result.realized_pnl > 0


async def test_activities_are_idempotent_and_classify_venue_errors() -> None:
    scenario = one_market([(0, "0.55")])
    from dualmm.temporal_replay import scenario_venue

    venue = scenario_venue(scenario, scenario.markets[0])
    activities = LiquidationActivities(SimExchange(venue, REPLAY_WALLET))
    env = ActivityEnvironment()
    info = scenario.markets[0].info()
    request = PlaceOrder(
        key="k-1",
        market=info,
        token_id=info.yes_token_id,
        side=Side.SELL,
        price=D("0.60"),
        size=D(20),
    )
    first = await env.run(activities.place_order, request)
    again = await env.run(activities.place_order, request)
    assert first.order_id == again.order_id
    assert len(venue.open_orders(REPLAY_WALLET)) == 1

    off_tick = request.model_copy(update={"key": "k-2", "price": D("0.605")})
    with pytest.raises(ApplicationError) as rejected:
        await env.run(activities.place_order, off_tick)
    assert rejected.value.non_retryable and rejected.value.type == "InvalidOrder"

    await env.run(activities.cancel_order, CancelRequest(order_id=first.order_id))
    await env.run(activities.cancel_order, CancelRequest(order_id=first.order_id))
    await env.run(activities.cancel_order, CancelRequest(order_id="0xunknown"))
    assert venue.open_orders(REPLAY_WALLET) == []


async def test_continue_as_new_carries_the_liquidation_on_the_dev_server(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Checks every second; skew of 0.025/min reaches 0.005 after 12 s and the SELL crosses the
    # 0.52 bid. The dev server suggests continue-as-new after 40 events (about 7 checks).
    scenario = one_market([(0, "0.53"), (3600, "0.53")], avg_cost="0.50")
    config = LiquidationConfig(
        skew_start_minutes=D(0), skew_per_minute=D("0.025"), price_check_interval_ms=1000
    )
    async with running_liquidation(dev_env, task_queue, scenario, config=config) as run:
        result = await run.handle.result()
        first_run = await dev_env.client.get_workflow_handle(
            run.handle.id, run_id=run.handle.first_execution_run_id
        ).fetch_history()
    assert first_run.events[-1].event_type == (
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    )
    assert result.status == "closed"
    assert [(p, s) for _, p, s in fill_points(run, result)] == [(D("0.52"), D(20))]
    assert result.realized_pnl == D("0.4000")
    assert [stage for stage, _ in stage_times(run, result)] == [Stage.PASSIVE, Stage.SKEWED]
    assert [order.price for order in result.orders] == [D("0.53"), D("0.52")]


# -- exact fill boundaries (issue 9) --------------------------------------------------------------


async def test_a_liquidation_without_a_parent_counts_only_its_own_fills(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    """On the simulator over HTTP through ClobExchange: the wallet bought 10 YES @ 0.51 and sold
    them @ 0.49 two minutes ago; then the operator starts a liquidation of 10 YES @ 0.40 with no
    parent and no cursor. The CLOB cursor re-reads an hour of fills: counted, they made the
    position 10 YES @ 0.455 with 0.35 realized, and the exit at 0.50 reported 0.80 instead of
    1.00. Its position, P&L and fill list are its own."""
    now = (await temporal_env.get_current_time()).replace(microsecond=0)
    start = now - timedelta(minutes=2)
    scenario = one_market([(0, "0.50"), (240, "0.52"), (3600, "0.52")], qty="10", avg_cost="0.40")
    scenario = scenario.model_copy(update={"start": start})
    market = scenario.markets[0].info()
    venue = SimVenue.from_scenario(scenario)
    key = "0x" + bytes(Account.create().key).hex()
    wallet = Account.from_key(key).address
    with SimServer(venue) as server:
        settings = ProcessSettings(
            exchange="sim", clob_url=server.url, private_key=SecretStr(key), clob_timeout_seconds=5
        )
        exchange = await ClobExchange.connect(settings)

        def earlier(key: str, side: Side, price: str) -> PlaceOrder:
            return PlaceOrder(
                key=key,
                market=market,
                token_id=market.yes_token_id,
                side=side,
                price=D(price),
                size=D(10),
                signed_at=venue.now(),
            )

        await exchange.place_order(earlier("before-buy", Side.BUY, "0.55"))  # fills at 0.51
        venue.advance(60)
        await exchange.place_order(earlier("before-sell", Side.SELL, "0.45"))  # fills at 0.49
        venue.credit(wallet, market.yes_token_id, D(10))  # the position handed to the operator
        async with liquidation_worker(temporal_env.client, venue, exchange, task_queue):
            result = await temporal_env.client.execute_workflow(
                LiquidationWorkflow.run,
                LiquidationInput(
                    market=market,
                    position=opening_position(scenario.markets[0]),
                    config=LiquidationConfig(price_check_interval_ms=30_000),
                    started_at=now,
                ),
                id=liquidation_workflow_id(market.condition_id),
                task_queue=task_queue,
            )
    assert result.status == "closed"
    assert [(f.side, f.price, f.size) for f in result.fills] == [(Side.SELL, D("0.50"), D(10))]
    assert result.realized_pnl == D("1.00")
    position = result.position
    assert (position.yes_qty, position.yes_cost, position.no_qty) == (0, 0, 0)
    assert venue.balances(wallet).tokens[market.yes_token_id] == 0


def test_the_bot_finds_its_running_liquidations_by_their_type_and_id() -> None:
    """activities.market_making spells the liquidation's type and id prefix itself (it does not
    import the workflow): they must stay the workflow's."""
    assert liquidation_workflow_id("0xc") == LIQUIDATION_ID_PREFIX + "0xc"
    definition = workflow._Definition.must_from_class(LiquidationWorkflow)
    assert definition.name == LIQUIDATION_WORKFLOW


async def test_a_flat_liquidation_waits_for_the_trades_it_inherited_to_settle(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The chaos run (seed 5150) ended with the bot counting 20 NO the venue did not hold: a
    round handed over YES 20 + NO 20 with its NO buy still MATCHED, the liquidation was flat
    and finished at once (it waited only for its own orders' trades), then the NO buy FAILED
    and no one was left to count it. It now waits for the handed-over trades too, and sells the
    YES the failure leaves."""
    start = (await temporal_env.get_current_time()).replace(microsecond=0)
    scenario = one_market([(0, "0.50"), (7200, "0.50")]).model_copy(update={"start": start})
    info = scenario.markets[0].info()
    venue = SimVenue.from_scenario(
        scenario, rules=VenueRules(settle_min_seconds=3600, settle_max_seconds=3600)
    )
    venue.credit(REPLAY_WALLET, info.yes_token_id, D(20))  # the round's YES, settled
    exchange = SimExchange(venue, REPLAY_WALLET)
    venue.place(REPLAY_WALLET, "round-no", info.no_token_id, Side.BUY, D("0.60"), D(20))
    page = await exchange.fills(info)
    (no_buy,) = page.fills
    assert (no_buy.token, no_buy.status) == (Token.NO, "MATCHED")
    handed_over = opening_position(scenario.markets[0]).apply_fills(page.fills)
    assert (handed_over.yes_qty, handed_over.no_qty) == (20, 20) and handed_over.is_flat
    async with liquidation_worker(temporal_env.client, venue, exchange, task_queue):
        handle = await temporal_env.client.start_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=handed_over,
                config=LiquidationConfig(price_check_interval_ms=5_000),
                started_at=start,
                cursor=page.cursor,
            ),
            id=liquidation_workflow_id(info.condition_id),
            task_queue=task_queue,
        )
        run = Liquidation(env=temporal_env, venue=venue, handle=handle, start=start)
        try:
            await temporal_env.sleep(timedelta(minutes=2))
            assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
            assert (await run.status()).held_qty == 0  # flat, waiting for the NO buy
            venue.fail_trade(no_buy.trade_id)
            selling = await run.wait_status(lambda s: s.order is not None)
            assert (selling.held_token, selling.held_qty) == (Token.YES, D(20))
            assert selling.order is not None and selling.order.token is Token.YES
        finally:
            await stop_liquidation(temporal_env, handle.id)

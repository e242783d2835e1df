"""LiquidationWorkflow: exits one market's position through the staged engine, durably.

It drives the liquidation algorithm (dualmm.liquidator, the same one `dualmm replay` and the
backtest drive) through its port: the sync is a local activity, placements, cancels and merges
are activities, and it sleeps on a durable timer until the plan's wake time. Signals and the
config update act at once (they wake the sleep), and so does the market: while it sleeps, an
activity watches the pushed book (`liquidation_wait_for_move`) and ends the sleep when the
midpoint moves off the one its PASSIVE or SKEWED order was priced at, or crosses the
stop-loss. The timer stays the check's clock: when it fires first the watch is cancelled, and
a watch lost with its worker delays nothing.

The sync is a local activity: it only reads the venue, so running it inside the workflow task
that the timer wakes (its result recorded as a marker) costs one workflow task and 6 history
events per check instead of two tasks, an activity task and 11 events. In the Temporal UI a
check shows as a `liquidation_sync_position` local-activity marker.

The clock a replay reads. A sync retried or run past the workflow task's heartbeat (80 % of its
timeout) is replayed in one task with the heartbeat tasks it spanned, so the code that
scheduled it reads a later `workflow.now()`, and maybe another continue-as-new suggestion, on
replay than it did when it ran. Nothing decided comes from those readings: the check's time is
the one its sync recorded (`snapshot.at`, see Liquidation.run), a failed check counts from when
its failure resolved, and the suggestion is read as a sync resolves. Where a wait reads the
clock it asks only whether its time has passed, which a later reading does not undo.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError, is_cancelled_exception

from workflows import search_attributes, ui_text
from workflows.contracts import (
    FINISHED_SIGNAL,
    FORCE_EXIT_SIGNAL,
    LIQUIDATION_ACTIVITY_TIMEOUT,
    MOVE_WAIT_HEARTBEAT_TIMEOUT,
    PAUSE_SIGNAL,
    RESUME_SIGNAL,
    SET_CONFIG_UPDATE,
    STAGE_SIGNAL,
    STATUS_QUERY,
    venue_retry,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.liquidation import (
        CancelRequest,
        LiquidationActivities,
        MarketMove,
        MergeRequest,
        MoveWaitRequest,
        PositionSyncRequest,
    )
    from dualmm.config import LiquidationConfig, describe_validation_error
    from dualmm.domain.liquidation import LiquidationState, elapsed_seconds, move_watch
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.types import Fill, Frozen, OrderIntent
    from dualmm.exchange.base import MergeReport, Order, PlaceOrder
    from dualmm.exchange.sync import PositionSync, still_resting
    from dualmm.liquidator import CheckFailed, Liquidation

    # Re-exported: callers import the liquidation's types from here.
    from dualmm.liquidator import LiquidationResult as LiquidationResult
    from dualmm.liquidator import PlacedOrder as PlacedOrder
    from workflows.liquidation_types import LiquidationInput as LiquidationInput
    from workflows.liquidation_types import LiquidationStageChange as LiquidationStageChange
    from workflows.liquidation_types import LiquidationStatus as LiquidationStatus

# A timer that fires within this of its time is the check scheduled for that time (a busy
# worker or server delays a wake-up by a second or so); a later wake-up (a worker outage)
# checks at the real time.
TIMER_SLACK = timedelta(seconds=2)
# A watch runs a little past its timer, so the timer (the check's clock) normally ends it.
WATCH_OVERRUN = timedelta(seconds=5)


def _drop_outcome(watch: asyncio.Future[MarketMove]) -> None:
    if not watch.cancelled():
        watch.exception()


def _whole_seconds(at: datetime) -> datetime:
    """The engine's time resolution."""
    return at.replace(microsecond=0)


# Pinned on a versioned worker (its default, dualmm.worker; docs/versioning.md): a liquidation
# runs to its end on the version that started it, never replayed by a newer one.
@workflow.defn(failure_exception_types=[ValidationError])
class LiquidationWorkflow:
    """One market's liquidation; the workflow is the algorithm's port (see the module docstring).

    A pydantic ValidationError (bad input or carried state) fails the workflow instead of
    retrying its task forever; any other bug retries the task, so a fixed worker resumes it.
    """

    @workflow.init
    def __init__(self, input: LiquidationInput) -> None:
        self._input = input
        self._market = input.market
        self._liquidation = Liquidation(
            self,
            input.market,
            input.position,
            input.config,
            input.state or LiquidationState.start(input.market.condition_id, input.started_at),
            merge_id=workflow.info().workflow_id,
            resting=input.resting,
            cursor=input.cursor,
            orders=input.orders,
            fills=input.fills,
            merges=input.merges,
        )
        self._placing: workflow.ActivityHandle[Order] | None = None
        self._wake = False
        self._feedless = False  # the venue pushes no books: sleeps need no watch (this run)
        self._watchable = True  # the last check's worker can watch (PositionSync.watchable)
        self._continue_suggested = False  # as the last sync resolved: continue-as-new

    @workflow.run
    async def run(self, input: LiquidationInput) -> LiquidationResult:
        liquidation = self._liquidation
        search_attributes.upsert(search_attributes.STAGE.value_set(liquidation.state.stage.value))
        if input.next_check_at is None:  # not a continue-as-new
            workflow.logger.info(
                "liquidation started: %s %s in %s",
                liquidation.position.held_token,
                liquidation.position.held_qty,
                liquidation.state.stage.value,
                extra=self._ids(),
            )
        try:
            result = await liquidation.run(input.next_check_at or input.started_at)
        except (asyncio.CancelledError, ActivityError) as exc:
            # A cancel arrives as CancelledError, or as the error of the activity it interrupted.
            if is_cancelled_exception(exc):
                await self._withdraw_after_cancel()
            raise
        return await self._finish(result)

    async def _withdraw_after_cancel(self) -> None:
        """Cancelling the liquidation takes its order off the book, even one being placed."""
        if self._placing is not None:
            try:
                placed: Order | None = await self._placing
            except ActivityError:
                placed = None  # refused: nothing rests
            if placed is not None and still_resting(placed):
                with contextlib.suppress(CheckFailed):  # logged; the cancel goes on
                    await self.cancel(placed.order_id)
        with contextlib.suppress(CheckFailed):
            await self._liquidation.cancel_resting()

    # -- the algorithm's port ------------------------------------------------------------------

    async def sleep_until(self, at: datetime) -> datetime:
        """A durable timer until `at`, or a signal; the check time (continue-as-new first
        when the history has grown long enough)."""
        liquidation = self._liquidation
        if self._continue_suggested:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(self._carried(at))
        workflow.set_current_details(
            ui_text.liquidation_current(
                liquidation.state.stage,
                liquidation.position,
                liquidation.snapshot.midpoint if liquidation.snapshot else None,
                liquidation.resting,
                liquidation.state.paused,
                liquidation.last_error,
            )
        )
        moved = await self._sleep(at)
        woken, self._wake = self._wake or moved, False
        now = workflow.now()
        if not woken and now - at < TIMER_SLACK:
            return at
        return _whole_seconds(now)

    async def _sleep(self, at: datetime) -> bool:
        """The timer until `at`, raced with a watch of the market; whether the market ended it
        (a signal sets `_wake`)."""
        watch = self._start_watch(at)
        try:
            if watch is not None:
                watching = watch
                if not await self._wait_until(at, lambda: self._wake or watching.done()):
                    return False  # the timer came first
                if self._wake:
                    return False
                move, watch = self._watch_result(watching), None
                if move is not None and move.reason is not None:
                    workflow.logger.info("market moved: %s", move.reason, extra=self._ids())
                    return True
            await self._wait_until(at, lambda: self._wake)  # the watch saw nothing
            return False
        finally:
            if watch is not None and not watch.done():
                watch.cancel()  # the timer or a signal came first
                # Nobody awaits a cancelled watch: take its outcome so that it is not logged
                # as an error ("exception was never retrieved") when it is collected.
                watch.add_done_callback(_drop_outcome)

    async def _wait_until(self, at: datetime, condition: Callable[[], bool]) -> bool:
        """Until `condition` holds (True) or the durable timer fires at `at` (False)."""
        timeout = at - workflow.now()
        if timeout <= timedelta(0):
            return condition()
        try:
            await workflow.wait_condition(
                condition, timeout=timeout, timeout_summary=ui_text.next_check_summary(at)
            )
        except TimeoutError:
            return False
        return True

    def _start_watch(self, at: datetime) -> workflow.ActivityHandle[MarketMove] | None:
        """The activity that watches the market until `at`, if anything is to be watched."""
        liquidation = self._liquidation
        seconds = (at - workflow.now()).total_seconds()
        # A worker that cannot watch answers at once (watched=False): a cancel of that watch
        # sent before its answer is seen names an activity the server has already closed (the
        # time-skipping test server rejects the whole workflow task: ACTIVITY_UNKNOWN).
        if self._feedless or not self._watchable or liquidation.snapshot is None or seconds <= 0:
            return None
        watch = move_watch(
            liquidation.state,
            liquidation.position,
            liquidation.resting,
            liquidation.snapshot,
            liquidation.config,
        )
        if watch is None:
            return None
        return workflow.start_activity_method(
            LiquidationActivities.wait_for_move,
            MoveWaitRequest(market=self._market, watch=watch, seconds=seconds),
            schedule_to_close_timeout=at - workflow.now() + WATCH_OVERRUN,
            heartbeat_timeout=MOVE_WAIT_HEARTBEAT_TIMEOUT,
            retry_policy=venue_retry(),
            summary=ui_text.watch_summary(watch.priced_mid),
        )

    def _watch_result(self, watch: workflow.ActivityHandle[MarketMove]) -> MarketMove | None:
        """What a finished watch saw; None when it failed (the timer still stands)."""
        if watch.cancelled() or watch.exception() is not None:
            return None
        move = watch.result()
        if not move.watched:
            self._feedless = True
        return move

    async def sync(
        self,
        cursor: str | None,
        resting_order_id: str | None,
        at: datetime,
        position: PositionTracker,
        fills: tuple[Fill, ...],
        order_ids: tuple[str, ...],
    ) -> PositionSync:
        """A local activity (one workflow task and a marker per check) that folds the reports
        into the position, so its request and result stay as small as the position."""
        request = PositionSyncRequest(
            market=self._market,
            cursor=cursor,
            resting_order_id=resting_order_id,
            as_of=at,
            position=position,
            fills=fills,
            order_ids=order_ids,
        )
        try:
            async with self._check_failed():
                synced = await workflow.execute_local_activity_method(
                    LiquidationActivities.sync_position,
                    request,
                    start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
                    retry_policy=venue_retry(),
                    summary=ui_text.check_summary(self._liquidation.state.stage, position),
                )
        finally:
            # Read as the sync resolves, where a replay reads it alike (module docstring).
            self._continue_suggested = workflow.info().is_continue_as_new_suggested()
        self._record_pnl(synced.position, synced.snapshot.midpoint)
        self._watchable = synced.watchable
        return synced

    async def place(self, order: PlaceOrder) -> Order:
        # Shielded: a cancellation arriving mid-placement waits for the order to cancel it.
        self._placing = workflow.start_activity_method(
            LiquidationActivities.place_order,
            order,
            start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
            retry_policy=venue_retry(),
            summary=ui_text.place_summary(
                OrderIntent(
                    token=self._market.token_of(order.token_id),
                    side=order.side,
                    price=order.price,
                    size=order.size,
                )
            ),
        )
        try:
            async with self._check_failed():
                return await asyncio.shield(self._placing)
        finally:
            if self._placing.done():
                self._placing = None

    async def cancel(self, order_id: str) -> None:
        async with self._check_failed():
            await workflow.execute_activity_method(
                LiquidationActivities.cancel_order,
                CancelRequest(order_id=order_id),
                start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
                retry_policy=venue_retry(),
                summary=ui_text.cancel_summary(order_id),
            )

    async def merge(self, qty: Decimal, key: str) -> Decimal:
        """Signed by one activity, sent by another: the history holds the transaction before
        anything is broadcast, so a retry sends the same one (exactly once on-chain)."""
        request = MergeRequest(market=self._market, qty=qty, key=key)
        async with self._check_failed(f"merge of {qty} pairs refused"):
            signed = await workflow.execute_activity_method(
                LiquidationActivities.sign_merge,
                request,
                start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
                retry_policy=venue_retry(),
                summary=ui_text.merge_summary(qty),
            )
            if isinstance(signed, MergeReport):  # merged without a transaction of ours
                return signed.qty
            report = await workflow.execute_activity_method(
                LiquidationActivities.merge_pairs,
                request.model_copy(update={"signed": signed}),
                start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
                retry_policy=venue_retry(),
                summary=ui_text.merge_summary(qty),
            )
        return report.qty

    async def escalated(self, state: LiquidationState, reason: str, at: datetime) -> None:
        stage = state.stage
        workflow.logger.info("stage -> %s: %s", stage.value, reason, extra=self._ids())
        workflow.metric_meter().create_counter(
            "dualmm_liquidation_stage_transitions", "Liquidation stage escalations"
        ).add(1, {"stage": stage.value})
        search_attributes.upsert(search_attributes.STAGE.value_set(stage.value))
        await self._signal_parent(
            STAGE_SIGNAL,
            LiquidationStageChange(condition_id=self._market.condition_id, stage=stage, at=at),
        )

    @contextlib.asynccontextmanager
    async def _check_failed(self, what: str = "liquidation check failed") -> AsyncIterator[None]:
        """An activity's failure (not a cancellation) is a CheckFailed for the algorithm. A
        local activity's (the sync's) arrives as its own failure, not wrapped in an
        ActivityError: a refused sync failed the whole liquidation before."""
        try:
            yield
        except FailureError as exc:
            if is_cancelled_exception(exc):
                raise
            message = str(exc.cause or exc)
            workflow.logger.warning("%s: %s", what, message, extra=self._ids())
            raise CheckFailed(message, seen_at=_whole_seconds(workflow.now())) from None

    # -- reporting -----------------------------------------------------------------------------

    def _record_pnl(self, position: PositionTracker, midpoint: Decimal | None) -> None:
        """P&L gauges for this market (replay-safe: nothing is recorded while replaying).
        Temporal gauges hold no negative value: each P&L is a profit and a loss gauge."""
        meter = workflow.metric_meter().with_additional_attributes(
            {"market": self._market.condition_id}
        )
        values = {"realized": position.realized_pnl}
        if midpoint is not None:
            values["unrealized"] = position.unrealized_pnl(midpoint)
        for name, pnl in values.items():
            meter.create_gauge_float(f"dualmm_{name}_profit", f"{name} P&L if >0", "USDC").set(
                float(max(pnl, Decimal(0)))
            )
            meter.create_gauge_float(f"dualmm_{name}_loss", f"-{name} P&L if <0", "USDC").set(
                float(max(-pnl, Decimal(0)))
            )

    async def _finish(self, result: LiquidationResult) -> LiquidationResult:
        outcome = result.status
        meter = workflow.metric_meter()
        labels = {"outcome": outcome, "exit_stage": result.exit_stage.value}
        meter.create_counter("dualmm_liquidations_finished", "Liquidations finished").add(1, labels)
        meter.create_histogram("dualmm_liquidation_duration", "Liquidation duration", "s").record(
            result.duration_seconds, {"outcome": outcome}
        )
        self._record_pnl(result.position, None)
        search_attributes.upsert(search_attributes.OUTCOME.value_set(outcome))
        workflow.set_current_details(
            ui_text.liquidation_finished(result, self._liquidation.state.orders_placed)
        )
        workflow.logger.info(
            "liquidation %s in %s after %ss: %s, realized %s",
            outcome,
            result.exit_stage.value,
            result.duration_seconds,
            result.reason,
            result.realized_pnl,
            extra=self._ids(),
        )
        await self._signal_parent(FINISHED_SIGNAL, result)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    async def _signal_parent(self, name: str, arg: Frozen) -> None:
        parent = self._input.parent_workflow_id
        if parent is None:
            return
        try:
            await workflow.get_external_workflow_handle(parent).signal(name, arg)
        except FailureError as exc:
            # The parent is gone (finished, terminated): the liquidation goes on regardless.
            workflow.logger.warning(
                "parent %s not signalled %s: %s", parent, name, exc, extra=self._ids()
            )

    def _ids(self) -> dict[str, str]:
        """A log line's ids beyond the workflow's own (dualmm.logs)."""
        ids = {"market": self._market.condition_id}
        resting = self._liquidation.resting
        if resting is not None:
            ids["order_id"] = resting.order_id
        return ids

    def _carried(self, next_check_at: datetime) -> LiquidationInput:
        liquidation = self._liquidation
        return self._input.model_copy(
            update={
                "config": liquidation.config,
                "position": liquidation.position,
                "cursor": liquidation.cursor,
                "state": liquidation.state,
                "resting": liquidation.resting,
                "next_check_at": next_check_at,
                "orders": liquidation.orders,
                "fills": liquidation.fills,
                "merges": liquidation.merges,
            }
        )

    @workflow.signal(name=FORCE_EXIT_SIGNAL)
    def force_exit(self) -> None:
        """Jump to MARKET at once; an explicit exit overrides a pause."""
        liquidation = self._liquidation
        liquidation.state = liquidation.state.with_manual_exit().with_paused(False)
        self._wake = True

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self) -> None:
        """Cancel the resting order and place nothing until resumed."""
        self._liquidation.state = self._liquidation.state.with_paused(True)
        self._wake = True

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        self._liquidation.state = self._liquidation.state.with_paused(False)
        self._wake = True

    @workflow.update(name=SET_CONFIG_UPDATE)
    def set_config(self, changes: Mapping[str, object]) -> LiquidationConfig:
        """Change some config fields; returns the config now in force."""
        self._liquidation.config = self._merged_config(changes)
        self._wake = True
        return self._liquidation.config

    @set_config.validator
    def _validate_config(self, changes: Mapping[str, object]) -> None:
        self._merged_config(changes)

    def _merged_config(self, changes: Mapping[str, object]) -> LiquidationConfig:
        current = self._liquidation.config.model_dump()
        try:
            return LiquidationConfig.model_validate({**current, **changes})
        except ValidationError as exc:
            raise ValueError(f"set_config: {describe_validation_error(exc)}") from None

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> LiquidationStatus:
        liquidation = self._liquidation
        state, position = liquidation.state, liquidation.position
        mid = liquidation.snapshot.midpoint if liquidation.snapshot else None
        return LiquidationStatus(
            condition_id=self._market.condition_id,
            stage=state.stage,
            elapsed_seconds=elapsed_seconds(state.started_at, workflow.now()),
            paused=state.paused,
            manual_exit=state.manual_exit,
            midpoint=mid,
            order=liquidation.resting,
            held_token=position.held_token,
            held_qty=position.held_qty,
            position_cost=position.yes_cost + position.no_cost,
            unrealized_pnl=None if mid is None else position.unrealized_pnl(mid),
            realized_pnl=position.realized_pnl,
            fills=liquidation.fills,
            pending_reversals=position.pending_reversals,
            orders_placed=state.orders_placed,
            config=liquidation.config,
            last_error=liquidation.last_error,
        )

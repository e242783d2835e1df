"""LiquidationWorkflow: exits one market's position through the staged engine, durably.

It runs the shared liquidation loop (dualmm.domain.liquidation, the same loop as the pure
replay): sync the market at the check time, `step`, cancel/place what the plan says, then
sleep on a durable timer until the plan's wake time (the earlier of the next price check and
the next stage boundary). Signals wake it at once.

The sync is a local activity: it only reads the venue, so running it inside the workflow task
that the timer wakes (its result recorded as a marker) costs one workflow task and 6 history
events per check instead of two tasks, an activity task and 11 events; the dev server's and
the worker's work per check roughly halves (bench/capacity.py). In the Temporal UI a check
shows as a `liquidation_sync_position` local-activity marker. Placements and cancels, which
change the venue, stay ordinary activities.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError, is_cancelled_exception

from workflows import search_attributes, ui_text
from workflows.contracts import (
    FINISHED_SIGNAL,
    FORCE_EXIT_SIGNAL,
    LIQUIDATION_ACTIVITY_TIMEOUT,
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
        MergeRequest,
        PositionSyncRequest,
    )
    from dualmm.config import LiquidationConfig, describe_validation_error
    from dualmm.domain.liquidation import (
        LiquidationState,
        RestingOrder,
        elapsed_seconds,
        step,
    )
    from dualmm.domain.position import (
        RECENT_FILLS_KEPT,
        unsettled_trades,
    )
    from dualmm.domain.prices import round_size
    from dualmm.domain.types import (
        Frozen,
        MarketSnapshot,
        OrderIntent,
    )
    from dualmm.exchange.base import Order, OrderStatus, PlaceOrder
    from dualmm.exchange.sync import still_resting

    # Re-exported: callers import the liquidation's types from here.
    from workflows.liquidation_types import (
        LiquidationInput as LiquidationInput,
    )
    from workflows.liquidation_types import (
        LiquidationOutcome,
    )
    from workflows.liquidation_types import (
        LiquidationResult as LiquidationResult,
    )
    from workflows.liquidation_types import (
        LiquidationStageChange as LiquidationStageChange,
    )
    from workflows.liquidation_types import (
        LiquidationStatus as LiquidationStatus,
    )
    from workflows.liquidation_types import (
        PlacedOrder as PlacedOrder,
    )

_MERGE_ATTEMPTS = 3  # per run: a refusal (unsettled tokens, no on-chain path) is retried later

# A timer that fires within this of its time is the check scheduled for that time (a busy
# worker or server delays a wake-up by a second or so); a later wake-up (a worker outage)
# checks at the real time.
TIMER_SLACK = timedelta(seconds=2)

# The latest orders and fills kept in the workflow's state, payloads and results: a bounded
# window (the position holds the totals; the full lists stay in the history's activity results).
RECENT_KEPT = RECENT_FILLS_KEPT


def _whole_seconds(at: datetime) -> datetime:
    """The engine's time resolution."""
    return at.replace(microsecond=0)


@workflow.defn(failure_exception_types=[ValidationError])
class LiquidationWorkflow:
    """One market's liquidation. Signals and the config update act at once (they wake the loop).

    A pydantic ValidationError (bad input or carried state) fails the workflow instead of
    retrying its task forever; any other bug retries the task, so a fixed worker resumes it.
    """

    @workflow.init
    def __init__(self, input: LiquidationInput) -> None:
        self._input = input
        self._market = input.market
        self._config = input.config
        self._position = input.position
        self._state = input.state or LiquidationState.start(
            input.market.condition_id, input.started_at
        )
        self._resting = input.resting
        self._cursor = input.cursor
        self._orders = list(input.orders)
        self._fills = input.fills
        self._snapshot: MarketSnapshot | None = None
        self._last_error: str | None = None
        self._placing: workflow.ActivityHandle[Order] | None = None
        self._wake = False
        self._merges = input.merges
        self._merge_attempts = 0

    @workflow.run
    async def run(self, input: LiquidationInput) -> LiquidationResult:
        search_attributes.upsert(search_attributes.STAGE.value_set(self._state.stage.value))
        if input.next_check_at is None:  # not a continue-as-new
            workflow.logger.info(
                "liquidation started: %s %s in %s",
                self._position.held_token,
                self._position.held_qty,
                self._state.stage.value,
                extra=self._ids(),
            )
        try:
            return await self._liquidate(input.next_check_at or input.started_at)
        except (asyncio.CancelledError, ActivityError) as exc:
            # A cancel arrives as CancelledError, or as the error of the activity it interrupted.
            if is_cancelled_exception(exc):
                await self._withdraw_after_cancel()
            raise

    async def _withdraw_after_cancel(self) -> None:
        """Cancelling the liquidation takes its order off the book, even one being placed."""
        if self._placing is not None:
            try:
                placed: Order | None = await self._placing
            except ActivityError:
                placed = None  # refused: nothing rests
            if placed is not None and still_resting(placed):
                await self._cancel(placed.order_id)
        await self._cancel_resting()

    async def _liquidate(self, first_check: datetime) -> LiquidationResult:
        now = await self._sleep_until(first_check)
        while True:
            try:
                if self._input.stop_at is not None and now > self._input.stop_at:
                    await self._cancel_resting()
                    return await self._finish("open", "replay horizon reached", now)
                snapshot = await self._sync(now)
                await self._merge_pairs()
                plan = step(
                    self._state,
                    self._position,
                    self._resting,
                    snapshot,
                    now,
                    self._config,
                    # Trades that may still FAIL and hand shares back: a flat exit waits.
                    unsettled_trades(self._position, self._fills, now),
                )
                escalated = plan.state.stage is not self._state.stage
                if escalated:
                    workflow.logger.info(
                        "stage %s -> %s: %s",
                        self._state.stage.value,
                        plan.state.stage.value,
                        plan.decision.reason,
                        extra=self._ids(),
                    )
                    workflow.metric_meter().create_counter(
                        "dualmm_liquidation_stage_transitions", "Liquidation stage escalations"
                    ).add(1, {"stage": plan.state.stage.value})
                self._state = plan.state
                if escalated:
                    search_attributes.upsert(
                        search_attributes.STAGE.value_set(plan.state.stage.value)
                    )
                if escalated:
                    await self._signal_parent(
                        STAGE_SIGNAL,
                        LiquidationStageChange(
                            condition_id=self._market.condition_id,
                            stage=plan.state.stage,
                            at=now,
                        ),
                    )
                if plan.finished:
                    await self._cancel_resting()
                    outcome: LiquidationOutcome = "dust" if plan.decision.dust else "closed"
                    return await self._finish(outcome, plan.decision.reason, now)
                if plan.cancel is not None:
                    await self._cancel_resting()
                if plan.place is not None and plan.place_key is not None:
                    placed = await self._place(plan.place, plan.place_key, now)
                    if placed.status is OrderStatus.MATCHED:
                        continue  # filled at once: sync again at the same time
                wake_at = plan.wake_at
            except ActivityError as exc:
                if is_cancelled_exception(exc):
                    raise
                # A venue error retrying cannot fix (a changed tick, no balance): look again
                # at the next check rather than abandon the position.
                self._last_error = str(exc.cause or exc)
                workflow.logger.warning(
                    "liquidation check failed: %s", self._last_error, extra=self._ids()
                )
                wake_at = now + timedelta(milliseconds=self._config.price_check_interval_ms)
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carried(wake_at))
            now = await self._sleep_until(wake_at)

    async def _sleep_until(self, wake_at: datetime) -> datetime:
        """Sleep on a durable timer until `wake_at` or a signal; returns the next check time."""
        workflow.set_current_details(
            ui_text.liquidation_current(
                self._state.stage,
                self._position,
                self._snapshot.midpoint if self._snapshot else None,
                self._resting,
                self._state.paused,
                self._last_error,
            )
        )
        timeout = wake_at - workflow.now()
        if timeout > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._wake,
                    timeout=timeout,
                    timeout_summary=ui_text.next_check_summary(wake_at),
                )
        woken, self._wake = self._wake, False
        now = workflow.now()
        if not woken and now - wake_at < TIMER_SLACK:
            return wake_at
        return _whole_seconds(now)

    async def _sync(self, now: datetime) -> MarketSnapshot:
        """New fills into the position, the market snapshot, what remains of our order.

        A local activity (one workflow task and a marker per check) that folds the reports
        into the position, so its request and result stay as small as the position (bounded)
        however many fills the venue reports at once.
        """
        summary = ui_text.check_summary(self._state.stage, self._position)
        synced = await workflow.execute_local_activity_method(
            LiquidationActivities.sync_position,
            PositionSyncRequest(
                market=self._market,
                cursor=self._cursor,
                resting_order_id=self._resting.order_id if self._resting else None,
                as_of=now,
                position=self._position,
                fills=self._fills,
                # Only its own orders' fills are listed: the cursor re-reads the round's.
                order_ids=tuple(order.order_id for order in self._orders),
            ),
            start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
            retry_policy=venue_retry(),
            summary=summary,
        )
        self._position, self._fills = synced.position, synced.fills
        self._after_sync(synced.cursor, synced.snapshot, synced.resting_remaining)
        return synced.snapshot

    def _after_sync(
        self, cursor: str, snapshot: MarketSnapshot, resting_remaining: Decimal | None
    ) -> None:
        self._cursor = cursor
        self._snapshot = snapshot
        self._record_pnl(snapshot.midpoint)
        if self._resting is not None:
            self._resting = (
                None
                if resting_remaining is None
                else self._resting.model_copy(update={"size": resting_remaining})
            )

    async def _merge_pairs(self) -> None:
        """Merge the YES+NO pairs held back into USDC: they are worth exactly 1 together, so
        this realizes `1 - avg_yes - avg_no` each and frees their capital; the engine then
        sells the net position. A refusal leaves the pairs and tries again at a later check."""
        pairs = round_size(min(self._position.yes_qty, self._position.no_qty))
        if pairs <= 0 or self._merge_attempts >= _MERGE_ATTEMPTS:
            return
        self._merge_attempts += 1
        started = self._state.started_at.isoformat()
        key = f"merge-{workflow.info().workflow_id}-{started}-{self._merges}"
        try:
            report = await workflow.execute_activity_method(
                LiquidationActivities.merge_pairs,
                MergeRequest(market=self._market, qty=pairs, key=key),
                start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
                retry_policy=venue_retry(),
                summary=ui_text.merge_summary(pairs),
            )
        except ActivityError as exc:
            if is_cancelled_exception(exc):
                raise
            self._last_error = f"merge: {exc.cause or exc}"
            workflow.logger.warning(
                "merge of %s pairs refused: %s", pairs, self._last_error, extra=self._ids()
            )
            return
        # The merge happened once (its key): it lands in the position once.
        self._position = self._position.merge(report.qty)
        self._merges += 1

    async def _place(self, intent: OrderIntent, key: str, now: datetime) -> Order:
        request = PlaceOrder(
            key=key,
            market=self._market,
            token_id=self._market.token_id(intent.token),
            side=intent.side,
            price=intent.price,
            size=intent.size,
            signed_at=now,
        )
        # Shielded: a cancellation arriving mid-placement waits for the order to cancel it.
        self._placing = workflow.start_activity_method(
            LiquidationActivities.place_order,
            request,
            start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
            retry_policy=venue_retry(),
            summary=ui_text.place_summary(intent),
        )
        try:
            placed = await asyncio.shield(self._placing)
        finally:
            if self._placing.done():
                self._placing = None
        self._orders.append(
            PlacedOrder(at=now, order_id=placed.order_id, price=intent.price, size=intent.size)
        )
        del self._orders[:-RECENT_KEPT]
        self._resting = (
            RestingOrder(
                order_id=placed.order_id,
                token=intent.token,
                price=placed.price,
                size=placed.remaining,
            )
            if still_resting(placed)
            else None
        )
        return placed

    async def _cancel_resting(self) -> None:
        if self._resting is not None:
            await self._cancel(self._resting.order_id)
            self._resting = None

    async def _cancel(self, order_id: str) -> None:
        await workflow.execute_activity_method(
            LiquidationActivities.cancel_order,
            CancelRequest(order_id=order_id),
            start_to_close_timeout=LIQUIDATION_ACTIVITY_TIMEOUT,
            retry_policy=venue_retry(),
            summary=ui_text.cancel_summary(order_id),
        )

    def _record_pnl(self, midpoint: Decimal | None) -> None:
        """P&L gauges for this market (replay-safe: nothing is recorded while replaying).
        Temporal gauges hold no negative value: each P&L is a profit and a loss gauge."""
        meter = workflow.metric_meter().with_additional_attributes(
            {"market": self._market.condition_id}
        )
        values = {"realized": self._position.realized_pnl}
        if midpoint is not None:
            values["unrealized"] = self._position.unrealized_pnl(midpoint)
        for name, pnl in values.items():
            meter.create_gauge_float(f"dualmm_{name}_profit", f"{name} P&L if >0", "USDC").set(
                float(max(pnl, Decimal(0)))
            )
            meter.create_gauge_float(f"dualmm_{name}_loss", f"-{name} P&L if <0", "USDC").set(
                float(max(-pnl, Decimal(0)))
            )

    async def _finish(
        self, outcome: LiquidationOutcome, reason: str, now: datetime
    ) -> LiquidationResult:
        result = LiquidationResult(
            condition_id=self._market.condition_id,
            status=outcome,
            exit_stage=self._state.stage,
            reason=reason,
            started_at=self._state.started_at,
            finished_at=now,
            duration_seconds=elapsed_seconds(self._state.started_at, now),
            realized_pnl=self._position.realized_pnl,
            remaining_qty=self._position.held_qty,
            position=self._position,
            stages=self._state.history,
            orders=tuple(self._orders),
            fills=self._fills,
        )
        meter = workflow.metric_meter()
        labels = {"outcome": outcome, "exit_stage": result.exit_stage.value}
        meter.create_counter("dualmm_liquidations_finished", "Liquidations finished").add(1, labels)
        meter.create_histogram("dualmm_liquidation_duration", "Liquidation duration", "s").record(
            result.duration_seconds, {"outcome": outcome}
        )
        self._record_pnl(None)
        search_attributes.upsert(search_attributes.OUTCOME.value_set(outcome))
        workflow.set_current_details(
            ui_text.liquidation_finished(result, self._state.orders_placed)
        )
        workflow.logger.info(
            "liquidation %s in %s after %ss: %s, realized %s",
            outcome,
            result.exit_stage.value,
            result.duration_seconds,
            reason,
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
        if self._resting is not None:
            ids["order_id"] = self._resting.order_id
        return ids

    def _carried(self, next_check_at: datetime) -> LiquidationInput:
        return self._input.model_copy(
            update={
                "config": self._config,
                "position": self._position,
                "cursor": self._cursor,
                "state": self._state,
                "resting": self._resting,
                "next_check_at": next_check_at,
                "orders": tuple(self._orders),
                "fills": self._fills,
                "merges": self._merges,
            }
        )

    @workflow.signal(name=FORCE_EXIT_SIGNAL)
    def force_exit(self) -> None:
        """Jump to MARKET at once; an explicit exit overrides a pause."""
        self._state = self._state.with_manual_exit().with_paused(False)
        self._wake = True

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self) -> None:
        """Cancel the resting order and place nothing until resumed."""
        self._state = self._state.with_paused(True)
        self._wake = True

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        self._state = self._state.with_paused(False)
        self._wake = True

    @workflow.update(name=SET_CONFIG_UPDATE)
    def set_config(self, changes: Mapping[str, object]) -> LiquidationConfig:
        """Change some config fields; returns the config now in force."""
        self._config = self._merged_config(changes)
        self._wake = True
        return self._config

    @set_config.validator
    def _validate_config(self, changes: Mapping[str, object]) -> None:
        self._merged_config(changes)

    def _merged_config(self, changes: Mapping[str, object]) -> LiquidationConfig:
        try:
            return LiquidationConfig.model_validate({**self._config.model_dump(), **changes})
        except ValidationError as exc:
            raise ValueError(f"set_config: {describe_validation_error(exc)}") from None

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> LiquidationStatus:
        mid = self._snapshot.midpoint if self._snapshot else None
        return LiquidationStatus(
            condition_id=self._market.condition_id,
            stage=self._state.stage,
            elapsed_seconds=elapsed_seconds(self._state.started_at, workflow.now()),
            paused=self._state.paused,
            manual_exit=self._state.manual_exit,
            midpoint=mid,
            order=self._resting,
            held_token=self._position.held_token,
            held_qty=self._position.held_qty,
            position_cost=self._position.yes_cost + self._position.no_cost,
            unrealized_pnl=None if mid is None else self._position.unrealized_pnl(mid),
            realized_pnl=self._position.realized_pnl,
            fills=self._fills,
            pending_reversals=self._position.pending_reversals,
            orders_placed=self._state.orders_placed,
            config=self._config,
            last_error=self._last_error,
        )

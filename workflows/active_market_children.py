"""The ActiveMarketWorkflow's registry of child liquidations and its state: positions queued
for a child, children started (or adopted when one already runs), the liquidations a former
run left running, and the state updates that keep the Temporal UI's details current.

A layer of ActiveMarketWorkflow (workflows.active_market), not a workflow of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

from workflows import search_attributes, ui_text
from workflows.contracts import (
    LIQUIDATION_ID_PREFIX,
    PICK_TIMEOUT,
    WORKFLOW_TASK_TIMEOUT,
    liquidation_workflow_id,
    venue_retry,
)

with workflow.unsafe.imports_passed_through():
    from activities.market_making import MarketMakingActivities
    from activities.market_making_types import PositionLimit, RunningLiquidation
    from dualmm.config import OrchestratorConfig
    from dualmm.domain.types import Stage
    from workflows.active_market_types import ActiveMarketState, ActiveRound, LiveLiquidation
    from workflows.liquidation import LiquidationInput, LiquidationWorkflow


class ChildRegistry:
    """The workflow's state and its child liquidations (see the module docstring)."""

    _config: OrchestratorConfig
    _state: ActiveMarketState
    # Why the bot is not quoting right now (None while it quotes), and since when.
    _idle_reason: str | None
    _idle_since: datetime | None

    def _interrupted(self) -> bool:
        """Something the loop must act on before it goes on waiting."""
        return (
            bool(self._state.pending) or self._state.liquidating_all or self._state.exit_requested
        )

    async def _idle(self, reason: str, until: Callable[[], bool]) -> None:
        """Wait until `until` holds or the idle time is over, saying why in the status. The
        timeout is the normal way out: the loop then simply looks again."""
        workflow.logger.info("idle: %s", reason)
        self._idle_reason, self._idle_since = reason, workflow.now()
        self._show()
        try:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    until, timeout=timedelta(seconds=self._config.idle_seconds)
                )
        finally:
            self._idle_reason = self._idle_since = None

    async def _rebuild_registry(self) -> None:
        """Adopt the liquidations still running from before this bot started (a terminated
        parent's children run on, ABANDON): they go in the registry, so `pick_market` excludes
        their markets and their reports land here."""
        self._idle_reason, self._idle_since = "looking for running liquidations", workflow.now()
        running: list[RunningLiquidation]
        try:
            running = await workflow.execute_activity_method(
                MarketMakingActivities.running_liquidations,
                start_to_close_timeout=PICK_TIMEOUT,
                retry_policy=venue_retry(),
                summary="list running liquidations",
            )
        except ActivityError as err:
            self._update(last_error=f"running_liquidations: {err.cause or err}")
            running = []
        finally:
            self._idle_reason = self._idle_since = None
        # A child that finished while we listed has reported already: not live any more.
        known = {e.condition_id for e in self._state.liquidations} | {
            f.condition_id for f in self._state.finished
        }
        adopted: list[LiveLiquidation] = []
        for found in running:
            cid = found.workflow_id.removeprefix(LIQUIDATION_ID_PREFIX)
            if cid not in known:
                adopted.append(
                    LiveLiquidation(
                        condition_id=cid,
                        workflow_id=found.workflow_id,
                        question="",
                        started_at=found.started_at,
                        held=found.held,
                        qty=found.qty,
                        stage=Stage(found.stage) if found.stage else Stage.PASSIVE,
                    )
                )
        if adopted:
            workflow.logger.info("adopted %d running liquidations", len(adopted))
            self._update(liquidations=(*self._state.liquidations, *adopted))

    def _queue_liquidation(self, limit: PositionLimit) -> None:
        cid = limit.market.condition_id
        if any(e.condition_id == cid for e in self._state.liquidations) or any(
            p.market.condition_id == cid for p in self._state.pending
        ):
            return
        self._update(pending=(*self._state.pending, limit))

    async def _start_liquidations(self) -> None:
        """Start a child per pending position; a child already running for it is adopted."""
        while self._state.pending:
            limit = self._state.pending[0]
            position = limit.position
            entry = LiveLiquidation(
                condition_id=limit.market.condition_id,
                workflow_id=liquidation_workflow_id(limit.market.condition_id),
                question=limit.market.question,
                started_at=workflow.now(),
                held=position.held_token,
                qty=position.held_qty,
            )
            # Registered before the start: its `liquidation_finished` may come in the same task.
            self._update(
                pending=self._state.pending[1:], liquidations=(*self._state.liquidations, entry)
            )
            try:
                await workflow.start_child_workflow(
                    LiquidationWorkflow.run,
                    LiquidationInput(
                        market=limit.market,
                        position=position,
                        cursor=limit.cursor,
                        config=self._config.liquidation,
                        started_at=entry.started_at,
                        parent_workflow_id=workflow.info().workflow_id,
                    ),
                    id=entry.workflow_id,
                    task_timeout=WORKFLOW_TASK_TIMEOUT,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    search_attributes=self._child_search_attributes(limit.market.condition_id),
                    memo={"question": limit.market.question, "bot_id": self._config.bot_id},
                    # What the Temporal UI shows for this run (user metadata, not replayed).
                    static_summary=ui_text.liquidation_summary(entry.held, entry.qty, limit.market),
                    static_details=ui_text.liquidation_details(
                        limit.market,
                        entry.held,
                        entry.qty,
                        self._config.liquidation,
                        self._config.bot_id,
                    ),
                )
            except WorkflowAlreadyStartedError:
                workflow.logger.info(
                    "liquidation %s already running: adopted",
                    entry.workflow_id,
                    extra={"market": entry.condition_id},
                )
            else:
                workflow.logger.info(
                    "position limit: liquidation %s started for %s %s",
                    entry.workflow_id,
                    entry.held,
                    entry.qty,
                    extra={"market": entry.condition_id},
                )

    def _child_search_attributes(self, condition_id: str) -> TypedSearchAttributes | None:
        """The bot's attributes plus the child's market and first stage; none if the bot has
        none (they are not registered on this namespace)."""
        if not search_attributes.carried():
            return None
        inherited = workflow.info().typed_search_attributes
        return TypedSearchAttributes(
            [
                *(pair for pair in inherited if pair.key.name != search_attributes.STAGE.name),
                SearchAttributePair(search_attributes.MARKET, condition_id),
                SearchAttributePair(search_attributes.STAGE, Stage.PASSIVE.value),
            ]
        )

    # -- state ---------------------------------------------------------------------------------

    def _set_active(self, active: ActiveRound | None) -> None:
        self._update(active=active)

    def _update(self, **changes: object) -> None:
        self._state = self._state.model_copy(update=changes)
        self._show()

    def _show(self) -> None:
        """The Temporal UI's "Current Details" of the bot (not replayed: no history change)."""
        workflow.set_current_details(ui_text.bot_current(self._state, self._idle_reason))

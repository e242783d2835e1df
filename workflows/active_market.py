"""ActiveMarketWorkflow: one per bot. Earns on the best reward market, hands full positions to
LiquidationWorkflow children and moves on.

The market-making round is one long-running activity. When it reaches the position limit it
signals `position_limit` here and returns; the market then goes to a child LiquidationWorkflow
(id from the condition id, ParentClosePolicy ABANDON) and, in dual-market mode, the next best
market is quoted at once; in single-market mode only after the child finished. Children report
back with `liquidation_stage` (each escalation) and `liquidation_finished`, addressed to this
workflow's id, so a report sent while this run continues-as-new reaches the next run. The
registry of live liquidations, the active round's position and the counters travel across
continue-as-new in `ActiveMarketState`.

The workflow is built in layers, one module a concern: its types (active_market_types, passed
through the sandbox), the state and the child registry (active_market_children), the rounds of
market making (active_market_rounds), and here the handlers and the main loop.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow

from workflows.active_market_rounds import Rounds, seconds
from workflows.contracts import (
    EXIT_MARKET_SIGNAL,
    FINISHED_SIGNAL,
    LIQUIDATE_ALL_SIGNAL,
    PAUSE_SIGNAL,
    POSITION_LIMIT_SIGNAL,
    PROGRESS_SIGNAL,
    RESUME_SIGNAL,
    STAGE_SIGNAL,
    STATUS_QUERY,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.market_making_types import MarketProgress, PositionLimit
    from dualmm.domain.rotation import cools_down

    # Re-exported: callers import the workflow's types from here.
    from workflows.active_market_types import ActiveMarketInput as ActiveMarketInput
    from workflows.active_market_types import ActiveMarketResult as ActiveMarketResult
    from workflows.active_market_types import ActiveMarketState as ActiveMarketState
    from workflows.active_market_types import ActiveMarketStatus as ActiveMarketStatus
    from workflows.active_market_types import ActiveRound as ActiveRound
    from workflows.active_market_types import ExcludedMarket as ExcludedMarket
    from workflows.active_market_types import FinishedLiquidation as FinishedLiquidation
    from workflows.active_market_types import LiveLiquidation as LiveLiquidation
    from workflows.liquidation import LiquidationResult, LiquidationStageChange

_FINISHED_KEPT = 20


# Bad input fails the workflow. A bug (or a nondeterministic deploy) retries the workflow task
# instead, so a fixed worker resumes the run with its registry and the active round's position:
# a failed run would drop both from the books. Meanwhile the running round goes on quoting up
# to the position limit, withdraws its quotes there, and its signal waits for the fixed worker.
#
# Pinned on a versioned worker (its default, dualmm.worker), and upgraded at continue-as-new
# (docs/versioning.md): each run stays on the version that started it; the next run starts on
# the deployment's current version.
@workflow.defn(failure_exception_types=[ValidationError])
class ActiveMarketWorkflow(Rounds):
    @workflow.init
    def __init__(self, request: ActiveMarketInput) -> None:
        self._config = request.config
        self._state = request.state
        self._fresh = self._state.started_at is None  # not a continue-as-new
        if self._state.started_at is None:
            self._state = self._state.model_copy(update={"started_at": workflow.now()})
        self._round_running = False
        self._idle_reason = self._idle_since = None
        self._ranked_at = workflow.now()  # re-ranking: see Rounds
        self._liquidation_finished = False
        self._switch_to = None

    # -- signals -------------------------------------------------------------------------------

    @workflow.signal(name=POSITION_LIMIT_SIGNAL)
    def position_limit(self, limit: PositionLimit) -> None:
        """From the market-making activity: liquidate this market (duplicates are ignored)."""
        self._queue_liquidation(limit)

    @workflow.signal(name=PROGRESS_SIGNAL)
    def market_progress(self, progress: MarketProgress) -> None:
        active = self._state.active
        if active is not None and active.market.condition_id == progress.market.condition_id:
            self._set_active(
                active.model_copy(
                    update={"market": progress.market, "checkpoint": progress.checkpoint}
                )
            )

    @workflow.signal(name=FINISHED_SIGNAL)
    def liquidation_finished(self, result: LiquidationResult) -> None:
        live = tuple(e for e in self._state.liquidations if e.condition_id != result.condition_id)
        self._update(
            liquidations=live,
            finished=(*self._state.finished, FinishedLiquidation.of(result))[-_FINISHED_KEPT:],
            liquidations_finished=self._state.liquidations_finished + 1,
            liquidations_realized_pnl=self._state.liquidations_realized_pnl + result.realized_pnl,
        )
        self._liquidation_finished = True
        workflow.logger.info(
            "liquidation finished: %s, realized %s USDC",
            result.status,
            result.realized_pnl,
            extra={"market": result.condition_id},
        )
        cooldown = self._config.loss_cooldown_minutes
        if cools_down(result.realized_pnl, cooldown):
            cid = result.condition_id
            until = workflow.now() + timedelta(minutes=cooldown)
            reason = f"its liquidation lost {result.realized_pnl} USDC"
            self._update(
                excluded=(
                    *(e for e in self._state.excluded if e.condition_id != cid),
                    ExcludedMarket(condition_id=cid, until=until, reason=reason),
                )
            )

    @workflow.signal(name=STAGE_SIGNAL)
    def liquidation_stage(self, change: LiquidationStageChange) -> None:
        """A child escalated; a change that arrives after its completion finds no entry."""
        self._update(
            liquidations=tuple(
                e.model_copy(update={"stage": change.stage, "stage_at": change.at})
                if e.condition_id == change.condition_id
                else e
                for e in self._state.liquidations
            )
        )

    @workflow.signal(name=EXIT_MARKET_SIGNAL)
    def exit_market(self) -> None:
        """Move the active market to liquidation now and go on with the next one."""
        if self._state.active is not None:
            self._update(exit_requested=True)

    @workflow.signal(name=LIQUIDATE_ALL_SIGNAL)
    def liquidate_all(self) -> None:
        self._update(liquidating_all=True)

    @workflow.signal(name=PAUSE_SIGNAL)
    def pause(self) -> None:
        """Withdraw the quotes and stop quoting (liquidations go on)."""
        self._update(paused=True)

    @workflow.signal(name=RESUME_SIGNAL)
    def resume(self) -> None:
        self._update(paused=False)

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> ActiveMarketStatus:
        state = self._state
        active = state.active
        now = workflow.now()
        running = seconds(now - (state.started_at or now))
        earning = state.earned_seconds
        earning_since = None
        if active is not None and self._round_running:
            # Steady quotes report nothing: the reader carries the count on (status.at).
            earning += active.checkpoint.quoted_seconds_at(now)
            earning_since = active.checkpoint.quoting_since
        elif active is not None:
            earning += active.checkpoint.quoted_seconds
        return ActiveMarketStatus(
            bot_id=self._config.bot_id,
            dual_market_mode=self._config.dual_market_mode,
            paused=state.paused,
            liquidating_all=state.liquidating_all,
            active_market=active.market if active else None,
            quotes=active.checkpoint.quotes if active and self._round_running else (),
            position=active.checkpoint.position if active else None,
            midpoint=active.checkpoint.quoted_mid if active else None,
            venue_rewards_today=active.checkpoint.venue_rewards_today if active else None,
            liquidations=state.liquidations,
            pending=tuple(p.market.condition_id for p in state.pending),
            finished=state.finished,
            liquidations_finished=state.liquidations_finished,
            liquidations_realized_pnl=state.liquidations_realized_pnl,
            running_seconds=running,
            earning_seconds=earning,
            earning_uptime=min(Decimal(1), earning / running) if running > 0 else Decimal(0),
            runs=state.runs,
            as_of=now,
            earning_since=earning_since,
            idle_reason=self._idle_reason,
            idle_since=self._idle_since,
            excluded=state.excluded,
            last_error=self._state.last_error,
        )

    # -- main loop -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ActiveMarketInput) -> ActiveMarketResult:
        if self._fresh:
            await self._rebuild_registry()
        while True:
            await self._start_liquidations()
            if self._state.liquidating_all:
                return await self._finish_liquidating_all()
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            if self._state.exit_requested:
                self._update(exit_requested=False)
                if self._state.active is not None:
                    self._close_round(self._state.active)
            elif self._state.paused:
                await self._while_paused()
            else:
                await self._next_step()

    async def _finish_liquidating_all(self) -> ActiveMarketResult:
        """Quoting has stopped; wait for every child, then complete."""
        if self._state.active is not None:
            self._close_round(self._state.active)
        await self._start_liquidations()
        while self._state.liquidations:
            await workflow.wait_condition(
                lambda: (
                    not self._state.liquidations or workflow.info().is_continue_as_new_suggested()
                )
            )
            if self._state.liquidations:
                await self._continue_as_new()
        state = self._state
        return ActiveMarketResult(
            finished=state.finished,
            liquidations_finished=state.liquidations_finished,
            liquidations_realized_pnl=state.liquidations_realized_pnl,
            earning_seconds=state.earned_seconds,
            running_seconds=seconds(workflow.now() - (state.started_at or workflow.now())),
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        # The next run starts with the memo as upserted (the server would copy the memo the
        # run started with, naming a market it no longer quotes).
        memo = dict(workflow.memo())
        workflow.continue_as_new(
            ActiveMarketInput(
                config=self._config,
                state=self._state.model_copy(update={"runs": self._state.runs + 1}),
            ),
            memo=memo,
            initial_versioning_behavior=next_run_versioning(),
        )


def next_run_versioning() -> workflow.ContinueAsNewVersioningBehavior | None:
    """On a versioned worker the next run starts on the deployment's current version (an
    unversioned one may not ask for it)."""
    version = workflow.info().get_current_deployment_version()
    if version is None or not version.deployment_name:
        return None
    return workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE

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
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    WorkflowAlreadyStartedError,
)

from workflows import search_attributes, ui_text

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.market_making import (
        LIQUIDATION_ID_PREFIX,
        POSITION_LIMIT_SIGNAL,
        PROGRESS_SIGNAL,
        Checkpoint,
        MarketMakingActivities,
        MarketMakingInput,
        MarketMakingResult,
        MarketProgress,
        Outcome,
        PickMarketInput,
        PositionLimit,
        Quote,
        RunningLiquidation,
        WithdrawRequest,
    )
    from dualmm.config import OrchestratorConfig
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.rotation import cools_down, may_leave, rerank_due
    from dualmm.domain.types import Frozen, MarketInfo, Stage, Token
    from workflows.liquidation import (
        FINISHED_SIGNAL,
        STAGE_SIGNAL,
        LiquidationInput,
        LiquidationResult,
        LiquidationStageChange,
        LiquidationWorkflow,
        liquidation_workflow_id,
    )

# The venue's failures that retrying cannot fix (activities raise them non-retryable).
_ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=30),
)
_PICK_TIMEOUT = timedelta(seconds=60)
# Rounds that failed for good before this patch waited and ran the same market again.
_EXCLUDE_FAILED_PATCH = "exclude-failed-market"
# Rounds closed flat with pairs before this patch left them unmerged.
_LIQUIDATE_PAIRS_PATCH = "liquidate-pairs"
# Bots started before this patch did not look for liquidations a former run left running.
_REBUILD_REGISTRY_PATCH = "rebuild-registry-on-start"
# Rounds before this patch ended only at the limit; now they give way to a better market.
_RERANK_PATCH = "rerank-active-market"
_LOSS_COOLDOWN_PATCH = "loss-cooldown"
# Bots before this patch had no memo of the market they quote (the Temporal UI shows it).
_MEMO_QUESTION_PATCH = "memo-active-question"
# A round lasts until the limit or a cancel; the heartbeat timeout is what detects a dead worker.
_ROUND_TIMEOUT = timedelta(days=365)
_MIN_HEARTBEAT_TIMEOUT = timedelta(seconds=5)
_FINISHED_KEPT = 20


def active_market_workflow_id(bot_id: str) -> str:
    return f"active-market-{bot_id}"


class ActiveRound(Frozen):
    """The market being made and what we know of it (kept across pause and continue-as-new)."""

    market: MarketInfo
    checkpoint: Checkpoint
    number: int  # rounds started by this bot: part of the placement keys


class LiveLiquidation(Frozen):
    condition_id: str
    workflow_id: str
    question: str
    started_at: datetime
    held: Token | None
    qty: Decimal
    stage: Stage = Stage.PASSIVE  # as the child last signalled it
    stage_at: datetime | None = None


class FinishedLiquidation(Frozen):
    """A child's result, without its order and fill lists (they stay in the child's history)."""

    condition_id: str
    workflow_id: str
    status: str
    exit_stage: Stage
    reason: str
    finished_at: datetime
    duration_seconds: int
    realized_pnl: Decimal
    remaining_qty: Decimal

    @classmethod
    def of(cls, result: LiquidationResult) -> FinishedLiquidation:
        return cls(
            condition_id=result.condition_id,
            workflow_id=liquidation_workflow_id(result.condition_id),
            status=result.status,
            exit_stage=result.exit_stage,
            reason=result.reason,
            finished_at=result.finished_at,
            duration_seconds=result.duration_seconds,
            realized_pnl=result.realized_pnl,
            remaining_qty=result.remaining_qty,
        )


class ExcludedMarket(Frozen):
    """A market left out of the picks until `until`: its round failed in a way retrying the
    same market cannot fix (no collateral, a refused order), or its liquidation lost
    (`loss_cooldown_minutes`)."""

    condition_id: str
    until: datetime
    reason: str


class ActiveMarketState(Frozen):
    """Everything a run hands to the next one at continue-as-new."""

    started_at: datetime | None = None
    active: ActiveRound | None = None
    liquidations: tuple[LiveLiquidation, ...] = ()
    pending: tuple[PositionLimit, ...] = ()  # positions waiting for their child
    finished: tuple[FinishedLiquidation, ...] = ()  # the latest few
    liquidations_finished: int = 0
    liquidations_realized_pnl: Decimal = Decimal(0)  # summed over every finished child
    rounds: int = 0
    earned_seconds: Decimal = Decimal(0)  # quoted time of closed rounds
    paused: bool = False
    liquidating_all: bool = False
    exit_requested: bool = False  # an `exit_market` not yet acted on (it may cross runs)
    excluded: tuple[ExcludedMarket, ...] = ()
    runs: int = 1
    last_error: str | None = None  # the latest failure the bot recovered from


class ActiveMarketInput(Frozen):
    config: OrchestratorConfig
    state: ActiveMarketState = ActiveMarketState()


class ActiveMarketStatus(Frozen):
    bot_id: str
    dual_market_mode: bool
    paused: bool
    liquidating_all: bool
    active_market: MarketInfo | None
    quotes: tuple[Quote, ...]
    position: PositionTracker | None
    midpoint: Decimal | None = None  # the reference YES midpoint the quotes were priced at
    liquidations: tuple[LiveLiquidation, ...]
    pending: tuple[str, ...]
    finished: tuple[FinishedLiquidation, ...]
    liquidations_finished: int
    liquidations_realized_pnl: Decimal
    running_seconds: Decimal
    earning_seconds: Decimal
    earning_uptime: Decimal  # earning / running, 0..1
    runs: int
    # Why the bot is not quoting right now (None while it quotes), and since when.
    idle_reason: str | None = None
    idle_since: datetime | None = None
    excluded: tuple[ExcludedMarket, ...] = ()
    last_error: str | None = None  # the latest failure the bot recovered from
    # Liquidity rewards the venue reports for today, as the round last read them.
    venue_rewards_today: Decimal | None = None


class ActiveMarketResult(Frozen):
    """Returned after `liquidate_all`: every liquidation this run saw finish."""

    finished: tuple[FinishedLiquidation, ...]
    liquidations_finished: int
    liquidations_realized_pnl: Decimal
    earning_seconds: Decimal
    running_seconds: Decimal


# Bad input fails the workflow. A bug (or a nondeterministic deploy) retries the workflow task
# instead, so a fixed worker resumes the run with its registry and the active round's position:
# a failed run would drop both from the books. Meanwhile the running round goes on quoting up
# to the position limit, withdraws its quotes there, and its signal waits for the fixed worker.
@workflow.defn(failure_exception_types=[ValidationError])
class ActiveMarketWorkflow:
    @workflow.init
    def __init__(self, request: ActiveMarketInput) -> None:
        self._config = request.config
        self._state = request.state
        self._fresh = self._state.started_at is None  # not a continue-as-new
        if self._state.started_at is None:
            self._state = self._state.model_copy(update={"started_at": workflow.now()})
        self._round_running = False
        self._idle_reason: str | None = None
        self._idle_since: datetime | None = None
        # Re-ranking (`dualmm.domain.rotation`): the last ranking, a liquidation finished
        # since, and the market a round was stopped for.
        self._ranked_at = workflow.now()
        self._liquidation_finished = False
        self._switch_to: MarketInfo | None = None

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
        if cools_down(result.realized_pnl, cooldown) and workflow.patched(_LOSS_COOLDOWN_PATCH):
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

    @workflow.signal(name="exit_market")
    def exit_market(self) -> None:
        """Move the active market to liquidation now and go on with the next one."""
        if self._state.active is not None:
            self._update(exit_requested=True)

    @workflow.signal(name="liquidate_all")
    def liquidate_all(self) -> None:
        self._update(liquidating_all=True)

    @workflow.signal(name="pause")
    def pause(self) -> None:
        """Withdraw the quotes and stop quoting (liquidations go on)."""
        self._update(paused=True)

    @workflow.signal(name="resume")
    def resume(self) -> None:
        self._update(paused=False)

    @workflow.query(name="status")
    def status(self) -> ActiveMarketStatus:
        state = self._state
        active = state.active
        running = _seconds(workflow.now() - (state.started_at or workflow.now()))
        earning = state.earned_seconds + (active.checkpoint.quoted_seconds if active else 0)
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
            idle_reason=self._idle_reason,
            idle_since=self._idle_since,
            excluded=state.excluded,
            last_error=self._state.last_error,
        )

    # -- main loop -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: ActiveMarketInput) -> ActiveMarketResult:
        if self._fresh and workflow.patched(_REBUILD_REGISTRY_PATCH):
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
                await workflow.wait_condition(lambda: not self._state.paused or self._interrupted())
            elif not self._config.dual_market_mode and self._state.liquidations:
                # Single-market mode (the baseline): no quoting while a liquidation runs.
                await workflow.wait_condition(
                    lambda: not self._state.liquidations or self._interrupted()
                )
            elif self._state.active is None:
                await self._pick_market()
            else:
                await self._make_market(self._state.active)

    def _interrupted(self) -> bool:
        """Something the loop must act on before it goes on waiting."""
        return (
            bool(self._state.pending) or self._state.liquidating_all or self._state.exit_requested
        )

    def _round_must_end(self) -> bool:
        """What ends a running round, and the wait after a failed one."""
        return (
            self._interrupted()
            or self._state.paused
            or workflow.info().is_continue_as_new_suggested()
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

    def _excluded_now(self) -> tuple[ExcludedMarket, ...]:
        """The exclusions still in force (expired ones are dropped)."""
        now = workflow.now()
        kept = tuple(e for e in self._state.excluded if e.until > now)
        if kept != self._state.excluded:
            self._update(excluded=kept)
        return kept

    async def _rebuild_registry(self) -> None:
        """Adopt the liquidations still running from before this bot started (a terminated
        parent's children run on, ABANDON): they go in the registry, so `pick_market` excludes
        their markets and their reports land here."""
        self._idle_reason, self._idle_since = "looking for running liquidations", workflow.now()
        running: list[RunningLiquidation]
        try:
            running = await workflow.execute_activity_method(
                MarketMakingActivities.running_liquidations,
                start_to_close_timeout=_PICK_TIMEOUT,
                retry_policy=_ACTIVITY_RETRY,
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

    def _pick_input(self, active: str | None = None) -> PickMarketInput:
        exclude = (
            tuple(e.condition_id for e in self._state.liquidations)
            + tuple(p.market.condition_id for p in self._state.pending)
            + tuple(e.condition_id for e in self._excluded_now())
        )
        return PickMarketInput(
            exclude=exclude,
            config=self._config.market_maker,
            liquidity_budget=self._config.liquidity_budget,
            active=active,
            switch_margin=self._config.switch_margin if active else Decimal(0),
        )

    async def _pick_market(self) -> None:
        request = self._pick_input()
        exclude = request.exclude
        self._ranked_at, self._liquidation_finished = workflow.now(), False
        try:
            market = await workflow.execute_activity_method(
                MarketMakingActivities.pick_market,
                request,
                start_to_close_timeout=_PICK_TIMEOUT,
                retry_policy=_ACTIVITY_RETRY,
                summary="pick a reward market",
            )
        except ActivityError as err:
            # Discovery failed for good (e.g. a refused key): wait, say why, try again.
            self._update(last_error=f"pick_market: {err.cause or err}")
            await self._idle(f"market discovery failed: {err.cause or err}", self._interrupted)
            return
        if market is None:
            why = "no reward market qualifies"
            if exclude:
                why += f" ({len(exclude)} excluded: in liquidation or failed recently)"
            await self._idle(why, self._interrupted)
            return
        self._start_round(market)

    def _start_round(self, market: MarketInfo) -> None:
        workflow.logger.info(
            "quoting: %s",
            market.question or market.condition_id,
            extra={"market": market.condition_id},
        )
        if workflow.patched(_MEMO_QUESTION_PATCH):
            workflow.upsert_memo({"question": market.question, "market": market.condition_id})
        self._set_active(
            ActiveRound(
                market=market,
                checkpoint=Checkpoint(position=PositionTracker(), cursor=""),
                number=self._state.rounds,
            )
        )
        self._update(rounds=self._state.rounds + 1)

    async def _make_market(self, active: ActiveRound) -> None:
        info = workflow.info()
        config = self._config.market_maker
        interval = timedelta(milliseconds=config.quote_interval_ms)
        handle = workflow.start_activity_method(
            MarketMakingActivities.make_market,
            MarketMakingInput(
                parent_workflow_id=info.workflow_id,
                market=active.market,
                config=config,
                position=active.checkpoint.position,
                cursor=active.checkpoint.cursor or None,
                key_prefix=(
                    f"mm-{info.workflow_id}-{info.run_id}-{active.number}-"
                    f"{active.market.condition_id}"
                ),
                quoted_seconds=active.checkpoint.quoted_seconds,
            ),
            start_to_close_timeout=_ROUND_TIMEOUT,
            heartbeat_timeout=max(_MIN_HEARTBEAT_TIMEOUT, interval * 3),
            retry_policy=_ACTIVITY_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=ui_text.quote_summary(active.market),
        )
        self._switch_to = None
        try:
            result = await self._await_round(handle)
        except ActivityError as err:
            await self._after_failed_round(active, err)
            return
        active = active.model_copy(
            update={"market": result.market, "checkpoint": result.checkpoint}
        )
        self._set_active(active)
        if result.outcome is Outcome.POSITION_LIMIT:
            self._close_round(active)
        elif (
            self._switch_to is not None
            and not self._round_must_end()  # an exit, a pause: that first
            and may_leave(active.checkpoint.position, active.market.min_order_size)
        ):
            workflow.logger.info(
                "leaving for %s",
                self._switch_to.condition_id,
                extra={"market": active.market.condition_id},
            )
            self._close_round(active)  # a position below the minimum order exits as dust
            self._start_round(self._switch_to)

    async def _await_round(
        self, handle: workflow.ActivityHandle[MarketMakingResult]
    ) -> MarketMakingResult:
        """The round's result; it is cancelled first when the loop has something to do."""
        self._round_running = True
        try:
            if self._config.rerank and workflow.patched(_RERANK_PATCH):
                await self._rerank_while_quoting(handle)
            else:
                await workflow.wait_condition(lambda: handle.done() or self._round_must_end())
            if not handle.done():
                handle.cancel()
            return await handle
        finally:
            self._round_running = False

    def _rerank_now(self) -> bool:
        """A ranking is due and the active position could be left without a liquidation."""
        active = self._state.active
        since = _seconds(workflow.now() - self._ranked_at)
        return (
            active is not None
            and rerank_due(since, self._config.rerank_minutes, self._liquidation_finished)
            and may_leave(active.checkpoint.position, active.market.min_order_size)
        )

    async def _rerank_while_quoting(
        self, handle: workflow.ActivityHandle[MarketMakingResult]
    ) -> None:
        """Wait for the round to end; meanwhile rank the markets, the active one included,
        when a liquidation finishes (and every `rerank_minutes`, if set), and stop the round
        (setting `_switch_to`) when a better market is worth the move."""
        period = timedelta(minutes=self._config.rerank_minutes)

        def ended() -> bool:
            return handle.done() or self._round_must_end()

        while not ended():
            if not self._rerank_now():
                left = self._ranked_at + period - workflow.now()
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: ended() or self._rerank_now(),
                        timeout=left if period and left > timedelta(0) else None,
                    )
                continue
            active = self._state.active
            assert active is not None
            cid = active.market.condition_id
            self._ranked_at, self._liquidation_finished = workflow.now(), False
            try:
                best = await workflow.execute_activity_method(
                    MarketMakingActivities.pick_market,
                    self._pick_input(active=cid),
                    start_to_close_timeout=_PICK_TIMEOUT,
                    retry_policy=_ACTIVITY_RETRY,
                    summary="re-rank the reward markets",
                )
            except ActivityError as err:  # keep quoting; the next ranking may do better
                self._update(last_error=f"pick_market: {err.cause or err}")
                continue
            if best is not None and best.condition_id != cid and self._rerank_ready(cid):
                self._switch_to = best
                return

    def _rerank_ready(self, cid: str) -> bool:
        """The round can still be left for a better market (nothing filled meanwhile)."""
        active = self._state.active
        return (
            active is not None
            and active.market.condition_id == cid
            and may_leave(active.checkpoint.position, active.market.min_order_size)
        )

    async def _after_failed_round(self, active: ActiveRound, error: ActivityError) -> None:
        """The round ended without withdrawing its quotes itself (cancelled between attempts,
        timed out on a dead worker, failed): withdraw them now. What its progress last told us
        stands; fills after that cursor are read again by whoever takes the market next.

        A failure retrying cannot fix (no collateral, a refused order) closes the round and
        leaves the market out of the picks for a while; the bot picks again at once."""
        cid = active.market.condition_id
        try:
            await workflow.execute_activity_method(
                MarketMakingActivities.withdraw_quotes,
                WithdrawRequest(condition_id=cid),
                start_to_close_timeout=_PICK_TIMEOUT,
                retry_policy=_ACTIVITY_RETRY,
                summary=ui_text.withdraw_summary(active.market),
            )
        except ActivityError as withdraw_error:
            # The next round on this market (or its liquidation) cancels them again.
            self._update(
                last_error=f"withdraw_quotes on {cid}: {withdraw_error.cause or withdraw_error}"
            )
        if isinstance(error.cause, CancelledError):
            return
        workflow.logger.warning("market making failed: %s", error.cause, extra={"market": cid})
        self._update(last_error=f"market making on {cid}: {error.cause or error}")
        cause = error.cause
        if (
            isinstance(cause, ApplicationError)
            and cause.non_retryable
            and workflow.patched(_EXCLUDE_FAILED_PATCH)
        ):
            if cause.details:  # the round's position when it stopped
                checkpoint = Checkpoint.model_validate(cause.details[0])
                active = active.model_copy(update={"checkpoint": checkpoint})
            until = workflow.now() + timedelta(seconds=self._config.failed_market_cooldown_seconds)
            reason = f"{cause.type or 'error'}: {cause.message}"
            self._update(
                excluded=(
                    *(e for e in self._state.excluded if e.condition_id != cid),
                    ExcludedMarket(condition_id=cid, until=until, reason=reason),
                )
            )
            self._close_round(active)
            return
        # A round that timed out while we were stopping it (its worker died) waits for
        # nothing: what stopped it is still to be done.
        await self._idle(f"market making on {cid} failed: {error.cause}", self._round_must_end)

    def _close_round(self, active: ActiveRound) -> None:
        """The round is over: its position (if any) goes to liquidation."""
        checkpoint = active.checkpoint
        self._update(earned_seconds=self._state.earned_seconds + checkpoint.quoted_seconds)
        self._set_active(None)
        position = checkpoint.position
        # Flat but holding YES+NO pairs: the liquidation merges them (frees their capital).
        pairs = position.yes_qty > 0 and position.no_qty > 0
        if not position.is_flat or (pairs and workflow.patched(_LIQUIDATE_PAIRS_PATCH)):
            self._queue_liquidation(
                PositionLimit(
                    market=active.market, position=checkpoint.position, cursor=checkpoint.cursor
                )
            )

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
            running_seconds=_seconds(workflow.now() - (state.started_at or workflow.now())),
        )

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        # The next run starts with the memo as upserted (the server would copy the memo the
        # run started with, naming a market it no longer quotes).
        memo = dict(workflow.memo()) if workflow.patched(_MEMO_QUESTION_PATCH) else None
        workflow.continue_as_new(
            ActiveMarketInput(
                config=self._config,
                state=self._state.model_copy(update={"runs": self._state.runs + 1}),
            ),
            memo=memo,
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


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds()))

"""The ActiveMarketWorkflow's market-making rounds: pick a market, run the long-running
`make_market` activity on it, re-rank the markets while it quotes (and leave for a better one),
withdraw the quotes of a round that failed, and close a round (its position goes to a child
liquidation, workflows.active_market_children).

A layer of ActiveMarketWorkflow (workflows.active_market), not a workflow of its own.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

from workflows import ui_text
from workflows.active_market_children import ChildRegistry
from workflows.contracts import PICK_TIMEOUT, ROUND_TIMEOUT, venue_retry

with workflow.unsafe.imports_passed_through():
    from activities.attempt import HANDOVER_RETRY, HEARTBEAT_TIMEOUT
    from activities.market_making import MarketMakingActivities
    from activities.market_making_types import (
        Checkpoint,
        MarketMakingInput,
        MarketMakingResult,
        Outcome,
        PickMarketInput,
        PositionLimit,
        WithdrawRequest,
    )
    from dualmm.domain.position import PositionTracker, unsettled_trades
    from dualmm.domain.rotation import (
        NextStep,
        goes_to_liquidation,
        leaves_for,
        may_leave,
        next_step,
        rerank_now,
    )
    from dualmm.domain.types import MarketInfo
    from workflows.active_market_types import ActiveRound, ExcludedMarket

_SETTLE_CHECK = timedelta(seconds=5)


class Rounds(ChildRegistry):
    """The rounds of market making (see the module docstring)."""

    _round_running: bool
    # Re-ranking (`dualmm.domain.rotation`): the last ranking, a liquidation finished since,
    # and the market a round was stopped for.
    _ranked_at: datetime
    _liquidation_finished: bool
    _switch_to: MarketInfo | None

    async def _next_step(self) -> None:
        """Quote the active market, pick one, or (single-market mode) wait for the
        liquidations: `dualmm.domain.rotation.next_step`, as the backtest decides it."""
        active = self._state.active
        step = next_step(
            active is not None, self._config.dual_market_mode, bool(self._state.liquidations)
        )
        if step is NextStep.WAIT:
            await workflow.wait_condition(
                lambda: not self._state.liquidations or self._interrupted()
            )
        elif step is NextStep.PICK:
            await self._pick_market()
        else:
            assert active is not None
            await self._make_market(active)

    def _round_must_end(self) -> bool:
        """What ends a running round, and the wait after a failed one."""
        return (
            self._interrupted()
            or self._state.paused
            or workflow.info().is_continue_as_new_suggested()
        )

    def _excluded_now(self) -> tuple[ExcludedMarket, ...]:
        """The exclusions still in force (expired ones are dropped)."""
        now = workflow.now()
        kept = tuple(e for e in self._state.excluded if e.until > now)
        if kept != self._state.excluded:
            self._update(excluded=kept)
        return kept

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
                start_to_close_timeout=PICK_TIMEOUT,
                retry_policy=venue_retry(),
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
            start_to_close_timeout=ROUND_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=HANDOVER_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=ui_text.quote_summary(active.market),
        )
        self._switch_to = None
        try:
            result = await self._await_round(handle)
        except ActivityError as err:
            # Its progress reports moved the round on since it started: go on from there.
            latest = self._state.active
            if latest is not None and latest.market.condition_id == active.market.condition_id:
                active = latest
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
            if self._config.rerank:
                await self._rerank_while_quoting(handle)
            else:
                await workflow.wait_condition(lambda: handle.done() or self._round_must_end())
            if not handle.done():
                handle.cancel()
            return await handle
        finally:
            self._round_running = False

    def _rerank_now(self) -> bool:
        active = self._state.active
        return active is not None and rerank_now(
            seconds(workflow.now() - self._ranked_at),
            self._config.rerank_minutes,
            self._liquidation_finished,
            active.checkpoint.position,
            active.market.min_order_size,
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
                    start_to_close_timeout=PICK_TIMEOUT,
                    retry_policy=venue_retry(),
                    summary="re-rank the reward markets",
                )
            except ActivityError as err:  # keep quoting; the next ranking may do better
                self._update(last_error=f"pick_market: {err.cause or err}")
                continue
            # As the ranking ran, the round went on: the position it may leave is the latest.
            latest = self._state.active
            if (
                best is not None
                and latest is not None
                and latest.market.condition_id == cid
                and leaves_for(
                    best.condition_id,
                    cid,
                    latest.checkpoint.position,
                    latest.market.min_order_size,
                )
            ):
                self._switch_to = best
                return

    async def _after_failed_round(self, active: ActiveRound, error: ActivityError) -> None:
        """The round ended without withdrawing its quotes itself (cancelled between attempts,
        timed out on a dead worker, failed): withdraw them now. What its progress last told us
        stands; fills after that cursor are read again by whoever takes the market next.

        A failure retrying cannot fix (no collateral, a refused order) closes the round and
        leaves the market out of the picks for a while; the bot picks again at once."""
        cid = active.market.condition_id
        active = await self._withdraw(active, ui_text.withdraw_summary(active.market))
        if isinstance(error.cause, CancelledError):
            return
        workflow.logger.warning("market making failed: %s", error.cause, extra={"market": cid})
        self._update(last_error=f"market making on {cid}: {error.cause or error}")
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.non_retryable:
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

    async def _withdraw(self, active: ActiveRound, summary: str) -> ActiveRound:
        """Take the round's quotes off the book and read its fills since its checkpoint: what
        landed after its last progress, and late status changes (FAILED) of earlier ones."""
        cid = active.market.condition_id
        try:
            checkpoint = await workflow.execute_activity_method(
                MarketMakingActivities.withdraw_quotes,
                WithdrawRequest(market=active.market, checkpoint=active.checkpoint),
                start_to_close_timeout=PICK_TIMEOUT,
                retry_policy=venue_retry(),
                summary=summary,
            )
        except ActivityError as withdraw_error:
            # The next round on this market (or its liquidation) cancels them again.
            self._update(
                last_error=f"withdraw_quotes on {cid}: {withdraw_error.cause or withdraw_error}"
            )
            return active
        if checkpoint is None:  # the round had no cursor
            return active
        active = active.model_copy(update={"checkpoint": checkpoint})
        if self._state.active is not None and self._state.active.market.condition_id == cid:
            self._set_active(active)
        return active

    async def _while_paused(self) -> None:
        """Paused: wait for a resume. Meanwhile a stopped round's trades that may still FAIL
        are read until they settle, so the position the bot shows is the venue's."""

        def resumed() -> bool:
            return not self._state.paused or self._interrupted()

        active = self._state.active
        if (
            active is None
            or not active.checkpoint.cursor
            # Not waited for past SETTLE_WAIT by the venue's clock, as in a liquidation.
            or not unsettled_trades(active.checkpoint.position, now=active.checkpoint.read_at)
        ):
            await workflow.wait_condition(resumed)
            return
        try:
            await workflow.wait_condition(resumed, timeout=_SETTLE_CHECK)
        except TimeoutError:
            await self._withdraw(active, ui_text.settle_summary(active.market))

    def _close_round(self, active: ActiveRound) -> None:
        """The round is over: its position (if any) goes to liquidation."""
        checkpoint = active.checkpoint
        self._update(earned_seconds=self._state.earned_seconds + checkpoint.quoted_seconds)
        self._set_active(None)
        if goes_to_liquidation(checkpoint.position):
            self._queue_liquidation(
                PositionLimit(
                    market=active.market, position=checkpoint.position, cursor=checkpoint.cursor
                )
            )


def seconds(delta: timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds()))

"""One attempt of the `make_market` activity (activities.market_making): a market round.

A round is one long-running, heart-beating activity. It looks at the market every
`quote_interval_ms`, or at once when the venue's user channel reports a fill
(`Exchange.wait_for_fill`; the notice only wakes it). Where the venue pushes its books (a
MarketFeed: the market channel), the round also wakes on every change of its market, and
re-prices at once when `reason_to_requote` says so (both sides in one batch each way); the
REST poll then runs only every LIVE_POLL_SECONDS, and at `quote_interval_ms` again while the
channel is down (activities.quote_wait). At each look it carries out the domain's quote plan
(`plan_quotes`), folds our fills into a PositionTracker and heartbeats a checkpoint
(position, fill cursor, live quotes, placement sequence). A retried attempt resumes from that
checkpoint and reconciles with the venue first: our open BUY orders on the market are adopted
(one per token) or cancelled, and fills are re-read from the checkpoint's cursor (the tracker
counts a trade id once), so nothing is lost and no quote is doubled; an open BUY of ours that
no quote knows (a placement lost in flight) is cancelled at every check. Placement keys are
derived from the workflow run, the round, the activity, the heartbeat sequence and the order
itself, so a retry that re-uses a sequence gets back the order the crashed attempt placed for
the same intent, and a key never stands for two different orders.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client

from activities.attempt import Attempt
from activities.market_making_types import (
    Checkpoint,
    MarketMakingInput,
    MarketMakingResult,
    MarketProgress,
    Outcome,
    PositionLimit,
    Quote,
)
from activities.quote_venue import (
    cancel_orders,
    cancel_quotes,
    place_quotes,
    placement_key,
    read_fills,
)
from activities.quote_wait import RoundWait
from dualmm.domain.quoting import QuotePlan, plan_quotes
from dualmm.domain.rotation import goes_to_liquidation
from dualmm.domain.types import OrderIntent, Side, Token
from dualmm.exchange.base import (
    Exchange,
    ExchangeError,
    MarketFeed,
    Order,
    RetryableError,
    WouldCross,
)
from dualmm.exchange.sync import fill_start, market_snapshot, still_resting
from workflows.contracts import POSITION_LIMIT_SIGNAL, PROGRESS_SIGNAL

VENUE_REWARDS_EVERY_SECONDS = 60.0
# Transient venue errors a round rides out in its own loop before failing the attempt.
_TRANSIENT_FAILURES_IN_A_ROW = 10
_TRANSIENT_PAUSE_MAX_SECONDS = 10.0


class QuoteRound(RoundWait):
    """One attempt of `make_market`: the state between heartbeats."""

    def __init__(self, exchange: Exchange, client: Client, request: MarketMakingInput) -> None:
        self._exchange = exchange
        self._client = client
        self._request = request
        self._market = request.market
        self._checkpoint = Checkpoint(
            position=request.position,
            cursor=request.cursor or "",
            quoted_seconds=request.quoted_seconds,
        )
        self._sent_progress: Checkpoint | None = None
        self._progress_at = 0.0
        self._rewards_read_at = -VENUE_REWARDS_EVERY_SECONDS
        self._feed = exchange if isinstance(exchange, MarketFeed) else None
        self._open_orders: list[Order] | None = None  # as the last fill sync read them
        self._quoted_tick = request.market.tick_size
        self._trades_seen = {}
        self.attempt: Attempt | None = None
        self.checkpointed = False  # the checkpoint is this round's, not a placeholder yet

    def heartbeat_details(self) -> Checkpoint | None:
        """What to heartbeat: None until the checkpoint is established (the previous attempt's
        stays on the server meanwhile)."""
        return self._checkpoint if self.checkpointed else None

    async def resume(self) -> None:
        """Take the last heartbeat (if retried), then reconcile quotes and fills with the venue."""
        # This worker keeps the venue's dead-man switch fed before it adopts any quote: with
        # one wallet for all workers, a dead worker's silence then cancels nothing.
        await self._exchange.heartbeat()
        details = activity.info().heartbeat_details
        if details:
            # The time since the last attempt's heartbeat is not counted: its worker may have
            # been down and its quotes cancelled. The quotes adopted below count from now.
            last = Checkpoint.model_validate(details[0])
            self._checkpoint = last.model_copy(update={"quoting_since": None})
        elif self._request.cursor is None:
            # A fresh round: the market's earlier fills (earlier rounds, their liquidations)
            # are not ours, even when a cursor reports them again.
            start = await fill_start(self._exchange, self._market)
            position = self._checkpoint.position.starting_after(start.boundary)
            self._checkpoint = self._checkpoint.model_copy(
                update={"cursor": start.cursor, "position": position}
            )
        self.checkpointed = True
        await self._reconcile_quotes()
        await self._sync_fills()
        self._heartbeat()
        # Before any quote: the parent learns where this round's fills begin, so whatever ends
        # the round later (even between attempts) can read them from there. The first report
        # in the loop (with the quotes) still goes at once.
        await self._send_progress()

    async def run(self) -> MarketMakingResult:
        interval = self._request.config.quote_interval_ms / 1000
        condition_id = self._market.condition_id
        failures = 0
        while True:
            if self.attempt is not None:  # no venue write once another attempt may quote
                self.attempt.check_lease()
            # Taken before the fills are read: a notice that comes while we work wakes the
            # wait below at once instead of being missed.
            mark = await self._exchange.fill_mark(condition_id)
            market_mark = await self._feed.market_mark(condition_id) if self._feed else 0
            try:
                await self._exchange.heartbeat()  # the venue's dead-man switch: quotes die with us
                if failures:  # an answer may have been lost: look at the venue again first
                    await self._reconcile_quotes()
                await self._sync_fills()
                leaving = await self._resolved()  # a resolved market's book is not read
                if leaving is None:
                    plan = await self._look()
                    if plan.hand_over:
                        return await self._hand_over()
                    leaving = await self._requote(plan)
            except RetryableError as exc:
                # A 5xx, a 429 or a lost answer: try again in the loop (failing the attempt
                # would stop quoting for the activity's whole retry backoff); a venue down
                # for longer fails the attempt and the activity's retries take over.
                failures += 1
                if failures >= _TRANSIENT_FAILURES_IN_A_ROW:
                    raise
                activity.logger.warning(
                    "market making: %s (%d in a row, retrying)",
                    exc,
                    failures,
                    extra={"market": self._market.condition_id},
                )
                self._heartbeat()
                pause = min(interval * failures, _TRANSIENT_PAUSE_MAX_SECONDS)
                await asyncio.sleep(max(pause, exc.retry_after or 0))  # as the venue asked
                continue
            failures = 0
            if leaving is not None:
                activity.logger.info(
                    "leaving: %s", leaving, extra={"market": self._market.condition_id}
                )
                return await self._hand_over()
            self._heartbeat()
            await self._read_venue_rewards()
            await self._report_progress()
            # The next look: at the poll interval, or as soon as the venue reports a fill
            # (its user channel) or a move that counts (its market channel); the fills
            # themselves are read above, never from the notice.
            await self._wait_for_news(mark, market_mark, interval)

    @property
    def checkpoint(self) -> Checkpoint:
        return self._checkpoint

    async def stop(self) -> MarketMakingResult:
        """Cancelled by the workflow: withdraw the quotes and hand back the position."""
        await self._withdraw()
        return MarketMakingResult(
            outcome=Outcome.STOPPED, market=self._market, checkpoint=self._checkpoint
        )

    async def _hand_over(self) -> MarketMakingResult:
        """The market goes to liquidation (the position limit, pairs to merge, or a market
        left): exposure or pairs, as the workflow's `_close_round` decides it."""
        await self._withdraw()
        if goes_to_liquidation(self._checkpoint.position):
            activity.logger.info(
                "handing over to liquidation: YES %s, NO %s",
                self._checkpoint.position.yes_qty,
                self._checkpoint.position.no_qty,
                extra={"market": self._market.condition_id},
            )
            limit = PositionLimit(
                market=self._market,
                position=self._checkpoint.position,
                cursor=self._checkpoint.cursor,
            )
            parent = self._client.get_workflow_handle(self._request.parent_workflow_id)
            await parent.signal(POSITION_LIMIT_SIGNAL, limit)
        return MarketMakingResult(
            outcome=Outcome.POSITION_LIMIT, market=self._market, checkpoint=self._checkpoint
        )

    async def _withdraw(self) -> None:
        """Cancel every BUY of ours on the market, then take the fills that landed first.

        Open orders are asked again because a placement interrupted by the cancellation may
        have been accepted without being recorded as a quote.
        """
        known = {q.order_id for q in self._checkpoint.quotes}
        await cancel_quotes(self._exchange, self._market.condition_id, known)
        self._set_quotes(())
        await self._sync_fills()
        self._heartbeat()

    async def _reconcile_quotes(self) -> None:
        """Adopt one open BUY per token (the checkpoint's if still live), cancel the rest."""
        known = {q.order_id for q in self._checkpoint.quotes}
        open_buys = [
            o
            for o in await self._exchange.open_orders(self._market.condition_id)
            if o.side is Side.BUY and still_resting(o)
        ]
        # Known orders first, then the newest: a crashed attempt's last placement wins.
        open_buys.sort(key=lambda o: (o.order_id in known, o.created_at), reverse=True)
        adopted: dict[Token, Quote] = {}
        for order in open_buys:
            token = self._market.token_of(order.token_id)
            if token in adopted:
                await self._exchange.cancel_order(order.order_id)
            else:
                adopted[token] = self._quote(order, token)
        self._set_quotes(tuple(adopted.values()))

    async def _sync_fills(self) -> None:
        """Fold new fills into the position; refresh the quotes' remaining sizes."""
        self._checkpoint = await read_fills(self._exchange, self._market, self._checkpoint)
        self._open_orders = await self._exchange.open_orders(self._market.condition_id)
        live = {o.order_id: o for o in self._open_orders if o.side is Side.BUY and still_resting(o)}
        quotes = tuple(
            self._quote(live.pop(q.order_id), q.token)
            for q in self._checkpoint.quotes
            if q.order_id in live
        )
        # A placement that was accepted after its answer was lost.
        await cancel_orders(self._exchange, sorted(live))
        self._set_quotes(quotes)

    async def _look(self) -> QuotePlan:
        """The market as it is now (tick size and minimum included), and the round's plan."""
        snapshot = await market_snapshot(
            self._exchange, self._market, datetime.now(UTC), self._open_orders
        )
        self._open_orders = None  # our orders change from here on
        self._quoted_tick = snapshot.tick_size
        self._market = self._market.model_copy(
            update={"tick_size": snapshot.tick_size, "min_order_size": snapshot.min_order_size}
        )
        checkpoint = self._checkpoint
        return plan_quotes(
            self._market,
            snapshot.midpoint,
            checkpoint.position,
            [q.intent() for q in checkpoint.quotes],
            checkpoint.quoted_mid,
            self._request.config,
        )

    async def _requote(self, plan: QuotePlan) -> str | None:
        """Carry out the plan's cancels and placements; why the market must be left, if so."""
        kept, dropped = plan.split(self._checkpoint.quotes)
        await cancel_orders(self._exchange, [q.order_id for q in dropped])
        self._set_quotes(tuple(kept))
        self._checkpoint = self._checkpoint.model_copy(update={"quoted_mid": plan.quoted_mid})
        if plan.leave_reason is not None:
            return plan.leave_reason
        await self._place(list(plan.place))
        return None

    async def _place(self, intents: list[OrderIntent]) -> None:
        """Place the quotes. Each takes its own sequence number (its placement key),
        heartbeated before the request goes out."""
        if not intents:
            return
        first = self._checkpoint.sequence
        self._checkpoint = self._checkpoint.model_copy(update={"sequence": first + len(intents)})
        self._heartbeat()
        activity_id = activity.info().activity_id
        prefix = self._request.key_prefix
        keys = [placement_key(prefix, activity_id, first + i, x) for i, x in enumerate(intents)]
        results = await place_quotes(self._exchange, self._market, keys, intents)
        refused: ExchangeError | None = None
        for intent, result in zip(intents, results, strict=True):
            if isinstance(result, WouldCross):
                continue  # the book moved under the quote: priced again at the next check
            if isinstance(result, ExchangeError):
                refused = refused or result
            elif still_resting(result):
                self._set_quotes((*self._checkpoint.quotes, self._quote(result, intent.token)))
        self._heartbeat()
        if refused is not None:  # after the others are recorded: they rest on the book
            raise refused

    def _quote(self, order: Order, token: Token) -> Quote:
        return Quote(order_id=order.order_id, token=token, price=order.price, size=order.remaining)

    def _set_quotes(self, quotes: tuple[Quote, ...]) -> None:
        """Replace the live quotes, accounting the time spent with at least one quote live."""
        self._checkpoint = self._checkpoint.with_quotes(quotes, datetime.now(UTC))

    async def _read_venue_rewards(self) -> None:
        """What the venue says we earned today, at most once per VENUE_REWARDS_EVERY_SECONDS
        (an error leaves the last figure: it is a report, not a decision)."""
        now = time.monotonic()
        if now - self._rewards_read_at < VENUE_REWARDS_EVERY_SECONDS:
            return
        self._rewards_read_at = now
        try:
            earned = await self._exchange.reward_earnings(datetime.now(UTC).date())
        except ExchangeError as exc:
            activity.logger.info("venue rewards not read: %s", exc)
            return
        self._checkpoint = self._checkpoint.model_copy(update={"venue_rewards_today": earned})

    async def _report_progress(self) -> None:
        """Tell the parent when quotes or position changed, at most once per interval."""
        sent = self._sent_progress
        changed = sent is None or (sent.quotes, sent.position) != (
            self._checkpoint.quotes,
            self._checkpoint.position,
        )
        due = time.monotonic() - self._progress_at >= float(self._request.progress_interval_seconds)
        if not (changed and due):
            return
        await self._send_progress()
        self._progress_at = time.monotonic()

    async def _send_progress(self) -> None:
        parent = self._client.get_workflow_handle(self._request.parent_workflow_id)
        await parent.signal(
            PROGRESS_SIGNAL, MarketProgress(market=self._market, checkpoint=self._checkpoint)
        )
        self._sent_progress = self._checkpoint

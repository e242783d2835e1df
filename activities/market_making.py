"""The active market's activities: pick the best reward market, and make a market in it.

`make_market` is one long-running, heart-beating activity per market round. It looks at the
market every `quote_interval_ms`, or at once when the venue's user channel reports a fill
(`Exchange.wait_for_fill`; the notice only wakes it). Where the venue pushes its books (a
MarketFeed: the market channel), the round also wakes on every change of its market, and
re-prices at once when `reason_to_requote` says so (both sides in one batch each way); the
REST poll then runs only every LIVE_POLL_SECONDS, and at `quote_interval_ms` again while
the channel is down. It quotes with the domain quoter, folds
our fills into a PositionTracker and heartbeats a checkpoint (position, fill cursor, live
quotes, placement sequence). A retried attempt resumes from that checkpoint
and reconciles with the venue first: our open BUY orders on the market are adopted (one per
token) or cancelled, and fills are re-read from the checkpoint's cursor (the tracker counts a
trade id once), so nothing is lost and no quote is doubled; an open BUY of ours that no quote
knows (a placement lost in flight) is cancelled at every check. Placement keys are derived from
the workflow run, the round, the activity, the heartbeat sequence and the order itself, so a
retry that re-uses a sequence gets back the order the crashed attempt placed for the same
intent, and a key never stands for two different orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.attempt import FAILED_ATTEMPT_RETRY, Attempt, cancelled_by_workflow
from activities.liquidation import non_retryable_venue_errors
from dualmm.config import MarketMakerConfig
from dualmm.discovery import Filters, discover
from dualmm.domain.market_moves import TradePrint, reason_to_leave, reason_to_requote
from dualmm.domain.position import PositionTracker
from dualmm.domain.quoting import (
    desired_quotes,
    keeps_quote,
    leave_reason,
    needs_requote,
    position_limit_reached,
)
from dualmm.domain.rotation import market_to_quote
from dualmm.domain.types import Frozen, MarketInfo, OrderIntent, Side, Token
from dualmm.exchange.base import (
    BatchOrders,
    Exchange,
    ExchangeError,
    MarketFeed,
    Order,
    PlaceOrder,
    RetryableError,
    Wake,
    WouldCross,
)
from dualmm.exchange.sync import fill_start, market_snapshot, still_resting
from dualmm.logs import log_fill
from workflows.contracts import (
    LIQUIDATION_ID_PREFIX,
    LIQUIDATION_WORKFLOW,
    POSITION_LIMIT_SIGNAL,
    PROGRESS_SIGNAL,
)

VENUE_REWARDS_EVERY_SECONDS = 60.0


class Quote(Frozen):
    """One of our live BUY quotes; `size` is what remains unfilled."""

    order_id: str
    token: Token
    price: Decimal
    size: Decimal

    def intent(self) -> OrderIntent:
        return OrderIntent(token=self.token, side=Side.BUY, price=self.price, size=self.size)


class PickMarketInput(Frozen):
    exclude: tuple[str, ...] = ()
    config: MarketMakerConfig
    liquidity_budget: Decimal
    # The market being made, ranked with the others: it is kept unless the best earns over
    # `1 + switch_margin` times as much per USDC (`dualmm.domain.rotation.market_to_quote`).
    active: str | None = None
    switch_margin: Decimal = Decimal(0)


class MarketMakingInput(Frozen):
    parent_workflow_id: str
    market: MarketInfo
    config: MarketMakerConfig
    position: PositionTracker
    # Fill cursor to resume from; None: a fresh round, older fills belong to earlier rounds.
    cursor: str | None
    key_prefix: str
    quoted_seconds: Decimal = Decimal(0)
    progress_interval_seconds: Decimal = Decimal(2)


class Checkpoint(Frozen):
    """What an attempt heartbeats and what a retried attempt resumes from."""

    position: PositionTracker
    cursor: str
    quotes: tuple[Quote, ...] = ()
    sequence: int = 0
    quoted_mid: Decimal | None = None  # the YES midpoint the quotes were priced at
    quoted_seconds: Decimal = Decimal(0)
    # Liquidity rewards the venue reports for today (UTC), all markets; None: not read yet.
    venue_rewards_today: Decimal | None = None
    # The venue's clock when a withdrawal last read the fills: a paused round waits for its
    # trades to settle until SETTLE_WAIT by this clock.
    read_at: datetime | None = None
    # Where the round sees its market: MARKET_CHANNEL or POLL (no channel, or it is down).
    market_feed: str | None = None


class Outcome(StrEnum):
    POSITION_LIMIT = "POSITION_LIMIT"  # quotes cancelled, the parent got `position_limit`
    STOPPED = "STOPPED"  # the workflow cancelled the round (pause, exit, continue-as-new)


class MarketProgress(Frozen):
    """The round's state, for the parent's `status` query and for a restart of the round."""

    market: MarketInfo
    checkpoint: Checkpoint


class MarketMakingResult(Frozen):
    outcome: Outcome
    market: MarketInfo
    checkpoint: Checkpoint


class PositionLimit(Frozen):
    """The `position_limit` signal: this market's position must be liquidated."""

    market: MarketInfo
    position: PositionTracker
    cursor: str | None


class WithdrawRequest(Frozen):
    """A round to take off the book; its fills since its last checkpoint are read too."""

    market: MarketInfo
    checkpoint: Checkpoint


class RunningLiquidation(Frozen):
    """A LiquidationWorkflow found running when a bot starts (one a terminated parent left)."""

    workflow_id: str
    started_at: datetime
    held: Token | None = None  # from its status query; None when it did not answer
    qty: Decimal = Decimal(0)
    stage: str | None = None


_STATUS_QUERY_TIMEOUT_SECONDS = 5.0


async def read_fills(exchange: Exchange, market: MarketInfo, checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint with the fills reported since its cursor folded into its position."""
    page = await exchange.fills(market, checkpoint.cursor or None)
    for fill in checkpoint.position.new_fills(page.fills):
        log_fill(activity.logger, fill)
    position = checkpoint.position.apply_fills(page.fills)
    return checkpoint.model_copy(update={"position": position, "cursor": page.cursor})


async def cancel_quotes(exchange: Exchange, condition_id: str, known: set[str]) -> None:
    """Cancel the `known` quotes and every other open BUY of ours on the market (only market
    making buys; a liquidation sells)."""
    live = set(known)
    for order in await exchange.open_orders(condition_id):
        if order.side is Side.BUY:
            live.add(order.order_id)
    await cancel_orders(exchange, sorted(live))


async def cancel_orders(exchange: Exchange, order_ids: list[str]) -> None:
    """Cancel orders, in one request where the venue takes batches."""
    if isinstance(exchange, BatchOrders) and len(order_ids) > 1:
        await exchange.cancel_orders(order_ids)
        return
    for order_id in order_ids:
        await exchange.cancel_order(order_id)


MARKET_CHANNEL = "MARKET_CHANNEL"
POLL = "POLL"
# With the market channel live the REST poll is a safety net: fills wake the round (user
# channel, or a trade at our price on the market channel), and so does every move that counts.
LIVE_POLL_SECONDS = 30.0


def placement_key(prefix: str, activity_id: str, sequence: int, intent: OrderIntent) -> str:
    return f"{prefix}:{activity_id}:{sequence}:{intent.token}:{intent.price}:{intent.size}"


class MarketMakingActivities:
    """Activities over one injected Exchange; `client` signals the parent workflow."""

    def __init__(self, exchange: Exchange, client: Client) -> None:
        self._exchange = exchange
        self._client = client

    @activity.defn(name="pick_market")
    async def pick_market(self, request: PickMarketInput) -> MarketInfo | None:
        """The best reward market by estimated earnings per USDC, or None if none qualifies;
        with `active` given, that market unless the best beats it by the switch margin.

        Whatever of ours still rests (a liquidation's order, a quote not yet withdrawn) is
        taken out of the books first: the ranking sees only the competition.
        """
        async with non_retryable_venue_errors():
            ranked = await discover(
                self._exchange,
                Filters(exclude=frozenset(request.exclude)),
                request.config,
                request.liquidity_budget,
                datetime.now(UTC),
                own=await self._exchange.open_orders(),
            )
        chosen = market_to_quote(ranked, request.active, request.switch_margin)
        return chosen.market if chosen is not None else None

    @activity.defn(name="running_liquidations")
    async def running_liquidations(self) -> list[RunningLiquidation]:
        """Every running liquidation in the namespace (visibility list), each with what its
        status query says it holds. A new bot run rebuilds its registry from these, so it
        never quotes a market a liquidation left by a terminated parent is still exiting."""
        from datetime import timedelta

        query = f"WorkflowType = '{LIQUIDATION_WORKFLOW}' AND ExecutionStatus = 'Running'"
        found: list[RunningLiquidation] = []
        async for execution in self._client.list_workflows(query):
            if not execution.id.startswith(LIQUIDATION_ID_PREFIX):
                continue
            entry = RunningLiquidation(workflow_id=execution.id, started_at=execution.start_time)
            try:
                status = await self._client.get_workflow_handle(execution.id).query(
                    "status", rpc_timeout=timedelta(seconds=_STATUS_QUERY_TIMEOUT_SECONDS)
                )
                entry = entry.model_copy(
                    update={
                        "held": status.get("held_token"),
                        "qty": Decimal(str(status.get("held_qty", 0))),
                        "stage": status.get("stage"),
                    }
                )
            except Exception as exc:  # its worker is busy or gone: still in liquidation
                activity.logger.warning("no status from %s: %s", execution.id, exc)
            found.append(entry)
            activity.heartbeat(len(found))
        return found

    @activity.defn(name="withdraw_quotes")
    async def withdraw_quotes(self, request: WithdrawRequest) -> Checkpoint | None:
        """Take a round's quotes off the book when the round ended without doing it itself
        (cancelled between attempts, or its worker died), and bring its checkpoint up to date:
        the fills since its last progress, and later status changes (a FAILED buy) of those
        before. None when the checkpoint has no cursor (the round never said where its fills
        begin)."""
        async with non_retryable_venue_errors():
            await cancel_quotes(self._exchange, request.market.condition_id, set())
            if not request.checkpoint.cursor:
                return None
            checkpoint = await read_fills(self._exchange, request.market, request.checkpoint)
            book = await self._exchange.book(request.market.yes_token_id)
            return checkpoint.model_copy(update={"quotes": (), "read_at": book.at})

    @activity.defn(name="make_market")
    async def make_market(self, request: MarketMakingInput) -> MarketMakingResult:
        """Quote until the position limit is reached or the workflow cancels the round
        (activities.attempt: its heartbeats, and its hand-over when the worker stops)."""
        round_ = _Round(self._exchange, self._client, request)
        async with Attempt(round_.heartbeat_details) as attempt:
            round_.attempt = attempt
            return await self._run_attempt(round_, attempt)

    async def _run_attempt(self, round_: _Round, attempt: Attempt) -> MarketMakingResult:
        try:
            async with non_retryable_venue_errors():
                try:
                    await round_.resume()
                    return await round_.run()
                except asyncio.CancelledError:
                    if attempt.handing_over:  # quotes stay live: the next attempt adopts them
                        raise attempt.hand_over() from None
                    if not cancelled_by_workflow() or not round_.checkpointed:
                        # Lost (another attempt owns the quotes now), or not begun.
                        raise
                    return await round_.stop()
        except ApplicationError as exc:
            if not exc.non_retryable:
                raise
            # No attempt follows soon to watch the quotes: take them off the book first,
            # and hand the workflow the round's last position (fills since its last
            # progress).
            with contextlib.suppress(Exception):
                await round_.stop()
            raise ApplicationError(
                exc.message, round_.checkpoint, type=exc.type, non_retryable=True
            ) from None
        except Exception as exc:  # failed on its own (not handed over): retry a bit later
            raise ApplicationError(
                f"{type(exc).__name__}: {exc}",
                type=type(exc).__name__,
                next_retry_delay=FAILED_ATTEMPT_RETRY,
            ) from exc


# Transient venue errors a round rides out in its own loop before failing the attempt.
_TRANSIENT_FAILURES_IN_A_ROW = 10
_TRANSIENT_PAUSE_MAX_SECONDS = 10.0


class _Round:
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
        self._quoting_since: float | None = None
        self._rewards_read_at = -VENUE_REWARDS_EVERY_SECONDS
        self._feed = exchange if isinstance(exchange, MarketFeed) else None
        self._open_orders: list[Order] | None = None  # as the last fill sync read them
        self._quoted_tick = request.market.tick_size
        self._trades_seen: dict[str, int] = {}
        self.attempt: Attempt | None = None  # heartbeats and lease (activities.attempt)
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
            self._checkpoint = Checkpoint.model_validate(details[0])
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
                if position_limit_reached(
                    self._checkpoint.position,
                    self._request.config.position_limit,
                    self._market.min_order_size,
                ):
                    return await self._hand_over()
                leaving = await self._resolved() or await self._requote()
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

    async def _wait_for_news(self, fill_mark: int, market_mark: int, interval: float) -> None:
        """Until a fill notice, a change of the market that calls for the quotes, or the poll."""
        condition_id = self._market.condition_id
        feed = self._feed
        if feed is None:
            await self._exchange.wait_for_fill(condition_id, fill_mark, interval)
            return
        started = time.monotonic()
        while True:
            live = await feed.market_live(condition_id)
            self._set_feed(MARKET_CHANNEL if live else POLL)
            poll = max(interval, LIVE_POLL_SECONDS) if live else interval
            left = started + poll - time.monotonic()
            if left <= 0:
                return
            wake = await feed.wait_for_market(
                self._market, fill_mark, market_mark, min(left, interval)
            )
            if wake is Wake.FILL:
                return
            if wake is Wake.TIMEOUT:
                self._heartbeat()  # alive between polls (no venue request)
                continue
            market_mark = await feed.market_mark(condition_id)
            if not await feed.market_live(condition_id):
                if live:
                    return  # the channel just went down: look now, then poll
                continue
            reason = await self._market_calls()
            if reason is not None:
                activity.logger.info(
                    "market moved: %s", reason, extra={"market": self._market.condition_id}
                )
                return

    async def _resolved(self) -> str | None:
        """Why the market must be left whatever its book says (reason_to_leave)."""
        feed, condition_id = self._feed, self._market.condition_id
        resolution = await feed.market_resolution(condition_id) if feed else None
        return reason_to_leave(self._market, resolution)

    async def _market_calls(self) -> str | None:
        """Why the book as it is now calls for the quotes (reason_to_requote)."""
        assert self._feed is not None
        if (resolved := await self._resolved()) is not None:
            return resolved
        market = self._market
        book = await self._exchange.book(market.yes_token_id)  # the pushed book: no request
        trades = []
        for token in (Token.YES, Token.NO):
            token_id = market.token_id(token)
            count, price = await self._feed.trades_seen(token_id)
            if count != self._trades_seen.get(token_id, count) and price is not None:
                trades.append(TradePrint(token=token, price=price))
            self._trades_seen[token_id] = count
        return reason_to_requote(
            bids=[(x.price, x.size) for x in book.bids],
            asks=[(x.price, x.size) for x in book.asks],
            tick=book.tick_size,
            quoted_tick=self._quoted_tick,
            quoted_mid=self._checkpoint.quoted_mid,
            threshold=self._request.config.requote_threshold,
            quotes=[q.intent() for q in self._checkpoint.quotes],
            trades=trades,
        )

    def _set_feed(self, feed: str) -> None:
        if self._checkpoint.market_feed != feed:
            self._checkpoint = self._checkpoint.model_copy(update={"market_feed": feed})
            self._heartbeat()

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
        """The market goes to liquidation (the position limit, or a market left)."""
        await self._withdraw()
        if not self._checkpoint.position.is_flat:
            activity.logger.info(
                "handing over to liquidation: %s %s",
                self._checkpoint.position.held_token,
                self._checkpoint.position.held_qty,
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

    async def _requote(self) -> str | None:
        """Re-price both bids when the midpoint moved past the threshold; otherwise only
        withdraw a side the position limit now forbids and replace a quote that filled (or
        was left below the reward minimum). Returns why the market must be left, if so."""
        snapshot = await market_snapshot(
            self._exchange, self._market, datetime.now(UTC), self._open_orders
        )
        self._open_orders = None  # our orders change from here on
        self._quoted_tick = snapshot.tick_size
        self._market = self._market.model_copy(
            update={"tick_size": snapshot.tick_size, "min_order_size": snapshot.min_order_size}
        )
        config = self._request.config
        desired = {
            q.token: q
            for q in desired_quotes(
                self._market, snapshot.midpoint, self._checkpoint.position, config
            )
        }
        reprice = needs_requote(
            self._checkpoint.quoted_mid, snapshot.midpoint, config.requote_threshold
        )
        kept: list[Quote] = []
        dropped: list[str] = []
        for quote in self._checkpoint.quotes:
            if keeps_quote(quote.intent(), desired.get(quote.token), reprice, self._market):
                kept.append(quote)
            else:
                dropped.append(quote.order_id)
        await cancel_orders(self._exchange, dropped)
        self._set_quotes(tuple(kept))
        if reprice:
            self._checkpoint = self._checkpoint.model_copy(update={"quoted_mid": snapshot.midpoint})
        leaving = leave_reason(snapshot.midpoint, tuple(desired.values()))
        if leaving is not None:
            return leaving
        quoted = {q.token for q in kept}
        await self._place([intent for token, intent in desired.items() if token not in quoted])
        return None

    async def _place(self, intents: list[OrderIntent]) -> None:
        """Place the quotes, in one request where the venue takes batches. Each takes its own
        sequence number (its placement key), heartbeated before the request goes out."""
        if not intents:
            return
        first = self._checkpoint.sequence
        self._checkpoint = self._checkpoint.model_copy(update={"sequence": first + len(intents)})
        self._heartbeat()
        activity_id = activity.info().activity_id
        requests = [
            PlaceOrder(
                key=placement_key(self._request.key_prefix, activity_id, first + i, intent),
                market=self._market,
                token_id=self._market.token_id(intent.token),
                side=intent.side,
                price=intent.price,
                size=intent.size,
                # Quotes never mean to cross, and post-only ones are accepted during the
                # venue's post-restart window.
                post_only=True,
            )
            for i, intent in enumerate(intents)
        ]
        results: list[Order | ExchangeError]
        if isinstance(self._exchange, BatchOrders) and len(requests) > 1:
            results = await self._exchange.place_orders(requests)
        else:
            results = []
            for request in requests:
                try:
                    results.append(await self._exchange.place_order(request))
                except WouldCross as exc:
                    results.append(exc)
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
        now = time.monotonic()
        quoted = self._checkpoint.quoted_seconds
        if self._quoting_since is not None:
            quoted += Decimal(str(round(now - self._quoting_since, 3)))
        self._quoting_since = now if quotes else None
        self._checkpoint = self._checkpoint.model_copy(
            update={"quotes": quotes, "quoted_seconds": quoted}
        )

    def _heartbeat(self) -> None:
        if self.attempt is None:
            activity.heartbeat(self._checkpoint)
        else:
            self.attempt.beat()

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

"""The LiquidationWorkflow's activities: read the market, place and cancel its order, and
watch the market between checks.

Each is safe to run again: a sync re-reads from the same fill cursor (and folds into the
position it was given), a placement carries the
plan's idempotency key (the exchange returns the order an earlier attempt placed), and a
cancel of an order already gone succeeds. Venue errors that retrying cannot fix become
non-retryable ApplicationErrors; messages carry no secret (the exchange holds the keys).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from dualmm.domain.market_moves import MoveWatch, reason_to_recheck
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, Frozen, MarketInfo, Side
from dualmm.exchange.base import (
    Exchange,
    InsufficientBalance,
    MarketFeed,
    MergeJournal,
    MergeReport,
    NonRetryableError,
    Order,
    PlaceOrder,
    RetryableError,
    SignedMerge,
    Wake,
)
from dualmm.exchange.sync import PositionSync, sync_position
from dualmm.logs import log_fill

# A merge that could not even be sent (its RPC down) is given up after this many attempts.
MERGE_UNSENT_ATTEMPTS = 5
# A SELL refused for balance is tried this many times, this far apart (settlement lag).
SETTLEMENT_ATTEMPTS = 12
SETTLEMENT_RETRY_DELAY = timedelta(seconds=5)
# A wait for a move heartbeats at least this often (its heartbeat timeout is the workflow's).
WATCH_HEARTBEAT_SECONDS = 2.0
# While the market channel is down, the book is read over REST this often.
WATCH_POLL_SECONDS = 5.0


class PositionSyncRequest(Frozen):
    """A sync that folds its fill reports into `position` (see sync_position)."""

    market: MarketInfo
    cursor: str | None
    resting_order_id: str | None
    as_of: datetime  # the workflow's check time, whole seconds
    position: PositionTracker
    fills: tuple[Fill, ...]  # the owner's latest own fills
    order_ids: tuple[str, ...]  # the owner's orders (their fills are listed)


class MoveWaitRequest(Frozen):
    market: MarketInfo
    watch: MoveWatch
    # Until the next check: the wait ends by then (a duration: the workflow's clock may not be
    # the worker's, e.g. on a time-skipping test server).
    seconds: float


class MarketMove(Frozen):
    """How a wait for a move ended: `reason` the move (None: none in time); `watched`
    False when the exchange pushes no books (nothing to wait on: the checks are the poll)."""

    reason: str | None = None
    watched: bool = True


class CancelRequest(Frozen):
    order_id: str


class MergeRequest(Frozen):
    market: MarketInfo
    qty: Decimal
    key: str  # the same key never merges twice
    # The transaction `sign_merge` signed (kept in the workflow's history): sent as signed.
    signed: SignedMerge | None = None


class _SignedFirst(Exception):
    """Stops a merge at its signature, before anything is broadcast."""

    def __init__(self, signed: SignedMerge) -> None:
        super().__init__(signed.tx_hash)
        self.signed = signed


@asynccontextmanager
async def non_retryable_venue_errors() -> AsyncIterator[None]:
    """Venue errors that cannot heal stop the retries; the rest retry with backoff, or after
    the wait the venue asked for (429 Retry-After, 503 post_only_mode)."""
    try:
        yield
    except NonRetryableError as exc:
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
    except RetryableError as exc:
        if exc.retry_after is None:
            raise
        raise ApplicationError(
            str(exc),
            type=type(exc).__name__,
            next_retry_delay=timedelta(seconds=max(exc.retry_after, 1.0)),
        ) from None


class LiquidationActivities:
    """Activities over one injected Exchange."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    @activity.defn(name="liquidation_sync_position")
    async def sync_position(self, request: PositionSyncRequest) -> PositionSync:
        """New fills since the cursor folded into the position, the market snapshot, and what
        remains of our order: a page of thousands of fills never enters the workflow's
        history, only the (bounded) position does."""
        async with non_retryable_venue_errors():
            await self._exchange.heartbeat()
            synced = await sync_position(
                self._exchange,
                request.market,
                request.cursor,
                request.resting_order_id,
                request.as_of,
                request.position,
                request.fills,
                request.order_ids,
                on_new_fill=lambda fill: log_fill(activity.logger, fill),
            )
        return synced if self.watches() else synced.model_copy(update={"watchable": False})

    def watches(self) -> bool:
        """Whether wait_for_move watches the market here (the venue pushes books)."""
        return isinstance(self._exchange, MarketFeed)

    @activity.defn(name="liquidation_wait_for_move")
    async def wait_for_move(self, request: MoveWaitRequest) -> MarketMove:
        """Until the market calls for a check (reason_to_recheck, or it resolved), a fill
        notice, or `seconds`.

        Woken by every pushed change of the book (MarketFeed); while the channel is down the
        book is read over REST every few seconds. Reads only: the workflow's timer decides
        when the check happens if this attempt dies."""
        exchange, market = self._exchange, request.market
        if not isinstance(exchange, MarketFeed):
            return MarketMove(watched=False)
        info = activity.info()  # a retry (another worker) watches what is left
        retried_after = (info.current_attempt_scheduled_time - info.scheduled_time).total_seconds()
        ends = time.monotonic() + request.seconds - retried_after
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                return MarketMove()
            if activity.is_worker_shutdown():  # a retry watches on another worker
                raise ApplicationError("worker stopping", type="WorkerShutdown")
            activity.heartbeat()
            # Marks taken before the book is read: a change while we read wakes the wait.
            fill_mark = await exchange.fill_mark(market.condition_id)
            market_mark = await exchange.market_mark(market.condition_id)
            live = await exchange.market_live(market.condition_id)
            if await exchange.market_resolution(market.condition_id) is not None:
                return MarketMove(reason="market resolved")  # the check ends the liquidation
            async with non_retryable_venue_errors():
                book = await exchange.book(market.yes_token_id)  # pushed while live
            reason = reason_to_recheck(
                request.watch,
                bids=[(x.price, x.size) for x in book.bids],
                asks=[(x.price, x.size) for x in book.asks],
                tick=book.tick_size,
            )
            if reason is not None:
                return MarketMove(reason=reason)
            pause = WATCH_HEARTBEAT_SECONDS if live else WATCH_POLL_SECONDS
            wake = await exchange.wait_for_market(market, fill_mark, market_mark, min(left, pause))
            if wake is Wake.FILL:
                return MarketMove(reason="a fill notice")

    @activity.defn(name="liquidation_place_order")
    async def place_order(self, request: PlaceOrder) -> Order:
        """Place the order, or return the one an earlier attempt placed with the same key.

        A SELL refused for balance is retried for about a minute first: tokens bought moments
        ago arrive only when their trade settles (tens of seconds on Polymarket). After that
        it is non-retryable and the workflow looks again at its next check (a FAILED buy has
        shrunk the position by then).
        """
        async with non_retryable_venue_errors():
            try:
                return await self._exchange.place_order(request)
            except InsufficientBalance as exc:
                if request.side is Side.SELL and activity.info().attempt < SETTLEMENT_ATTEMPTS:
                    raise ApplicationError(
                        f"{exc} (waiting for a trade to settle)",
                        type=type(exc).__name__,
                        next_retry_delay=SETTLEMENT_RETRY_DELAY,
                    ) from None
                raise

    @activity.defn(name="liquidation_cancel_order")
    async def cancel_order(self, request: CancelRequest) -> None:
        """Cancel our order; one already filled, cancelled or unknown counts as cancelled."""
        async with non_retryable_venue_errors():
            await self._exchange.cancel_order(request.order_id)

    @activity.defn(name="liquidation_sign_merge")
    async def sign_merge(self, request: MergeRequest) -> SignedMerge | MergeReport:
        """Sign the merge's on-chain transaction without sending it: once this activity has
        completed, the workflow's history holds the transaction, so no retry after a broadcast
        can sign a second one. A venue that merges without a transaction of ours (the
        simulator, paper trading) merges here at once."""

        def stop(signed: SignedMerge) -> None:
            raise _SignedFirst(signed)

        async with non_retryable_venue_errors():
            try:
                return await self._exchange.merge(
                    request.market, request.qty, request.key, MergeJournal(record=stop)
                )
            except _SignedFirst as first:
                return first.signed

    @activity.defn(name="liquidation_merge_pairs")
    async def merge_pairs(self, request: MergeRequest) -> MergeReport:
        """Merge YES+NO pairs into USDC; a retry with the same key merges nothing more.

        The transaction `sign_merge` signed is sent as signed, then again by each retry, until
        its receipt (one nonce: it lands once). Without one, the transaction signed here is
        heartbeated before it is broadcast, and a retry sends those same bytes again.
        """
        details = activity.info().heartbeat_details
        signed = SignedMerge.model_validate(details[0]) if details else request.signed
        journal = MergeJournal(signed, record=activity.heartbeat)
        async with non_retryable_venue_errors():
            try:
                return await self._exchange.merge(request.market, request.qty, request.key, journal)
            except RetryableError as exc:
                attempt = activity.info().attempt
                if journal.signed is not None or attempt < MERGE_UNSENT_ATTEMPTS:
                    raise  # once sent, only its receipt ends the merge: retried until then
                # Nothing sent: give up for now, the liquidation sells the net position
                # and tries the merge again at a later check.
                raise NonRetryableError(f"{exc} (attempt {attempt}, nothing sent)") from None

"""The active market's activities: pick the best reward market, make a market in it (one
long-running round, activities.quote_round), take a round's quotes off the book, and list the
liquidations a bot finds running when it starts. The round's types are in
activities.market_making_types."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.attempt import FAILED_ATTEMPT_RETRY, Attempt, cancelled_by_workflow
from activities.liquidation import non_retryable_venue_errors

# Re-exported: callers import the round's types from here.
from activities.market_making_types import MARKET_CHANNEL as MARKET_CHANNEL
from activities.market_making_types import POLL as POLL
from activities.market_making_types import Checkpoint as Checkpoint
from activities.market_making_types import MarketMakingInput as MarketMakingInput
from activities.market_making_types import MarketMakingResult as MarketMakingResult
from activities.market_making_types import MarketProgress as MarketProgress
from activities.market_making_types import Outcome as Outcome
from activities.market_making_types import PickMarketInput as PickMarketInput
from activities.market_making_types import PositionLimit as PositionLimit
from activities.market_making_types import Quote as Quote
from activities.market_making_types import RunningLiquidation as RunningLiquidation
from activities.market_making_types import WithdrawRequest as WithdrawRequest
from activities.quote_round import QuoteRound
from activities.quote_venue import cancel_quotes, read_fills
from dualmm.discovery import Filters, discover
from dualmm.domain.rotation import market_to_quote
from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import Exchange
from workflows.contracts import LIQUIDATION_ID_PREFIX, LIQUIDATION_WORKFLOW

_STATUS_QUERY_TIMEOUT_SECONDS = 5.0


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
            # Since its last report nobody knows how long its quotes stayed: not counted.
            return checkpoint.model_copy(
                update={"quotes": (), "quoting_since": None, "read_at": book.at}
            )

    @activity.defn(name="make_market")
    async def make_market(self, request: MarketMakingInput) -> MarketMakingResult:
        """Quote until the position limit is reached or the workflow cancels the round
        (activities.attempt: its heartbeats, and its hand-over when the worker stops)."""
        round_ = QuoteRound(self._exchange, self._client, request)
        async with Attempt(round_.heartbeat_details) as attempt:
            round_.attempt = attempt
            return await self._run_attempt(round_, attempt)

    async def _run_attempt(self, round_: QuoteRound, attempt: Attempt) -> MarketMakingResult:
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

"""One liquidation as an async algorithm over a small port; three drivers run it.

At each check it syncs the position (new fills, the market, what remains of its order), merges
the YES+NO pairs it holds, asks the pure `step` (dualmm.domain.liquidation) what to do, cancels
and places what the plan says, and sleeps until the plan's wake time. A market that resolved
ends it at once (`resolved_exit`): the venue takes no more orders there, and what is held
waits for redemption. The drivers differ only
in their port: the LiquidationWorkflow's calls activities and sleeps on durable timers
(workflows.liquidation); `dualmm replay` trades on the simulator in simulated time
(dualmm.replay); the backtest fills against recorded market data (dualmm.backtest.liquidation).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import (
    LiquidationState,
    ResolvedExit,
    RestingOrder,
    StageChange,
    elapsed_seconds,
    resolved_exit,
    step,
)
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.position import RECENT_FILLS_KEPT, PositionTracker, unsettled_trades
from dualmm.domain.prices import round_size
from dualmm.domain.types import Fill, Frozen, MarketInfo, MarketSnapshot, OrderIntent, Stage
from dualmm.exchange.base import Order, OrderStatus, PlaceOrder
from dualmm.exchange.sync import PositionSync, still_resting

# "resolved": the market resolved first; the tokens held await redemption (see `resolution`).
LiquidationOutcome = Literal["closed", "dust", "resolved", "open"]

# The latest orders and fills kept in the state and the result: a bounded window (the position
# holds the totals).
RECENT_KEPT = RECENT_FILLS_KEPT
MERGE_ATTEMPTS = 3  # per run: a refusal (unsettled tokens, no on-chain path) is retried later


class PlacedOrder(Frozen):
    at: datetime
    order_id: str
    price: Decimal
    size: Decimal


class LiquidationResult(Frozen):
    """How a liquidation ended, whichever driver ran it. "open": the driver's time ran out.
    "resolved": `realized_pnl` values the tokens held at the resolution's payout."""

    condition_id: str
    status: LiquidationOutcome
    exit_stage: Stage
    reason: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: int
    realized_pnl: Decimal
    remaining_qty: Decimal
    position: PositionTracker
    stages: tuple[StageChange, ...]
    orders: tuple[PlacedOrder, ...]
    fills: tuple[Fill, ...]
    resolution: ResolvedExit | None = None

    @property
    def exit_at(self) -> datetime | None:
        """When the position was out: its last fill for a close, the finish for dust."""
        if self.status == "open":
            return None
        if self.status == "closed" and self.fills:
            return self.fills[-1].at
        return self.finished_at


class CheckFailed(Exception):
    """A venue refusal retrying cannot fix (a changed tick, no balance): the algorithm looks
    again at its next check rather than abandon the position.

    `seen_at`: when the driver saw the refusal, if it keeps a clock; the next check counts from
    it (a failed sync records no check time to count from)."""

    def __init__(self, message: str, seen_at: datetime | None = None) -> None:
        super().__init__(message)
        self.seen_at = seen_at


class LiquidationPort(Protocol):
    """What the algorithm needs from the world; each driver implements it."""

    async def sleep_until(self, at: datetime) -> datetime | None:
        """Wait until `at` (or less, when woken); the time to check at, None: time is up."""

    async def sync(
        self,
        cursor: str | None,
        resting_order_id: str | None,
        at: datetime,
        position: PositionTracker,
        fills: tuple[Fill, ...],
        order_ids: tuple[str, ...],
    ) -> PositionSync:
        """New fills folded into the position, the market, what remains of our order."""

    async def place(self, order: PlaceOrder) -> Order: ...

    async def cancel(self, order_id: str) -> None: ...

    async def merge(self, qty: Decimal, key: str) -> Decimal:
        """Merge YES+NO pairs into USDC (idempotent by `key`); the pairs merged."""

    async def escalated(self, state: LiquidationState, reason: str, at: datetime) -> None:
        """The stage moved on (the workflow logs it and tells its parent)."""


class Liquidation:
    """One market's liquidation: its state (the workflow carries it across continue-as-new)
    and the loop. Signals change `state` and `config` between checks."""

    def __init__(
        self,
        port: LiquidationPort,
        market: MarketInfo,
        position: PositionTracker,
        config: LiquidationConfig,
        state: LiquidationState,
        *,
        merge_id: str,
        resting: RestingOrder | None = None,
        cursor: str | None = None,
        orders: tuple[PlacedOrder, ...] = (),
        fills: tuple[Fill, ...] = (),
        merges: int = 0,
    ) -> None:
        self.port = port
        self.market = market
        self.position = position
        self.config = config
        self.state = state
        self.resting = resting
        self.cursor = cursor
        self.orders = orders
        self.fills = fills
        self.merges = merges  # merges done: part of the next merge's idempotency key
        self.snapshot: MarketSnapshot | None = None
        self.resolution: MarketResolution | None = None
        self.last_error: str | None = None
        self._merge_id = merge_id
        self._merge_attempts = 0

    async def run(self, first_check: datetime) -> LiquidationResult:
        now = await self.port.sleep_until(first_check)
        last = first_check
        while now is not None:
            try:
                snapshot = await self._sync(now)
                # The check's time is the one its sync recorded. A workflow replaying a check
                # whose sync was retried over task heartbeats reads a later clock before it.
                now = snapshot.at
                # Trades that may still FAIL and hand shares back: a flat exit waits.
                unsettled = unsettled_trades(self.position, self.fills, now)
                resolved = resolved_exit(self.position, self.market, self.resolution, unsettled)
                if resolved is not None:
                    await self.cancel_resting()  # the venue cancelled it: only if still listed
                    if not resolved.waiting:
                        return self.result("resolved", resolved.reason, now, resolved)
                    self.last_error = resolved.reason  # shown while it waits to settle
                    wake_at = self._next_check(now)
                else:
                    await self._merge_pairs(unsettled)
                    plan = step(
                        self.state,
                        self.position,
                        self.resting,
                        snapshot,
                        now,
                        self.config,
                        unsettled,
                    )
                    escalated = plan.state.stage is not self.state.stage
                    self.state = plan.state
                    if escalated:
                        await self.port.escalated(plan.state, plan.decision.reason, now)
                    if plan.finished:
                        await self.cancel_resting()
                        if not self._may_merge():
                            outcome: LiquidationOutcome = "dust" if plan.decision.dust else "closed"
                            return self.result(outcome, plan.decision.reason, now)
                        # Flat, holding pairs a merge may still take: not left in the wallet
                        # for nobody (a later owner could sell them as its own).
                        wake_at = self._next_check(now)
                    else:
                        if plan.cancel is not None:
                            await self.cancel_resting()
                        if plan.place is not None and plan.place_key is not None:
                            placed = await self._place(plan.place, plan.place_key, now)
                            if placed.status is OrderStatus.MATCHED:
                                continue  # filled at once: sync again at the same time
                        wake_at = plan.wake_at
            except CheckFailed as exc:
                self.last_error = str(exc)
                now = exc.seen_at or now
                wake_at = self._next_check(now)
            last = now
            now = await self.port.sleep_until(wake_at)
        await self.cancel_resting()
        return self.result("open", "time ran out before the position was out", last)

    def _next_check(self, now: datetime) -> datetime:
        return now + timedelta(milliseconds=self.config.price_check_interval_ms)

    async def _sync(self, now: datetime) -> MarketSnapshot:
        synced = await self.port.sync(
            self.cursor,
            self.resting.order_id if self.resting else None,
            now,
            self.position,
            self.fills,
            # Only its own orders' fills are listed: the cursor re-reads a round's too.
            tuple(order.order_id for order in self.orders),
        )
        self.position, self.fills, self.cursor = synced.position, synced.fills, synced.cursor
        self.snapshot, self.resolution = synced.snapshot, synced.resolution
        if self.resting is not None:
            remaining = synced.resting_remaining
            self.resting = (
                None if remaining is None else self.resting.model_copy(update={"size": remaining})
            )
        return synced.snapshot

    def _pairs(self) -> Decimal:
        return round_size(min(self.position.yes_qty, self.position.no_qty))

    def _may_merge(self) -> bool:
        """Pairs are held and the merge has not given up on them."""
        return self._pairs() > 0 and self._merge_attempts < MERGE_ATTEMPTS

    async def _merge_pairs(self, unsettled: int) -> None:
        """Merge the YES+NO pairs held into USDC: worth exactly 1 together, they realize
        `1 - avg_yes - avg_no` each and free their capital; `step` then sells the net
        position. A refusal leaves the pairs and tries again at the next check.

        Not while trades behind the position are unsettled: the venue credits tokens at
        CONFIRMED, so a merge of fresh pairs is refused, and the refusals would spend the
        attempts meant for a wallet that really cannot merge."""
        if unsettled or not self._may_merge():
            return
        pairs = self._pairs()
        self._merge_attempts += 1
        started = self.state.started_at.isoformat()
        key = f"merge-{self._merge_id}-{started}-{self.merges}"
        try:
            merged = await self.port.merge(pairs, key)
        except CheckFailed as exc:
            self.last_error = f"merge: {exc}"
            return
        # The merge happened once (its key): it lands in the position once.
        self.position = self.position.merge(merged)
        self.merges += 1

    async def _place(self, intent: OrderIntent, key: str, now: datetime) -> Order:
        placed = await self.port.place(
            PlaceOrder(
                key=key,
                market=self.market,
                token_id=self.market.token_id(intent.token),
                side=intent.side,
                price=intent.price,
                size=intent.size,
                signed_at=now,
            )
        )
        order = PlacedOrder(at=now, order_id=placed.order_id, price=intent.price, size=intent.size)
        self.orders = (*self.orders, order)[-RECENT_KEPT:]
        self.resting = (
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

    async def cancel_resting(self) -> None:
        if self.resting is not None:
            await self.port.cancel(self.resting.order_id)
            self.resting = None

    def result(
        self,
        outcome: LiquidationOutcome,
        reason: str,
        now: datetime,
        resolved: ResolvedExit | None = None,
    ) -> LiquidationResult:
        return LiquidationResult(
            condition_id=self.market.condition_id,
            status=outcome,
            exit_stage=self.state.stage,
            reason=reason,
            started_at=self.state.started_at,
            finished_at=now,
            duration_seconds=elapsed_seconds(self.state.started_at, now),
            realized_pnl=self.position.realized_pnl if resolved is None else resolved.pnl,
            remaining_qty=self.position.held_qty,
            position=self.position,
            stages=self.state.history,
            orders=self.orders,
            fills=self.fills,
            resolution=resolved,
        )

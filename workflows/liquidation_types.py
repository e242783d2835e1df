"""The LiquidationWorkflow's input, status and stage message to its parent (its result,
LiquidationResult, is the algorithm's: dualmm.liquidator).

They live outside the workflow module on purpose: the sandbox re-runs a workflow's module for
every workflow instance it creates, and building pydantic classes is most of that. Passed
through, they are built once per worker.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState, RestingOrder
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, Frozen, MarketInfo, Stage, Token
from dualmm.liquidator import PlacedOrder


class LiquidationInput(Frozen):
    """Everything a liquidation needs; the carried fields also resume it after continue-as-new.

    `cursor` is the fill cursor of the handed-over position: only later fills are applied.
    Without one (a liquidation started on its own), the position is as of the start: the first
    sync takes every fill the venue reported by then as earlier owners' (a start boundary).
    """

    market: MarketInfo
    position: PositionTracker
    config: LiquidationConfig = LiquidationConfig()
    started_at: datetime
    parent_workflow_id: str | None = None
    cursor: str | None = None
    state: LiquidationState | None = None
    resting: RestingOrder | None = None
    next_check_at: datetime | None = None
    merges: int = 0  # merges done: part of the next merge's idempotency key
    orders: tuple[PlacedOrder, ...] = ()  # the latest RECENT_KEPT
    fills: tuple[Fill, ...] = ()  # the latest RECENT_KEPT of its own orders' fills


class LiquidationStageChange(Frozen):
    """The parent's view of a child's stage (at most three per liquidation)."""

    condition_id: str
    stage: Stage
    at: datetime


class LiquidationStatus(Frozen):
    condition_id: str
    stage: Stage
    elapsed_seconds: int
    paused: bool
    manual_exit: bool
    midpoint: Decimal | None
    order: RestingOrder | None
    held_token: Token | None
    held_qty: Decimal
    position_cost: Decimal = Decimal(0)  # cost basis of what is held: the capital in the exit
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
    fills: tuple[Fill, ...]
    # FAILED trades still counted until their dependent trades' reports arrive
    pending_reversals: tuple[str, ...]
    orders_placed: int
    config: LiquidationConfig
    last_error: str | None

"""The ActiveMarketWorkflow's input, state, status and result, and its workflow id.

Like workflows.liquidation_types, they live outside the workflow module so that the sandbox,
which runs the workflow's modules again for every workflow instance, does not build these
pydantic classes each time: passed through, they are built once per worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from activities.market_making_types import Checkpoint, PositionLimit, Quote
from dualmm.config import OrchestratorConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Frozen, MarketInfo, Stage, Token
from dualmm.liquidator import LiquidationResult
from workflows.contracts import liquidation_workflow_id


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
    # The workflow's clock when it answered (its last task's time: none runs while quotes
    # stand still), and since when the live quotes have been earning since then.
    as_of: datetime | None = None
    earning_since: datetime | None = None

    def at(self, now: datetime) -> ActiveMarketStatus:
        """The figures carried on to the reader's clock `now`: running time, and earning time
        while the quotes stand (steady quotes send the workflow nothing)."""
        if self.as_of is None or now <= self.as_of:
            return self
        running = self.running_seconds + _seconds(now - self.as_of)
        earning = self.earning_seconds
        if self.earning_since is not None and now > self.earning_since:
            earning += _seconds(now - max(self.as_of, self.earning_since))
        return self.model_copy(
            update={
                "running_seconds": running,
                "earning_seconds": earning,
                "earning_uptime": min(Decimal(1), earning / running) if running > 0 else Decimal(0),
                "as_of": now,
            }
        )


def _seconds(span: timedelta) -> Decimal:
    return Decimal(str(round(span.total_seconds(), 3)))


class ActiveMarketResult(Frozen):
    """Returned after `liquidate_all`: every liquidation this run saw finish."""

    finished: tuple[FinishedLiquidation, ...]
    liquidations_finished: int
    liquidations_realized_pnl: Decimal
    earning_seconds: Decimal
    running_seconds: Decimal

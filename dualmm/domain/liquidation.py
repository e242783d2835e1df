"""The staged liquidation engine (docs/design.md, "Liquidation"): pure functions, no I/O.

The workflow and the replay run the same loop around `step`: sync the market and fills,
`step`, cancel/place what the plan says, sleep until `plan.wake_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from dualmm.config import LiquidationConfig
from dualmm.domain.market_moves import MarketResolution, MoveWatch, StopLossWatch
from dualmm.domain.position import PositionTracker
from dualmm.domain.prices import ONE, Rounding, clamp_price, round_size, round_to_tick
from dualmm.domain.types import (
    Frozen,
    MarketInfo,
    MarketSnapshot,
    OrderIntent,
    Side,
    Stage,
    Token,
)

SECONDS_PER_MINUTE = Decimal(60)


class RestingOrder(Frozen):
    """Our liquidation order on the book; `size` is what remains unfilled."""

    order_id: str
    token: Token
    price: Decimal
    size: Decimal


class StageChange(Frozen):
    stage: Stage
    at: datetime
    reason: str


class LiquidationState(Frozen):
    condition_id: str
    started_at: datetime
    stage: Stage = Stage.PASSIVE
    manual_exit: bool = False
    paused: bool = False
    orders_placed: int = 0
    history: tuple[StageChange, ...] = ()

    @classmethod
    def start(cls, condition_id: str, started_at: datetime) -> LiquidationState:
        opening = StageChange(stage=Stage.PASSIVE, at=started_at, reason="liquidation started")
        return cls(condition_id=condition_id, started_at=started_at, history=(opening,))

    def with_manual_exit(self) -> LiquidationState:
        return self.model_copy(update={"manual_exit": True})

    def with_paused(self, paused: bool) -> LiquidationState:
        return self.model_copy(update={"paused": paused})


class LiquidationDecision(Frozen):
    state: LiquidationState
    order: OrderIntent | None
    reason: str
    finished: bool = False
    dust: bool = False


class StepPlan(Frozen):
    decision: LiquidationDecision
    state: LiquidationState
    cancel: str | None = None
    place: OrderIntent | None = None
    place_key: str | None = None
    finished: bool = False
    wake_at: datetime


def elapsed_seconds(started_at: datetime, now: datetime) -> int:
    """Whole seconds since the start: the engine's time resolution (timers are ~1 s anyway)."""
    return max(0, int((now - started_at).total_seconds()))


def _minutes(started_at: datetime, now: datetime) -> Decimal:
    return Decimal(elapsed_seconds(started_at, now)) / SECONDS_PER_MINUTE


def _at_minutes(started_at: datetime, minutes: Decimal) -> datetime:
    seconds = (minutes * SECONDS_PER_MINUTE).to_integral_value(rounding=ROUND_CEILING)
    return started_at + timedelta(seconds=int(seconds))


def skew_amount(minutes: Decimal, config: LiquidationConfig) -> Decimal:
    """How far below the held midpoint a SKEWED order sits after `minutes` in liquidation."""
    skewing = max(Decimal(0), minutes - config.skew_start_minutes) * config.skew_per_minute
    return min(skewing, config.max_skew)


def profit_floor(avg_cost: Decimal, tick: Decimal, config: LiquidationConfig) -> Decimal:
    """The lowest PASSIVE/SKEWED sell price: cost plus margin, rounded up to the tick."""
    return round_to_tick(avg_cost + config.min_profit_margin, tick, Rounding.UP)


def _target_stage(
    state: LiquidationState,
    position: PositionTracker,
    market: MarketSnapshot,
    now: datetime,
    config: LiquidationConfig,
) -> tuple[Stage, str]:
    """The stage the rules call for now, with the reason; the first rule that fires wins."""
    minutes = _minutes(state.started_at, now)
    if state.manual_exit:
        return Stage.MARKET, "manual exit"
    unrealized = position.unrealized_pnl(market.midpoint)
    if config.stop_loss_enabled and unrealized < config.stop_loss_threshold:
        return config.stop_loss_stage, (
            f"stop-loss: unrealized {unrealized} < {config.stop_loss_threshold}"
        )
    if minutes >= config.timeout_minutes:
        return config.timeout_stage, f"timeout after {config.timeout_minutes} min"
    if minutes >= config.skew_start_minutes:
        return Stage.SKEWED, f"skewing after {config.skew_start_minutes} min"
    return Stage.PASSIVE, "waiting at the midpoint"


def _sell_price(
    stage: Stage,
    held: Token,
    avg_cost: Decimal,
    market: MarketSnapshot,
    minutes: Decimal,
    config: LiquidationConfig,
) -> tuple[Decimal, bool]:
    """The SELL price of the held token for a stage, and whether the profit floor bound it."""
    tick = market.tick_size
    mid_held = market.midpoint if held is Token.YES else ONE - market.midpoint
    floored = False
    if stage in (Stage.PASSIVE, Stage.SKEWED):
        raw = mid_held if stage is Stage.PASSIVE else mid_held - skew_amount(minutes, config)
        price = round_to_tick(raw, tick, Rounding.NEAREST)
        floor = profit_floor(avg_cost, tick, config)
        if config.block_losing_quotes and price < floor:
            price, floored = floor, True
    elif stage is Stage.AGGRESSIVE:
        price = round_to_tick(mid_held - config.aggressive_offset, tick, Rounding.DOWN)
    else:
        raw = mid_held - config.market_offset
        best_bid_held = market.best_bid if held is Token.YES else _complement(market.best_ask)
        if best_bid_held is not None:
            raw = min(best_bid_held, raw)
        price = round_to_tick(raw, tick, Rounding.DOWN)
    return clamp_price(price, tick), floored


def _complement(price: Decimal | None) -> Decimal | None:
    return None if price is None else ONE - price


def decide(
    state: LiquidationState,
    position: PositionTracker,
    market: MarketSnapshot,
    now: datetime,
    config: LiquidationConfig,
    unsettled: int = 0,
) -> LiquidationDecision:
    """Stage, desired order and reason for a liquidation at `now` (the rules of docs/design.md).

    `unsettled`: trades behind the position not yet CONFIRMED (`unsettled_trades`). Flat or
    dust is not finished while one may still FAIL: the venue would hand the shares back (or
    take back ones sold) to a liquidation that is gone."""
    held = position.held_token
    if held is None or position.held_qty <= 0:
        if unsettled:
            reason = f"flat; waiting for {unsettled} trade(s) to settle"
            return LiquidationDecision(state=state, order=None, reason=reason)
        return LiquidationDecision(state=state, order=None, reason="flat", finished=True)
    size = round_size(position.held_qty)
    if size < market.min_order_size:
        if unsettled:
            reason = f"dust {position.held_qty}; waiting for {unsettled} trade(s) to settle"
            return LiquidationDecision(state=state, order=None, reason=reason)
        return LiquidationDecision(
            state=state,
            order=None,
            reason=f"dust: {position.held_qty} below minimum order size {market.min_order_size}",
            finished=True,
            dust=True,
        )
    target, reason = _target_stage(state, position, market, now, config)
    stage = state.stage.escalate_to(target)
    if stage is not state.stage:
        change = StageChange(stage=stage, at=now, reason=reason)
        state = state.model_copy(update={"stage": stage, "history": (*state.history, change)})
    elif target is not stage:
        reason = f"holding {stage.value}"
    price, floored = _sell_price(
        stage, held, position.avg_cost(held), market, _minutes(state.started_at, now), config
    )
    if floored:
        floor = profit_floor(position.avg_cost(held), market.tick_size, config)
        if floor > price:  # above 1 - tick: no price on the book reaches it
            reason = (
                f"{reason}; the profit floor {floor} is unreachable (prices stop at {price}): "
                f"resting at {price}"
            )
        else:
            reason = f"{reason}; resting at the profit floor {price}"
    order = OrderIntent(token=held, side=Side.SELL, price=price, size=size)
    return LiquidationDecision(state=state, order=order, reason=reason)


def next_boundary(
    state: LiquidationState, now: datetime, config: LiquidationConfig
) -> datetime | None:
    """The next moment the stage changes by time alone (skew start, timeout), if any."""
    candidates = []
    if state.stage.rank < Stage.SKEWED.rank:
        candidates.append(_at_minutes(state.started_at, config.skew_start_minutes))
    if state.stage.rank < config.timeout_stage.rank:
        candidates.append(_at_minutes(state.started_at, config.timeout_minutes))
    later = [at for at in candidates if at > now]
    return min(later) if later else None


def next_wake(state: LiquidationState, now: datetime, config: LiquidationConfig) -> datetime:
    """The earlier of the next price check and the next stage boundary."""
    check = now + timedelta(milliseconds=config.price_check_interval_ms)
    boundary = next_boundary(state, now, config)
    return check if boundary is None else min(check, boundary)


def needs_replace(resting: RestingOrder | None, desired: OrderIntent | None) -> bool:
    """Re-place only when price, size or token changed (partial fills shrink both alike)."""
    if desired is None or resting is None:
        return desired is not None or resting is not None
    return (resting.token, resting.price, resting.size) != (
        desired.token,
        desired.price,
        desired.size,
    )


def move_watch(
    state: LiquidationState,
    position: PositionTracker,
    resting: RestingOrder | None,
    priced: MarketSnapshot,
    config: LiquidationConfig,
) -> MoveWatch | None:
    """What the market must do between checks to call for a check at once (None: nothing).

    A PASSIVE or SKEWED order is priced off the midpoint: a move re-prices it. The stop-loss
    is watched while it can still escalate and the last check did not already find it
    crossed (that check escalated or had a reason not to)."""
    own: tuple[OrderIntent, ...] = ()
    if resting is not None:
        order = OrderIntent(
            token=resting.token, side=Side.SELL, price=resting.price, size=resting.size
        )
        own = (order,)
    reprice = resting is not None and state.stage in (Stage.PASSIVE, Stage.SKEWED)
    stop_loss = None
    if (
        config.stop_loss_enabled
        and not state.manual_exit
        and state.stage.rank < config.stop_loss_stage.rank
        and position.held_qty > 0
    ):
        stop_loss = StopLossWatch(
            yes_qty=position.yes_qty,
            yes_cost=position.yes_cost,
            no_qty=position.no_qty,
            no_cost=position.no_cost,
            threshold=config.stop_loss_threshold,
        )
        if stop_loss.crossed(priced.midpoint):
            stop_loss = None
    if not reprice and stop_loss is None:
        return None
    return MoveWatch(
        priced_mid=priced.midpoint,
        priced_tick=priced.tick_size,
        own=own,
        reprice=reprice,
        stop_loss=stop_loss,
    )


class ResolvedExit(Frozen):
    """How a liquidation ends when its market resolves: nothing trades there any more, so
    the tokens held wait to be redeemed (the winner for 1 USDC each, the loser for nothing).
    `pnl` is the position's realized P&L plus that payout minus what the tokens cost."""

    winner: Token | None  # None: the venue named a winning asset that is neither token
    yes_qty: Decimal
    no_qty: Decimal
    payout: Decimal
    pnl: Decimal
    reason: str
    waiting: bool = False  # trades behind the position may still fail: not the end yet


def resolved_exit(
    position: PositionTracker,
    market: MarketInfo,
    resolution: MarketResolution | None,
    unsettled: int = 0,
) -> ResolvedExit | None:
    """The liquidation's end if its market resolved (None: it did not, trade on).

    YES+NO pairs redeem for 1 together whichever side won, so they need no merge first. A
    winner this market does not list is valued at nothing: the P&L then states the worst
    case rather than guess. While `unsettled` trades may still FAIL (and change what is
    held) the end waits for them, placing nothing (`waiting`)."""
    if resolution is None:
        return None
    winner = next(
        (token for token in Token if market.token_id(token) == resolution.winning_asset_id),
        None,
    )
    payout = position.qty(winner) if winner is not None else Decimal(0)
    cost = position.yes_cost + position.no_cost
    won = f"{winner.value} won" if winner is not None else f"{resolution.winning_outcome} won"
    held = f"{position.yes_qty} YES, {position.no_qty} NO"
    reason = f"market resolved: {won}; {held} await redemption for {payout} USDC"
    if unsettled:
        reason = f"market resolved: {won}; waiting for {unsettled} trade(s) to settle"
    return ResolvedExit(
        winner=winner,
        yes_qty=position.yes_qty,
        no_qty=position.no_qty,
        payout=payout,
        pnl=position.realized_pnl + payout - cost,
        reason=reason,
        waiting=unsettled > 0,
    )


def order_key(state: LiquidationState) -> str:
    """The idempotency key of the next placement: the same on every retry and replay."""
    started = state.started_at.strftime("%Y%m%dT%H%M%SZ")
    return f"liq-{state.condition_id}-{started}-{state.orders_placed}"


def step(
    state: LiquidationState,
    position: PositionTracker,
    resting: RestingOrder | None,
    market: MarketSnapshot,
    now: datetime,
    config: LiquidationConfig,
    unsettled: int = 0,
) -> StepPlan:
    """One check of the liquidation loop: what to cancel, what to place, when to look again."""
    decision = decide(state, position, market, now, config, unsettled)
    state = decision.state
    resting_id = resting.order_id if resting else None
    if decision.finished:
        return StepPlan(
            decision=decision, state=state, cancel=resting_id, finished=True, wake_at=now
        )
    desired = None if state.paused else decision.order
    if not needs_replace(resting, desired):
        return StepPlan(decision=decision, state=state, wake_at=next_wake(state, now, config))
    key = order_key(state) if desired is not None else None
    if desired is not None:
        state = state.model_copy(update={"orders_placed": state.orders_placed + 1})
    return StepPlan(
        decision=decision,
        state=state,
        cancel=resting_id,
        place=desired,
        place_key=key,
        wake_at=next_wake(state, now, config),
    )

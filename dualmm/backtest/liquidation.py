"""One hand-over, liquidated in simulated time: the loop of `dualmm replay` over backtest data.

The loop is `dualmm.replay.replay_market`'s, step for step: at each check the market is
brought up to `now` (a resting order fills at the state changes it meets), the fills are taken
into the position, the engine's `step` decides, its cancel/place is carried out (an order that
crosses when placed fills at once, and the loop looks again at the same moment), and the clock
jumps to `plan.wake_at`. `tests/test_backtest_parity.py` holds it to the replay.

While it runs it also samples, every minute, the rewards its resting SELL earns (a SELL inside
the band and at or above the minimum scores too) and the capital its tokens hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from dualmm.backtest.markets import MarketData
from dualmm.backtest.scoring import minute_reward, sample_second
from dualmm.config import LiquidationConfig
from dualmm.domain.fees import Fees
from dualmm.domain.liquidation import LiquidationState, RestingOrder, step
from dualmm.domain.position import CONFIRMED, PositionTracker
from dualmm.domain.types import Fill, MarketSnapshot, OrderIntent, Side, Stage, Token

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass
class Sample:
    minute: int
    reward: Decimal
    scoring: bool
    capital: Decimal


@dataclass
class LiquidationRun:
    condition_id: str
    started: int  # seconds from the backtest start
    status: str  # closed, dust, settled (held to resolution), marked (market closed), open
    finished: float | None  # when the bot hears it is over; None: still open at the end
    exit_stage: Stage | None
    exit_seconds: int | None  # from the hand-over to the exit, as `dualmm replay` reports it
    opening: PositionTracker
    position: PositionTracker
    pnl: Decimal  # realized by the liquidation, less fees, plus settlement or mark
    fees: Decimal
    stages: list[tuple[Stage, int]]
    orders: list[tuple[int, Decimal, Decimal]]
    fills: list[tuple[int, Decimal, Decimal]]
    samples: list[Sample] = field(default_factory=list)

    @property
    def exit_minutes(self) -> Decimal | None:
        return None if self.exit_seconds is None else Decimal(self.exit_seconds) / 60


def _intent(order: RestingOrder) -> OrderIntent:
    return OrderIntent(token=order.token, side=Side.SELL, price=order.price, size=order.size)


def _value(position: PositionTracker, yes_price: Decimal) -> Decimal:
    """What the tokens held are worth with a YES share at `yes_price`."""
    return position.yes_qty * yes_price + position.no_qty * (ONE - yes_price)


def liquidate(
    market: MarketData,
    position: PositionTracker,
    started: int,
    horizon: int,
    config: LiquidationConfig,
    clock: datetime,
    fees: Fees = Fees(),
) -> LiquidationRun:
    """Liquidate `position` from `started` until it is done or the horizon (or the market) ends."""
    info = market.info
    start = clock + timedelta(seconds=started)
    state = LiquidationState.start(info.condition_id, start)
    opening = position
    resting: RestingOrder | None = None
    pending: list[Fill] = []
    orders: list[tuple[int, Decimal, Decimal]] = []
    fills: list[tuple[int, Decimal, Decimal]] = []
    samples: list[Sample] = []
    paid = ZERO
    end = horizon if market.closes is None else min(horizon, market.closes - 1)
    next_sample = -(-started // 60) * 60

    def sample_until(until: float) -> None:
        nonlocal next_sample
        while next_sample < horizon:
            at = next_sample + sample_second(next_sample // 60)  # the minute's reward sample
            if at >= until:
                break
            i = market.index_at(at)
            orders_now = [_intent(resting)] if resting is not None else []
            reward, score = minute_reward(market, i, orders_now, market.score_cache)
            capital = position.yes_cost + position.no_cost
            samples.append(Sample(next_sample // 60, reward, score > 0, capital))
            next_sample += 60

    def fill(at: float, token: Token, price: Decimal, size: Decimal, taker: bool) -> None:
        nonlocal paid
        pending.append(
            Fill(
                trade_id=f"{info.condition_id}:liq:{started}:{len(fills)}",
                condition_id=info.condition_id,
                token=token,
                side=Side.SELL,
                price=price,
                size=size,
                at=clock + timedelta(seconds=at),
                status=CONFIRMED,  # no settlement here: a fill is final
            )
        )
        fills.append((int(at), price, size))
        if taker:
            paid += fees.taker(price, size)

    status, finished = "open", None
    processed: float = started
    now: float = started
    while now <= end:
        for i in market.change_indices(processed, now):
            at = market.times[i]
            sample_until(at)
            if resting is not None:
                size = market.resting_fill(i, _intent(resting))
                if size > 0:
                    fill(at, resting.token, resting.price, size, taker=False)
                    left = resting.size - size
                    resting = resting.model_copy(update={"size": left}) if left > 0 else None
        sample_until(now)
        processed = max(processed, now)
        position = position.apply_fills(pending)
        pending.clear()
        i = market.index_at(now)
        bid, ask = market.yes_touch(i)
        snapshot = MarketSnapshot(
            condition_id=info.condition_id,
            tick_size=info.tick_size,
            min_order_size=info.min_order_size,
            midpoint=market.mid(i),
            best_bid=bid,
            best_ask=ask,
            at=clock + timedelta(seconds=now),
        )
        plan = step(state, position, resting, snapshot, snapshot.at, config)
        state = plan.state
        if plan.finished:
            status, finished = ("dust" if plan.decision.dust else "closed"), now
            resting = None
            break
        if plan.cancel:
            resting = None
        matched_at_once = False
        if plan.place is not None and plan.place_key is not None:
            order = plan.place
            orders.append((int(now), order.price, order.size))
            left = order.size
            for price, size in market.crossing_fills(i, order):
                fill(now, order.token, price, size, taker=True)
                left -= size
            matched_at_once = left <= 0
            if not matched_at_once:
                resting = RestingOrder(
                    order_id=plan.place_key, token=order.token, price=order.price, size=left
                )
        if not matched_at_once:
            now = (plan.wake_at - clock).total_seconds()
    settle_at = market.closes
    if status == "open" and settle_at is not None and settle_at <= horizon:
        sample_until(settle_at)
        position = position.apply_fills(pending)
        status, finished = ("settled" if market.payout_yes is not None else "marked"), settle_at
    elif status == "open":
        sample_until(horizon)
        position = position.apply_fills(pending)
    realized = position.realized_pnl - opening.realized_pnl
    held = position.yes_cost + position.no_cost
    if status in ("settled", "marked", "open"):
        mark_at = settle_at if status != "open" and settle_at is not None else horizon
        i = market.index_at(mark_at)
        realized += _value(position, market.final_mark(i, mark_at)) - held
    exit_at = None
    if status == "closed" and fills:
        exit_at = fills[-1][0]
    elif status in ("closed", "dust"):
        exit_at = int(finished or started)
    return LiquidationRun(
        condition_id=info.condition_id,
        started=started,
        status=status,
        finished=finished,
        exit_stage=state.stage if status in ("closed", "dust") else None,
        exit_seconds=None if exit_at is None else exit_at - started,
        opening=opening,
        position=position,
        pnl=realized - paid,
        fees=paid,
        stages=[(c.stage, int((c.at - clock).total_seconds())) for c in state.history],
        orders=orders,
        fills=fills,
        samples=samples,
    )

"""One hand-over, liquidated in simulated time: the liquidation algorithm (dualmm.liquidator)
driven over backtest data, as the workflow and `dualmm replay` drive it.

The port is a small simulated venue on the market's data: at each check the market is brought
up to `now` (a resting order fills at the state changes it meets), the fills come back folded
into the position, a placement that crosses fills at once (taker, with its fee), the rest
rests, merges of YES+NO pairs succeed at once, and the clock jumps to the plan's wake time.
Nothing waits, so the coroutine runs to its end without an event loop (fast enough for the
thousands of liquidations of a backtest).

While it runs it also samples, every minute, the rewards its resting SELL earns (a SELL inside
the band and at or above the minimum scores too) and the capital its tokens hold.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from dualmm.backtest.markets import MarketData
from dualmm.backtest.scoring import minute_reward, sample_second
from dualmm.config import LiquidationConfig
from dualmm.domain.fees import Fees
from dualmm.domain.liquidation import LiquidationState, RestingOrder
from dualmm.domain.position import CONFIRMED, PositionTracker, absorb_fills
from dualmm.domain.types import Fill, MarketSnapshot, OrderIntent, Side, Stage
from dualmm.exchange.base import Order, OrderStatus, PlaceOrder
from dualmm.exchange.sync import PositionSync
from dualmm.liquidator import Liquidation, LiquidationResult

ZERO = Decimal(0)
ONE = Decimal(1)
_T = TypeVar("_T")


@dataclass
class Sample:
    minute: int
    reward: Decimal
    scoring: bool
    capital: Decimal


@dataclass
class LiquidationRun:
    """The algorithm's result with the backtest's accounting around it: when it started and
    ended in backtest seconds, its P&L after fees and the settlement or mark of what is left,
    and its minute samples. `status` adds "settled" (held to resolution) and "marked" (the
    market closed) to the result's."""

    result: LiquidationResult
    started: int  # seconds from the backtest start
    status: str  # closed, dust, settled, marked, open
    finished: float | None  # when the bot hears it is over; None: still open at the end
    opening: PositionTracker
    pnl: Decimal  # realized by the liquidation, less fees, plus settlement or mark
    fees: Decimal
    clock: datetime  # the backtest's start
    samples: list[Sample] = field(default_factory=list)

    @property
    def condition_id(self) -> str:
        return self.result.condition_id

    @property
    def position(self) -> PositionTracker:
        return self.result.position

    @property
    def exit_stage(self) -> Stage | None:
        return self.result.exit_stage if self.status in ("closed", "dust") else None

    @property
    def exit_seconds(self) -> int | None:
        """From the hand-over to the exit, as `dualmm replay` reports it."""
        exit_at = self.result.exit_at
        if self.status not in ("closed", "dust") or exit_at is None:
            return None
        return self._seconds(exit_at) - self.started

    @property
    def exit_minutes(self) -> Decimal | None:
        return None if self.exit_seconds is None else Decimal(self.exit_seconds) / 60

    @property
    def stages(self) -> list[tuple[Stage, int]]:
        return [(c.stage, self._seconds(c.at)) for c in self.result.stages]

    @property
    def orders(self) -> list[tuple[int, Decimal, Decimal]]:
        return [(self._seconds(o.at), o.price, o.size) for o in self.result.orders]

    @property
    def fills(self) -> list[tuple[int, Decimal, Decimal]]:
        return [(self._seconds(f.at), f.price, f.size) for f in self.result.fills]

    def _seconds(self, at: datetime) -> int:
        return int((at - self.clock).total_seconds())


def _intent(order: RestingOrder) -> OrderIntent:
    return OrderIntent(token=order.token, side=Side.SELL, price=order.price, size=order.size)


def _value(position: PositionTracker, yes_price: Decimal) -> Decimal:
    """What the tokens held are worth with a YES share at `yes_price`."""
    return position.yes_qty * yes_price + position.no_qty * (ONE - yes_price)


class BacktestPort:
    """The liquidation's port on backtest data (see the module docstring)."""

    def __init__(
        self, market: MarketData, clock: datetime, started: int, end: int, horizon: int, fees: Fees
    ) -> None:
        self.market = market
        self.fees = fees
        self.paid = ZERO
        self.samples: list[Sample] = []
        self._clock = clock
        self._started = started
        self._end = end
        self._horizon = horizon
        self._now: float = started
        self._processed: float = started
        self._next_sample = -(-started // 60) * 60
        self._resting: RestingOrder | None = None
        self._pending: list[Fill] = []
        self._fills = 0
        self._position = PositionTracker()  # as of the latest sync: the samples' capital

    def _at(self, seconds: float) -> datetime:
        return self._clock + timedelta(seconds=seconds)

    async def sleep_until(self, at: datetime) -> datetime | None:
        seconds = (at - self._clock).total_seconds()
        if seconds > self._end:
            return None
        self._now = seconds
        return at

    async def sync(
        self,
        cursor: str | None,
        resting_order_id: str | None,
        at: datetime,
        position: PositionTracker,
        fills: tuple[Fill, ...],
        order_ids: tuple[str, ...],
    ) -> PositionSync:
        market, now = self.market, self._now
        self._position = position
        for i in market.change_indices(self._processed, now):
            self.sample_until(market.times[i])
            resting = self._resting
            if resting is not None:
                size = market.resting_fill(i, _intent(resting))
                if size > 0:
                    self._fill(market.times[i], resting, resting.price, size, taker=False)
                    left = resting.size - size
                    self._resting = resting.model_copy(update={"size": left}) if left > 0 else None
        self.sample_until(now)
        self._processed = max(self._processed, now)
        position, fills = absorb_fills(position, fills, self._pending, set(order_ids))
        self._pending.clear()
        i = market.index_at(now)
        bid, ask = market.yes_touch(i)
        info = market.info
        snapshot = MarketSnapshot(
            condition_id=info.condition_id,
            tick_size=info.tick_size,
            min_order_size=info.min_order_size,
            midpoint=market.mid(i),
            best_bid=bid,
            best_ask=ask,
            at=at,
        )
        resting = self._resting
        remaining = resting.size if resting and resting.order_id == resting_order_id else None
        return PositionSync(
            snapshot=snapshot,
            position=position,
            fills=fills,
            cursor=cursor or "",
            resting_remaining=remaining,
        )

    async def place(self, order: PlaceOrder) -> Order:
        token = order.market.token_of(order.token_id)
        intent = OrderIntent(token=token, side=order.side, price=order.price, size=order.size)
        placed = RestingOrder(order_id=order.key, token=token, price=order.price, size=order.size)
        left = order.size
        for price, size in self.market.crossing_fills(self.market.index_at(self._now), intent):
            self._fill(self._now, placed, price, size, taker=True)
            left -= size
        if left > 0:
            self._resting = placed.model_copy(update={"size": left})
        return Order(
            order_id=order.key,
            condition_id=order.market.condition_id,
            token_id=order.token_id,
            side=order.side,
            price=order.price,
            original_size=order.size,
            size_matched=order.size - left,
            status=OrderStatus.LIVE if left > 0 else OrderStatus.MATCHED,
            created_at=self._at(self._now),
        )

    async def cancel(self, order_id: str) -> None:
        if self._resting is not None and self._resting.order_id == order_id:
            self._resting = None

    async def merge(self, qty: Decimal, key: str) -> Decimal:
        return qty  # pairs are worth 1 USDC together: the merge is immediate here

    async def escalated(self, state: LiquidationState, reason: str, at: datetime) -> None:
        pass

    def _fill(
        self, at: float, order: RestingOrder, price: Decimal, size: Decimal, taker: bool
    ) -> None:
        info = self.market.info
        self._pending.append(
            Fill(
                trade_id=f"{info.condition_id}:liq:{self._started}:{self._fills}",
                condition_id=info.condition_id,
                token=order.token,
                side=Side.SELL,
                price=price,
                size=size,
                at=self._at(at),
                order_id=order.order_id,
                status=CONFIRMED,  # no settlement here: a fill is final
            )
        )
        self._fills += 1
        if taker:
            self.paid += self.fees.taker(price, size)

    def sample_until(self, until: float, position: PositionTracker | None = None) -> None:
        """Minute samples before `until`: the resting SELL's reward, the capital held."""
        market = self.market
        held = position or self._position
        while self._next_sample < self._horizon:
            at = self._next_sample + sample_second(self._next_sample // 60)  # the minute's sample
            if at >= until:
                break
            i = market.index_at(at)
            orders_now = [_intent(self._resting)] if self._resting is not None else []
            reward, score = minute_reward(market, i, orders_now, market.score_cache)
            capital = held.yes_cost + held.no_cost
            self.samples.append(Sample(self._next_sample // 60, reward, score > 0, capital))
            self._next_sample += 60


def _run_to_end(work: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that never waits (every port call returns at once)."""
    try:
        work.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    work.close()
    raise RuntimeError("the backtest port waited")


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
    end = horizon if market.closes is None else min(horizon, market.closes - 1)
    port = BacktestPort(market, clock, started, end, horizon, fees)
    liquidation = Liquidation(
        port,
        info,
        position,
        config,
        LiquidationState.start(info.condition_id, start),
        merge_id=f"backtest-{info.condition_id}-{started}",
    )
    result = _run_to_end(liquidation.run(start))
    final = result.position
    status: str = result.status
    finished: float | None = None
    if status != "open":
        finished = (result.finished_at - clock).total_seconds()
    settle_at = market.closes
    if status == "open" and settle_at is not None and settle_at <= horizon:
        port.sample_until(settle_at, final)
        status, finished = ("settled" if market.payout_yes is not None else "marked"), settle_at
    elif status == "open":
        port.sample_until(horizon, final)
    realized = final.realized_pnl - position.realized_pnl
    if status in ("settled", "marked", "open"):
        mark_at = settle_at if status != "open" and settle_at is not None else horizon
        held = final.yes_cost + final.no_cost
        realized += _value(final, market.final_mark(market.index_at(mark_at), mark_at)) - held
    return LiquidationRun(
        result=result,
        started=started,
        status=status,
        finished=finished,
        opening=position,
        pnl=realized - port.paid,
        fees=port.paid,
        clock=clock,
        samples=port.samples,
    )

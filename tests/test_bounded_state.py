"""Bounded state: 50,000 fills through a market-making round and a liquidation keep every
payload that carries the position (heartbeats, progress and position-limit signals, the
liquidation's input at continue-as-new, its result and status) under 64 KB, with exact totals.

Fills arrive MATCHED, and are reported again CONFIRMED (or FAILED, 20 of them) on the next
page, as Polymarket reports settlement; the tracker folds the confirmed prefix of its log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio.testing import ActivityEnvironment

from activities.market_making import (
    Checkpoint,
    MarketMakingActivities,
    MarketMakingInput,
    Outcome,
    PositionLimit,
)
from dualmm.config import LiquidationConfig, MarketMakerConfig
from dualmm.domain.liquidation import LiquidationState
from dualmm.domain.position import RECENT_FILLS_KEPT, PositionTracker, absorb_fills
from dualmm.domain.types import Fill, Frozen, MarketInfo, Side, Stage, Token
from dualmm.exchange.base import FillPage
from dualmm.sim.exchange import SimExchange
from dualmm.sim.market import SimMarket
from dualmm.sim.venue import ManualClock, SimVenue
from workflows.liquidation import LiquidationInput, LiquidationResult, PlacedOrder

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIMIT = 64 * 1024
FILLS = 50_000
PAGE = 200  # new fills per sync: the unconfirmed tail of the log
FAILED_EVERY = 2_500  # one BUY NO in this many fills turns FAILED: 20 in all


class Steady:
    def mid_at(self, seconds: float) -> Decimal:
        return D("0.50")

    def change_times(self, after: float, until: float) -> list[float]:
        return []


def market() -> MarketInfo:
    return MarketInfo(
        condition_id="0x" + "ab" * 32,
        question="bounded",
        yes_token_id="1" * 40,
        no_token_id="2" * 40,
        tick_size=D("0.01"),
        min_order_size=D(5),
        rewards_daily_rate=D(100),
        rewards_max_spread_cents=D(3),
        rewards_min_size=D(10),
    )


def fill(i: int, token: Token, side: Side, price: str, size: Decimal, order: str) -> Fill:
    return Fill(
        trade_id=f"trade-{i:06d}-{'x' * 24}",
        condition_id=market().condition_id,
        token=token,
        side=side,
        price=D(price),
        size=size,
        at=T0 + timedelta(seconds=i),
        order_id=order,
    )


def settled(reports: list[Fill], fails: set[str]) -> list[Fill]:
    """The next page's copies: CONFIRMED, or FAILED for the trades in `fails`."""
    return [
        f.model_copy(update={"status": "FAILED" if f.trade_id in fails else "CONFIRMED"})
        for f in reports
    ]


def paged(new: list[Fill], fails: set[str], size: int) -> list[tuple[Fill, ...]]:
    """Pages of `size` new fills, each followed by the settlement of the page before."""
    pages: list[tuple[Fill, ...]] = []
    previous: list[Fill] = []
    for start in range(0, len(new), size):
        chunk = new[start : start + size]
        pages.append(tuple(settled(previous, fails) + chunk))
        previous = chunk
    return pages


class ScriptedFills(SimExchange):
    """A simulated venue whose `fills` serves a script of pages (cursor: pages served)."""

    def __init__(self, venue: SimVenue, address: str, pages: list[tuple[Fill, ...]]) -> None:
        super().__init__(venue, address)
        self.pages = pages

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        if cursor is None:
            return FillPage(fills=(), cursor="0")
        served = int(cursor)
        if served >= len(self.pages):
            return FillPage(fills=(), cursor=cursor)
        return FillPage(fills=self.pages[served], cursor=str(served + 1))


class Parent:
    def __init__(self) -> None:
        self.signals: list[tuple[str, Frozen]] = []

    def get_workflow_handle(self, workflow_id: str) -> Parent:
        return self

    async def signal(self, name: str, arg: Frozen) -> None:
        self.signals.append((name, arg))


def size_of(payload: Frozen) -> int:
    return len(payload.model_dump_json().encode())


async def test_fifty_thousand_fills_through_a_round_and_a_liquidation() -> None:
    info = market()
    # The round: BUY YES 1 @ 0.48 and BUY NO 1 @ 0.49 in turn, 20 of the NO buys FAILED,
    # then a BUY YES of 2,000 @ 0.48 takes |net| past the limit of 1,000.
    new = [
        fill(i, Token.YES, Side.BUY, "0.48", D(1), "q-yes")
        if i % 2 == 0
        else fill(i, Token.NO, Side.BUY, "0.49", D(1), "q-no")
        for i in range(FILLS)
    ]
    fails = {f.trade_id for i, f in enumerate(new) if i % FAILED_EVERY == 1}
    assert len(fails) == 20
    pages = paged(new, fails, PAGE)
    last = [fill(FILLS, Token.YES, Side.BUY, "0.48", D(2000), "q-yes")]
    pages.append(tuple(settled(new[-PAGE:], fails) + last))

    venue = SimVenue([SimMarket(info, Steady(), T0, book_seed="bounded")], ManualClock(T0))
    exchange = ScriptedFills(venue, "0x" + "11" * 20, pages)
    parent = Parent()
    beats: list[Checkpoint] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    activities = MarketMakingActivities(exchange, parent)  # type: ignore[arg-type]
    request = MarketMakingInput(
        parent_workflow_id="parent",
        market=info,
        config=MarketMakerConfig(order_size=D(10), position_limit=D(1000), quote_interval_ms=1),
        position=PositionTracker(),
        cursor=None,
        key_prefix="bounded",
        progress_interval_seconds=D(0),
    )
    result = await asyncio.wait_for(env.run(activities.make_market, request), 300)

    assert result.outcome is Outcome.POSITION_LIMIT
    held = result.checkpoint.position
    no_qty = D(FILLS // 2 - len(fails))
    assert (held.yes_qty, held.yes_cost) == (D(FILLS // 2 + 2000), D("0.48") * (FILLS // 2 + 2000))
    assert (held.no_qty, held.no_cost) == (no_qty, D("0.49") * no_qty)
    assert held.realized_pnl == 0
    (limit,) = [arg for name, arg in parent.signals if name == "position_limit"]
    assert isinstance(limit, PositionLimit) and limit.position == held
    progress = [arg for name, arg in parent.signals if name == "market_progress"]
    assert len(beats) > len(pages) and progress
    biggest = max(size_of(p) for p in [*beats, *progress, limit, result])
    assert biggest < LIMIT, biggest

    # The liquidation: sells the 2,020 net YES in 50,000 fills of its own orders.
    position = limit.position
    net = position.held_qty
    sells = [
        fill(FILLS + 1 + i, Token.YES, Side.SELL, "0.50", D("0.04"), f"liq-{i // 100}")
        for i in range(FILLS - 1)
    ]
    sold = D("0.04") * (FILLS - 1)
    sells.append(fill(2 * FILLS, Token.YES, Side.SELL, "0.50", net - sold, f"liq-{FILLS // 100}"))
    liq_pages = paged(sells, set(), 100)
    # The round's last BUY settles while the liquidation runs: it reads that from its cursor.
    liq_pages[0] = tuple(settled(last, set())) + liq_pages[0]
    liq_pages.append(tuple(settled(sells[-100:], set())))
    recorded: tuple[Fill, ...] = ()
    orders: list[PlacedOrder] = []
    state = LiquidationState.start(info.condition_id, T0)
    biggest = 0
    for k, page in enumerate(liq_pages):
        at = T0 + timedelta(seconds=30 * k)
        orders = [*orders, PlacedOrder(at=at, order_id=f"liq-{k}", price=D("0.50"), size=net)]
        orders = orders[-RECENT_FILLS_KEPT:]
        own = {o.order_id for o in orders}
        position, recorded = absorb_fills(position, recorded, page, own)
        carried = LiquidationInput(
            market=info,
            position=position,
            config=LiquidationConfig(),
            started_at=T0,
            cursor=str(k + 1),
            state=state,
            next_check_at=at,
            orders=tuple(orders),
            fills=recorded,
        )
        biggest = max(biggest, size_of(carried))
    finished = LiquidationResult(
        condition_id=info.condition_id,
        status="closed",
        exit_stage=Stage.PASSIVE,
        reason="flat",
        started_at=T0,
        finished_at=T0,
        duration_seconds=0,
        realized_pnl=position.realized_pnl,
        remaining_qty=position.held_qty,
        position=position,
        stages=(),
        orders=tuple(orders),
        fills=recorded,
    )
    assert max(biggest, size_of(finished)) < LIMIT, biggest
    assert position.is_flat and position.yes_qty == no_qty
    assert position.realized_pnl == (D("0.50") - D("0.48")) * net
    assert position.yes_cost == D("0.48") * no_qty
    assert len(recorded) == RECENT_FILLS_KEPT
    assert all(f.order_id.startswith("liq-") for f in recorded)

"""Bounded state: 50,000 fills through a market-making round and 50,000 more through the real
LiquidationWorkflow keep every payload that carries the position (the round's heartbeats,
progress and position-limit signals; every payload in the liquidation's history: its input,
each activity's request and result, its result) under 64 KB, with exact totals.

Fills arrive MATCHED, and are reported again CONFIRMED (or FAILED, 20 of them) on the next
page, as Polymarket reports settlement; the tracker folds the confirmed prefix of its log.
The liquidation's venue reports its fills 5,000 at a time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sim_helpers import FakeParent
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.market_making import (
    Checkpoint,
    MarketMakingActivities,
    MarketMakingInput,
    Outcome,
    PositionLimit,
)
from dualmm.config import LiquidationConfig, MarketMakerConfig
from dualmm.domain.position import RECENT_FILLS_KEPT, PositionTracker
from dualmm.domain.types import Fill, Frozen, MarketInfo, Side, Token
from dualmm.exchange.base import FillPage, Order, PlaceOrder
from dualmm.sim.exchange import SimExchange
from dualmm.sim.market import SimMarket
from dualmm.sim.venue import ManualClock, SimVenue
from dualmm.temporal_replay import liquidation_worker
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationInput, LiquidationWorkflow

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


def size_of(payload: Frozen) -> int:
    return len(payload.model_dump_json().encode())


async def test_fifty_thousand_fills_through_a_round_and_a_liquidation(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
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
    parent = FakeParent()
    beats: list[Checkpoint] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.extend(details[:1])
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

    # The liquidation: the real LiquidationWorkflow merges the pairs, then sells the 2,020 net
    # YES in 50,000 fills of its own orders, reported 5,000 at a time.
    await liquidate_in_batches(dev_env, task_queue, limit.position, last, no_qty)


LIQUIDATION_BATCH = 5_000  # fills per sync: the venue reports a busy interval at once
UNSETTLED = 100  # the newest of each batch are still MATCHED (CONFIRMED on the next page)


class BatchedLiquidationFills(SimExchange):
    """A simulated venue on which the liquidation's resting SELL gets its fills reported by
    the thousand: each sync (after the first order) serves the next batch of the script,
    labelled with the order resting then. A page served once is served alike again."""

    def __init__(
        self, venue: SimVenue, address: str, first: tuple[Fill, ...], sells: list[Fill]
    ) -> None:
        super().__init__(venue, address)
        self.first = first
        self.batches = [
            sells[start : start + LIQUIDATION_BATCH]
            for start in range(0, len(sells), LIQUIDATION_BATCH)
        ]
        self.pages: dict[int, tuple[Fill, ...]] = {}
        self.placed: list[str] = []
        self.synced = 0

    async def place_order(self, request: PlaceOrder) -> Order:
        placed = await super().place_order(request)
        if placed.order_id not in self.placed:
            self.placed.append(placed.order_id)
        return placed

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        served = int(cursor or "0")
        if served == 0:  # the round's last BUY has settled meanwhile
            return FillPage(fills=self.first, cursor="1")
        batch = served - 1
        if batch > len(self.batches) or (batch not in self.pages and not self.placed):
            return FillPage(fills=(), cursor=str(served))
        if batch not in self.pages:
            order_id = self.placed[-1]
            script = self.batches[batch] if batch < len(self.batches) else []
            cut = len(script) - UNSETTLED
            new = [
                f.model_copy(
                    update={"order_id": order_id, "status": "CONFIRMED" if k < cut else "MATCHED"}
                )
                for k, f in enumerate(script)
            ]
            settling = self.pages.get(batch - 1, ())[-UNSETTLED:]
            self.pages[batch] = tuple(settled(list(settling), set())) + tuple(new)
        self.synced += 1
        return FillPage(fills=self.pages[batch], cursor=str(served + 1))


def payload_sizes(history: WorkflowHistory) -> list[int]:
    """The size of every payload in the history (inputs, results, signals, markers...)."""
    sizes: list[int] = []

    def walk(message: Any) -> None:
        for field, value in message.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if field.message_type.GetOptions().map_entry:
                items = list(value.values())
            else:  # a message, or a repeated field of them
                items = [value] if hasattr(value, "ListFields") else list(value)
            for item in items:
                if isinstance(item, Payload):
                    sizes.append(item.ByteSize())
                else:
                    walk(item)

    for event in history.events:
        walk(event)
    return sizes


async def every_run(
    env: WorkflowEnvironment, workflow_id: str, run_id: str | None
) -> list[WorkflowHistory]:
    """The histories of a workflow's first run and every run it continued as."""
    histories = []
    while True:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return histories
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def liquidate_in_batches(
    env: WorkflowEnvironment,
    task_queue: str,
    position: PositionTracker,
    last: list[Fill],
    no_qty: Decimal,
) -> None:
    info = market()
    net = position.held_qty
    pairs = position.no_qty
    start = (await env.get_current_time()).replace(microsecond=0)
    sold = D("0.04") * (FILLS - 1)
    sells = [
        fill(i, Token.YES, Side.SELL, "0.50", D("0.04"), "?").model_copy(
            update={"at": start + timedelta(seconds=i), "trade_id": f"liq-trade-{i:06d}-{'y' * 20}"}
        )
        for i in range(FILLS - 1)
    ]
    sells.append(
        sells[-1].model_copy(
            update={
                "size": net - sold,
                "trade_id": "liq-trade-last",
                "at": start + timedelta(seconds=FILLS),
            }
        )
    )
    venue = SimVenue([SimMarket(info, Steady(), start, book_seed="bounded")], ManualClock(start))
    wallet = "0x" + "11" * 20
    venue.ensure_wallet(wallet)
    venue.credit(wallet, info.yes_token_id, position.yes_qty)
    venue.credit(wallet, info.no_token_id, position.no_qty)
    exchange = BatchedLiquidationFills(venue, wallet, tuple(settled(last, set())), sells)
    async with liquidation_worker(env.client, venue, exchange, task_queue):
        handle = await env.client.start_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=position,
                # A check a second: the dev server's timers run in real time (the
                # time-skipping server's clock would leap years past this test).
                config=LiquidationConfig(price_check_interval_ms=1_000),
                started_at=start,
                cursor="0",
            ),
            id=liquidation_workflow_id(info.condition_id) + f"-{task_queue}",
            task_queue=task_queue,
        )
        result = await asyncio.wait_for(handle.result(), 120)
        histories = await every_run(env, handle.id, handle.first_execution_run_id)

    assert exchange.synced >= len(exchange.batches)  # every batch went through a sync
    # The dev server suggests continue-as-new every 40 events: the carried position too.
    assert len(histories) > 1
    sizes = [size for history in histories for size in payload_sizes(history)]
    assert max(sizes) < LIMIT, max(sizes)
    assert len(sizes) > 2 * len(exchange.batches)  # every sync's request and result
    assert result.status == "closed"
    held = result.position
    assert (held.yes_qty, held.yes_cost, held.no_qty, held.no_cost) == (0, 0, 0, 0)
    # The pairs merged at 1 - 0.48 - 0.49, the net YES sold at 0.50 over its 0.48 cost.
    assert result.realized_pnl == pairs * (1 - D("0.48") - D("0.49")) + net * (
        D("0.50") - D("0.48")
    )
    assert venue.balances(wallet).tokens[info.no_token_id] == 0  # merged on the venue
    assert len(result.fills) == RECENT_FILLS_KEPT
    placed = {order.order_id for order in result.orders}
    assert all(f.order_id in placed for f in result.fills)
    assert result.fills[-1].trade_id == "liq-trade-last"

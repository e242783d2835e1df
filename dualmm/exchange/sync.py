"""Reading a market's state through the Exchange protocol, shared by activities and the replay."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from dualmm.domain.book import best_prices, reference_midpoint, without_own
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.position import FillBoundary, PositionTracker, absorb_fills
from dualmm.domain.prices import ONE
from dualmm.domain.types import Fill, Frozen, MarketInfo, MarketSnapshot, OrderIntent
from dualmm.exchange.base import Exchange, MarketFeed, Order, OrderStatus


def own_intents(market: MarketInfo, orders: Iterable[Order]) -> list[OrderIntent]:
    """Our resting orders in one market as book entries (remaining size)."""
    return [
        OrderIntent(token=market.token_of(o.token_id), side=o.side, price=o.price, size=o.remaining)
        for o in orders
        if still_resting(o) and o.token_id in (market.yes_token_id, market.no_token_id)
    ]


async def market_snapshot(
    exchange: Exchange, market: MarketInfo, at: datetime, open_orders: list[Order] | None = None
) -> MarketSnapshot:
    """The reference YES midpoint and touch (the book without our own orders), with tick size
    and minimum as the venue has them now. `open_orders`: our orders in this market, if the
    caller has just read them.

    Our orders are read before the book: one that fills in between is then subtracted from a
    level it already left, which at worst understates the other makers' depth at that price.
    """
    if open_orders is None:
        open_orders = await exchange.open_orders(market.condition_id)
    own = own_intents(market, open_orders)
    book = await exchange.book(market.yes_token_id)
    bids, asks = without_own(
        ((x.price, x.size) for x in book.bids), ((x.price, x.size) for x in book.asks), own
    )
    best_bid, best_ask = best_prices(bids, asks)
    midpoint = reference_midpoint(bids, asks, book.tick_size)
    if midpoint is None:  # nobody else quotes: the venue's own figure is all there is
        midpoint = await exchange.midpoint(market.yes_token_id)
    return MarketSnapshot(
        condition_id=market.condition_id,
        tick_size=book.tick_size,
        min_order_size=book.min_order_size,
        midpoint=midpoint,
        best_bid=best_bid,
        best_ask=best_ask,
        at=at,
    )


async def market_resolution(exchange: Exchange, market: MarketInfo) -> MarketResolution | None:
    """The market's resolution if it resolved: the market channel's announcement where the
    worker has one, else the market as REST lists it (closed, a token marked winner)."""
    if isinstance(exchange, MarketFeed):
        announced = await exchange.market_resolution(market.condition_id)
        if announced is not None:
            return announced
    return await exchange.listed_resolution(market.condition_id)


def resolved_snapshot(
    market: MarketInfo, resolution: MarketResolution, at: datetime
) -> MarketSnapshot:
    """A resolved market as a snapshot: no book, its YES worth what it pays (1 or 0)."""
    yes_won = resolution.winning_asset_id == market.yes_token_id
    return MarketSnapshot(
        condition_id=market.condition_id,
        tick_size=market.tick_size,
        min_order_size=market.min_order_size,
        midpoint=ONE if yes_won else Decimal(0),
        best_bid=None,
        best_ask=None,
        at=at,
    )


class FillStart(Frozen):
    """Where a new owner of a market (a round, a liquidation) starts reading fills: the cursor
    to read from, and the boundary its tracker counts fills after (see FillBoundary)."""

    cursor: str
    boundary: FillBoundary | None


async def fill_start(exchange: Exchange, market: MarketInfo) -> FillStart:
    """Every fill the venue reports on `market` now belongs to earlier owners."""
    page = await exchange.fills(market)
    return FillStart(cursor=page.cursor, boundary=FillBoundary.after(page.fills))


def still_resting(order: Order | None) -> bool:
    """Whether an order is still on the book with something left to fill."""
    return order is not None and order.status is OrderStatus.LIVE and order.remaining > 0


class MarketSync(Frozen):
    """One liquidation check's view of the venue.

    `boundary` is set by the first sync of an owner that started without a cursor: its
    position is as of its start, so it counts only fills after this (see FillBoundary).
    """

    snapshot: MarketSnapshot
    fills: tuple[Fill, ...]
    cursor: str
    resting_remaining: Decimal | None  # None: the order is gone or fully filled
    boundary: FillBoundary | None = None
    resolution: MarketResolution | None = None  # the market resolved: it trades no more


async def sync_market(
    exchange: Exchange,
    market: MarketInfo,
    cursor: str | None,
    resting_order_id: str | None,
    at: datetime,
) -> MarketSync:
    """New fills since `cursor`, the market snapshot, and what remains of our resting order.

    Three requests when the order rests (open orders, fills, book): the open-order list gives
    both the order's remaining size and our book entries. An order missing from the list is
    looked up before it counts as gone (a list may lag a placement, and a resting order taken
    for gone would be placed twice).

    Without a cursor the owner is new (a liquidation started on its own): every fill the
    venue reports now belongs to earlier owners, and the result carries that boundary.

    A resolved market has no book to read (the venue may answer 404): its snapshot is the
    resolution's prices, and the result carries the resolution.
    """
    boundary = None
    if cursor is None:
        start = await fill_start(exchange, market)
        cursor, boundary = start.cursor, start.boundary
    # The order before the fills: a fill landing between the two reads is then in the page
    # too, so the position never lags the order (which would re-place more than is held).
    open_orders = await exchange.open_orders(market.condition_id)
    remaining = None
    if resting_order_id is not None:
        listed = [o for o in open_orders if o.order_id == resting_order_id]
        order = listed[0] if listed else await exchange.get_order(resting_order_id)
        if order is not None and still_resting(order):
            remaining = order.remaining
    page = await exchange.fills(market, cursor)
    resolution = await market_resolution(exchange, market)
    if resolution is not None:
        snapshot = resolved_snapshot(market, resolution, at)
    else:
        snapshot = await market_snapshot(exchange, market, at, open_orders)
    fills = page.fills
    if boundary is not None:  # what a cursor re-reads from before the start is not ours
        fills = tuple(fill for fill in fills if boundary.owns(fill))
    return MarketSync(
        snapshot=snapshot,
        fills=fills,
        cursor=page.cursor,
        resting_remaining=remaining,
        boundary=boundary,
        resolution=resolution,
    )


class PositionSync(Frozen):
    """One liquidation check's view of the venue with its fill reports already folded into
    the owner's position: as small as the position, however many fills the venue reported."""

    snapshot: MarketSnapshot
    position: PositionTracker
    fills: tuple[Fill, ...]  # the owner's latest own fills (see absorb_fills)
    cursor: str
    resting_remaining: Decimal | None  # None: the order is gone or fully filled
    # The worker that synced can watch the market between checks (a liquidation schedules no
    # watch on one that cannot: its answer would come at once, racing the watch's cancel).
    watchable: bool = True
    resolution: MarketResolution | None = None  # the market resolved: it trades no more


async def sync_position(
    exchange: Exchange,
    market: MarketInfo,
    cursor: str | None,
    resting_order_id: str | None,
    at: datetime,
    position: PositionTracker,
    recorded: tuple[Fill, ...],
    order_ids: Iterable[str],
    on_new_fill: Callable[[Fill], None] | None = None,
) -> PositionSync:
    """`sync_market`, its reports absorbed into `position` and the owner's fill list (only
    fills of `order_ids` are listed). The liquidation's activity and the replay both sync
    through this; `on_new_fill` sees each fill the position counts for the first time."""
    synced = await sync_market(exchange, market, cursor, resting_order_id, at)
    if on_new_fill is not None:
        counted = position if synced.boundary is None else position.starting_after(synced.boundary)
        for fill in counted.new_fills(synced.fills):
            on_new_fill(fill)
    position, fills = absorb_fills(
        position, recorded, synced.fills, set(order_ids), synced.boundary
    )
    return PositionSync(
        snapshot=synced.snapshot,
        position=position,
        fills=fills,
        cursor=synced.cursor,
        resting_remaining=synced.resting_remaining,
        resolution=synced.resolution,
    )

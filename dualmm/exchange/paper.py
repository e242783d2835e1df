"""Paper trading (`--dry-run`): real market data, our orders and fills simulated locally.

PaperExchange holds only a `PublicMarketData` (the read half of the Exchange protocol), wrapped in
`ReadOnlyMarketData`, which keeps nothing but the eight read methods; the factory also builds
the underlying adapter without a private key. So there is no code path from here to a real
order: placing and cancelling only ever touch this object's own book-keeping.

Fills follow the touch fill model (dualmm.domain.fillmodel) against the real book's touch:
an order that crosses the best price when placed fills there at once; a resting order fills
in full at its own price once the real touch reaches it (checked whenever our orders, fills or
balances are read). Balances are totals; new orders may only lock what open orders have not.

Why not dualmm.sim.venue.SimVenue: the simulator fills against the touch its own midpoint
process implies (mid +/- a tick), replaying every change time it can compute, for many wallets,
with partial fills and failed trades. Paper mode has only the real book as it is when read
(async, no past to replay, a spread wider than a tick), for one session's orders. What both
need is shared instead: the fill rules (dualmm.domain.fillmodel), `PlaceOrder.new_order` and
`PlaceOrder.check_price_and_size`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from dualmm.domain.fillmodel import price_on_placement, resting_fills
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import Fill, MarketInfo, Side
from dualmm.exchange.base import (
    Balances,
    Book,
    FillPage,
    InsufficientBalance,
    InvalidOrder,
    MergeJournal,
    MergeReport,
    Order,
    OrderStatus,
    OrderType,
    PlaceOrder,
    PricePoint,
    PublicMarketData,
    RewardMarket,
    WouldCross,
)
from dualmm.exchange.wake import FillWaker

PAPER_COLLATERAL = Decimal(10000)
ZERO = Decimal(0)
# An empty book side never crosses and never fills anything.
_NO_BID = ZERO
_NO_ASK = Decimal("Infinity")


class ReadOnlyMarketData:
    """Keeps only the read methods of `source` (not `source` itself)."""

    __slots__ = (
        "book",
        "listed_resolution",
        "market",
        "midpoint",
        "neg_risk",
        "price_history",
        "reward_markets",
        "tick_size",
    )

    def __init__(self, source: PublicMarketData) -> None:
        self.reward_markets = source.reward_markets
        self.market = source.market
        self.book = source.book
        self.midpoint = source.midpoint
        self.tick_size = source.tick_size
        self.neg_risk = source.neg_risk
        self.price_history = source.price_history
        self.listed_resolution = source.listed_resolution


def _touch(book: Book) -> tuple[Decimal, Decimal]:
    return (
        book.best_bid if book.best_bid is not None else _NO_BID,
        book.best_ask if book.best_ask is not None else _NO_ASK,
    )


class PaperExchange:
    """The Exchange protocol with simulated orders over real (read-only) market data."""

    def __init__(
        self,
        data: PublicMarketData,
        *,
        collateral: Decimal = PAPER_COLLATERAL,
        tokens: dict[str, Decimal] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._data = ReadOnlyMarketData(data)
        self._clock = clock
        self._collateral = collateral
        self._tokens: dict[str, Decimal] = dict(tokens or {})
        self._merges: dict[str, MergeReport] = {}
        self._orders: dict[str, Order] = {}
        self._expirations: dict[str, datetime] = {}
        self._by_key: dict[str, str] = {}
        self._fills: list[Fill] = []
        self._markets: dict[str, MarketInfo] = {}  # token id -> market, for fills
        self._waker = FillWaker()

    def __repr__(self) -> str:
        return f"PaperExchange(orders={len(self._orders)}, fills={len(self._fills)})"

    # --- reads go to the real venue ---

    async def reward_markets(self) -> list[RewardMarket]:
        return await self._data.reward_markets()

    async def market(self, condition_id: str) -> MarketInfo:
        return await self._data.market(condition_id)

    async def book(self, token_id: str) -> Book:
        return await self._data.book(token_id)

    async def midpoint(self, token_id: str) -> Decimal:
        return await self._data.midpoint(token_id)

    async def tick_size(self, token_id: str) -> Decimal:
        return await self._data.tick_size(token_id)

    async def neg_risk(self, token_id: str) -> bool:
        return await self._data.neg_risk(token_id)

    async def listed_resolution(self, condition_id: str) -> MarketResolution | None:
        return await self._data.listed_resolution(condition_id)

    async def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        return await self._data.price_history(token_id, start, end, fidelity_minutes)

    # --- our orders stay here ---

    async def place_order(self, request: PlaceOrder) -> Order:
        known = self._by_key.get(request.key)
        if known is not None:
            return await self._current(known)
        await self._sweep()
        await self._validate(request)
        book = await self._data.book(request.token_id)
        bid, ask = _touch(book)
        fill_price = price_on_placement(request.side, request.price, bid, ask)
        if request.post_only and fill_price is not None:
            raise WouldCross("invalid post-only order: order crosses book")
        self._check_funds(request)
        now = self._clock()
        order_id = "paper-" + hashlib.sha256(request.key.encode()).hexdigest()[:24]
        order = request.new_order(order_id, now)
        self._orders[order_id] = order
        self._by_key[request.key] = order_id
        self._markets[request.token_id] = request.market
        if request.expiration is not None and request.order_type is OrderType.GTD:
            self._expirations[order_id] = request.expiration
        if fill_price is not None:
            self._fill(order, fill_price, now)
        return self._orders[order_id]

    async def _validate(self, request: PlaceOrder) -> None:
        request.check_price_and_size(await self._data.tick_size(request.token_id))
        if request.size < request.market.min_order_size:
            raise InvalidOrder(
                f"size {request.size} lower than the minimum {request.market.min_order_size}"
            )
        expiration = request.expiration
        if request.order_type is OrderType.GTD and expiration and expiration <= self._clock():
            raise InvalidOrder("a GTD order needs a future expiration")

    def _check_funds(self, request: PlaceOrder) -> None:
        live = [o for o in self._orders.values() if o.status is OrderStatus.LIVE]
        if request.side is Side.BUY:
            locked = sum((o.price * o.remaining for o in live if o.side is Side.BUY), ZERO)
            if self._collateral - locked < request.price * request.size:
                raise InsufficientBalance("not enough balance / allowance (collateral)")
        else:
            held = self._tokens.get(request.token_id, ZERO)
            locked = sum(
                (
                    o.remaining
                    for o in live
                    if o.side is Side.SELL and o.token_id == request.token_id
                ),
                ZERO,
            )
            if held - locked < request.size:
                raise InsufficientBalance(
                    f"not enough balance / allowance (token {request.token_id})"
                )

    def _fill(self, order: Order, price: Decimal, at: datetime) -> None:
        size = order.remaining
        sign = 1 if order.side is Side.BUY else -1
        self._collateral -= sign * price * size
        self._tokens[order.token_id] = self._tokens.get(order.token_id, ZERO) + sign * size
        self._orders[order.order_id] = order.model_copy(
            update={"size_matched": order.original_size, "status": OrderStatus.MATCHED}
        )
        market = self._markets[order.token_id]
        self._fills.append(
            Fill(
                trade_id=f"paper-trade-{len(self._fills) + 1}",
                condition_id=market.condition_id,
                token=market.token_of(order.token_id),
                side=order.side,
                price=price,
                size=size,
                at=at,
                order_id=order.order_id,
                status="CONFIRMED",  # nothing settles on paper: final at once
            )
        )
        self._waker.notify(market.condition_id)  # a loop waiting on this market reads it now

    async def fill_mark(self, condition_id: str) -> int:
        return self._waker.mark(condition_id)

    async def wait_for_fill(self, condition_id: str, mark: int, timeout: float) -> bool:
        """Paper fills happen when our books are read (by any loop of this process)."""
        return await self._waker.wait(condition_id, mark, timeout)

    async def _sweep(self) -> None:
        """Expire GTD orders, then fill resting orders the real touch has reached."""
        now = self._clock()
        for order_id, expiration in list(self._expirations.items()):
            if expiration <= now:
                self._close(order_id)
                del self._expirations[order_id]
        live = [o for o in self._orders.values() if o.status is OrderStatus.LIVE]
        touches: dict[str, tuple[Decimal, Decimal]] = {}
        for order in live:
            if order.token_id not in touches:
                touches[order.token_id] = _touch(await self._data.book(order.token_id))
            if resting_fills(order.side, order.price, *touches[order.token_id]):
                self._fill(order, order.price, now)

    def _close(self, order_id: str) -> None:
        order = self._orders.get(order_id)
        if order is not None and order.status is OrderStatus.LIVE:
            self._orders[order_id] = order.model_copy(update={"status": OrderStatus.CANCELED})

    async def _current(self, order_id: str) -> Order:
        await self._sweep()
        return self._orders[order_id]

    async def cancel_order(self, order_id: str) -> None:
        self._close(order_id)

    async def cancel_market(self, condition_id: str) -> None:
        for order in list(self._orders.values()):
            if order.condition_id == condition_id:
                self._close(order.order_id)

    async def reward_earnings(self, day: date) -> Decimal:
        """Paper orders earn nothing from the venue."""
        return Decimal(0)

    async def heartbeat(self) -> None:
        """Paper orders live in this process: nothing to keep alive."""

    async def cancel_all(self) -> None:
        for order_id in list(self._orders):
            self._close(order_id)

    async def open_orders(self, condition_id: str | None = None) -> list[Order]:
        await self._sweep()
        return [
            order
            for order in self._orders.values()
            if order.status is OrderStatus.LIVE
            and (condition_id is None or order.condition_id == condition_id)
        ]

    async def get_order(self, order_id: str) -> Order | None:
        if order_id not in self._orders:
            return None
        return await self._current(order_id)

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        """Fills after `cursor` (a position in this session's fill log)."""
        await self._sweep()
        start = int(cursor) if cursor else 0
        return FillPage(
            fills=tuple(
                fill for fill in self._fills[start:] if fill.condition_id == market.condition_id
            ),
            cursor=str(len(self._fills)),
        )

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, journal: MergeJournal | None = None
    ) -> MergeReport:
        """A simulated `mergePositions` on the paper wallet (nothing reaches the chain)."""
        done = self._merges.get(key)
        if done is not None:
            return done
        for token_id in (market.yes_token_id, market.no_token_id):
            if self._tokens.get(token_id, ZERO) < qty:
                raise InsufficientBalance(f"merge of {qty} pairs: not enough {token_id}")
        for token_id in (market.yes_token_id, market.no_token_id):
            self._tokens[token_id] -= qty
        self._collateral += qty
        report = MergeReport(key=key, condition_id=market.condition_id, qty=qty, at=self._clock())
        self._merges[key] = report
        return report

    async def balances(self, token_ids: list[str]) -> Balances:
        await self._sweep()
        return Balances(
            collateral=self._collateral,
            tokens={token_id: self._tokens.get(token_id, ZERO) for token_id in token_ids},
        )

"""A local order book per token, kept from Polymarket's market channel (`/ws/market`).

One socket per process carries every token the process watches (`{"assets_ids": [...],
"type": "market", "custom_feature_enabled": true}`, then `{"operation": "subscribe" |
"unsubscribe", "assets_ids": [...]}` as markets come and go). A `book` event replaces a
token's book; each `price_change` entry sets one level's size (0 removes it) and carries the
book's hash and touch after it: the local book must then hash the same (dualmm.book_hash)
and show the same touch, or an event was missed. (Polymarket's hashes cover fields a client
does not keep: against a venue whose first snapshot does not hash by that rule, only the
touch is checked.) Such a gap, and every (re)connect, rebuilds
the token's book from REST (`GET /book`), the events that arrive meanwhile replayed on top
(a level's size is absolute, so replaying one the snapshot already holds changes nothing).

A `market_resolved` (sent with custom features) is kept per market until the process ends:
a resolved market never trades again.

A book is `live` only while the socket is up and the book in sync; otherwise the caller
reads REST (its poll). Every change notifies the FillWaker under `market_key(condition_id)`:
a wake-up, never a decision. Nothing here reaches a workflow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dualmm.book_hash import book_hash
from dualmm.domain.market_moves import MarketResolution
from dualmm.exchange.base import Book, BookLevel
from dualmm.exchange.wake import FillWaker
from dualmm.exchange.ws_client import ChannelClient, Connection

logger = logging.getLogger(__name__)

POLYMARKET_MARKET_CHANNEL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
PING_SECONDS = 5.0
SILENCE_SECONDS = 12.0  # no message (not even a PONG) that long: the socket is dead
MAX_BUFFERED_CHANGES = 10_000  # per token while its REST snapshot is read
# A market `want`ed by nobody for this long is unsubscribed (a round or liquidation that ended).
LEASE_SECONDS = 120.0
MAX_RESOLVED = 10_000  # resolutions kept (the oldest goes first)


def market_key(condition_id: str) -> str:
    """The FillWaker key of a market's book notices (fill notices use the bare id)."""
    return f"market:{condition_id}"


def _dec(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@dataclass
class TradeSeen:
    """The latest `last_trade_price` of a token; `count` grows with each."""

    price: Decimal
    side: str
    size: Decimal
    count: int


@dataclass
class LocalBook:
    """One token's book as the channel reported it."""

    token_id: str
    condition_id: str
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    tick_size: Decimal | None = None
    min_order_size: Decimal | None = None
    at: datetime | None = None
    synced: bool = False
    # Changes received while a REST snapshot is read, replayed on top of it.
    pending: list[dict[str, Any]] | None = None

    def replace(
        self, bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]]
    ) -> None:
        self.bids = {p: s for p, s in bids if s > 0}
        self.asks = {p: s for p, s in asks if s > 0}

    def set_level(self, side: str, price: Decimal, size: Decimal) -> None:
        levels = self.bids if side == "BUY" else self.asks
        if size > 0:
            levels[price] = size
        else:
            levels.pop(price, None)

    def hash(self) -> str:
        return book_hash(self.token_id, self.bids.items(), self.asks.items())

    def touch(self) -> tuple[Decimal | None, Decimal | None]:
        return (max(self.bids) if self.bids else None), (min(self.asks) if self.asks else None)

    def as_book(self, tick_size: Decimal, min_order_size: Decimal) -> Book:
        return Book(
            token_id=self.token_id,
            bids=tuple(
                BookLevel(price=p, size=s) for p, s in sorted(self.bids.items(), reverse=True)
            ),
            asks=tuple(BookLevel(price=p, size=s) for p, s in sorted(self.asks.items())),
            tick_size=self.tick_size or tick_size,
            min_order_size=self.min_order_size or min_order_size,
            at=self.at or datetime.now(UTC),
        )


def _touch_agrees(book: LocalBook, change: dict[str, Any]) -> bool:
    """The entry's best bid and ask (when sent) are the local book's touch. Polymarket sends
    a missing side as 0 (bid) and 1 (ask)."""
    best_bid, best_ask = book.touch()
    said_bid, said_ask = _dec(change.get("best_bid")), _dec(change.get("best_ask"))
    if said_bid is not None and said_bid != (best_bid if best_bid is not None else 0):
        return False
    return said_ask is None or said_ask == (best_ask if best_ask is not None else 1)


class MarketChannel(ChannelClient):
    """The process's market-channel socket and the local books of its watched tokens."""

    name = "market channel"

    def __init__(
        self,
        url: str,
        rest_book: Callable[[str], Awaitable[Book]],
        waker: FillWaker,
        *,
        ping_seconds: float = PING_SECONDS,
        silence_seconds: float = SILENCE_SECONDS,
    ) -> None:
        super().__init__(url, ping_seconds=ping_seconds, silence_seconds=silence_seconds)
        self._rest_book = rest_book
        self._waker = waker
        self._books: dict[str, LocalBook] = {}
        self._watchers: dict[str, int] = {}  # condition id -> watch count
        self._tokens: dict[str, tuple[str, ...]] = {}  # condition id -> its tokens
        self._trades: dict[str, TradeSeen] = {}
        self._resyncs: dict[str, asyncio.Task[None]] = {}
        self._leases: dict[str, float] = {}  # condition id -> when its `want` lapses
        self._resolved: dict[str, MarketResolution] = {}  # condition id -> its resolution
        self.gaps = 0  # books rebuilt because an event did not add up
        # Whether the venue's hashes follow dualmm.book_hash (None: no snapshot seen yet);
        # if not, only each change's touch is checked.
        self.hashes_checkable: bool | None = None
        self.events = 0

    # --- what the adapter asks ----------------------------------------------------------------

    def watch(self, condition_id: str, token_ids: Iterable[str]) -> None:
        """Keep the market's books (and connect, if not yet); `unwatch` as often to stop."""
        self._watchers[condition_id] = self._watchers.get(condition_id, 0) + 1
        if self._watchers[condition_id] == 1:
            tokens = tuple(token_ids)
            self._tokens[condition_id] = tokens
            for token in tokens:
                self._books[token] = LocalBook(token, condition_id)
            self.send_soon({"operation": "subscribe", "assets_ids": list(tokens)})
            if self.connected:
                for token in tokens:
                    self._resync(token)
        self.ensure_started()

    def want(self, condition_id: str, token_ids: Iterable[str]) -> None:
        """Watch the market for LEASE_SECONDS more (a waiter says so again each time it
        waits): markets nobody waits on any more are unsubscribed without being told."""
        now = time.monotonic()
        if condition_id not in self._leases:
            self.watch(condition_id, token_ids)
        self._leases[condition_id] = now + LEASE_SECONDS
        for lapsed in [cid for cid, until in self._leases.items() if until < now]:
            del self._leases[lapsed]
            self.unwatch(lapsed)

    def unwatch(self, condition_id: str) -> None:
        count = self._watchers.get(condition_id, 0) - 1
        if count > 0:
            self._watchers[condition_id] = count
            return
        self._watchers.pop(condition_id, None)
        tokens = self._tokens.pop(condition_id, ())
        for token in tokens:
            self._books.pop(token, None)
            self._trades.pop(token, None)
            task = self._resyncs.pop(token, None)
            if task is not None:
                task.cancel()
        if tokens:
            self.send_soon({"operation": "unsubscribe", "assets_ids": list(tokens)})

    def live_book(self, token_id: str) -> LocalBook | None:
        """The token's book when the socket is up and the book in sync; else None (poll)."""
        book = self._books.get(token_id)
        return book if book is not None and book.synced and self.connected else None

    def live(self, condition_id: str) -> bool:
        tokens = self._tokens.get(condition_id)
        return bool(tokens) and all(self.live_book(t) is not None for t in tokens or ())

    def last_trade(self, token_id: str) -> TradeSeen | None:
        return self._trades.get(token_id)

    def resolution(self, condition_id: str) -> MarketResolution | None:
        return self._resolved.get(condition_id)

    # --- the socket -------------------------------------------------------------------------

    async def on_open(self, connection: Connection) -> None:
        tokens = sorted(self._books)
        for book in self._books.values():
            book.synced = False
        await connection.send_json(
            {"assets_ids": tokens, "type": "market", "custom_feature_enabled": True}
        )
        for token in tokens:  # the subscription's `book` events may come first: either wins
            self._resync(token)

    def on_down(self) -> None:
        for book in self._books.values():
            book.synced = False
        for condition_id in self._tokens:
            self._waker.notify(market_key(condition_id))  # the poll takes over

    def on_text(self, text: str) -> None:
        if text.strip().upper() == "PONG":
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return
        for event in message if isinstance(message, list) else [message]:
            if isinstance(event, dict):
                self._on_event(event)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type", ""))
        self.events += 1
        touched: set[str] = set()
        if kind == "book":
            book = self._books.get(str(event.get("asset_id")))
            if book is not None:
                self._snapshot(book, event)
                touched.add(book.condition_id)
        elif kind == "price_change":
            for change in event.get("price_changes") or event.get("changes") or []:
                if isinstance(change, dict):
                    asset = str(change.get("asset_id") or event.get("asset_id"))
                    book = self._books.get(asset)
                    if book is not None:
                        self._change(book, {**change, "timestamp": event.get("timestamp")})
                        touched.add(book.condition_id)
        elif kind == "tick_size_change":
            book = self._books.get(str(event.get("asset_id")))
            tick = _dec(event.get("new_tick_size"))
            if book is not None and tick is not None:
                book.tick_size = tick
                touched.add(book.condition_id)
        elif kind == "last_trade_price":
            touched.update(self._trade(event))
        elif kind == "market_resolved":
            touched.update(self._resolution(event))
        elif kind == "error" or "error" in event:
            logger.warning("market channel %s: the venue says %s", self.url, str(event)[:200])
        for condition_id in touched:
            self._waker.notify(market_key(condition_id))

    def _snapshot(self, book: LocalBook, event: dict[str, Any]) -> None:
        book.replace(self._levels(event.get("bids")), self._levels(event.get("asks")))
        book.tick_size = _dec(event.get("tick_size")) or book.tick_size
        book.min_order_size = _dec(event.get("min_order_size")) or book.min_order_size
        book.at = _at(event.get("timestamp"))
        said = event.get("hash")
        if said and self.hashes_checkable is None:
            # The first snapshot tells the venue's rule: ours (the simulator's), or one a
            # client cannot recompute (Polymarket's covers fields it does not send).
            self.hashes_checkable = said == book.hash()
        book.synced = not said or not self.hashes_checkable or said == book.hash()
        if book.synced:
            self._stop_resync(book.token_id)
        else:
            self._gap(book)

    def _change(self, book: LocalBook, change: dict[str, Any]) -> None:
        if book.pending is not None:  # a REST snapshot is on its way: replayed after it
            if len(book.pending) < MAX_BUFFERED_CHANGES:
                book.pending.append(change)
            return
        if self._apply(book, change):
            book.synced = True  # a book on probation (rebuilt, unchecked) is confirmed
        else:
            self._gap(book)

    def _apply(self, book: LocalBook, change: dict[str, Any]) -> bool:
        price, size = _dec(change.get("price")), _dec(change.get("size"))
        side = str(change.get("side", "")).upper()
        if price is None or size is None or side not in ("BUY", "SELL"):
            return False
        book.set_level(side, price, size)
        book.at = _at(change.get("timestamp")) or book.at
        said = change.get("hash")
        if said and self.hashes_checkable and said != book.hash():
            return False
        return _touch_agrees(book, change)

    def _trade(self, event: dict[str, Any]) -> list[str]:
        token = str(event.get("asset_id"))
        book = self._books.get(token)
        price, size = _dec(event.get("price")), _dec(event.get("size"))
        if book is None or price is None:
            return []
        seen = self._trades.get(token)
        self._trades[token] = TradeSeen(
            price=price,
            side=str(event.get("side", "")),
            size=size or Decimal(0),
            count=(seen.count + 1) if seen else 1,
        )
        return [book.condition_id]

    def _resolution(self, event: dict[str, Any]) -> list[str]:
        market, winner = event.get("market"), event.get("winning_asset_id")
        if not (isinstance(market, str) and isinstance(winner, str) and winner):
            return []
        if len(self._resolved) >= MAX_RESOLVED and market not in self._resolved:
            self._resolved.pop(next(iter(self._resolved)))
        self._resolved[market] = MarketResolution(
            winning_asset_id=winner, winning_outcome=str(event.get("winning_outcome", ""))[:100]
        )
        logger.info("market channel: %s resolved, %s won", market, winner)
        return [market]

    # --- rebuilding from REST ---------------------------------------------------------------

    def _gap(self, book: LocalBook) -> None:
        self.gaps += 1
        book.synced = False
        logger.info("market channel: book of %s out of step, reading it again", book.token_id)
        self._resync(book.token_id)

    def _resync(self, token_id: str) -> None:
        book = self._books.get(token_id)
        running = self._resyncs.get(token_id)
        if book is None or (running is not None and not running.done()):
            return
        book.pending = []
        self._resyncs[token_id] = asyncio.get_running_loop().create_task(
            self._rebuild(book), name=f"dualmm-book-{token_id[:12]}"
        )

    def _stop_resync(self, token_id: str) -> None:
        """A `book` event made the book whole: the REST read only fills in what the event
        lacks (tick size, minimum), and the changes buffered for it are older than the
        snapshot (the socket keeps their order)."""
        book = self._books.get(token_id)
        if book is not None:
            book.pending = None

    async def _rebuild(self, book: LocalBook) -> None:
        try:
            rest = await self._rest_book(book.token_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the poll covers the market until the next gap or reconnect
            logger.warning("market channel: no REST book for %s: %s", book.token_id, exc)
            book.pending = None
            return
        if self._books.get(book.token_id) is not book:
            return  # unwatched meanwhile
        self._resyncs.pop(book.token_id, None)
        if book.pending is None:  # a `book` event made it whole meanwhile: newer than this
            book.tick_size = book.tick_size or rest.tick_size
            book.min_order_size = book.min_order_size or rest.min_order_size
            return
        book.replace(((x.price, x.size) for x in rest.bids), ((x.price, x.size) for x in rest.asks))
        book.tick_size, book.min_order_size, book.at = rest.tick_size, rest.min_order_size, rest.at
        pending, book.pending = book.pending or [], None
        ok = True
        for change in pending:
            ok = self._apply(book, change)
        # The last change replayed checks the whole book; when it does not add up, the
        # snapshot may be newer than it (a change still on its way): the next change decides
        # (on probation: not live, the poll covers the market meanwhile).
        book.synced = ok
        self._waker.notify(market_key(book.condition_id))

    @staticmethod
    def _levels(raw: Any) -> list[tuple[Decimal, Decimal]]:
        levels = []
        for level in raw if isinstance(raw, list) else []:
            if isinstance(level, dict):
                price, size = _dec(level.get("price")), _dec(level.get("size"))
                if price is not None and size is not None:
                    levels.append((price, size))
        return levels


def _at(timestamp: Any) -> datetime | None:
    """A channel timestamp (unix milliseconds, as text) as a time."""
    ms = _dec(timestamp)
    return None if ms is None else datetime.fromtimestamp(float(ms) / 1000, UTC)

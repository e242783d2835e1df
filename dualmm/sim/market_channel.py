"""Polymarket's market channel (`/ws/market`), served on the simulator's HTTP port.

As documented (docs.polymarket.com, market-data/websocket/market-channel): the client opens
`wss://ws-subscriptions-clob.polymarket.com/ws/market` and sends
`{"assets_ids": [token ids], "type": "market"}` (optional `initial_dump`, default true: a
`book` per asset at once; `custom_feature_enabled`: also `best_bid_ask` and `new_market`);
`{"operation": "subscribe" | "unsubscribe", "assets_ids": [...]}` changes the assets later.
No key is needed. Clients send the text `PING` about every 10 s and get `PONG`.

Events, from the same books REST `/book` serves (our orders included, dualmm.sim.market_feed
has their fields): `price_change` when levels change (an order placed, cancelled or filled,
the other makers moving with the midpoint), `last_trade_price` on a fill of ours, then a
`book` of that market's assets (the docs: a trade that affects the book sends the book), and
on the YES token for each level the other makers' touch moved through (the venue's tape),
`tick_size_change`, and with custom features `best_bid_ask` when the touch moves,
`new_market` for markets listed while it runs (a venue swap) and `market_resolved` for a
market resolved on demand (`POST /_sim/resolve`), to the sessions that watch its tokens.
Every `hash` follows dualmm.book_hash, so a client can check its book after each event.

Faults (VenueRules, also `POST /_sim/market-channel` for tests): a connection cut with no
close frame (`market_channel_drop_every_seconds`), a channel that falls silent, neither
events nor PONGs, for `market_channel_silence_seconds` (`..._silence_every_seconds`), and a
`price_change` lost (`market_channel_miss_rate`): the next hash then does not match. Both
schedules are drawn per connection around their mean from the rules' seed.

A pump thread drives the venue to the present every `PUMP_SECONDS` while anyone listens and
publishes what changed; every second it also compares each watched book with the venue's.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from dualmm import websocket as ws
from dualmm.exchange.base import Book, NotFound
from dualmm.sim import market_feed as feed
from dualmm.sim.ledger import TapePrint, Trade, VenueEvent
from dualmm.sim.rules import VenueRules
from dualmm.sim.ws_server import Channel, Session

if TYPE_CHECKING:
    from dualmm.sim.server_view import MarketChannelHost
    from dualmm.sim.venue import SimVenue

logger = logging.getLogger(__name__)

PATH = "/ws/market"
MAX_ASSETS = 500  # per connection, as Polymarket allows
PUMP_SECONDS = 0.02
RECHECK_SECONDS = 1.0
_SEEN_TRADES = 100_000


class MarketSession(Session):
    """One market-channel connection: its assets and options."""

    def __init__(self, channel: MarketChannel, number: int) -> None:
        super().__init__(channel)
        self._market_channel = channel
        self.assets: frozenset[str] = frozenset()
        self.custom = False
        self._subscribed = False
        self.missed = 0  # price_change messages this session lost to the fault
        self.miss_next = 0  # lose this many more (POST /_sim/market-channel)
        rules = channel.rules
        rng = random.Random(f"market-channel:{rules.seed}:{number}")
        now = time.monotonic()
        self.rng = rng
        self.drop_at = _draw(rng, now, rules.market_channel_drop_every_seconds)
        self.silence_at = _draw(rng, now, rules.market_channel_silence_every_seconds)

    @property
    def subscribed(self) -> bool:
        return self._subscribed

    def on_message(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            self.refuse('expected {"assets_ids": [...], "type": "market"}')
        if not self._subscribed:
            kind = str(payload.get("type", "")).lower()
            operation = str(payload.get("operation", "")).lower()
            if kind != "market" and operation != "subscribe":
                self.refuse(
                    'the first message must subscribe: {"assets_ids": [...], "type": "market"}'
                )
            self._options(payload)
            self._subscribed = True
            self._market_channel.subscribe(
                self, self._assets(payload), payload.get("initial_dump") is not False
            )
            return
        operation = str(payload.get("operation", "")).lower()
        assets = self._assets(payload)
        self._options(payload)
        if operation == "subscribe":
            self._market_channel.subscribe(self, assets, payload.get("initial_dump") is not False)
        elif operation == "unsubscribe":
            self.assets = self.assets - assets
        else:
            self.error(
                'expected PING or {"operation": "subscribe"|"unsubscribe", "assets_ids": [...]}'
            )

    def _options(self, payload: dict[str, Any]) -> None:
        if "custom_feature_enabled" in payload:
            self.custom = payload["custom_feature_enabled"] is True

    def _assets(self, payload: dict[str, Any]) -> frozenset[str]:
        raw = payload.get("assets_ids", [])
        if not isinstance(raw, list) or len(raw) > MAX_ASSETS:
            self.refuse(f"assets_ids must be a list of at most {MAX_ASSETS} token ids")
        assets = frozenset(str(a)[:100] for a in raw if isinstance(a, str | int))
        if len(self.assets | assets) > MAX_ASSETS:
            self.refuse(f"at most {MAX_ASSETS} assets per connection")
        return assets


def _draw(rng: random.Random, now: float, every: float | None) -> float | None:
    return now + every * rng.uniform(0.5, 1.5) if every else None


class MarketChannel(Channel["MarketChannelHost"]):
    """The market channel of one SimServer (see the module docstring)."""

    path = PATH

    def __init__(self, server: MarketChannelHost, read_timeout: float) -> None:
        super().__init__(server, read_timeout)
        self._number = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._venue: SimVenue | None = None
        # What was last published per watched asset: every session's view follows it.
        self._published: dict[str, Book] = {}
        self._dirty: deque[str] = deque()  # markets whose books may have moved
        self._prints: deque[Trade | TapePrint] = deque()  # trades, in the venue's order
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._publish_lock = threading.Lock()  # the pump and subscriptions, never the venue's
        self._recheck_at = 0.0
        self.published = 0  # messages sent (all sessions)

    @property
    def rules(self) -> VenueRules:
        return self._server.venue.rules

    def new_session(self) -> MarketSession:
        self._number += 1
        return MarketSession(self, self._number)

    # --- lifecycle ---

    def attach(self, venue: SimVenue) -> None:
        """Publish `venue`'s books (the server's; again after a swap)."""
        previous = self._venue
        if previous is not None:
            previous.remove_listener(self._on_event)
        self._venue = venue
        venue.add_listener(self._on_event)
        if previous is None:
            return
        known = {m.condition_id for m in previous.markets()}
        listed = [m for m in venue.markets() if m.condition_id not in known]
        with self._publish_lock:
            self._published = {a: b for a, b in self._published.items() if _has(venue, a)}
            self._dirty.extend(m.condition_id for m in venue.markets())
            now = venue.now()
            for info in listed:
                message = feed.new_market(
                    info.condition_id,
                    [info.yes_token_id, info.no_token_id],
                    info.question,
                    info.tick_size,
                    now,
                )
                for session in self._sessions_now():
                    if session.custom:
                        session.send_json(message)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._pump, name="dualmm-sim-market-pump", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.close_all(ws.GOING_AWAY, "server stopping")
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- faults on demand ---

    def fault(self, *, drop: bool = False, silence_seconds: float = 0.0, miss: int = 0) -> int:
        """Put a fault on every open session now; the number of sessions it hit."""
        sessions = self._sessions_now()
        for session in sessions:
            if drop:
                session.drop()
            if silence_seconds:
                session.silence(silence_seconds)
            session.miss_next += miss
        return len(sessions)

    # --- resolutions on demand ---

    def announce_resolution(self, condition_id: str) -> int:
        """Send `market_resolved` of a market the venue resolved; the sessions it reached."""
        venue = self._venue
        winner = venue.winner(condition_id) if venue is not None else None
        if venue is None or winner is None:
            return 0
        info = venue.market(condition_id)
        assets = [info.yes_token_id, info.no_token_id]
        message = feed.market_resolved(
            condition_id, assets, info.question, info.token_id(winner), venue.now()
        )
        with self._publish_lock:
            sessions = self._sessions_now()
            self._send(sessions, set(assets), message, custom=True)
        return sum(1 for s in sessions if s.custom and s.assets & set(assets))

    # --- subscriptions (a session's reader thread) ---

    def subscribe(self, session: MarketSession, assets: frozenset[str], dump: bool) -> None:
        venue = self._venue
        if venue is None:
            return
        with self._publish_lock:
            for asset in sorted(assets):
                book = self._watch(venue, asset)
                if book is None:
                    continue  # not a token of this venue: nothing to send, as for production
                session.assets = session.assets | {asset}
                if dump:
                    session.send_json(self._book_message(venue, book))

    def _watch(self, venue: SimVenue, asset: str) -> Book | None:
        book = self._published.get(asset)
        if book is None and _has(venue, asset):
            book = self._published[asset] = venue.book(asset)
        return book

    # --- events ---

    def _on_event(self, event: VenueEvent) -> None:
        """Called under the venue's lock: only queue it."""
        if not self._sessions:
            return
        self._dirty.append(event.condition_id)
        if event.tape is not None:
            self._prints.append(event.tape)
        if event.trade is not None and event.trade.trade_id not in self._seen:
            self._seen[event.trade.trade_id] = None
            if len(self._seen) > _SEEN_TRADES:
                self._seen.popitem(last=False)
            self._prints.append(event.trade)

    def _sessions_now(self) -> list[MarketSession]:
        return [s for s in self.subscribed_sessions() if isinstance(s, MarketSession)]

    def _pump(self) -> None:
        while not self._stop.wait(PUMP_SECONDS):
            sessions = self._sessions_now()
            if not sessions:
                self._dirty.clear()
                self._prints.clear()
                continue
            if self._server.websocket_refusal(faults=False) is not None:  # the engine restarts
                self.close_all(ws.RESTARTING, "the matching engine is restarting")
                continue
            try:
                self._scheduled_faults(sessions)
                venue = self._venue
                if venue is not None:
                    venue.advance_to(venue.now())
                    self._publish(venue, sessions)
            except Exception:  # the pump must outlive any bad event
                logger.exception("sim market channel: publishing failed")

    def _scheduled_faults(self, sessions: list[MarketSession]) -> None:
        rules, now = self.rules, time.monotonic()
        for session in sessions:
            if session.drop_at is not None and now >= session.drop_at:
                session.drop()
            if session.silence_at is not None and now >= session.silence_at:
                session.silence(rules.market_channel_silence_seconds)
                session.silence_at = _draw(
                    session.rng,
                    now + rules.market_channel_silence_seconds,
                    rules.market_channel_silence_every_seconds,
                )

    def _publish(self, venue: SimVenue, sessions: list[MarketSession]) -> None:
        with self._publish_lock:
            dirty = set()
            while self._dirty:
                dirty.add(self._dirty.popleft())
            traded: set[str] = set()
            while self._prints:
                trade = self._prints.popleft()
                if isinstance(trade, TapePrint):
                    self._send(sessions, {trade.token_id}, feed.tape_trade(trade))
                else:  # ours: the book follows (a trade that affects the book)
                    traded.add(trade.condition_id)
                    self._send(sessions, {trade.token_id}, feed.last_trade_price(trade))
            if time.monotonic() >= self._recheck_at:
                self._recheck_at = time.monotonic() + RECHECK_SECONDS
                dirty |= {venue.market_of_token(a).condition_id for a in self._published}
            by_market: dict[str, list[str]] = {}
            for asset in self._published:
                by_market.setdefault(venue.market_of_token(asset).condition_id, []).append(asset)
            for market in sorted(dirty):
                assets = by_market.get(market, [])
                if assets:
                    self._publish_market(venue, sessions, market, assets, market in traded)

    def _publish_market(
        self,
        venue: SimVenue,
        sessions: list[MarketSession],
        market: str,
        assets: list[str],
        traded: bool,
    ) -> None:
        entries: list[dict[str, Any]] = []
        moved: list[Book] = []
        at = None
        for asset in assets:
            old, new = self._published[asset], venue.book(asset)
            self._published[asset] = new
            at = new.at
            if new.tick_size != old.tick_size:
                message = feed.tick_size_change(market, asset, old.tick_size, new.tick_size, at)
                self._send(sessions, {asset}, message)
            if traded:
                self._send(sessions, {asset}, self._book_message(venue, new))
            else:
                entries += feed.price_change_entries(old, new)
            if (old.best_bid, old.best_ask) != (new.best_bid, new.best_ask):
                moved.append(new)
        if entries and at is not None:
            self._send(sessions, set(assets), feed.price_change(market, entries, at))
        for book in moved:
            self._send(sessions, {book.token_id}, feed.best_bid_ask(market, book), custom=True)

    def _book_message(self, venue: SimVenue, book: Book) -> dict[str, Any]:
        market = venue.market_of_token(book.token_id).condition_id
        last = venue.last_trade(book.token_id)  # as REST /last-trade-price says
        price = last[0] if last is not None else venue.midpoint(book.token_id)
        return feed.book_message(market, book, price)

    def _send(
        self,
        sessions: list[MarketSession],
        assets: set[str],
        message: dict[str, Any],
        custom: bool = False,
    ) -> None:
        rate = self.rules.market_channel_miss_rate
        for session in sessions:
            if not assets & session.assets or (custom and not session.custom):
                continue
            if message["event_type"] == "price_change":
                if session.miss_next or (rate and session.rng.random() < rate):
                    session.miss_next = max(0, session.miss_next - 1)
                    session.missed += 1
                    continue
                mine = [e for e in message["price_changes"] if e["asset_id"] in session.assets]
                if len(mine) < len(message["price_changes"]):
                    message = {**message, "price_changes": mine}
            session.send_json(message)
            self.published += 1


def _has(venue: SimVenue, asset: str) -> bool:
    try:
        venue.market_of_token(asset)
    except NotFound:
        return False
    return True

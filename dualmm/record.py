"""The recorder behind `dualmm record`: real market data for the backtest, from Polymarket's
market channel.

It subscribes to the market channel (Polymarket's public `wss` by default, read-only, no key;
the simulator's `/ws/market` with `--exchange sim`), keeps each token's book as the adapter
does (dualmm.exchange.market_channel: `book` + `price_change`, checked by hash, rebuilt from
REST `/book` on a gap or a reconnect) and writes, in the layout `dualmm backtest` reads
(dualmm.record_store): a book snapshot of each token whose book changed, at most one a second
(all its levels), every `last_trade_price` as a trade (on the YES token: a NO trade at p is
the opposite side at 1 - p), and the markets (in every day's folder that has rows). The YES
token is the layout's UP side.

It runs until Ctrl-C (or `--duration` seconds) and shows markets, events and bytes on one
progress line. A crash loses at most the last second (see dualmm.record_store).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from dualmm.errors import UsageError

if TYPE_CHECKING:
    import httpx

    from dualmm.exchange.base import Book, RewardMarket
    from dualmm.exchange.market_channel import LocalBook
    from dualmm.record_store import Row, Store

POLYMARKET_CLOB = "https://clob.polymarket.com"
SIM_CLOB = "http://127.0.0.1:8765"
FLUSH_SECONDS = 1.0  # snapshots and parts: at most one a second, so a crash loses one
COMPACT_SECONDS = 60.0
MAX_MARKETS = 250  # two tokens each, within one socket's 500 assets
DEFAULT_MARKETS = 10
Exchange = Literal["polymarket", "sim"]


def channel_url(exchange: Exchange, clob_url: str) -> str:
    """The market channel beside a CLOB: Polymarket's own host, or the simulator's port."""
    if exchange == "polymarket":
        from dualmm.exchange.market_channel import POLYMARKET_MARKET_CHANNEL

        return POLYMARKET_MARKET_CHANNEL
    parts = urlsplit(clob_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws/market"


async def find_markets(
    http: httpx.AsyncClient, count: int | None, condition_ids: list[str]
) -> list[RewardMarket]:
    """The markets named, or the first `count` active reward markets (`/sampling-markets`)."""
    from dualmm.exchange.clob_wire import reward_market

    if condition_ids:
        found = []
        for condition_id in condition_ids:
            answer = await http.get(f"/markets/{condition_id}")
            if answer.status_code != 200:
                raise UsageError(f"--condition-id {condition_id}: the venue does not list it")
            found.append(reward_market(answer.json(), None))
        return found
    wanted = count or DEFAULT_MARKETS
    found, cursor = [], "MA=="
    while len(found) < wanted and cursor not in ("LTE=", ""):
        answer = await http.get("/sampling-markets", params={"next_cursor": cursor})
        answer.raise_for_status()
        page = answer.json()
        for raw in page.get("data") or []:
            if len(raw.get("tokens") or []) == 2 and raw.get("active", True):
                market = reward_market(raw, None)
                if market.accepting_orders and market.active:
                    found.append(market)
        cursor = str(page.get("next_cursor", "LTE="))
    return found[:wanted]


def book_row(condition_id: str, up: bool, book: LocalBook, ts: int) -> Row:
    bids = sorted(book.bids.items(), reverse=True)
    asks = sorted(book.asks.items())
    return {
        "market_id": condition_id,
        "ts": ts,
        "side": "UP" if up else "DOWN",
        "bid_px": [float(p) for p, _ in bids],
        "bid_sz": [float(s) for _, s in bids],
        "ask_px": [float(p) for p, _ in asks],
        "ask_sz": [float(s) for _, s in asks],
        "book_hash": book.hash(),
    }


def trade_row(condition_id: str, up: bool, event: dict[str, Any]) -> Row | None:
    """A `last_trade_price` on the YES (UP) token's terms, or None if it is not a trade."""
    try:
        price, size = Decimal(str(event["price"])), Decimal(str(event["size"]))
        ts = int(str(event["timestamp"]))
    except (KeyError, ArithmeticError, ValueError):
        return None
    side = str(event.get("side", "")).upper()
    if side not in ("BUY", "SELL") or size <= 0:
        return None
    if not up:  # buying NO at p is selling YES at 1 - p
        price, side = 1 - price, "SELL" if side == "BUY" else "BUY"
    said = (event.get("asset_id"), event.get("transaction_hash", ""))
    key = "|".join(map(str, (condition_id, ts, *said, side, price, size)))
    return {
        "market_id": condition_id,
        "ts": ts,
        "side": side,
        "price": float(price),
        "size": float(size),
        "trade_key": key,
    }


class Recorder:
    """The channel's books and trades into the store, a second at a time."""

    def __init__(
        self, store: Store, markets: list[RewardMarket], url: str, http: httpx.AsyncClient
    ) -> None:
        from dualmm.exchange.market_channel import MarketChannel
        from dualmm.exchange.wake import FillWaker

        self.store = store
        self.markets = markets
        self._tokens = {
            token: (m.info.condition_id, token == m.info.yes_token_id)
            for m in markets
            for token in (m.info.yes_token_id, m.info.no_token_id)
        }
        self._http = http
        self._trades: list[Row] = []
        self._recorded: dict[str, str] = {}  # token -> hash of the book last written
        self._days: set[str] = set()  # the days whose markets this run has written
        self.events = self.bytes_in = self.snapshots = self.trades = 0
        recorder = self

        class Channel(MarketChannel):
            def on_text(self, text: str) -> None:
                recorder.bytes_in += len(text)
                super().on_text(text)

            def _on_event(self, event: dict[str, Any]) -> None:
                super()._on_event(event)
                recorder.events += 1
                if event.get("event_type") == "last_trade_price":
                    recorder.on_trade(event)

        self.channel = Channel(url, self._rest_book, FillWaker())

    async def _rest_book(self, token_id: str) -> Book:
        from dualmm.exchange.clob_wire import book_of

        answer = await self._http.get("/book", params={"token_id": token_id})
        answer.raise_for_status()
        return book_of(answer.json(), token_id)

    def on_trade(self, event: dict[str, Any]) -> None:
        known = self._tokens.get(str(event.get("asset_id")))
        row = trade_row(known[0], known[1], event) if known else None
        if row is not None:
            self._trades.append(row)

    def start(self) -> None:
        for market in self.markets:
            info = market.info
            self.channel.watch(info.condition_id, (info.yes_token_id, info.no_token_id))

    @staticmethod
    def _market_row(market: RewardMarket, now: int) -> Row:
        end = market.end_date
        return {
            "market_id": market.info.condition_id,
            "slug": "",
            "question": market.info.question,
            "start_ts": now,
            "end_ts": int(end.timestamp() * 1000) if end else None,
            "payout_up": None,
        }

    def flush(self) -> None:
        """Write the books that changed since the last flush and the trades seen."""
        rows = []
        for token, (condition_id, up) in self._tokens.items():
            book = self.channel.live_book(token)
            if book is None or book.at is None:
                continue  # out of step or not yet seen: its next whole state is written
            digest = book.hash()
            if self._recorded.get(token) == digest:
                continue
            self._recorded[token] = digest
            rows.append(book_row(condition_id, up, book, int(book.at.timestamp() * 1000)))
        trades, self._trades = self._trades, []
        self._markets_of_days(rows + trades)
        if rows:
            self.store.append("books", rows)
            self.snapshots += len(rows)
        if trades:
            self.store.append("trades", trades)
            self.trades += len(trades)

    def _markets_of_days(self, rows: list[Row]) -> None:
        """Each day's folder gets the markets (from the first time seen that day): a day is
        read on its own (`dualmm backtest DIR/<day>`)."""
        from dualmm.record_store import day_of

        first: dict[str, int] = {}
        for row in rows:
            day = day_of(row["ts"])
            if day not in self._days:
                first[day] = min(first.get(day, row["ts"]), row["ts"])
        for day, ts in first.items():
            self.store.append("markets", [self._market_row(m, ts) for m in self.markets])
            self._days.add(day)

    def progress(self, stopped: bool = False) -> str:
        state = "stopped" if stopped else "live" if self.channel.connected else "reconnecting"
        return (
            f"recording {len(self.markets)} markets ({state}): {self.events} events, "
            f"{self.bytes_in:,} bytes in, {self.snapshots} snapshots, {self.trades} trades, "
            f"{self.store.bytes_written:,} bytes written"
        )


async def record(
    out: Path,
    exchange: Exchange,
    clob_url: str,
    count: int | None,
    condition_ids: list[str],
    duration: float | None,
    say: Callable[[str, bool], None],
) -> Recorder:
    """Record until cancelled or `duration` seconds; compacts the store on the way out."""
    import httpx

    from dualmm.record_store import Store

    store = Store(out)
    store.recover()
    async with httpx.AsyncClient(base_url=clob_url, timeout=10.0) as http:
        try:
            markets = await find_markets(http, count, condition_ids)
        except httpx.HTTPError as exc:
            raise UsageError(f"cannot list markets at {clob_url}: {exc}") from None
        if not markets:
            raise UsageError(f"no market to record at {clob_url}")
        recorder = Recorder(store, markets, channel_url(exchange, clob_url), http)
        recorder.start()
        started = last_compact = time.monotonic()
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        try:
            while duration is None or time.monotonic() - started < duration:
                await asyncio.sleep(FLUSH_SECONDS)
                recorder.flush()
                say(recorder.progress(), False)
                today = datetime.now(UTC).strftime("%Y-%m-%d")
                if today != day or time.monotonic() - last_compact >= COMPACT_SECONDS:
                    store.compact(day)
                    day, last_compact = today, time.monotonic()
        finally:
            await recorder.channel.close()
            recorder.flush()
            for folder in store.days():
                store.compact(folder)
            say(recorder.progress(stopped=True), True)
    return recorder

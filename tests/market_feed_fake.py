"""A market channel on loopback that a test scripts: it upgrades websocket connections,
records what the client sends, answers PING (unless silenced) and sends what the test says,
with the book hash of dualmm.book_hash. `Venue` is the truth a REST read returns."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dualmm import websocket as ws
from dualmm.book_hash import book_hash
from dualmm.exchange.base import Book, BookLevel


@dataclass
class VenueBook:
    """One token's book at the fake venue."""

    token_id: str
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    tick: Decimal = Decimal("0.01")

    def hash(self) -> str:
        return book_hash(self.token_id, self.bids.items(), self.asks.items())

    def rest(self) -> Book:
        return Book(
            token_id=self.token_id,
            bids=tuple(BookLevel(price=p, size=s) for p, s in sorted(self.bids.items())[::-1]),
            asks=tuple(BookLevel(price=p, size=s) for p, s in sorted(self.asks.items())),
            tick_size=self.tick,
            min_order_size=Decimal(5),
            at=datetime.now(UTC),
        )

    def touch(self) -> tuple[str, str]:
        bid = max(self.bids) if self.bids else Decimal(0)
        ask = min(self.asks) if self.asks else Decimal(1)
        return str(bid), str(ask)


class FakeConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[Any] = []
        self.silent = False
        self.closed = False

    async def send(self, message: Any) -> None:
        if self.closed:
            return
        self.writer.write(ws.encode_frame(ws.TEXT, json.dumps(message).encode(), mask=False))
        await self.writer.drain()

    def drop(self) -> None:
        self.closed = True
        self.writer.close()


class FakeMarketFeed:
    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.books: dict[str, VenueBook] = {}
        self.url = ""
        self._server: asyncio.Server | None = None
        self.rest_reads = 0

    async def __aenter__(self) -> FakeMarketFeed:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws/market"
        return self

    async def __aexit__(self, *_: Any) -> None:
        for connection in self.connections:
            connection.drop()
        assert self._server is not None
        self._server.close()

    def book(self, token_id: str) -> VenueBook:
        return self.books.setdefault(token_id, VenueBook(token_id))

    async def rest_book(self, token_id: str) -> Book:
        self.rest_reads += 1
        return self.book(token_id).rest()

    @property
    def last(self) -> FakeConnection:
        return self.connections[-1]

    async def snapshot(self, token_id: str, market: str = "0xm") -> None:
        book = self.book(token_id)
        await self.last.send(
            {
                "event_type": "book",
                "asset_id": token_id,
                "market": market,
                "bids": [{"price": str(p), "size": str(s)} for p, s in sorted(book.bids.items())],
                "asks": [{"price": str(p), "size": str(s)} for p, s in book.asks.items()],
                "timestamp": "1700000000000",
                "hash": book.hash(),
            }
        )

    def set_level(self, token_id: str, side: str, price: str, size: str) -> dict[str, Any]:
        """Change the venue's book; the price_change entry that reports it."""
        book = self.book(token_id)
        levels = book.bids if side == "BUY" else book.asks
        if Decimal(size):
            levels[Decimal(price)] = Decimal(size)
        else:
            levels.pop(Decimal(price), None)
        best_bid, best_ask = book.touch()
        return {
            "asset_id": token_id,
            "price": price,
            "size": size,
            "side": side,
            "hash": book.hash(),
            "best_bid": best_bid,
            "best_ask": best_ask,
        }

    async def change(self, *entries: dict[str, Any], market: str = "0xm") -> None:
        await self.last.send(
            {
                "event_type": "price_change",
                "market": market,
                "price_changes": list(entries),
                "timestamp": "1700000000001",
            }
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {ws.accept_key(key)}\r\n\r\n"
            ).encode()
        )
        connection = FakeConnection(reader, writer)
        self.connections.append(connection)
        try:
            while not connection.closed:
                header = ws.parse_header(await reader.readexactly(2), expect_masked=True)
                extra = await reader.readexactly(header.extra)
                length = ws.payload_length(header, extra, 1 << 20)
                mask = await reader.readexactly(4)
                payload = ws.unmask(await reader.readexactly(length), mask)
                if header.opcode == ws.CLOSE:
                    break
                text = payload.decode()
                if text == "PING":
                    if not connection.silent:
                        writer.write(ws.encode_frame(ws.TEXT, b"PONG", mask=False))
                    continue
                connection.received.append(json.loads(text))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            connection.closed = True
            writer.close()

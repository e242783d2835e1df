"""A websocket client that stays connected while its process lives: the venue's channels.

Both of Polymarket's channels (`/ws/user`, `/ws/market`) are a socket that takes one
subscription message, answers the text `PING` with `PONG`, and pushes JSON events. A
`ChannelClient` connects (RFC 6455 over asyncio streams, `dualmm.websocket`'s codec),
calls `on_open` to subscribe, pings every `ping_seconds`, hands each text message to
`on_text`, and takes silence for `silence_seconds` as a dead socket. A dropped, refused or
silent socket is reconnected with exponential backoff (BACKOFF_MIN_SECONDS up to
BACKOFF_MAX_SECONDS, with jitter); the caller's REST poll is the fallback meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from typing import Any
from urllib.parse import SplitResult, urlsplit

from dualmm import websocket as ws

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_MIN_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
MAX_MESSAGE_BYTES = 1 << 20
_MAX_HANDSHAKE_BYTES = 16 * 1024


class HandshakeError(Exception):
    pass


def parse_ws_url(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a websocket URL: {url!r}")
    return parts


class Connection:
    """One open client socket: masked frames out, whole messages in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, parts: SplitResult) -> Connection:
        """Connect and upgrade (HandshakeError when the venue refuses)."""
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        context = ssl.create_default_context() if secure else None
        reader, writer = await asyncio.open_connection(
            parts.hostname, port, ssl=context, limit=_MAX_HANDSHAKE_BYTES
        )
        connection = cls(reader, writer)
        try:
            await connection._handshake(parts)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _handshake(self, parts: SplitResult) -> None:
        key = ws.new_client_key()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self._writer.write(request.encode())
        await self._writer.drain()
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *lines = head.split("\r\n")
        status = status_line.split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise HandshakeError(f"upgrade refused: {status_line[:120]}")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines if line)
        }
        if headers.get("sec-websocket-accept") != ws.accept_key(key):
            raise HandshakeError("upgrade answered with a wrong Sec-WebSocket-Accept")

    async def receive(self) -> tuple[int, bytes]:
        """The next message, or control frame, as (opcode, payload)."""
        assembler = ws.Assembler(MAX_MESSAGE_BYTES)
        while True:
            header = ws.parse_header(await self._reader.readexactly(2), expect_masked=False)
            extra = await self._reader.readexactly(header.extra)
            length = ws.payload_length(header, extra, MAX_MESSAGE_BYTES)
            message = assembler.feed(header, await self._reader.readexactly(length))
            if message is not None:
                return message

    async def send(self, opcode: int, payload: bytes) -> None:
        self._writer.write(ws.encode_frame(opcode, payload, mask=True))
        await self._writer.drain()

    async def send_json(self, message: Any) -> None:
        await self.send(ws.TEXT, json.dumps(message).encode())

    def send_json_soon(self, message: Any) -> None:
        """Queue a message without waiting for the socket to drain (from sync code)."""
        self._writer.write(ws.encode_frame(ws.TEXT, json.dumps(message).encode(), mask=True))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class ChannelClient:
    """Keeps one socket to `url` up while the process lives, once `ensure_started` ran in its
    event loop. Subclasses subscribe in `on_open` and read events in `on_text`."""

    name = "channel"

    def __init__(self, url: str, *, ping_seconds: float, silence_seconds: float) -> None:
        self.url = url
        self._parts = parse_ws_url(url)
        self._ping_seconds = ping_seconds
        self._silence_seconds = silence_seconds
        self._task: asyncio.Task[None] | None = None
        self._connection: Connection | None = None
        self.connected = False
        self.subscriptions = 0  # successful subscriptions so far (a reconnect adds one)

    async def on_open(self, connection: Connection) -> None:
        """Subscribe (the socket is up)."""

    def on_text(self, text: str) -> None:
        """One text message from the venue (PONG included)."""

    def on_down(self) -> None:
        """The socket is gone (a reconnect follows)."""

    def redacted(self, text: str) -> str:
        """`text` as it may be logged."""
        return text

    def send_soon(self, message: Any) -> None:
        """Send on the open socket, if there is one (the next `on_open` covers the rest)."""
        connection = self._connection
        if connection is not None and self.connected:
            connection.send_json_soon(message)

    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"dualmm-{self.name}"
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_SECONDS
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():  # a cancellation something swallowed
                raise asyncio.CancelledError
            try:
                await self._session()
                backoff = BACKOFF_MIN_SECONDS  # it was up: come back quickly
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a refused, dropped, broken or silent socket: retry later
                logger.warning(
                    "%s %s: %s: %s (polling meanwhile; again in %.1f s)",
                    self.name,
                    self.url,
                    type(exc).__name__,
                    self.redacted(str(exc)[:200]),
                    backoff,
                )
            finally:
                if self.connected:
                    self.connected = False
                    self.on_down()
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    async def _session(self) -> None:
        # asyncio.timeout, never wait_for: on 3.11 wait_for can swallow a cancellation, and
        # this task must end when its process (or test) cancels it.
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            connection = await Connection.open(self._parts)
        pinger: asyncio.Task[None] | None = None
        try:
            await self.on_open(connection)
            self._connection = connection
            self.connected = True
            self.subscriptions += 1
            pinger = asyncio.create_task(self._ping(connection))
            while True:
                # The venue answers our PINGs: silence that long is a dead socket.
                async with asyncio.timeout(self._silence_seconds):
                    opcode, payload = await connection.receive()
                if opcode == ws.CLOSE:
                    code, reason = ws.parse_close(payload)
                    raise ConnectionError(f"closed by the venue ({code}: {reason[:120]})")
                if opcode == ws.PING:
                    await connection.send(ws.PONG, payload)
                elif opcode == ws.TEXT:
                    self.on_text(ws.decode_text(payload))
        finally:
            self._connection = None
            if pinger is not None:
                pinger.cancel()
            await connection.close()

    async def _ping(self, connection: Connection) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await asyncio.sleep(self._ping_seconds)
                await connection.send(ws.TEXT, b"PING")

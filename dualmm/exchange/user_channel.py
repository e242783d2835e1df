"""A listener on Polymarket's user channel that turns its events into fill notices.

It connects to `wss://ws-subscriptions-clob.polymarket.com/ws/user` (or the simulator's
`ws://host:port/ws/user`), subscribes with the API key, secret and passphrase as the docs
show (`{"auth": {"apiKey", "secret", "passphrase"}, "markets": [...], "type": "user"}`, the
markets waited on so far; a market waited on later is added with `{"operation": "subscribe",
"markets": [...]}`), sends `PING` every PING_SECONDS, and on every `trade` event and every
order `UPDATE` (a fill) notifies the FillWaker of that market. Nothing in a message is
trusted for money: the market-making loop only wakes and reads its fills over the
authenticated REST API.

A dropped or refused socket is reconnected with exponential backoff (BACKOFF_MIN_SECONDS up
to BACKOFF_MAX_SECONDS, with jitter); meanwhile the loop's poll is the fallback. Each new
subscription notifies every market once, since fills may have happened while it was away.
The credentials are read when subscribing and never logged (errors name the URL only).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dualmm import websocket as ws
from dualmm.exchange.wake import FillWaker

logger = logging.getLogger(__name__)

POLYMARKET_USER_CHANNEL = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
PING_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_MIN_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
MAX_MESSAGE_BYTES = 1 << 20
_MAX_HANDSHAKE_BYTES = 16 * 1024


@dataclass(frozen=True)
class ChannelCreds:
    """The L2 API credentials the subscription carries; `repr` shows none of them."""

    api_key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return "ChannelCreds(<hidden>)"


class HandshakeError(Exception):
    pass


def wakes(message: Any) -> list[str]:
    """The markets a user-channel message says our fills changed in: every `trade` event
    (a match or a later status) and every order `UPDATE`; placements and cancellations are
    our own doing. A message may be one event or a list of them."""
    events = message if isinstance(message, list) else [message]
    markets = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("market"), str):
            continue
        kind = str(event.get("event_type", "")).lower()
        if kind == "trade" or (kind == "order" and str(event.get("type", "")).upper() == "UPDATE"):
            markets.append(event["market"])
    return markets


class UserChannelListener:
    """Listens while the process lives, once `ensure_started` ran in its event loop."""

    def __init__(
        self,
        url: str,
        creds: Callable[[], ChannelCreds],
        waker: FillWaker,
        *,
        ping_seconds: float = PING_SECONDS,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a websocket URL: {url!r}")
        self.url = url
        self._parts = parts
        self._creds = creds
        self._waker = waker
        self._ping_seconds = ping_seconds
        self._task: asyncio.Task[None] | None = None
        self._markets: set[str] = set()
        self._writer: asyncio.StreamWriter | None = None
        self.connected = False
        self.subscriptions = 0  # successful subscriptions so far (a reconnect adds one)

    def watch(self, condition_id: str) -> None:
        """Listen to this market too (and connect, if not yet)."""
        if condition_id not in self._markets:
            self._markets.add(condition_id)
            writer = self._writer
            if writer is not None and self.connected:
                message = {"operation": "subscribe", "markets": [condition_id]}
                writer.write(ws.encode_frame(ws.TEXT, json.dumps(message).encode(), mask=True))
        self.ensure_started()

    def ensure_started(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="dualmm-user-channel"
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
            except Exception as exc:  # a refused, dropped or broken socket: retry later
                logger.warning(
                    "user channel %s: %s: %s (polling meanwhile; again in %.1f s)",
                    self.url,
                    type(exc).__name__,
                    self._redacted(str(exc)[:200]),
                    backoff,
                )
            finally:
                self.connected = False
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    async def _session(self) -> None:
        # asyncio.timeout, never wait_for: on 3.11 wait_for can swallow a cancellation, and
        # this task must end when its process (or test) cancels it.
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
            reader, writer = await self._connect()
        pinger: asyncio.Task[None] | None = None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await self._handshake(reader, writer)
            creds = self._creds()
            subscription = {
                "auth": {
                    "apiKey": creds.api_key,
                    "secret": creds.secret,
                    "passphrase": creds.passphrase,
                },
                "markets": sorted(self._markets),
                "type": "user",
            }
            await self._send(writer, ws.TEXT, json.dumps(subscription).encode())
            self._writer = writer
            self.connected = True
            self.subscriptions += 1
            self._waker.notify(None)  # fills may have come while we were away
            pinger = asyncio.create_task(self._ping(writer))
            while True:
                # The venue answers our PINGs: silence for three of them is a dead socket.
                async with asyncio.timeout(3 * self._ping_seconds):
                    opcode, payload = await self._message(reader)
                if opcode == ws.CLOSE:
                    code, reason = ws.parse_close(payload)
                    raise ConnectionError(f"closed by the venue ({code}: {reason[:120]})")
                if opcode == ws.PING:
                    await self._send(writer, ws.PONG, payload)
                elif opcode == ws.TEXT:
                    self._on_text(ws.decode_text(payload))
        finally:
            self._writer = None
            if pinger is not None:
                pinger.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = self._parts
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        context = ssl.create_default_context() if secure else None
        return await asyncio.open_connection(
            parts.hostname, port, ssl=context, limit=_MAX_HANDSHAKE_BYTES
        )

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parts = self._parts
        key = ws.new_client_key()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
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

    async def _message(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        assembler = ws.Assembler(MAX_MESSAGE_BYTES)
        while True:
            header = ws.parse_header(await reader.readexactly(2), expect_masked=False)
            extra = await reader.readexactly(header.extra)
            length = ws.payload_length(header, extra, MAX_MESSAGE_BYTES)
            message = assembler.feed(header, await reader.readexactly(length))
            if message is not None:
                return message

    async def _send(self, writer: asyncio.StreamWriter, opcode: int, payload: bytes) -> None:
        writer.write(ws.encode_frame(opcode, payload, mask=True))
        await writer.drain()

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await asyncio.sleep(self._ping_seconds)
                await self._send(writer, ws.TEXT, b"PING")

    def _redacted(self, text: str) -> str:
        """`text` without our credentials, should a venue's error ever echo them."""
        try:
            creds = self._creds()
        except Exception:
            return text
        for secret in (creds.secret, creds.passphrase, creds.api_key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _on_text(self, text: str) -> None:
        if text.strip().upper() == "PONG":
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return  # not an event
        if isinstance(message, dict) and "error" in message:
            said = self._redacted(str(message)[:200])
            logger.warning("user channel %s: the venue says %s", self.url, said)
            return
        for market in wakes(message):
            self._waker.notify(market)

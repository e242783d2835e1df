"""Polymarket's user channel (`/ws/user`), served on the simulator's HTTP port.

As documented (docs.polymarket.com, market-data/websocket/user-channel): the client opens
`wss://ws-subscriptions-clob.polymarket.com/ws/user` and sends
`{"auth": {"apiKey", "secret", "passphrase"}, "markets": [condition ids], "type": "user"}`;
it then receives, for the API key's orders and trades in those markets (all markets when the
list is empty), `order` events (`type` PLACEMENT, UPDATE when it fills, CANCELLATION) and
`trade` events (`type` TRADE, `status` MATCHED, then MINED / CONFIRMED or RETRYING / FAILED).
`{"operation": "subscribe" | "unsubscribe", "markets": [...]}` changes the markets later.
Clients send the text `PING` about every 10 s and get `PONG` (RFC 6455 ping frames are
answered too). The docs spell the trade's match time `match_time` and `matchtime` on two
pages: both are sent.

Bad credentials: an `{"error": ...}` message, then a close (1008). Bounds: at most
`MAX_CONNECTIONS` sockets (a 503 answers the upgrade beyond), frames and messages of at most
`MAX_MESSAGE_BYTES`, the subscription within the server's read timeout, a frame's payload
within it once begun, and a socket idle for `IDLE_TIMEOUT_SECONDS` (no PING) is closed; a
client that does not read its events (`OUTBOX` behind) is dropped. Faults: the upgrade takes
the server's latency, 500s and 429s like any request, and during a matching-engine restart's
down window every socket is closed (1012) and upgrades get 425.

A pump thread drives the venue to the present every `PUMP_SECONDS` while anyone listens (a
wall-clock venue otherwise only moves when a request reads it) and pushes the changes the
venue reported (SimVenue.add_listener) to the sockets that subscribed to them.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import queue
import socket
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from dualmm import websocket as ws
from dualmm.sim.auth import ApiKey
from dualmm.sim.ledger import VenueEvent, wallet_address
from dualmm.sim.wire import MAX_JSON_DEPTH, Reply, json_depth, unix

if TYPE_CHECKING:
    from dualmm.sim.server_view import ChannelHost
    from dualmm.sim.venue import SimVenue

logger = logging.getLogger(__name__)

PATH = "/ws/user"
MAX_CONNECTIONS = 64
MAX_MESSAGE_BYTES = 64 * 1024
MAX_MARKETS = 1000
IDLE_TIMEOUT_SECONDS = 60.0
PUMP_SECONDS = 0.02
OUTBOX = 1000
_POLL_SECONDS = 0.5  # socket timeout: how often a blocked read looks at its deadlines
_PENDING_EVENTS = 100_000  # changes not yet pushed, at most (the oldest are dropped)


class _Closed(Exception):
    """The session ends (the peer closed, timed out, or broke the protocol)."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Reader:
    """Bytes from the socket (after those the HTTP parser had buffered), with deadlines."""

    def __init__(self, sock: socket.socket, buffered: bytes, closing: threading.Event) -> None:
        self._sock = sock
        self._buf = bytearray(buffered)
        self._closing = closing

    def exactly(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            if time.monotonic() >= deadline:
                raise TimeoutError
            if self._closing.is_set():  # we said goodbye: stop waiting for the peer's
                raise _Closed()
            try:
                data = self._sock.recv(min(65536, max(4096, n - len(self._buf))))
            except TimeoutError:
                continue
            except OSError:
                raise _Closed() from None
            if not data:
                raise _Closed()
            self._buf += data
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class Session:
    """One upgraded connection: its reader runs in the HTTP handler's thread, its writer in
    a thread of its own (so one slow client never holds up the pump)."""

    def __init__(self, channel: UserChannel) -> None:
        self._channel = channel
        self._outbox: queue.Queue[bytes | None] = queue.Queue(OUTBOX)
        self._sock: socket.socket | None = None
        self._closing = threading.Event()
        self.creds: ApiKey | None = None
        self.markets: frozenset[str] = frozenset()

    # --- the pump's side ---

    def wants(self, event: VenueEvent) -> bool:
        creds = self.creds
        return (
            creds is not None
            and not self._closing.is_set()
            and wallet_address(creds.address) == event.address
            and (not self.markets or event.condition_id in self.markets)
        )

    def send_text(self, text: str) -> None:
        self._send(ws.encode_frame(ws.TEXT, text.encode(), mask=False))

    def close(self, code: int, reason: str) -> None:
        """Say goodbye and end the session (from any thread)."""
        if self._closing.is_set():
            return
        self._send(ws.encode_frame(ws.CLOSE, ws.close_payload(code, reason), mask=False))
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait(None)

    def _send(self, frame: bytes) -> None:
        try:
            self._outbox.put_nowait(frame)
        except queue.Full:  # not reading its events: drop it
            self._closing.set()
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    # --- the connection's threads ---

    def run(self, sock: socket.socket, buffered: bytes) -> None:
        """Serve the connection until it ends (blocks the HTTP handler's thread)."""
        self._sock = sock
        sock.settimeout(_POLL_SECONDS)
        writer = threading.Thread(target=self._write, name="dualmm-sim-ws-writer", daemon=True)
        writer.start()
        try:
            self._read(_Reader(sock, buffered, self._closing))
        except _Closed as closed:
            if closed.code is not None:
                self.close(closed.code, closed.reason)
        except ws.ProtocolError as exc:
            self.close(exc.code, str(exc))
        except TimeoutError:
            self.close(ws.POLICY_VIOLATION, "timed out")
        finally:
            self._closing.set()
            with contextlib.suppress(queue.Full):
                self._outbox.put_nowait(None)
            writer.join(timeout=2)
            self._shutdown()
            self._channel.release(self)

    def release(self) -> None:
        """The upgrade failed before `run`: give the connection slot back."""
        self._channel.release(self)

    def _write(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            frame = self._outbox.get()
            if frame is None:
                return
            try:
                sock.sendall(frame)
            except OSError:
                self._closing.set()
                self._shutdown()
                return

    def _read(self, reader: _Reader) -> None:
        channel = self._channel
        assembler = ws.Assembler(MAX_MESSAGE_BYTES)
        idle = channel.read_timeout  # until subscribed; then IDLE_TIMEOUT_SECONDS
        subscribe_by = time.monotonic() + channel.read_timeout
        while not self._closing.is_set():
            if self.creds is None and time.monotonic() > subscribe_by:
                raise _Closed(ws.POLICY_VIOLATION, "no subscription in time")
            header = ws.parse_header(reader.exactly(2, time.monotonic() + idle), expect_masked=True)
            deadline = time.monotonic() + channel.read_timeout  # the rest of the frame
            length = ws.payload_length(
                header, reader.exactly(header.extra, deadline), MAX_MESSAGE_BYTES
            )
            key = reader.exactly(4, deadline)
            payload = ws.unmask(reader.exactly(length, deadline), key)
            message = assembler.feed(header, payload)
            if message is None:
                continue
            opcode, data = message
            if opcode == ws.CLOSE:
                raise _Closed(ws.NORMAL)  # answered with a close, as the protocol asks
            if opcode == ws.PING:
                self._send(ws.encode_frame(ws.PONG, data, mask=False))
            elif opcode == ws.TEXT:
                self._on_text(ws.decode_text(data))
                if self.creds is not None:
                    idle = max(channel.idle_timeout, channel.read_timeout)
            elif opcode == ws.BINARY:
                raise _Closed(ws.UNSUPPORTED, "binary messages are not supported")
            # PONG: nothing to do

    def _on_text(self, text: str) -> None:
        if text.strip().upper() == "PING":
            self.send_text("PONG")
            return
        payload = _json(text)
        if self.creds is None:
            self._subscribe(payload)
        elif isinstance(payload, dict) and "operation" in payload:
            self._update(payload)
        else:
            self._error('expected PING or {"operation": "subscribe"|"unsubscribe", ...}')

    def _subscribe(self, payload: Any) -> None:
        if not isinstance(payload, dict) or str(payload.get("type", "")).lower() != "user":
            self._refuse('the first message must subscribe: {"auth": {...}, "type": "user"}')
        auth = payload.get("auth")
        creds = self._channel.authenticate(auth) if isinstance(auth, dict) else None
        if creds is None:
            self._refuse("invalid api key, secret or passphrase")
        self.markets = _markets(payload.get("markets"), self)
        self.creds = creds

    def _update(self, payload: dict[str, Any]) -> None:
        operation = str(payload.get("operation", "")).lower()
        markets = _markets(payload.get("markets"), self)
        if operation == "subscribe":  # an empty set is every market: it stays so
            self.markets = self.markets | markets if self.markets else frozenset()
        elif operation == "unsubscribe":
            self.markets = self.markets - markets
        else:
            self._error(f"unknown operation {operation[:40]!r}")

    def _error(self, message: str) -> None:
        self.send_text(json.dumps({"error": message}))

    def _refuse(self, message: str) -> Any:
        self._error(message)
        raise _Closed(ws.POLICY_VIOLATION, message)


def _json(text: str) -> Any:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ws.ProtocolError("message nested too deeply", ws.POLICY_VIOLATION)
    try:
        return json.loads(text)
    except ValueError:
        raise ws.ProtocolError("message is not JSON", ws.INVALID_DATA) from None


def _markets(raw: Any, session: Session) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or len(raw) > MAX_MARKETS:
        session._refuse(f"markets must be a list of at most {MAX_MARKETS} condition ids")
    return frozenset(str(m)[:100] for m in raw if isinstance(m, str))


class UserChannel:
    """The user channel of one simulator server (see the module docstring)."""

    def __init__(self, server: ChannelHost, read_timeout: float) -> None:
        self._server = server
        self.read_timeout = read_timeout
        self.idle_timeout = IDLE_TIMEOUT_SECONDS
        self._lock = threading.Lock()
        self._sessions: set[Session] = set()
        self._pending: deque[VenueEvent] = deque(maxlen=_PENDING_EVENTS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._venue: SimVenue | None = None

    # --- lifecycle ---

    def attach(self, venue: SimVenue) -> None:
        """Listen to `venue` (the server's; again after a swap)."""
        if self._venue is not None:
            self._venue.remove_listener(self._on_event)
        self._venue = venue
        venue.add_listener(self._on_event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._pump, name="dualmm-sim-ws-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.close_all(ws.GOING_AWAY, "server stopping")
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- connections ---

    def open(self, path: str) -> Reply | Session:
        """A session for an upgrade to `path`, or the refusal to answer instead."""
        if path != PATH:
            return Reply(404, {"error": "not found"})
        refusal = self._server.websocket_refusal()
        if refusal is not None:
            return refusal
        with self._lock:
            if len(self._sessions) >= MAX_CONNECTIONS:
                return Reply(503, {"error": f"too many connections (at most {MAX_CONNECTIONS})"})
            session = Session(self)
            self._sessions.add(session)
        return session

    def release(self, session: Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def close_all(self, code: int, reason: str) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close(code, reason)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._sessions)

    def authenticate(self, auth: dict[str, Any]) -> ApiKey | None:
        """The API key whose key, secret and passphrase these are (as the venue checks them)."""
        key, secret, passphrase = (auth.get(k) for k in ("apiKey", "secret", "passphrase"))
        if not all(isinstance(v, str) and v.isascii() for v in (key, secret, passphrase)):
            return None
        creds = self._server.keys.lookup(str(key))
        if creds is None:
            return None
        ok = hmac.compare_digest(str(secret), creds.secret) & hmac.compare_digest(
            str(passphrase), creds.passphrase
        )
        return creds if ok else None

    # --- events ---

    def _on_event(self, event: VenueEvent) -> None:
        """Called under the venue's lock: only queue it."""
        if self._sessions:
            self._pending.append(event)

    def _pump(self) -> None:
        while not self._stop.wait(PUMP_SECONDS):
            with self._lock:
                sessions = [s for s in self._sessions if s.creds is not None]
            if not sessions:
                self._pending.clear()
                continue
            if self._server.websocket_refusal(faults=False) is not None:  # the engine restarts
                self.close_all(ws.RESTARTING, "the matching engine is restarting")
                continue
            venue = self._venue
            try:
                if venue is not None:
                    venue.advance_to(venue.now())  # a wall clock: fill what the prices reached
                self._push(sessions)
            except Exception:  # the pump must outlive any bad event
                logger.exception("sim user channel: pushing events failed")

    def _push(self, sessions: list[Session]) -> None:
        while self._pending:
            event = self._pending.popleft()
            for session in sessions:
                if session.wants(event):
                    assert session.creds is not None
                    session.send_text(json.dumps(self._message(event, session.creds)))

    def _message(self, event: VenueEvent, creds: ApiKey) -> dict[str, Any]:
        trading = self._server.trading
        now = str(int(time.time()))
        if event.trade is not None:
            body = trading.trade_json(event.trade, creds)
            return {
                **body,
                "event_type": "trade",
                "type": "TRADE",
                "matchtime": body["match_time"],
                "trade_owner": creds.key,
                "timestamp": now,
            }
        assert event.order is not None
        order = event.order
        trade_ids = [event.trade_id] if event.trade_id else []
        body = trading.order_json(order, creds, trade_ids)
        return {
            **body,
            "event_type": "order",
            "type": event.type,
            "order_owner": body["owner"],
            "created_at": str(unix(order.created_at)),
            "timestamp": now,
        }

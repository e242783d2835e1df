"""What the simulator's two websocket channels share (/ws/user and /ws/market): a session per
upgraded connection (a reader in the HTTP handler's thread, a writer thread of its own, PING
and PONG, bounded frames and idle time) and a channel that counts and closes its sessions.

A channel subclass says what a subscription is (`Session.on_message`); everything about the
socket lives here. Bounds: at most `MAX_CONNECTIONS` sockets per channel (a 503 answers the
upgrade beyond), frames and messages of at most `MAX_MESSAGE_BYTES`, the subscription within
the server's read timeout, a frame's payload within it once begun, and a subscribed socket
idle for `IDLE_TIMEOUT_SECONDS` (no PING) is closed; a client that does not read its events
(`OUTBOX` behind) is dropped.

Faults a channel can put on one session: `drop()` cuts the connection with no close frame
(as a network failure would), and `silence(seconds)` sends nothing at all for that long
(neither events nor PONGs) while the socket stays open.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dualmm import websocket as ws
from dualmm.sim.wire import MAX_JSON_DEPTH, Reply, json_depth

if TYPE_CHECKING:
    from dualmm.sim.server_view import WebsocketHost

MAX_CONNECTIONS = 64
MAX_MESSAGE_BYTES = 64 * 1024
IDLE_TIMEOUT_SECONDS = 60.0
OUTBOX = 1000
_POLL_SECONDS = 0.5  # socket timeout: how often a blocked read looks at its deadlines


class Closed(Exception):
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
                raise Closed()
            try:
                data = self._sock.recv(min(65536, max(4096, n - len(self._buf))))
            except TimeoutError:
                continue
            except OSError:
                raise Closed() from None
            if not data:
                raise Closed()
            self._buf += data
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


class Session:
    """One upgraded connection (see the module docstring). Subclasses answer `on_message`
    (any text but PING) and say when they are `subscribed`."""

    def __init__(self, channel: Channel[Any]) -> None:
        self._channel = channel
        self._outbox: queue.Queue[bytes | None] = queue.Queue(OUTBOX)
        self._sock: socket.socket | None = None
        self._closing = threading.Event()
        self._silent_until = 0.0

    @property
    def subscribed(self) -> bool:
        raise NotImplementedError

    def on_message(self, payload: Any) -> None:
        """A JSON message from the client (PING is answered before this)."""
        raise NotImplementedError

    @property
    def open(self) -> bool:
        return not self._closing.is_set()

    # --- any thread ---

    def send_text(self, text: str) -> None:
        self._send(ws.encode_frame(ws.TEXT, text.encode(), mask=False))

    def send_json(self, message: Any) -> None:
        self.send_text(json.dumps(message, separators=(",", ":")))

    def close(self, code: int, reason: str) -> None:
        """Say goodbye and end the session."""
        if self._closing.is_set():
            return
        frame = ws.encode_frame(ws.CLOSE, ws.close_payload(code, reason), mask=False)
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait(frame)
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._outbox.put_nowait(None)

    def drop(self) -> None:
        """Cut the connection with no close frame (a fault: the network failed)."""
        self._closing.set()
        self._shutdown()

    def silence(self, seconds: float) -> None:
        """Send nothing, not even PONG, for `seconds` (a fault: a hung channel)."""
        self._silent_until = time.monotonic() + seconds

    @property
    def silent(self) -> bool:
        return time.monotonic() < self._silent_until

    def _send(self, frame: bytes) -> None:
        if self.silent:
            return
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
        except Closed as closed:
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
            if not self.subscribed and time.monotonic() > subscribe_by:
                raise Closed(ws.POLICY_VIOLATION, "no subscription in time")
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
                raise Closed(ws.NORMAL)  # answered with a close, as the protocol asks
            if opcode == ws.PING:
                self._send(ws.encode_frame(ws.PONG, data, mask=False))
            elif opcode == ws.TEXT:
                text = ws.decode_text(data)
                if text.strip().upper() == "PING":
                    self.send_text("PONG")
                else:
                    self.on_message(parse_json(text))
                if self.subscribed:
                    idle = max(channel.idle_timeout, channel.read_timeout)
            elif opcode == ws.BINARY:
                raise Closed(ws.UNSUPPORTED, "binary messages are not supported")
            # PONG: nothing to do

    def error(self, message: str) -> None:
        self.send_json({"error": message})

    def refuse(self, message: str) -> Any:
        """Say what is wrong and close (1008)."""
        self.error(message)
        raise Closed(ws.POLICY_VIOLATION, message)


def parse_json(text: str) -> Any:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ws.ProtocolError("message nested too deeply", ws.POLICY_VIOLATION)
    try:
        return json.loads(text)
    except ValueError:
        raise ws.ProtocolError("message is not JSON", ws.INVALID_DATA) from None


Host = TypeVar("Host", bound="WebsocketHost")


class Channel(Generic[Host]):
    """The sessions of one websocket path of a SimServer (`Host`: what it sees of the server)."""

    path = ""

    def __init__(self, server: Host, read_timeout: float) -> None:
        self._server = server
        self.read_timeout = read_timeout
        self.idle_timeout = IDLE_TIMEOUT_SECONDS
        self._lock = threading.Lock()
        self._sessions: set[Session] = set()

    def new_session(self) -> Session:
        raise NotImplementedError

    def open(self, path: str) -> Reply | Session:
        """A session for an upgrade to `path`, or the refusal to answer instead."""
        if path != self.path:
            return Reply(404, {"error": "not found"})
        refusal = self._server.websocket_refusal()
        if refusal is not None:
            return refusal
        with self._lock:
            if len(self._sessions) >= MAX_CONNECTIONS:
                return Reply(503, {"error": f"too many connections (at most {MAX_CONNECTIONS})"})
            session = self.new_session()
            self._sessions.add(session)
        return session

    def release(self, session: Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def subscribed_sessions(self) -> list[Session]:
        with self._lock:
            return [s for s in self._sessions if s.subscribed and s.open]

    def close_all(self, code: int, reason: str) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.close(code, reason)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._sessions)

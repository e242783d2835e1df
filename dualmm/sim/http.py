"""The simulator's HTTP transport: a threading HTTP/1.1 server that turns each request into a
`Request`, asks the app for a `Reply` and writes it (or holds or drops it for a lost answer).
A GET asking to upgrade to a websocket gets the RFC 6455 handshake here, and the connection's
thread then belongs to the app's session (dualmm.sim.user_channel)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from dualmm import websocket as ws
from dualmm.http_answer import send_json
from dualmm.sim.wire import Reply, Request

logger = logging.getLogger(__name__)


class WebSocketSession(Protocol):
    def run(self, sock: socket.socket, buffered: bytes) -> None: ...

    def release(self) -> None: ...


class App(Protocol):
    def serve(self, request: Request) -> Reply: ...

    def open_websocket(self, path: str) -> Reply | WebSocketSession: ...


# Bounds on what one request may take: its body, and the time to read it (a client that
# announces a body and never sends it must not hold a thread and a connection forever).
MAX_BODY_BYTES = 1 << 20
READ_TIMEOUT_SECONDS = 10.0


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog (5 by default): bursts of concurrent connections were refused.
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], app: App, read_timeout: float = READ_TIMEOUT_SECONDS
    ) -> None:
        self.app = app
        self.read_timeout = read_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection (idle keep-alive connections would linger)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's pooled httpx expects
    # Headers and body go out in two writes; with Nagle on, each answer would wait ~40 ms for
    # the client's delayed ACK.
    disable_nagle_algorithm = True
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def _body(self) -> str | None:
        """The request body, or None once an error has been answered (and the connection
        closed): a bad or too large Content-Length, or a body that does not arrive in time."""
        text = (self.headers.get("Content-Length") or "0").strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 12):
            self._refuse(400, "Invalid Content-Length")
            return None
        length = int(text)
        if length > MAX_BODY_BYTES:
            self._refuse(413, f"Payload too large (at most {MAX_BODY_BYTES} bytes)")
            return None
        try:
            raw = self.rfile.read(length) if length else b""
        except TimeoutError:
            self._refuse(408, "Request body not received in time")
            return None
        if len(raw) < length:  # the client closed before sending it all
            self.close_connection = True
            return None
        return raw.decode("utf-8", "replace")

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True
        self._send(status, {"error": message})

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        try:
            send_json(self, status, body, headers)
        except OSError:  # the client gave up (a timeout, a reset); nothing to tell
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sim %s " + format, self.address_string(), *args)

    def _upgrade(self) -> None:
        """The websocket handshake, then the app's session on this connection."""
        self.close_connection = True
        headers = self.headers
        connection = {t.strip().lower() for t in (headers.get("Connection") or "").split(",")}
        key = (headers.get("Sec-WebSocket-Key") or "").strip()
        if self.command != "GET" or "upgrade" not in connection:
            self._refuse(400, "a websocket upgrade is a GET with Connection: Upgrade")
            return
        if (headers.get("Sec-WebSocket-Version") or "").strip() != "13":
            self._send(426, {"error": "websocket version 13 only"}, {"Sec-WebSocket-Version": "13"})
            return
        if not ws.valid_client_key(key):
            self._refuse(400, "invalid Sec-WebSocket-Key")
            return
        opened = self.server.app.open_websocket(urlsplit(self.path).path)
        if isinstance(opened, Reply):
            self._send(opened.status, opened.body, opened.headers)
            return
        try:
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", ws.accept_key(key))
            self.end_headers()
            buffered = _buffered(self.rfile, self.connection)
        except OSError:
            opened.release()
            return
        opened.run(self.connection, buffered)

    def _handle(self) -> None:
        if (self.headers.get("Upgrade") or "").strip().lower() == "websocket":
            self._upgrade()
            return
        body = self._body()
        if body is None:
            return
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query={k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
            headers={k.upper(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            reply = self.server.app.serve(request)
        except Exception:  # a bug must not kill the connection thread silently
            logger.exception("sim server error on %s %s", request.method, request.path)
            reply = Reply(500, {"error": "internal error"})
        if reply.lost_for_s is not None:
            self.close_connection = True
            if not reply.lost_for_s:
                return  # dropped: the client sees the connection close with no answer
            time.sleep(reply.lost_for_s)
        self._send(reply.status, reply.body, reply.headers)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Transport-level refusals (a malformed request line, oversized headers, an unknown
        method) as JSON errors like every other answer; an unknown method is a 405."""
        status = HTTPStatus.METHOD_NOT_ALLOWED if code == HTTPStatus.NOT_IMPLEMENTED else code
        if self.request_version == "HTTP/0.9":  # an unparsable request line: answer in 1.1
            self.request_version = self.protocol_version
        self._refuse(int(status), message or HTTPStatus(status).phrase)

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_HEAD = _handle
    do_OPTIONS = _handle


def _buffered(rfile: Any, connection: socket.socket) -> bytes:
    """What the HTTP parser already read past the request (a client may send its first
    message without waiting for the 101), taken without blocking."""
    timeout = connection.gettimeout()
    connection.setblocking(False)
    try:
        return rfile.read1(1 << 16) or b""
    except (BlockingIOError, OSError):
        return b""
    finally:
        connection.settimeout(timeout)

"""The simulator's HTTP transport: a threading HTTP/1.1 server that turns each request into a
`Request`, asks the app for a `Reply` and writes it (or holds or drops it for a lost answer)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from dualmm.sim.wire import Reply, Request

logger = logging.getLogger(__name__)


class App(Protocol):
    def serve(self, request: Request) -> Reply: ...


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
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
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sim %s " + format, self.address_string(), *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
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
        payload = json.dumps(reply.body, separators=(",", ":")).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout); nothing to tell

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle
    do_PUT = _handle

"""The server behind `dualmm codec-server`: Temporal's remote codec protocol, so the Temporal
UI (its "Data Encoder" setting) or `temporal workflow show --codec-endpoint` shows
decrypted payloads.

POST /encode and POST /decode take and answer `{"payloads": [...]}` in protobuf JSON form.
The browser calls it from the UI's origin, so it answers CORS preflights for that one origin.
It decrypts for whoever can reach it: it binds to loopback by default, and a bearer token
(DUALMM_CODEC_TOKEN) is required before it listens anywhere else.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dualmm.errors import UsageError
from dualmm.http_answer import send_json

if TYPE_CHECKING:
    from dualmm.codec import AesGcmCodec

logger = logging.getLogger(__name__)

# A whole history's payloads can be large; anything beyond this is refused (413).
MAX_BODY_BYTES = 32 * 1024 * 1024
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


class CodecServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        codec: AesGcmCodec,
        cors_origin: str | None,
        token: str | None = None,
    ) -> None:
        self.codec = codec
        self.cors_origin = cors_origin
        self.token = token
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CodecServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("codec %s " + format, self.address_string(), *args)

    def _cors(self) -> dict[str, str]:
        origin = self.headers.get("Origin")
        headers = {}
        if origin is not None and origin == self.server.cors_origin:
            headers = {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        return {**headers, "Vary": "Origin"}

    def _answer(self, status: int, body: dict[str, Any] | None) -> None:
        send_json(self, status, body, self._cors(), empty=body is None)

    def do_OPTIONS(self) -> None:  # the browser's CORS preflight
        self._answer(204, None)

    def do_POST(self) -> None:
        from google.protobuf import json_format
        from temporalio.api.common.v1 import Payloads

        from dualmm.codec import CodecError

        path = urlsplit(self.path).path.rstrip("/")
        if path not in ("/encode", "/decode"):
            self.close_connection = True  # the body stays unread
            self._answer(404, {"error": "POST /encode or /decode"})
            return
        token = self.server.token
        if token is not None:
            given = self.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                self.close_connection = True
                self._answer(401, {"error": "a valid bearer token is required"})
                return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(413 if length > 0 else 400, {"error": "bad or missing body length"})
            return
        try:
            body = json.loads(self.rfile.read(length))
            payloads = json_format.ParseDict(body, Payloads()).payloads
            code = self.server.codec.encrypt if path == "/encode" else self.server.codec.decrypt
            done = Payloads(payloads=[code(payload) for payload in payloads])
        except CodecError as exc:
            self._answer(400, {"error": str(exc)})
            return
        except (ValueError, TypeError, json_format.ParseError, RecursionError):
            self._answer(400, {"error": 'the body is not {"payloads": [...]} in protobuf JSON'})
            return
        self._answer(200, json_format.MessageToDict(done))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_cors_origin(origin: str) -> str:
    from dualmm.config import check_http_url

    try:
        check_http_url(origin)
    except ValueError as exc:
        raise UsageError(f"--cors-origin: {exc}") from None
    if urlsplit(origin).path not in ("", "/") or urlsplit(origin).query:
        raise UsageError(f"--cors-origin: {origin!r} is an origin, not a page (no path)")
    return origin.rstrip("/")

"""`dualmm codec-server`: Temporal's remote codec protocol, so the Temporal UI (its "Data
Encoder" setting) or `temporal workflow show --codec-endpoint` shows decrypted payloads.

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
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from dualmm.errors import UsageError

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

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin == self.server.cors_origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Vary", "Origin")

    def _answer(self, status: int, body: dict[str, Any] | None) -> None:
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self._cors()
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

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


def _origin(origin: str) -> str:
    from dualmm.config import check_http_url

    try:
        check_http_url(origin)
    except ValueError as exc:
        raise UsageError(f"--cors-origin: {exc}") from None
    if urlsplit(origin).path not in ("", "/") or urlsplit(origin).query:
        raise UsageError(f"--cors-origin: {origin!r} is an origin, not a page (no path)")
    return origin.rstrip("/")


def register(app: typer.Typer) -> None:
    @app.command("codec-server")
    def codec_server(
        host: Annotated[
            str, typer.Option(help="Address to listen on (loopback unless a token is set).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8888,
        cors_origin: Annotated[
            str, typer.Option("--cors-origin", help="The Temporal UI's origin (browser calls).")
        ] = "http://localhost:8233",
    ) -> None:
        """Decrypt payloads for the Temporal UI (its Data Encoder setting) until Ctrl-C."""
        import signal
        import threading

        from dualmm.codec import codec
        from dualmm.runtime import settings

        origin = _origin(cors_origin)
        config = settings()
        encrypting = codec(config)
        if encrypting is None:
            raise UsageError("DUALMM_CODEC_KEY is not set: give the key the workers encrypt with")
        token = config.codec_token.get_secret_value() if config.codec_token else None
        if token is None and not is_loopback(host):
            raise UsageError(
                f"--host: {host} is not a loopback address; set DUALMM_CODEC_TOKEN so only "
                "holders of the token can decrypt"
            )
        try:
            server = CodecServer((host.strip("[]"), port), encrypting, origin, token)
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(f"--host/--port: cannot listen on {host}:{port}: {reason}") from None
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        print(
            f"codec server: {server.url} (CORS origin {origin}, key id {encrypting.key_id}"
            f"{', bearer token required' if token else ''}); Ctrl-C stops it",
            flush=True,
        )
        stop.wait()
        server.shutdown()
        server.server_close()
        print("codec server: stopped", flush=True)

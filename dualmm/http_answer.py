"""A JSON answer from a standard-library HTTP handler, as the project's small servers (the
simulator, the codec server) send it: sized, and saying so when the connection closes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    empty: bool = False,
) -> None:
    """Answer `status` with `body` as compact JSON (nothing at all when `empty`)."""
    payload = b"" if empty else json.dumps(body, separators=(",", ":")).encode()
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if not empty:
        handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(payload)

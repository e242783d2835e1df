"""The simulated Polygon node (`chain.SimChain`) over JSON-RPC/HTTP on its own loopback port:
`with ChainServer(chain) as server:` then point DUALMM_POLYGON_RPC_URL at `server.url`."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dualmm.sim.chain import RpcError, SimChain

MAX_BODY_BYTES = 1 << 20


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the chaos suite's worker) is not the node's error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class ChainServer:
    """Serves one SimChain; `path` is the URL's path (a real provider's may hold its key)."""

    def __init__(
        self, chain: SimChain, host: str = "127.0.0.1", port: int = 0, path: str = "/"
    ) -> None:
        self.chain = chain
        self._server = _Server((host, port), _handler(chain))
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host!s}:{bound_port}{path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dualmm-sim-chain", daemon=True
        )

    def start(self) -> ChainServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ChainServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _handler(chain: SimChain) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY_BYTES:
                self._reply(413 if length else 411, {"error": "bad body length"})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(200, _error(None, -32700, "parse error"))
                return
            calls = body if isinstance(body, list) else [body]
            answers = [_one(chain, call) for call in calls]
            self._reply(200, answers if isinstance(body, list) else answers[0])

        def _reply(self, status: int, answer: Any) -> None:
            out = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _one(chain: SimChain, call: Any) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("method"), str):
        return _error(None, -32600, "invalid request")
    try:
        result = chain.answer(call["method"], call.get("params") or [])
        return {"jsonrpc": "2.0", "id": call.get("id"), "result": result}
    except RpcError as exc:
        return _error(call.get("id"), exc.code, exc.message)
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        return _error(call.get("id"), -32602, f"invalid params: {type(exc).__name__}")


def _error(call_id: Any, code: int, message: str) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if code == 3:
        error["data"] = "0x"
    return {"jsonrpc": "2.0", "id": call_id, "error": error}

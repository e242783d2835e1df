"""A CLOB-compatible HTTP server over a SimVenue, for py-clob-client-v2 over loopback.

The server is thin: dispatch and injected faults. The endpoints live by concern in
`routes_market_data` (books, prices), `routes_markets` (listings, reward configs),
`routes_trading` (orders, trades, balances, keys) and `routes_admin` (`/_sim/*`); the wire
format in `wire`, authentication in `auth`, the transport in `http`, the fault switches in
`faults`. Every trading decision (tick, bounds, sizes, balance, post-only crossing, fills) is
the venue's (`venue`, with its records in `ledger`, markets in `market`, clocks in `clock`).

Fidelity notes (what the real CLOB does, and where the simulator differs):
- Errors are `{"error": message}` with Polymarket's status codes and strings; a rejected order
  is a 400. Batch placement (`POST /orders`) answers 200 with one result per order.
- Order ids are the EIP-712 order hashes, as on Polymarket, so re-posting the same signed order
  is answered `order {id} is invalid. Duplicated.` (the first post may have been accepted).
- Books list bids and asks with the best price last, like the CLOB; `hash` is the CLOB's SHA-1.
- One venue account per API-key wallet (POLY_ADDRESS): an order signed for a proxy, safe or
  1271 funder (signature types 1-3) trades from the account of the EOA that signed it.
- Trades: for a TAKER trade (our order crossed when placed) the top level is our order and
  `maker_orders` the resting side; for a MAKER trade (our resting order was reached) the top
  level is the counterparty's taker order and our fill is the entry in `maker_orders`, with
  our side, price and `matched_amount`. `transaction_hash` is always set (settled at once).
- GET /price: side BUY answers the best bid, SELL the best ask. /last-trade-price is the last
  trade since the venue was built or loaded (its tape, when the other makers' touch moves
  through levels, or a fill of ours), the midpoint before any; /prices-history samples the
  midpoint process from the market's start (a synthetic server's markets start with it) up
  to now.
- Header timestamps are not checked for freshness (a scenario clock may run in the past).
- The user websocket channel is served on the same port at `/ws/user` (`user_channel`: auth
  with the API key, `order` and `trade` events as the ledger changes, PING/PONG), and the
  public market channel at `/ws/market` (`market_channel`: books, price changes, trades, tick
  changes, hashes a client can check), not on a separate `ws-subscriptions-clob` host.

Rate limits (VenueRules.rate_limits, never on /_sim admin paths): the documented per-endpoint
limits, a 429 with Retry-After beyond them (`rate_limits`).

Faults (never on /_sim admin paths): fixed latency, a rate of 500 and of 429 answers drawn from a
seeded generator (three draws per request, so a seed and a request sequence fix the outcome),
and "accept then time out": an order placement that the venue accepted is answered after
`accept_timeout_hang_s` seconds (past the client's timeout) or, with 0, by dropping the
connection. py-clob-client-v2 then raises `PolyApiException(error_msg="Request exception!")`
with `status_code` None in both cases (its httpx client has a 5 s timeout), though the order
rests on the book: the caller must reconcile, never blindly re-place.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from py_clob_client_v2.config import get_contract_config

from dualmm.sim.auth import ApiError, ApiKey, KeyRing
from dualmm.sim.faults import ORDER_PATHS, Faults, Restart
from dualmm.sim.heartbeats import Heartbeats
from dualmm.sim.http import MAX_BODY_BYTES, READ_TIMEOUT_SECONDS, HTTPServer
from dualmm.sim.market_channel import MarketChannel
from dualmm.sim.rate_limits import RateLimiter
from dualmm.sim.routes_admin import Admin
from dualmm.sim.routes_market_data import MarketDataRoutes
from dualmm.sim.routes_markets import Markets
from dualmm.sim.routes_trading import Trading
from dualmm.sim.user_channel import UserChannel
from dualmm.sim.venue import SimVenue
from dualmm.sim.wire import JSON, Reply, Request, RouteGroup, Routes
from dualmm.sim.ws_server import Session

__all__ = ["Faults", "SimServer"]

logger = logging.getLogger(__name__)

TOO_MANY = "Too Many Requests"


class SimServer:
    """The simulated CLOB on a ThreadingHTTPServer; `start()` runs it in a background thread.

    `port=0` picks a free port (see `url`). Admin paths (`/_sim/*`) answer only with
    `admin=True`. `page_size` is the page length of every paginated endpoint.
    """

    def __init__(
        self,
        venue: SimVenue,
        host: str = "127.0.0.1",
        port: int = 0,
        admin: bool = False,
        faults: Faults | None = None,
        *,
        chain_id: int = 137,
        page_size: int = 100,
        auth_secret: bytes = b"dualmm-sim",
        read_timeout_s: float = READ_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        self._venue = venue
        self.admin = admin
        self.page_size = page_size
        self.keys = KeyRing(auth_secret, chain_id)
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)
        self._fault_lock = threading.Lock()
        self.rate_limiter = RateLimiter()
        self._restart: Restart | None = None
        self._clock = clock
        self._next_restart: float | None = None
        timeout = venue.rules.heartbeat_timeout_seconds
        self.heartbeats = Heartbeats(timeout, venue.cancel_all) if timeout else None
        self._httpd = HTTPServer((host, port), self, read_timeout_s)
        self._thread: threading.Thread | None = None
        contracts = get_contract_config(chain_id)
        market_data = MarketDataRoutes(venue)
        self.trading = Trading(venue, self.keys, market_data, contracts, page_size, self.heartbeats)
        self._groups: list[RouteGroup] = [
            market_data,
            Markets(venue, market_data, contracts, page_size),
            self.trading,
            Admin(self),
        ]
        self.user_channel = UserChannel(self, read_timeout_s)
        self.user_channel.attach(venue)
        self.market_channel = MarketChannel(self, read_timeout_s)
        self.market_channel.attach(venue)
        groups = [group.routes() for group in self._groups]
        self._routes = Routes(
            exact={k: v for g in groups for k, v in g.exact.items()},
            prefix=[r for g in groups for r in g.prefix],
            keyed={k: v for g in groups for k, v in g.keyed.items()},
            keyed_prefix=[r for g in groups for r in g.keyed_prefix],
        )

    @property
    def venue(self) -> SimVenue:
        return self._venue

    @venue.setter
    def venue(self, venue: SimVenue) -> None:
        """Swap the venue (tests reuse one server across venues)."""
        self._venue = venue
        for group in self._groups:
            group.venue = venue
        self.user_channel.attach(venue)
        self.market_channel.attach(venue)

    # --- lifecycle ---

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll
            name="dualmm-sim-server",
            daemon=True,
        )
        self._thread.start()
        if self.heartbeats is not None:
            self.heartbeats.start()
        self.user_channel.start()
        self.market_channel.start()
        return self

    def stop(self) -> None:
        if self.heartbeats is not None:
            self.heartbeats.stop()
        self.user_channel.stop()
        self.market_channel.stop()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def faults(self) -> Faults:
        return self._faults

    def restart(self, down_seconds: float = 90, post_only_seconds: float = 120) -> Restart:
        """Restart the matching engine now: 425s, then the post-only window (real seconds)."""
        self._restart = Restart.at(self._clock(), down_seconds, post_only_seconds)
        return self._restart

    def _scheduled_restart(self, faults: Faults) -> None:
        if not faults.restart_every_s:
            self._next_restart = None
            return
        now = self._clock()
        if self._next_restart is None:
            self._next_restart = now + faults.restart_every_s
        elif now >= self._next_restart:
            self.restart(faults.restart_down_s, faults.restart_post_only_s)
            self._next_restart = now + faults.restart_every_s

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; a new seed restarts the fault generator."""
        with self._fault_lock:
            if faults.seed != self._faults.seed:
                self._rng = random.Random(faults.seed)
            self._faults = faults

    # --- dispatch ---

    def open_websocket(self, path: str) -> Reply | Session:
        """An upgrade to a websocket: a session of the channel at `path`, or the refusal."""
        if path == self.market_channel.path:
            return self.market_channel.open(path)
        return self.user_channel.open(path)

    def websocket_refusal(self, faults: bool = True) -> Reply | None:
        """What an upgrade gets instead of a socket now: the injected latency, 500s and 429s
        (`faults`), and a 425 while a matching-engine restart is down."""
        if faults:
            with self._fault_lock:
                current = self._faults
                error_draw, limit_draw = self._rng.random(), self._rng.random()
            injected = self._injected_fault(current, error_draw, limit_draw)
            if injected is not None:
                return injected
        restart = self._restart
        if restart is not None and self._clock() < restart.down_until:
            return Reply(425, {"error": "the matching engine is restarting, try again shortly"})
        return None

    def _injected_fault(self, faults: Faults, error_draw: float, limit_draw: float) -> Reply | None:
        """The injected latency, then a 500 or a 429 when this request's draws fall under
        their rates; otherwise the scheduled restart is brought up to date."""
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if error_draw < faults.error_rate:
            return Reply(500, {"error": "simulated internal error"})
        if limit_draw < faults.rate_limit_rate:
            retry_after = {"Retry-After": str(faults.retry_after_s)}
            return Reply(429, {"error": TOO_MANY}, headers=retry_after)
        with self._fault_lock:
            self._scheduled_restart(faults)
        return None

    def serve(self, request: Request) -> Reply:
        """Answer one request: faults first (except on admin paths), then the endpoint."""
        is_admin = request.path.startswith("/_sim/")
        if is_admin and not self.admin:
            return Reply(404, {"error": "not found"})
        if is_admin:
            return self._dispatch(request)
        if self._venue.rules.rate_limits:
            wait = self.rate_limiter.admit(request.method, request.path)
            if wait is not None:
                return Reply(429, {"error": TOO_MANY}, headers={"Retry-After": str(wait)})
        with self._fault_lock:
            faults = self._faults
            error_draw, limit_draw, timeout_draw = (self._rng.random() for _ in range(3))
        injected = self._injected_fault(faults, error_draw, limit_draw)
        if injected is not None:
            return injected
        restart = self._restart
        if restart is not None and request.path.startswith(ORDER_PATHS):
            refusal = restart.refusal(
                self._clock(), request.method, request.path, request.body[:MAX_BODY_BYTES]
            )
            if refusal is not None:
                return Reply(*refusal)
        reply = self._dispatch(request)
        placing = request.method == "POST" and request.path in ("/order", "/orders")
        if placing and reply.status == 200 and timeout_draw < faults.accept_timeout_rate:
            reply.lost_for_s = faults.accept_timeout_hang_s
        return reply

    def _dispatch(self, request: Request) -> Reply:
        try:
            return Reply(200, self._route(request))
        except ApiError as exc:  # AuthFailure too
            return Reply(exc.status, {"error": exc.message})
        except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
            # Input no check above foresaw: still the client's error, never a 500 (logged,
            # so the missing check can be added).
            logger.warning(
                "sim: unforeseen bad input on %s %s", request.method, request.path, exc_info=exc
            )
            return Reply(400, {"error": f"Invalid request: {type(exc).__name__}"})

    def _route(self, request: Request) -> JSON:
        key, routes = (request.method, request.path), self._routes
        if key in routes.exact:
            return routes.exact[key](request)
        if key in routes.keyed:
            return routes.keyed[key](request, self._l2(request))
        for method, prefix, handler in routes.prefix:
            if request.method == method and request.path.startswith(prefix):
                return handler(request, request.path.removeprefix(prefix))
        for method, prefix, keyed in routes.keyed_prefix:
            if request.method == method and request.path.startswith(prefix):
                return keyed(request, self._l2(request), request.path.removeprefix(prefix))
        raise ApiError(404, "not found")

    def _l2(self, request: Request) -> ApiKey:
        return self.keys.verify_l2(request.headers, request.method, request.path, request.body)

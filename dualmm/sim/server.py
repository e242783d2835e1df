"""A CLOB-compatible HTTP server over a SimVenue, for py-clob-client-v2 over loopback.

The server is thin: wire format, authentication (dualmm.sim.auth) and injected faults. Every
trading decision (tick, bounds, sizes, balance, post-only crossing, fills) is the venue's.

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
- GET /price: side BUY answers the best bid, SELL the best ask. The simulator keeps no tape,
  so /last-trade-price is the midpoint, and /prices-history samples the midpoint process from
  the market's start (a synthetic server's markets start with it) up to now.
- Header timestamps are not checked for freshness (a scenario clock may run in the past).

Faults (never on /_sim admin paths): fixed latency, a rate of 500 and of 429 answers drawn from a
seeded generator (three draws per request, so a seed and a request sequence fix the outcome),
and "accept then time out": an order placement that the venue accepted is answered after
`accept_timeout_hang_s` seconds (past the client's timeout) or, with 0, by dropping the
connection. py-clob-client-v2 then raises `PolyApiException(error_msg="Request exception!")`
with `status_code` None in both cases (its httpx client has a 5 s timeout), though the order
rests on the book: the caller must reconcile, never blindly re-place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from py_clob_client_v2.config import get_contract_config
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dualmm.domain.rewards import order_side_scores
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Token
from dualmm.exchange.base import (
    Book,
    ExchangeError,
    NotFound,
    Order,
    OrderStatus,
    OrderType,
    RewardMarket,
)
from dualmm.sim.auth import OWNER_MISMATCH, ApiError, ApiKey, KeyRing
from dualmm.sim.venue import Liquidity, SimVenue, Trade, TradeStatus

logger = logging.getLogger(__name__)

JSON = Any
END_CURSOR = "LTE="
MAX_BATCH = 15
NO_ORDERBOOK = "No orderbook exists for the requested token id"
NOT_CANCELED = "order can't be found - already canceled or matched"
UNITS = Decimal(10) ** 6  # collateral and outcome tokens have 6 decimals on chain
MAX_ALLOWANCE = str(2**256 - 1)
ZERO = Decimal(0)
# /prices-history intervals back from now; "max" is the market's whole life.
_INTERVALS = {
    "1m": timedelta(days=30),
    "1w": timedelta(weeks=1),
    "1d": timedelta(days=1),
    "6h": timedelta(hours=6),
    "1h": timedelta(hours=1),
    "max": None,
}


class Faults(BaseModel):
    """Injected faults; rates are probabilities per request (not money, so float)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: int = Field(0, ge=0, le=60_000)
    error_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    accept_timeout_rate: float = Field(0.0, ge=0, le=1)
    accept_timeout_hang_s: float = Field(0.0, ge=0, le=600)  # 0: drop the connection
    seed: int = 0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str

    def json(self) -> JSON:
        try:
            return json.loads(self.body) if self.body else None
        except json.JSONDecodeError:
            raise ApiError(400, "Invalid payload") from None


@dataclass
class Reply:
    status: int
    body: JSON
    # Accepted, then the answer is held this many seconds (0: the connection is dropped).
    lost_for_s: float | None = None


@dataclass(frozen=True)
class _Placement:
    """What the wire format needs about an order and the venue does not keep."""

    owner: str
    expiration: int


Handler = Callable[[Request], JSON]
KeyedHandler = Callable[[Request, ApiKey], JSON]


def _dec(value: Decimal) -> str:
    """A decimal string without exponent or trailing zeros ("0.5", "100")."""
    return format(value.normalize(), "f") if value else "0"


def _num(value: Decimal) -> float:
    """Fields the CLOB sends as JSON numbers (market metadata, price history); the one float
    boundary."""
    return float(value)


def _units(value: Decimal) -> str:
    return str(int((value * UNITS).to_integral_value()))


def _unix(at: datetime) -> int:
    return int(at.timestamp())


def _tx_hash(trade_id: str) -> str:
    return "0x" + hashlib.sha256(f"tx:{trade_id}".encode()).hexdigest()


def _outcome(token: Token) -> str:
    return "Yes" if token is Token.YES else "No"


def _cursor_offset(cursor: str | None) -> int:
    """The offset a `next_cursor` encodes (base64 of a decimal; URL-encoding tolerated)."""
    text = cursor or "MA=="
    for _ in range(2):  # the v2 client URL-encodes cursors; tolerate a second layer
        if "%" in text:
            text = unquote(text)
    try:
        return int(base64.b64decode(text, validate=True).decode())
    except ValueError:
        raise ApiError(400, f"invalid next_cursor {cursor!r}") from None


def _page(items: list[JSON], cursor: str | None, size: int) -> dict[str, JSON]:
    offset = _cursor_offset(cursor)
    if offset < 0:
        return {"limit": size, "count": 0, "next_cursor": END_CURSOR, "data": []}
    data = items[offset : offset + size]
    end = offset + size
    next_cursor = base64.b64encode(str(end).encode()).decode() if end < len(items) else END_CURSOR
    return {"limit": size, "count": len(data), "next_cursor": next_cursor, "data": data}


@contextmanager
def _venue_errors(not_found: int = 404, message: str | None = None) -> Iterator[None]:
    """Venue errors as CLOB answers: unknown things 404 (or `not_found`, with `message` if
    given), rejections 400."""
    try:
        yield
    except NotFound as exc:
        raise ApiError(not_found, message or str(exc)) from None
    except ExchangeError as exc:
        raise ApiError(400, str(exc)) from None


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
    ) -> None:
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        self.venue = venue
        self.admin = admin
        self.page_size = page_size
        self.keys = KeyRing(auth_secret, chain_id)
        self._contracts = get_contract_config(chain_id)
        self._faults = faults or Faults()
        self._rng = random.Random(self._faults.seed)
        self._fault_lock = threading.Lock()
        self._place_lock = threading.Lock()
        self._placements: dict[str, _Placement] = {}
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), self)
        self._thread: threading.Thread | None = None
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/"): self._ok,
            ("GET", "/ok"): self._ok,
            ("GET", "/time"): lambda _: int(time.time()),
            ("GET", "/version"): lambda _: {"version": 2},
            ("GET", "/tick-size"): self._tick_size,
            ("GET", "/neg-risk"): self._neg_risk,
            ("GET", "/fee-rate"): self._fee_rate,
            ("GET", "/book"): lambda r: self._book_json(self._venue_book(self._token(r))),
            ("POST", "/books"): self._books,
            ("GET", "/midpoint"): lambda r: {"mid": _dec(self._midpoint(self._token(r)))},
            ("POST", "/midpoints"): self._midpoints,
            ("GET", "/price"): self._price,
            ("GET", "/last-trade-price"): self._last_trade_price,
            ("POST", "/last-trades-prices"): self._last_trades_prices,
            ("POST", "/prices"): self._prices,
            ("GET", "/spread"): self._spread,
            ("GET", "/prices-history"): self._prices_history,
            ("GET", "/sampling-markets"): self._markets_page,
            ("GET", "/markets"): self._markets_page,
            ("GET", "/rewards/markets/current"): self._rewards_page,
            ("POST", "/auth/api-key"): self._create_api_key,
            ("GET", "/auth/derive-api-key"): self._derive_api_key,
            ("GET", "/_sim/ledger"): lambda _: self.venue.ledger(),
            ("GET", "/_sim/faults"): lambda _: self.faults.model_dump(),
            ("POST", "/_sim/faults"): self._set_faults,
            ("POST", "/_sim/advance"): self._advance,
            ("POST", "/_sim/tick-size"): self._set_tick_size,
            ("POST", "/_sim/fail-trade"): self._fail_trade,
        }
        self._prefix_routes: list[tuple[str, str, Callable[[Request, str], JSON]]] = [
            ("GET", "/markets/", lambda _, cid: self._market_json(self._reward_market(cid))),
            ("GET", "/clob-markets/", lambda _, cid: self._clob_market(cid)),
            ("GET", "/markets-by-token/", self._market_by_token),
            ("GET", "/rewards/markets/", self._market_rewards_page),
        ]
        self._keyed_routes: dict[tuple[str, str], KeyedHandler] = {
            ("POST", "/order"): self._post_order,
            ("POST", "/orders"): self._post_orders,
            ("DELETE", "/order"): self._cancel_order,
            ("DELETE", "/orders"): self._cancel_orders,
            ("DELETE", "/cancel-all"): self._cancel_all,
            ("DELETE", "/cancel-market-orders"): self._cancel_market_orders,
            ("GET", "/data/orders"): self._open_orders,
            ("GET", "/data/trades"): self._trades,
            ("GET", "/balance-allowance"): self._balance_allowance,
            ("GET", "/balance-allowance/update"): self._balance_allowance,
            ("GET", "/order-scoring"): self._order_scoring,
            ("POST", "/orders-scoring"): self._orders_scoring,
            ("GET", "/auth/api-keys"): lambda _, k: {"apiKeys": self.keys.keys_of(k.address)},
            ("DELETE", "/auth/api-key"): self._delete_api_key,
            ("GET", "/auth/ban-status/closed-only"): lambda _, __: {"closed_only": False},
        }
        self._keyed_prefix_routes: list[tuple[str, str, Callable[[Request, ApiKey, str], JSON]]] = [
            ("GET", "/data/order/", self._get_order),
        ]

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
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:  # idle keep-alive connections would linger
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def faults(self) -> Faults:
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the faults; a new seed restarts the fault generator."""
        with self._fault_lock:
            if faults.seed != self._faults.seed:
                self._rng = random.Random(faults.seed)
            self._faults = faults

    # --- dispatch ---

    def serve(self, request: Request) -> Reply:
        """Answer one request: faults first (except on admin paths), then the endpoint."""
        is_admin = request.path.startswith("/_sim/")
        if is_admin and not self.admin:
            return Reply(404, {"error": "not found"})
        if is_admin:
            return self._dispatch(request)
        with self._fault_lock:
            faults = self._faults
            error_draw, limit_draw, timeout_draw = (self._rng.random() for _ in range(3))
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if error_draw < faults.error_rate:
            return Reply(500, {"error": "simulated internal error"})
        if limit_draw < faults.rate_limit_rate:
            return Reply(429, {"error": "Too Many Requests"})
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

    def _route(self, request: Request) -> JSON:
        key = (request.method, request.path)
        if key in self._routes:
            return self._routes[key](request)
        if key in self._keyed_routes:
            return self._keyed_routes[key](request, self._l2(request))
        for method, prefix, handler in self._prefix_routes:
            if request.method == method and request.path.startswith(prefix):
                return handler(request, request.path.removeprefix(prefix))
        for method, prefix, keyed in self._keyed_prefix_routes:
            if request.method == method and request.path.startswith(prefix):
                return keyed(request, self._l2(request), request.path.removeprefix(prefix))
        raise ApiError(404, "not found")

    def _l2(self, request: Request) -> ApiKey:
        return self.keys.verify_l2(request.headers, request.method, request.path, request.body)

    # --- public market data ---

    @staticmethod
    def _ok(_: Request) -> str:
        return "OK"

    @staticmethod
    def _token(request: Request) -> str:
        token_id = request.query.get("token_id", "")
        if not token_id.isdigit():
            raise ApiError(400, "Invalid token id")
        return token_id

    def _venue_book(self, token_id: str) -> Book:
        with _venue_errors(message=NO_ORDERBOOK):
            return self.venue.book(token_id)

    def _midpoint(self, token_id: str) -> Decimal:
        with _venue_errors(message=NO_ORDERBOOK):
            return self.venue.midpoint(token_id)

    def _tick_size(self, request: Request) -> JSON:
        with _venue_errors(message=NO_ORDERBOOK):
            return {"minimum_tick_size": _num(self.venue.tick_size(self._token(request)))}

    def _neg_risk(self, request: Request) -> JSON:
        with _venue_errors(message=NO_ORDERBOOK):
            return {"neg_risk": self.venue.neg_risk(self._token(request))}

    def _fee_rate(self, request: Request) -> JSON:
        with _venue_errors(message=NO_ORDERBOOK):
            self.venue.market_of_token(self._token(request))
        return {"base_fee": 0}  # the reward markets simulated here charge no fee

    def _book_json(self, book: Book) -> JSON:
        with _venue_errors():
            market = self.venue.market_of_token(book.token_id)
        summary = {
            "market": market.condition_id,
            "asset_id": book.token_id,
            "timestamp": str(int(book.at.timestamp() * 1000)),
            "hash": "",
            "bids": [{"price": _dec(x.price), "size": _dec(x.size)} for x in reversed(book.bids)],
            "asks": [{"price": _dec(x.price), "size": _dec(x.size)} for x in reversed(book.asks)],
            "min_order_size": _dec(book.min_order_size),
            "tick_size": _dec(book.tick_size),
            "neg_risk": market.neg_risk,
            "last_trade_price": _dec(self._midpoint(book.token_id)),
        }
        compact = json.dumps(summary, separators=(",", ":"), ensure_ascii=False)
        summary["hash"] = hashlib.sha1(compact.encode()).hexdigest()
        return summary

    @staticmethod
    def _token_list(request: Request) -> list[str]:
        payload = request.json()
        if not isinstance(payload, list) or not all(
            isinstance(item, dict) and str(item.get("token_id", "")).isdigit() for item in payload
        ):
            raise ApiError(400, "Invalid payload")
        if len(payload) > 500:
            raise ApiError(400, "Payload exceeds the limit")
        return [str(item["token_id"]) for item in payload]

    def _books(self, request: Request) -> JSON:
        return [self._book_json(self._venue_book(t)) for t in self._token_list(request)]

    def _midpoints(self, request: Request) -> JSON:
        return {t: _dec(self._midpoint(t)) for t in self._token_list(request)}

    def _price(self, request: Request) -> JSON:
        side = request.query.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            raise ApiError(400, "Invalid side")
        bid, ask = self._touch(self._token(request))
        return {"price": _dec(bid if side == "BUY" else ask)}

    def _last_trade_price(self, request: Request) -> JSON:
        return {"price": _dec(self._midpoint(self._token(request))), "side": ""}

    def _last_trades_prices(self, request: Request) -> JSON:
        return [
            {"token_id": t, "price": _dec(self._midpoint(t)), "side": ""}
            for t in self._token_list(request)
        ]

    def _touch(self, token_id: str) -> tuple[Decimal, Decimal]:
        with _venue_errors(message=NO_ORDERBOOK):
            return self.venue.touch(token_id)

    def _prices(self, request: Request) -> JSON:
        prices = {}
        for token_id in self._token_list(request):
            bid, ask = self._touch(token_id)
            prices[token_id] = {"BUY": _dec(bid), "SELL": _dec(ask)}
        return prices

    def _spread(self, request: Request) -> JSON:
        bid, ask = self._touch(self._token(request))
        return {"spread": _dec(ask - bid)}

    def _prices_history(self, request: Request) -> JSON:
        """`market` (a token id) with `startTs`/`endTs` (unix seconds) or an `interval` back
        from now; `fidelity` in minutes. Polymarket's shape: {"history": [{"t", "p"}]}."""
        query = request.query
        token_id = query.get("market", "")
        if not token_id.isdigit():
            raise ApiError(400, "Invalid market")
        try:
            fidelity = int(query.get("fidelity", "1"))
            stamps = [
                datetime.fromtimestamp(int(query[name]), UTC)
                for name in ("startTs", "endTs")
                if name in query
            ]
        except (ValueError, OverflowError, OSError):
            raise ApiError(400, "Invalid startTs, endTs or fidelity") from None
        interval = query.get("interval")
        if interval is not None:
            if stamps:
                raise ApiError(400, "startTs/endTs and interval are mutually exclusive")
            if interval not in _INTERVALS:
                raise ApiError(400, f"Invalid interval {interval!r}")
            now, span = self.venue.now(), _INTERVALS[interval]
            begin, until = (now - span if span else datetime.min.replace(tzinfo=UTC)), now
        elif len(stamps) != 2:
            raise ApiError(400, "startTs and endTs, or interval, are required")
        else:
            begin, until = stamps
        with _venue_errors(message=NO_ORDERBOOK):
            points = self.venue.price_history(token_id, begin, until, fidelity)
        return {"history": [{"t": _unix(p.at), "p": _num(p.price)} for p in points]}

    # --- markets and rewards ---

    def _reward_market(self, condition_id: str) -> RewardMarket:
        with _venue_errors():
            info = self.venue.market(condition_id)
        for market in self.venue.reward_markets():
            if market.info.condition_id == condition_id:
                return market.model_copy(update={"info": info})
        raise ApiError(404, f"market {condition_id} not found")

    def _market_json(self, market: RewardMarket) -> JSON:
        info = market.info
        yes_mid = self._midpoint(info.yes_token_id)
        return {
            "enable_order_book": True,
            "active": market.active,
            "closed": False,
            "archived": False,
            "accepting_orders": market.accepting_orders,
            "minimum_order_size": _num(info.min_order_size),
            "minimum_tick_size": _num(info.tick_size),
            "condition_id": info.condition_id,
            "question_id": "0x" + hashlib.sha256(info.condition_id.encode()).hexdigest(),
            "question": info.question,
            "description": "",
            "market_slug": info.condition_id[:18],
            "end_date_iso": market.end_date.isoformat() if market.end_date else None,
            "game_start_time": None,
            "seconds_delay": 0,
            "maker_base_fee": 0,
            "taker_base_fee": 0,
            "neg_risk": info.neg_risk,
            "rewards": {
                "rates": [
                    {
                        "asset_address": self._contracts.collateral,
                        "rewards_daily_rate": _num(info.rewards_daily_rate),
                    }
                ],
                "min_size": _num(info.rewards_min_size),
                "max_spread": _num(info.rewards_max_spread_cents),
            },
            "tokens": [
                {"token_id": info.yes_token_id, "outcome": "Yes", "price": _num(yes_mid)},
                {"token_id": info.no_token_id, "outcome": "No", "price": _num(1 - yes_mid)},
            ],
            "tags": [],
        }

    def _markets_page(self, request: Request) -> JSON:
        markets = [self._market_json(m) for m in self.venue.reward_markets()]
        return _page(markets, request.query.get("next_cursor"), self.page_size)

    def _rewards_json(self, info: MarketInfo) -> JSON:
        start = self.venue.now().replace(hour=0, minute=0, second=0, microsecond=0)
        return {
            "condition_id": info.condition_id,
            "rewards_max_spread": _num(info.rewards_max_spread_cents),
            "rewards_min_size": _num(info.rewards_min_size),
            "rewards_config": [
                {
                    "id": 0,
                    "asset_address": self._contracts.collateral,
                    "start_date": start.date().isoformat(),
                    "end_date": (start + timedelta(days=365)).date().isoformat(),
                    "rate_per_day": _num(info.rewards_daily_rate),
                    "total_rewards": _num(info.rewards_daily_rate * 365),
                }
            ],
            "native_daily_rate": _num(info.rewards_daily_rate),
            "sponsored_daily_rate": 0,
            "total_daily_rate": _num(info.rewards_daily_rate),
        }

    def _rewards_page(self, request: Request) -> JSON:
        rewarded = [m.info for m in self.venue.reward_markets() if m.info.rewards_daily_rate > 0]
        data = [self._rewards_json(info) for info in rewarded]
        return _page(data, request.query.get("next_cursor"), self.page_size)

    def _market_rewards_page(self, request: Request, condition_id: str) -> JSON:
        info = self._reward_market(condition_id).info
        return _page([self._rewards_json(info)], request.query.get("next_cursor"), self.page_size)

    def _clob_market(self, condition_id: str) -> JSON:
        """The compact market info `create_order` and fee lookups read (`/clob-markets/{id}`)."""
        market = self._reward_market(condition_id)
        info = market.info
        return {
            "c": info.condition_id,
            "t": [{"t": info.yes_token_id, "o": "Yes"}, {"t": info.no_token_id, "o": "No"}],
            "mts": _num(info.tick_size),
            "mos": _num(info.min_order_size),
            "nr": info.neg_risk,
            "ao": market.accepting_orders,
            "fd": {"r": 0, "e": 0},
        }

    def _market_by_token(self, _: Request, token_id: str) -> JSON:
        with _venue_errors():
            info = self.venue.market_of_token(token_id)
        return {
            "condition_id": info.condition_id,
            "primary_token_id": info.yes_token_id,
            "secondary_token_id": info.no_token_id,
        }

    # --- API keys (L1) ---

    def _create_api_key(self, request: Request) -> JSON:
        creds = self.keys.create(request.headers)
        self.venue.ensure_wallet(creds.address)  # a fresh key can trade at once
        return creds.as_json()

    def _derive_api_key(self, request: Request) -> JSON:
        creds = self.keys.derive(request.headers)
        self.venue.ensure_wallet(creds.address)
        return creds.as_json()

    def _delete_api_key(self, _: Request, creds: ApiKey) -> JSON:
        self.keys.revoke(creds.key)
        return "OK"

    # --- orders (L2) ---

    def _post_order(self, request: Request, creds: ApiKey) -> JSON:
        payload = request.json()
        if not isinstance(payload, dict):
            raise ApiError(400, "Invalid order payload")
        return self._place(payload, creds)

    def _post_orders(self, request: Request, creds: ApiKey) -> JSON:
        payload = request.json()
        if not isinstance(payload, list) or not payload:
            raise ApiError(400, "Invalid order payload")
        if len(payload) > MAX_BATCH:
            raise ApiError(
                400, f"Too many orders in payload: {len(payload)}, max allowed: {MAX_BATCH}"
            )
        results = []
        for item in payload:
            try:
                if not isinstance(item, dict):
                    raise ApiError(400, "Invalid order payload")
                results.append(self._place(item, creds))
            except ApiError as exc:  # AuthFailure too
                results.append(
                    {"success": False, "errorMsg": exc.message, "orderID": "", "status": ""}
                )
        return results

    def _place(self, payload: dict[str, Any], creds: ApiKey) -> JSON:
        """Verify, decode and place one signed order; the answer of a successful POST /order."""
        order = payload.get("order")
        if not isinstance(order, dict):
            raise ApiError(400, "Invalid order payload")
        if payload.get("owner") != creds.key:
            raise ApiError(400, OWNER_MISMATCH)
        if "timestamp" not in order or "nonce" in order or "feeRateBps" in order:
            raise ApiError(400, "order_version_mismatch")  # V1 orders are refused since V2
        try:
            order_type = OrderType(str(payload.get("orderType", "GTC")))
        except ValueError:
            raise ApiError(400, f"order type {payload.get('orderType')} is not supported") from None
        with _venue_errors(not_found=400):
            market = self.venue.market_of_token(str(order.get("tokenId")))
        exchange = (
            self._contracts.neg_risk_exchange_v2 if market.neg_risk else self._contracts.exchange_v2
        )
        order_id = self.keys.verify_order(order, creds, exchange).order_hash
        side, price, size = _decode_amounts(order, order_id)
        expiration = _expiration(order, order_id)
        with self._place_lock:  # one check-then-place at a time, so a duplicate is caught
            if self.venue.get_order(order_id) is not None:
                raise ApiError(400, f"order {order_id} is invalid. Duplicated.")
            with _venue_errors(not_found=400):
                placed = self.venue.place(
                    creds.address,
                    order_id,
                    str(order["tokenId"]),
                    side,
                    price,
                    size,
                    order_type,
                    datetime.fromtimestamp(expiration, UTC) if expiration else None,
                    bool(payload.get("postOnly", False)),
                )
            self._placements[order_id] = _Placement(owner=creds.key, expiration=expiration)
        trades = [t for t in self.venue.trades(creds.address) if t.order_id == order_id]
        usdc = sum((t.price * t.size for t in trades), ZERO)
        shares = sum((t.size for t in trades), ZERO)
        making, taking = (usdc, shares) if side is Side.BUY else (shares, usdc)
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": "matched" if placed.size_matched > 0 else "live",
            "makingAmount": _dec(making) if trades else "",
            "takingAmount": _dec(taking) if trades else "",
            "transactionsHashes": [_tx_hash(t.trade_id) for t in trades],
            "tradeIDs": [t.trade_id for t in trades],
        }

    def _cancel_ids(self, creds: ApiKey, order_ids: list[str]) -> JSON:
        canceled, not_canceled = [], {}
        for order_id in order_ids:
            if self.venue.cancel(creds.address, order_id):
                canceled.append(order_id)
            else:
                not_canceled[order_id] = NOT_CANCELED
        return {"canceled": canceled, "not_canceled": not_canceled}

    def _cancel_order(self, request: Request, creds: ApiKey) -> JSON:
        payload = request.json()
        if not isinstance(payload, dict) or not isinstance(payload.get("orderID"), str):
            raise ApiError(400, "Invalid order payload")
        return self._cancel_ids(creds, [payload["orderID"]])

    def _cancel_orders(self, request: Request, creds: ApiKey) -> JSON:
        payload = request.json()
        if not isinstance(payload, list) or not all(isinstance(i, str) for i in payload):
            raise ApiError(400, "Invalid order payload")
        return self._cancel_ids(creds, payload)

    def _cancel_all(self, _: Request, creds: ApiKey) -> JSON:
        return {"canceled": self.venue.cancel_all(creds.address), "not_canceled": {}}

    def _cancel_market_orders(self, request: Request, creds: ApiKey) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict):
            raise ApiError(400, "Invalid payload")
        market, asset_id = payload.get("market"), payload.get("asset_id")
        orders = self.venue.open_orders(creds.address, market or None)
        return self._cancel_ids(
            creds, [o.order_id for o in orders if not asset_id or o.token_id == asset_id]
        )

    def _order_json(self, order: Order, creds: ApiKey, trade_ids: list[str]) -> JSON:
        placement = self._placements.get(order.order_id, _Placement(creds.key, 0))
        with _venue_errors():
            market = self.venue.market_of_token(order.token_id)
        return {
            "id": order.order_id,
            "status": order.status.value,
            "owner": placement.owner,
            "maker_address": creds.address,
            "market": order.condition_id,
            "asset_id": order.token_id,
            "side": order.side.value,
            "original_size": _dec(order.original_size),
            "size_matched": _dec(order.size_matched),
            "price": _dec(order.price),
            "outcome": _outcome(market.token_of(order.token_id)),
            "expiration": str(placement.expiration),
            "order_type": order.order_type.value,
            "associate_trades": trade_ids,
            "created_at": _unix(order.created_at),
        }

    def _trade_ids_by_order(self, creds: ApiKey) -> dict[str, list[str]]:
        by_order: dict[str, list[str]] = {}
        for trade in self.venue.trades(creds.address):
            by_order.setdefault(trade.order_id, []).append(trade.trade_id)
        return by_order

    def _open_orders(self, request: Request, creds: ApiKey) -> JSON:
        query = request.query
        orders = [
            order
            for order in self.venue.open_orders(creds.address, query.get("market") or None)
            if query.get("asset_id") in (None, "", order.token_id)
            and query.get("id") in (None, "", order.order_id)
        ]
        trade_ids = self._trade_ids_by_order(creds)
        data = [self._order_json(o, creds, trade_ids.get(o.order_id, [])) for o in orders]
        return _page(data, query.get("next_cursor"), self.page_size)

    def _get_order(self, _: Request, creds: ApiKey, order_id: str) -> JSON:
        order = self.venue.get_order(order_id, creds.address)
        if order is None:
            raise ApiError(404, "order not found")
        return self._order_json(order, creds, self._trade_ids_by_order(creds).get(order_id, []))

    # --- trades, balances, scoring (L2) ---

    def _trade_json(self, trade: Trade, creds: ApiKey) -> JSON:
        ours = {
            "order_id": trade.order_id,
            "owner": self._placements.get(trade.order_id, _Placement(creds.key, 0)).owner,
            "maker_address": creds.address,
            "matched_amount": _dec(trade.size),
            "price": _dec(trade.price),
            "fee_rate_bps": "0",
            "asset_id": trade.token_id,
            "outcome": _outcome(trade.token),
            "side": trade.side.value,
        }
        counterparty_id = (
            "0x" + hashlib.sha256(f"counterparty:{trade.trade_id}".encode()).hexdigest()
        )
        other_side = Side.SELL if trade.side is Side.BUY else Side.BUY
        counterparty = {
            **ours,
            "order_id": counterparty_id,
            "owner": "",
            "maker_address": "",
            "side": other_side.value,
        }
        if trade.liquidity is Liquidity.TAKER:
            taker, makers = ours, [counterparty]
        else:
            taker, makers = counterparty, [ours]
        match_time = str(_unix(trade.at))
        return {
            "id": trade.trade_id,
            "taker_order_id": taker["order_id"],
            "market": trade.condition_id,
            "asset_id": trade.token_id,
            "side": taker["side"],
            "size": _dec(trade.size),
            "fee_rate_bps": "0",
            "price": _dec(trade.price),
            "status": "FAILED" if trade.status is TradeStatus.FAILED else "CONFIRMED",
            "match_time": match_time,
            "last_update": match_time,
            "outcome": _outcome(trade.token),
            "bucket_index": 0,
            "owner": taker["owner"],
            "maker_address": taker["maker_address"],
            "transaction_hash": _tx_hash(trade.trade_id),
            "trader_side": trade.liquidity.value,
            "maker_orders": makers,
        }

    def _trades(self, request: Request, creds: ApiKey) -> JSON:
        query = request.query
        if query.get("maker_address", creds.address).lower() != creds.address.lower():
            return _page([], query.get("next_cursor"), self.page_size)
        after, before = _unix_param(query, "after"), _unix_param(query, "before")
        trades = [
            trade
            for trade in self.venue.trades(creds.address, condition_id=query.get("market") or None)
            if query.get("asset_id") in (None, "", trade.token_id)
            and query.get("id") in (None, "", trade.trade_id)
            and (after is None or _unix(trade.at) >= after)
            and (before is None or _unix(trade.at) <= before)
        ]
        data = [self._trade_json(trade, creds) for trade in trades]
        return _page(data, query.get("next_cursor"), self.page_size)

    def _balance_allowance(self, request: Request, creds: ApiKey) -> JSON:
        asset_type = request.query.get("asset_type", "").upper()
        held = self.venue.balances(creds.address)
        if asset_type == "COLLATERAL":
            balance = held.collateral
        elif asset_type == "CONDITIONAL":
            token_id = self._token(request)
            with _venue_errors(not_found=400):
                self.venue.market_of_token(token_id)
            balance = held.tokens.get(token_id, ZERO)
        else:
            raise ApiError(400, "Invalid asset type")
        spenders = (
            self._contracts.exchange_v2,
            self._contracts.neg_risk_exchange_v2,
            self._contracts.neg_risk_adapter,
        )
        return {"balance": _units(balance), "allowances": dict.fromkeys(spenders, MAX_ALLOWANCE)}

    def _scoring(self, creds: ApiKey, order_id: str) -> bool:
        """Whether a resting order earns liquidity rewards now (the domain's reward score)."""
        order = self.venue.get_order(order_id, creds.address)
        if order is None or order.status is not OrderStatus.LIVE:
            return False
        with _venue_errors():
            market = self.venue.market_of_token(order.token_id)
        intent = OrderIntent(
            token=market.token_of(order.token_id),
            side=order.side,
            price=order.price,
            size=order.remaining,
        )
        scores = order_side_scores(
            [intent],
            self._midpoint(market.yes_token_id),
            market.rewards_max_spread_cents,
            market.rewards_min_size,
        )
        return any(score > 0 for score in scores)

    def _order_scoring(self, request: Request, creds: ApiKey) -> JSON:
        order_id = request.query.get("order_id")
        if not order_id:
            raise ApiError(400, "Invalid order id")
        return {"scoring": self._scoring(creds, order_id)}

    def _orders_scoring(self, request: Request, creds: ApiKey) -> JSON:
        payload = request.json()
        if not isinstance(payload, list) or not all(isinstance(i, str) for i in payload):
            raise ApiError(400, "Invalid payload")
        return {order_id: self._scoring(creds, order_id) for order_id in payload}

    # --- admin ---

    def _set_faults(self, request: Request) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict):
            raise ApiError(400, "faults: expected a JSON object")
        try:
            faults = Faults.model_validate({**self.faults.model_dump(), **payload})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ApiError(
                400, f"faults: {'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        self.set_faults(faults)
        return faults.model_dump()

    def _advance(self, request: Request) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict):
            raise ApiError(400, 'advance: expected {"seconds": n} or {"to": iso}')
        try:
            if "seconds" in payload:
                target = self.venue.now() + timedelta(seconds=float(payload["seconds"]))
            else:
                target = datetime.fromisoformat(str(payload["to"]))
        except (KeyError, ValueError, TypeError):
            raise ApiError(400, 'advance: expected {"seconds": n} or {"to": iso}') from None
        if target.tzinfo is None:
            raise ApiError(400, "advance: the time needs a timezone")
        self.venue.advance_to(target)
        return {"now": self.venue.now().isoformat()}

    def _set_tick_size(self, request: Request) -> JSON:
        payload = request.json() or {}
        try:
            condition_id, tick = str(payload["condition_id"]), Decimal(str(payload["tick_size"]))
        except (KeyError, TypeError, ArithmeticError):
            raise ApiError(
                400, 'tick-size: expected {"condition_id": id, "tick_size": t}'
            ) from None
        try:
            with _venue_errors():
                self.venue.set_tick_size(condition_id, tick)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return {"condition_id": condition_id, "tick_size": _dec(tick)}

    def _fail_trade(self, request: Request) -> JSON:
        payload = request.json() or {}
        if not isinstance(payload, dict) or not isinstance(payload.get("trade_id"), str):
            raise ApiError(400, 'fail-trade: expected {"trade_id": id}')
        with _venue_errors():
            trade = self.venue.fail_trade(payload["trade_id"])
        return trade.model_dump(mode="json")


def _decode_amounts(order: dict[str, Any], order_id: str) -> tuple[Side, Decimal, Decimal]:
    """Side, price and size from the signed amounts (6-decimal fixed point).

    A BUY gives `makerAmount` collateral for `takerAmount` tokens, a SELL the reverse.
    """
    try:
        side = Side(str(order["side"]).upper())
        maker, taker = int(order["makerAmount"]), int(order["takerAmount"])
    except (KeyError, ValueError):
        raise ApiError(400, "Invalid order payload") from None
    collateral, tokens = (maker, taker) if side is Side.BUY else (taker, maker)
    if collateral <= 0 or tokens <= 0:
        raise ApiError(400, f"order {order_id} is invalid. Amounts must be positive")
    return side, Decimal(collateral) / Decimal(tokens), Decimal(tokens) / UNITS


def _unix_param(query: dict[str, str], name: str) -> int | None:
    text = query.get(name)
    if not text:
        return None
    if not text.isdigit():
        raise ApiError(400, f"invalid {name}: expected unix seconds")
    return int(text)


def _expiration(order: dict[str, Any], order_id: str) -> int:
    try:
        expiration = int(order.get("expiration") or 0)
    except ValueError:
        raise ApiError(400, f"order {order_id} is invalid. Invalid expiration") from None
    if expiration < 0:
        raise ApiError(400, f"order {order_id} is invalid. Invalid expiration")
    return expiration


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SimServer) -> None:
        self.app = app
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's pooled httpx expects
    # Headers and body go out in two writes; with Nagle on, each answer would wait ~40 ms for
    # the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.app._connections_lock:
            self.server.app._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.app._connections_lock:
            self.server.app._connections.discard(self.connection)
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

"""ClobExchange: the Exchange protocol on py-clob-client-v2 (Polymarket CLOB V2, or the simulator).

- Reads on a liquidation's hot path (book, open orders, trades, an order) run on the event loop
  (clob_http.AsyncReads: the SDK's requests and answers, without its threads); every other
  SDK call is blocking and runs in a thread (`asyncio.to_thread`). The client's
  `retry_on_error` stays off (it re-POSTs orders after a 5xx).
- The SDK sends all HTTP through one module-level httpx client; `configure_http_timeout` sets
  its timeout for the whole process (tests use a short one).
- Placement is idempotent by `PlaceOrder.key`. Polymarket has no client order id, so the order
  is signed by us with its free fields taken from the key: salt = hash of the key, timestamp =
  `request.signed_at` (else the first attempt's time, kept in memory). The same key therefore
  always signs the same order, whose id is its EIP-712 hash, known before the POST. A retry
  (and any placement with `signed_at`, which may follow a crash) first looks that id up and
  returns the venue's order if it has one; only otherwise does it POST.
- Tick size and neg-risk are cached for a short TTL and dropped on a tick-size rejection.
- Secrets stay inside the SDK client: never in a log line, an error text or this repr.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import contextvars
import hashlib
import logging
import math
import random
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from eth_account import Account
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    OrderMarketCancelParams,
    OrderPayload,
    PostOrdersV2Args,
    PricesHistoryParams,
)
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.constants import BYTES32_ZERO
from py_clob_client_v2.endpoints import (
    GET_MARKET,
    GET_NEG_RISK,
    GET_ORDER,
    GET_ORDER_BOOK,
    GET_REWARDS_MARKETS_CURRENT,
    GET_TICK_SIZE,
    ORDERS,
    TRADES,
)
from py_clob_client_v2.exceptions import PolyException
from py_clob_client_v2.http_helpers import helpers as sdk_http
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side as SdkSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2

from dualmm.config import ProcessSettings
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo, Side
from dualmm.exchange.base import (
    UNITS,
    AuthError,
    Balances,
    Book,
    ExchangeError,
    FillPage,
    InvalidOrder,
    MergeJournal,
    MergeReport,
    NotFound,
    NotSupported,
    Order,
    OrderStatus,
    PlaceOrder,
    PricePoint,
    RateLimited,
    RewardMarket,
    VenueUnavailable,
    Wake,
)
from dualmm.exchange.chain import ChainMerger
from dualmm.exchange.clob_http import AsyncReads, all_pages_async, sdk_headers
from dualmm.exchange.clob_wire import (
    all_pages,
    book_of,
    dec,
    listed_resolution,
    market_info,
    order_status,
    parse_order,
    reward_market,
    trade_fills,
    utc_now,
)
from dualmm.exchange.errors import classify, from_sdk, is_duplicate, is_tick_error, venue_message
from dualmm.exchange.market_channel import POLYMARKET_MARKET_CHANNEL, MarketChannel, market_key
from dualmm.exchange.rate_limit import GENERAL, RateLimiter, process_limiter
from dualmm.exchange.user_channel import (
    POLYMARKET_USER_CHANNEL,
    ChannelCreds,
    UserChannelListener,
)
from dualmm.exchange.wake import FillWaker
from dualmm.logs import redact

POLYMARKET_HOST = "https://clob.polymarket.com"
META_TTL_SECONDS = 30.0
MAX_LISTINGS = 1_000  # markets whose listing (resolved or not) is kept (the oldest goes first)
# Fills are asked for again from this long before the cursor, so a trade that turns FAILED after
# it was first reported is seen again (consumers deduplicate by trade id).
FILL_OVERLAP_SECONDS = 3600
_JOURNAL_LIMIT = 50_000
HEARTBEAT_SECONDS = 5.0  # well inside the venue's ~10 s dead-man timeout
# Start-up: attempts to derive-or-create the API key, the first retry this long after a
# refused create (doubling, jittered): two workers starting together race to create it.
CREDENTIAL_ATTEMPTS = 5
CREDENTIAL_BACKOFF_SECONDS = 0.5
logger = logging.getLogger(__name__)
_Value = TypeVar("_Value")


def user_channel_url(settings: ProcessSettings) -> str | None:
    """Where the user channel of `settings`' venue is: DUALMM_USER_CHANNEL_URL, Polymarket's,
    or `/ws/user` on the CLOB URL's host (the simulator's); None when switched off."""
    if not settings.user_channel:
        return None
    return _channel_url(settings, settings.user_channel_url, POLYMARKET_USER_CHANNEL, "user")


def market_channel_url(settings: ProcessSettings) -> str | None:
    """Where the market channel of `settings`' venue is: DUALMM_MARKET_CHANNEL_URL,
    Polymarket's, or `/ws/market` on the CLOB URL's host (the simulator's); None when off."""
    if not settings.market_channel:
        return None
    return _channel_url(settings, settings.market_channel_url, POLYMARKET_MARKET_CHANNEL, "market")


def _channel_url(settings: ProcessSettings, chosen: str | None, polymarket: str, name: str) -> str:
    if chosen:
        return chosen
    if settings.clob_url.rstrip("/") == POLYMARKET_HOST:
        return polymarket
    parts = urlsplit(settings.clob_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws/{name}"


# The rate-limit bucket (dualmm.exchange.rate_limit) of each SDK call the adapter makes.
_SDK_ENDPOINTS = {
    "post_order": "POST /order",
    "post_orders": "POST /orders",
    "cancel_order": "DELETE /order",
    "cancel_orders": "DELETE /orders",
    "cancel_all": "DELETE /cancel-all",
    "cancel_market_orders": "DELETE /cancel-market-orders",
    "get_midpoint": "GET /midpoint",
    "get_prices_history": "GET /prices-history",
    "get_balance_allowance": "GET /balance-allowance",
    "derive_api_key": "API key",
    "create_api_key": "API key",
}
_PATH_ENDPOINTS = {GET_TICK_SIZE: "GET /tick-size", GET_NEG_RISK: "GET /neg-risk"}


def configure_http_timeout(seconds: float) -> None:
    """Set the timeout of py-clob-client-v2's process-wide httpx client
    (`py_clob_client_v2.http_helpers.helpers._http_client`, 5 s by default), and have it
    keep each answer's Retry-After (the SDK's exceptions drop the headers)."""
    client = sdk_http._http_client
    client.timeout = httpx.Timeout(seconds)
    hooks = client.event_hooks
    if _keep_retry_after not in hooks["response"]:
        client.event_hooks = {**hooks, "response": [*hooks["response"], _keep_retry_after]}


# Pauses (seconds) before asking a read again after a 5xx or 429: well inside the shortest
# heartbeat timeout (5 s), so a retried read never starves an activity's heartbeat.
_READ_RETRY_PAUSES = (0.1, 0.2, 0.4)
_last_answer = threading.local()  # per SDK thread: the Retry-After of its latest answer


def _keep_retry_after(response: httpx.Response) -> None:
    _last_answer.retry_after = response.headers.get("Retry-After")


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking SDK call in a thread, mapping its errors to the protocol's."""
    return await asyncio.to_thread(_mapped, fn, *args)


def _mapped(fn: Callable[..., Any], *args: Any) -> Any:
    _last_answer.retry_after = None
    try:
        return fn(*args)
    except PolyException as exc:
        raise from_sdk(exc, getattr(_last_answer, "retry_after", None)) from None
    except binascii.Error:
        raise AuthError("the API secret is not valid base64") from None


def _to_units(amount: Decimal) -> str:
    units = amount * UNITS
    if units != units.to_integral_value():
        raise InvalidOrder(f"amount {amount} has more than 6 decimals")
    return str(int(units))


def key_salt(key: str) -> int:
    """The order salt for an idempotency key (48 bits: exact in JSON numbers everywhere)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big")


# --- the adapter ------------------------------------------------------------------------------


def _as_answered(response: Any) -> Any:
    return response


@dataclass
class _Pending:
    """One idempotency key: the order it signs, and whether the venue may already have it."""

    fields: tuple[object, ...]
    signed: Any
    order_id: str
    may_exist: bool


class ClobExchange:
    """The Exchange protocol over py-clob-client-v2 (see the module docstring)."""

    def __init__(
        self,
        client: ClobClient,
        *,
        meta_ttl_seconds: float = META_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        user_channel_url: str | None = None,
        market_channel_url: str | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        # post_order would poll /data/trades for up to 30 s for the settlement hashes of a
        # matched order: the bot reads its trades later anyway, so a placement never waits.
        client._resolve_transactions_hashes = _as_answered
        self._client = client
        self._ttl = meta_ttl_seconds
        self._clock = clock
        self._ticks: dict[str, tuple[float, Decimal]] = {}
        self._neg_risk: dict[str, tuple[float, bool]] = {}
        # condition id -> (read again after, its resolution as listed)
        self._listings: dict[str, tuple[float, MarketResolution | None]] = {}
        self._journal: OrderedDict[str, _Pending] = OrderedDict()
        self._key_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._keep_alive: asyncio.Task[None] | None = None
        self._last_beat = -math.inf  # clock seconds of the last beat that got through
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self._quiet_until = 0.0  # no request before this (clock seconds): a 429's Retry-After
        self._reads = AsyncReads()
        self._waker = FillWaker()
        self.user_channel = (
            UserChannelListener(user_channel_url, self._channel_creds, self._waker)
            if user_channel_url
            else None
        )
        self._limits = rate_limiter or process_limiter()
        self.market_channel = (
            MarketChannel(market_channel_url, self._rest_book, self._waker)
            if market_channel_url
            else None
        )
        self._merger: ChainMerger | None = None
        self._cannot_merge = "merging pairs needs a trading key (this client is read-only)"

    def __repr__(self) -> str:
        return f"ClobExchange(host={self._client.host!r})"

    async def close(self) -> None:
        """Close the reads' connections and the user channel (a worker shutting down)."""
        await self._reads.aclose()
        if self.user_channel is not None:
            await self.user_channel.close()
        if self.market_channel is not None:
            await self.market_channel.close()

    @classmethod
    async def connect(cls, settings: ProcessSettings, *, read_only: bool = False) -> ClobExchange:
        """An adapter for `settings`. Trading: the L1 private key, plus L2 API credentials from
        settings or created/derived from the key. `read_only`: no key at all (public data)."""
        configure_http_timeout(settings.clob_timeout_seconds)
        host = settings.clob_url
        if read_only:
            return cls(ClobClient(host, settings.chain_id))
        if settings.private_key is None:
            raise AuthError("no private key configured (DUALMM_PRIVATE_KEY)")
        try:
            client = ClobClient(
                host,
                settings.chain_id,
                key=settings.private_key.get_secret_value(),
                signature_type=settings.signature_type,
                funder=settings.funder,
            )
        except (ValueError, TypeError):
            raise AuthError("the configured private key is not a valid key") from None
        given = (settings.api_key, settings.api_secret, settings.api_passphrase)
        if all(part is not None for part in given):
            api_key, secret, passphrase = (p.get_secret_value() for p in given if p is not None)
            creds = ApiCreds(api_key=api_key, api_secret=secret, api_passphrase=passphrase)
        else:
            creds = await cls._api_creds(client)
            redact(creds.api_key, creds.api_secret, creds.api_passphrase)  # never in a log line
        client.set_api_creds(creds)
        exchange = cls(
            client,
            user_channel_url=user_channel_url(settings),
            market_channel_url=market_channel_url(settings),
        )
        exchange._set_up_merges(settings)
        return exchange

    def _set_up_merges(self, settings: ProcessSettings) -> None:
        """On-chain merges for an EOA wallet with a Polygon RPC endpoint; else why not."""
        if settings.signature_type != SignatureTypeV2.EOA:
            self._cannot_merge = (
                f"merging pairs on-chain needs an EOA wallet (signature type 0), not signature "
                f"type {settings.signature_type} (a proxy or Safe wallet): use an EOA, or merge "
                "the pairs on polymarket.com"
            )
            return
        if settings.polygon_rpc_url is None or settings.private_key is None:
            self._cannot_merge = (
                "merging pairs on-chain needs a Polygon RPC endpoint: set DUALMM_POLYGON_RPC_URL"
            )
            return
        contracts = get_contract_config(settings.chain_id)
        self._merger = ChainMerger(
            Account.from_key(settings.private_key.get_secret_value()),
            settings.polygon_rpc_url.get_secret_value(),
            conditional_tokens=contracts.conditional_tokens,
            neg_risk_adapter=contracts.neg_risk_adapter,
            chain_id=settings.chain_id,
        )

    @classmethod
    async def _api_creds(cls, client: ClobClient) -> ApiCreds:
        """Derive the key (an idempotent GET); create it only when there is none yet. (The
        SDK's create_or_derive swallows the create's error: a 5xx or 429 on the create then
        surfaced as a non-retryable 400 from the derive, and the worker gave up.)

        Two processes starting at once with one key both find none and both create it; the
        venue refuses the second create (400: one key per address and nonce). That refusal
        is transient: derive again, with backoff (a venue may show a new key a moment late).
        Transport errors, 5xx and 429 propagate as retryable; a 401 as AuthError."""
        refused: ExchangeError | None = None
        for attempt in range(CREDENTIAL_ATTEMPTS):
            if attempt:
                delay = CREDENTIAL_BACKOFF_SECONDS * 2 ** (attempt - 1)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            try:
                derived: ApiCreds = await _in_thread(client.derive_api_key)
                return derived
            except (InvalidOrder, NotFound):  # no key for this address yet
                pass
            try:
                created: ApiCreds = await _in_thread(client.create_api_key)
                return created
            except (InvalidOrder, NotFound) as exc:  # another process created it meanwhile
                refused = exc
                logger.info("API key not created (%s): deriving it again", exc)
        raise AuthError(
            f"no API key for this private key after {CREDENTIAL_ATTEMPTS} attempts "
            f"to derive or create one: {refused}"
        )

    async def _call(
        self, request: Callable[[], Awaitable[Any]], endpoint: str | None = GENERAL, cost: int = 1
    ) -> Any:
        """One request to the venue (its errors the protocol's), once `endpoint`'s rate limit
        lets it go (`cost`: a batch's orders; None: `request` takes its own tokens). After a
        429 every request first waits out the venue's Retry-After."""
        if endpoint is not None:
            await self._limits.acquire(endpoint, cost)
        wait = self._quiet_until - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await request()
        except RateLimited as exc:
            if exc.retry_after:
                self._quiet_until = max(self._quiet_until, self._clock() + exc.retry_after)
            raise

    async def _sdk(self, fn: Callable[..., Any], *args: Any, cost: int = 1) -> Any:
        """A blocking SDK call, in a thread."""
        endpoint = _SDK_ENDPOINTS.get(getattr(fn, "__name__", ""), GENERAL)
        return await self._call(lambda: _in_thread(fn, *args), endpoint, cost)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`_sdk` for a read: see `_read_async`."""
        endpoint = _SDK_ENDPOINTS.get(getattr(fn, "__name__", ""), GENERAL)
        if args and isinstance(args[0], str) and args[0] in _PATH_ENDPOINTS:
            endpoint = _PATH_ENDPOINTS[args[0]]
        return await self._read_async(lambda: _in_thread(fn, *args), endpoint)

    async def _read_async(
        self, read: Callable[[], Awaitable[Any]], endpoint: str | None = GENERAL
    ) -> Any:
        """A read (a GET: asking again changes nothing): a 5xx or 429 is asked again after a
        short pause (a 429 first waits out its Retry-After) before it fails the activity.
        One bad answer in ten would otherwise fail most multi-request activities (a market
        pick reads ~15 pages) and leave the bot idle on Temporal's backoff."""
        for pause in _READ_RETRY_PAUSES:
            try:
                return await self._call(read, endpoint)
            except (VenueUnavailable, RateLimited):
                await asyncio.sleep(pause)
        return await self._call(read, endpoint)

    async def _l2_get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """An authenticated GET (L2 headers signed for `path`)."""
        client = self._client
        headers = sdk_headers(lambda: client._l2_headers("GET", path))
        return await self._reads.get(f"{client.host}{path}", headers, params)

    def _get_token_param(self, path: str, token_id: str) -> Any:
        return sdk_http.get(f"{self._client.host}{path}", params={"token_id": token_id})

    # --- market data ----------------------------------------------------------------------

    async def reward_markets(self) -> list[RewardMarket]:
        host = self._client.host
        current = await self._read(
            all_pages,
            lambda cursor: sdk_http.get(
                f"{host}{GET_REWARDS_MARKETS_CURRENT}", params={"next_cursor": cursor}
            ),
        )
        sampling = await self._read(all_pages, self._client.get_sampling_markets)
        terms = {str(entry["condition_id"]): entry for entry in current}
        return [
            reward_market(raw, terms.get(str(raw["condition_id"])))
            for raw in sampling
            if len(raw.get("tokens") or []) == 2
        ]

    async def market(self, condition_id: str) -> MarketInfo:
        raw = await self._read(self._client.get_market, condition_id)
        if not raw:
            raise NotFound(f"market {condition_id} not found")
        info = market_info(raw)
        expires = self._clock() + self._ttl
        for token in (info.yes_token_id, info.no_token_id):
            self._ticks[token] = (expires, info.tick_size)
            self._neg_risk[token] = (expires, info.neg_risk)
        return info

    async def listed_resolution(self, condition_id: str) -> MarketResolution | None:
        """Read on the event loop, as the rest of a liquidation's check (no thread). An open
        market is read again after the metadata TTL (the market channel, where there is one,
        announces a resolution at once); a resolution is final."""
        cached = self._listings.get(condition_id)
        if cached is not None and (cached[1] is not None or cached[0] > self._clock()):
            return cached[1]
        url = f"{self._client.host}{GET_MARKET}{condition_id}"
        raw = await self._read_async(lambda: self._reads.get(url), GENERAL)
        if not raw:
            raise NotFound(f"market {condition_id} not found")
        resolution = listed_resolution(raw)
        if len(self._listings) >= MAX_LISTINGS and condition_id not in self._listings:
            self._listings.pop(next(iter(self._listings)))
        self._listings[condition_id] = (self._clock() + self._ttl, resolution)
        return resolution

    async def book(self, token_id: str) -> Book:
        """The market channel's local book while it is live, else the REST book."""
        channel = self.market_channel
        local = channel.live_book(token_id) if channel is not None else None
        if local is not None and local.tick_size is not None and local.min_order_size is not None:
            return local.as_book(local.tick_size, local.min_order_size)
        return await self._rest_book(token_id)

    async def _rest_book(self, token_id: str) -> Book:
        url = f"{self._client.host}{GET_ORDER_BOOK}"
        raw = await self._read_async(
            lambda: self._reads.get(url, params={"token_id": token_id}), "GET /book"
        )
        book = book_of(raw, token_id)
        self._ticks[token_id] = (self._clock() + self._ttl, book.tick_size)
        return book

    async def midpoint(self, token_id: str) -> Decimal:
        raw = await self._read(self._client.get_midpoint, token_id)
        return dec(raw["mid"] if "mid" in raw else raw["mid_price"])  # the SDK's, the docs' name

    async def tick_size(self, token_id: str) -> Decimal:
        return await self._token_param(
            self._ticks, GET_TICK_SIZE, token_id, lambda raw: dec(raw["minimum_tick_size"])
        )

    async def neg_risk(self, token_id: str) -> bool:
        return await self._token_param(
            self._neg_risk, GET_NEG_RISK, token_id, lambda raw: bool(raw["neg_risk"])
        )

    async def _token_param(
        self,
        cache: dict[str, tuple[float, _Value]],
        path: str,
        token_id: str,
        value: Callable[[Any], _Value],
    ) -> _Value:
        """A token's parameter as the venue last gave it, read again once `_ttl` has passed."""
        cached = cache.get(token_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        fresh = value(await self._read(self._get_token_param, path, token_id))
        cache[token_id] = (self._clock() + self._ttl, fresh)
        return fresh

    async def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        params = PricesHistoryParams(
            market=token_id,
            start_ts=int(start.timestamp()),
            end_ts=int(end.timestamp()),
            fidelity=fidelity_minutes,
        )
        raw = await self._read(self._client.get_prices_history, params)
        return [
            PricePoint(at=datetime.fromtimestamp(int(point["t"]), UTC), price=dec(point["p"]))
            for point in raw.get("history") or []
        ]

    # --- orders ---------------------------------------------------------------------------

    async def place_order(self, request: PlaceOrder) -> Order:
        async with self._key_locks[request.key]:
            return await self._place(request)

    async def _place(self, request: PlaceOrder) -> Order:
        pending = await self._prepare(request)
        if pending.may_exist:
            existing = await self._find(request, pending.order_id)
            if existing is not None:
                return existing
        await self._check_tick(request)
        pending.may_exist = True  # from the POST on, the venue may have it even if we hear nothing
        try:
            answer = await self._sdk(
                self._client.post_order,
                pending.signed,
                request.order_type.value,
                request.post_only,
            )
        except ExchangeError as exc:
            return await self._after_rejection(request, pending, exc)
        return await self._answered(request, pending, answer)

    async def _prepare(self, request: PlaceOrder) -> _Pending:
        """The key's signed order (signed now the first time)."""
        fields = (
            request.token_id,
            request.side,
            request.price,
            request.size,
            request.order_type,
            request.expiration,
            request.post_only,
        )
        pending = self._journal.get(request.key)
        if pending is None:
            pending = await self._sign(request, fields)
            self._remember(request.key, pending)
        elif pending.fields != fields:
            raise InvalidOrder(f"key {request.key!r} was already used for a different order")
        return pending

    async def _check_tick(self, request: PlaceOrder) -> None:
        tick = await self.tick_size(request.token_id)
        if not request.price_fits(tick):  # the tick may have changed since we cached it
            self._ticks.pop(request.token_id, None)
            tick = await self.tick_size(request.token_id)
        request.check_price_and_size(tick)

    async def _answered(self, request: PlaceOrder, pending: _Pending, answer: Any) -> Order:
        """The order a POST's answer (one entry of a batch's) says was made."""
        if answer is None:
            raise VenueUnavailable(f"no answer for order {pending.order_id}")
        if isinstance(answer, dict) and (answer.get("success") is False or answer.get("errorMsg")):
            return await self._after_rejection(
                request, pending, classify(400, venue_message(answer))
            )
        if isinstance(answer, dict) and answer.get("orderID"):
            pending.order_id = str(answer["orderID"])  # the venue's id wins
        status = order_status(answer.get("status") if isinstance(answer, dict) else None)
        if status is OrderStatus.LIVE:
            return request.new_order(pending.order_id, request.signed_at or utc_now())
        placed = await self._find(request, pending.order_id)
        if placed is None:  # matched, yet neither the order nor its trades show: ask again later
            raise VenueUnavailable(f"order {pending.order_id} matched but is not visible yet")
        return placed

    async def _after_rejection(
        self, request: PlaceOrder, pending: _Pending, error: ExchangeError
    ) -> Order:
        message = str(error)
        if is_duplicate(message):
            existing = await self._find(request, pending.order_id)
            if existing is not None:
                return existing
            raise VenueUnavailable(f"the venue has order {pending.order_id} but does not show it")
        if is_tick_error(message):
            self._ticks.pop(request.token_id, None)
        if not error.retryable:
            # The venue answered no: nothing rests under this key, a later try may post again.
            pending.may_exist = False
        raise error

    async def _find(self, request: PlaceOrder, order_id: str) -> Order | None:
        """The venue's order, or, when it shows nothing (it may not for a fully matched
        order), the order as its trades tell it; None when neither knows it."""
        order = await self.get_order(order_id)
        if order is not None:
            return order
        trades = await self._trades({"market": request.market.condition_id})
        api_key = self._client.creds.api_key
        address = str(self._client.builder.funder)
        matched = sum(
            (
                fill.size
                for trade in trades
                for fill in trade_fills(trade, request.market, api_key, address)
                if fill.order_id == order_id and fill.status != "FAILED"
            ),
            Decimal(0),
        )
        if matched <= 0:
            return None
        # Not shown as live, so whatever did not match is gone.
        full = matched >= request.size
        return request.new_order(order_id, request.signed_at or utc_now()).model_copy(
            update={
                "size_matched": min(matched, request.size),
                "status": OrderStatus.MATCHED if full else OrderStatus.CANCELED,
            }
        )

    def _remember(self, key: str, pending: _Pending) -> None:
        self._journal[key] = pending
        while len(self._journal) > _JOURNAL_LIMIT:
            oldest, _ = self._journal.popitem(last=False)
            lock = self._key_locks.get(oldest)
            if lock is not None and not lock.locked():
                del self._key_locks[oldest]

    async def _sign(self, request: PlaceOrder, fields: tuple[object, ...]) -> _Pending:
        neg_risk = await self.neg_risk(request.token_id)
        signed_at = request.signed_at or utc_now()
        timestamp_ms = int(signed_at.timestamp() * 1000)
        signed, order_id = await asyncio.to_thread(
            self._signed_order, request, neg_risk, timestamp_ms
        )
        return _Pending(fields, signed, order_id, may_exist=request.signed_at is not None)

    def _signed_order(
        self, request: PlaceOrder, neg_risk: bool, timestamp_ms: int
    ) -> tuple[Any, str]:
        """The V2 order for this request, signed, and its id (the EIP-712 order hash)."""
        client = self._client
        if client.signer is None:
            raise AuthError("this exchange is read-only (no private key)")
        contracts = get_contract_config(client.chain_id)
        exchange = contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2
        salt = str(key_salt(request.key))
        builder = ExchangeOrderBuilderV2(
            exchange, client.chain_id, client.signer, generate_salt=lambda: salt
        )
        shares = _to_units(request.size)
        notional = _to_units(request.size * request.price)
        buy = request.side is Side.BUY
        signature_type = SignatureTypeV2(int(client.builder.signature_type))
        expiration = request.expiration
        data = OrderDataV2(
            maker=client.builder.funder,
            tokenId=request.token_id,
            makerAmount=notional if buy else shares,
            takerAmount=shares if buy else notional,
            side=SdkSide.BUY if buy else SdkSide.SELL,
            signer=(
                client.builder.funder
                if signature_type is SignatureTypeV2.POLY_1271
                else client.signer.address()
            ),
            signatureType=signature_type,
            timestamp=str(timestamp_ms),
            metadata=BYTES32_ZERO,
            builder=BYTES32_ZERO,
            expiration=str(int(expiration.timestamp())) if expiration is not None else "0",
        )
        signed = builder.build_signed_order(data)
        order_id = builder.build_order_hash(builder.build_order_typed_data(signed))
        return signed, str(order_id)

    async def cancel_order(self, order_id: str) -> None:
        try:
            answer = await self._sdk(self._client.cancel_order, OrderPayload(orderID=order_id))
        except NotFound:
            return
        refused = answer.get("not_canceled") or {} if isinstance(answer, dict) else {}
        if order_id in refused:
            # Usually "already gone"; only an order still live means the cancel failed.
            order = await self.get_order(order_id)
            if order is not None and order.status is OrderStatus.LIVE:
                raise VenueUnavailable(f"order {order_id} not cancelled: {refused[order_id]}")

    async def cancel_orders(self, order_ids: list[str]) -> None:
        """DELETE /orders: every id in one request (one, or none, go the single way)."""
        if len(order_ids) <= 1:
            for order_id in order_ids:
                await self.cancel_order(order_id)
            return
        answer = await self._sdk(self._client.cancel_orders, list(order_ids), cost=len(order_ids))
        refused = answer.get("not_canceled") or {} if isinstance(answer, dict) else {}
        for order_id in order_ids:
            if order_id in refused:
                order = await self.get_order(order_id)
                if order is not None and order.status is OrderStatus.LIVE:
                    raise VenueUnavailable(f"order {order_id} not cancelled: {refused[order_id]}")

    async def place_orders(self, requests: list[PlaceOrder]) -> list[Order | ExchangeError]:
        """POST /orders: the requests not placed yet in one request, idempotent by key as
        `place_order` is (an order the venue already has is returned, not posted again)."""
        if len(requests) <= 1 or len({r.post_only for r in requests}) > 1:
            return [await self._place_one(request) for request in requests]
        async with contextlib.AsyncExitStack() as locks:
            for key in sorted({r.key for r in requests}):  # always in the same order
                await locks.enter_async_context(self._key_locks[key])
            return await self._place_batch(requests)

    async def _place_one(self, request: PlaceOrder) -> Order | ExchangeError:
        try:
            return await self.place_order(request)
        except ExchangeError as exc:
            if exc.retryable:
                raise
            return exc

    async def _place_batch(self, requests: list[PlaceOrder]) -> list[Order | ExchangeError]:
        results: list[Order | ExchangeError | None] = [None] * len(requests)
        to_post: list[tuple[int, _Pending]] = []
        for index, request in enumerate(requests):
            try:
                pending = await self._prepare(request)
                if pending.may_exist:
                    existing = await self._find(request, pending.order_id)
                    if existing is not None:
                        results[index] = existing
                        continue
                await self._check_tick(request)
            except ExchangeError as exc:
                if exc.retryable:
                    raise
                results[index] = exc
                continue
            pending.may_exist = True
            to_post.append((index, pending))
        if to_post:
            args = [
                PostOrdersV2Args(order=p.signed, orderType=requests[i].order_type.value)
                for i, p in to_post
            ]
            try:
                answers = await self._sdk(
                    self._client.post_orders, args, requests[0].post_only, cost=len(args)
                )
            except ExchangeError as exc:
                for index, pending in to_post:
                    with contextlib.suppress(ExchangeError):
                        await self._after_rejection(requests[index], pending, exc)
                raise
            answers = answers if isinstance(answers, list) else []
            for position, (index, pending) in enumerate(to_post):
                answer = answers[position] if position < len(answers) else None
                try:
                    results[index] = await self._answered(requests[index], pending, answer)
                except ExchangeError as exc:
                    if exc.retryable:
                        raise
                    results[index] = exc
        return [r for r in results if r is not None]

    async def cancel_market(self, condition_id: str) -> None:
        await self._sdk(
            self._client.cancel_market_orders, OrderMarketCancelParams(market=condition_id)
        )

    async def reward_earnings(self, day: date) -> Decimal:
        raw = await self._read(self._client.get_total_earnings_for_user_for_day, day.isoformat())
        entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
        return sum(
            (dec(e.get("earnings") or 0) * dec(e.get("asset_rate") or 1) for e in entries),
            Decimal(0),
        )

    async def heartbeat(self) -> None:
        """Send a heartbeat, and from then on keep sending them every HEARTBEAT_SECONDS for as
        long as this process lives: the venue cancels our orders ~10 s after they stop, so a
        dead worker leaves nothing resting, while a live one between rounds keeps its orders.

        While that loop runs and its last beat got through within HEARTBEAT_SECONDS, a call
        sends nothing more: every liquidation check calls this, and a beat per check would be
        one more request per check to say what the loop already says."""
        beating = self._keep_alive is not None and not self._keep_alive.done()
        if beating and self._clock() - self._last_beat < self.heartbeat_seconds:
            return
        await self._beat()
        if not beating:
            # In a context of its own: it outlives the activity that started it, whose ids
            # its log lines must not carry.
            self._keep_alive = asyncio.create_task(
                self._beat_forever(), context=contextvars.Context()
            )

    async def _beat(self) -> None:
        await self._sdk(self._client.post_heartbeat)
        self._last_beat = self._clock()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._beat()
            except ExchangeError as exc:  # the next beat may get through; orders may not
                logger.warning("heartbeat not delivered: %s", exc)

    async def cancel_all(self) -> None:
        await self._sdk(self._client.cancel_all)

    def _channel_creds(self) -> ChannelCreds:
        creds = self._client.creds
        return ChannelCreds(creds.api_key, creds.api_secret, creds.api_passphrase)

    async def fill_mark(self, condition_id: str) -> int:
        return self._waker.mark(condition_id)

    async def wait_for_fill(self, condition_id: str, mark: int, timeout: float) -> bool:
        """Wait for the user channel to report a fill in the market (it connects on the first
        wait); the caller's poll interval is the fallback while it is down."""
        if self.user_channel is not None:
            self.user_channel.watch(condition_id)
        return await self._waker.wait(condition_id, mark, timeout)

    # --- the market channel (MarketFeed) ------------------------------------------------------

    async def market_live(self, condition_id: str) -> bool:
        return self.market_channel is not None and self.market_channel.live(condition_id)

    async def market_mark(self, condition_id: str) -> int:
        return self._waker.mark(market_key(condition_id))

    async def trades_seen(self, token_id: str) -> tuple[int, Decimal | None]:
        seen = self.market_channel.last_trade(token_id) if self.market_channel else None
        return (0, None) if seen is None else (seen.count, seen.price)

    async def market_resolution(self, condition_id: str) -> MarketResolution | None:
        return self.market_channel.resolution(condition_id) if self.market_channel else None

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        condition_id = market.condition_id
        if self.market_channel is not None:
            self.market_channel.want(condition_id, (market.yes_token_id, market.no_token_id))
        if self.user_channel is not None:
            self.user_channel.watch(condition_id)
        woke = await self._waker.wait_any(
            {condition_id: fill_mark, market_key(condition_id): market_mark}, timeout
        )
        if woke is None:
            return Wake.TIMEOUT
        return Wake.FILL if woke == condition_id else Wake.MARKET

    async def open_orders(self, condition_id: str | None = None) -> list[Order]:
        query = {"market": condition_id} if condition_id else {}
        return [parse_order(item) for item in await self._l2_list(ORDERS, query)]

    async def _l2_list(self, path: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of an authenticated list (/data/orders, /data/trades). The SDK's own
        loops stop only on "LTE=": see clob_wire.all_pages."""

        async def page(cursor: str) -> Any:
            await self._limits.acquire(f"GET {path}")  # each page is a request
            return await self._l2_get(path, {**query, "next_cursor": cursor})

        items: list[dict[str, Any]] = await self._read_async(
            lambda: all_pages_async(page), endpoint=None
        )
        return items

    async def get_order(self, order_id: str) -> Order | None:
        try:
            raw = await self._read_async(
                lambda: self._l2_get(f"{GET_ORDER}{order_id}"), "GET /data/order"
            )
        except NotFound:
            return None
        if not isinstance(raw, dict) or not raw.get("id"):
            return None
        return parse_order(raw)

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        """Our fills in `market` since `cursor` (unix seconds of the newest match seen), from
        FILL_OVERLAP_SECONDS before it, so later status changes (FAILED) are reported too."""
        since = int(cursor) if cursor else 0
        after = max(0, since - FILL_OVERLAP_SECONDS)
        query: dict[str, Any] = {"market": market.condition_id}
        if after:
            query["after"] = after
        trades = await self._trades(query)
        api_key = self._client.creds.api_key
        address = str(self._client.builder.funder)
        fills = [
            fill
            for trade in trades
            for fill in trade_fills(trade, market, api_key, address)
            if fill.at.timestamp() >= after
        ]
        fills.sort(key=lambda fill: (fill.at, fill.trade_id))
        newest = max((int(fill.at.timestamp()) for fill in fills), default=since)
        return FillPage(fills=tuple(fills), cursor=str(max(since, newest)))

    async def _trades(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Every trade matching `query` (AuthError when read-only)."""
        return await self._l2_list(TRADES, query)

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, journal: MergeJournal | None = None
    ) -> MergeReport:
        """`mergePositions` on Polygon for an EOA wallet (dualmm.exchange.chain), signed once
        and kept in `journal` for a retry. Without a way to merge (a proxy or Safe wallet, no
        RPC endpoint) NotSupported: the liquidation sells the net position and leaves the
        pairs for polymarket.com or resolution."""
        if self._merger is None:
            raise NotSupported(self._cannot_merge)
        neg_risk = await self.neg_risk(market.yes_token_id)
        return await self._merger.merge(market, qty, key, neg_risk, journal or MergeJournal())

    async def balances(self, token_ids: list[str]) -> Balances:
        collateral = await self._balance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
        tokens = {
            token_id: await self._balance(
                BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token_id)
            )
            for token_id in token_ids
        }
        return Balances(collateral=collateral, tokens=tokens)

    async def _balance(self, params: BalanceAllowanceParams) -> Decimal:
        raw = await self._read(self._client.get_balance_allowance, params)
        return dec(raw["balance"]) / UNITS

"""The request plumbing under ClobExchange: its state, rate limits and the venue's answers.

Reads on a liquidation's hot path (book, open orders, trades, an order) run on the event loop
(clob_http.AsyncReads: the SDK's requests and answers, without its threads); every other
SDK call is blocking and runs in a thread (`asyncio.to_thread`). The client's
`retry_on_error` stays off (it re-POSTs orders after a 5xx).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.endpoints import GET_NEG_RISK, GET_ORDER_BOOK, GET_TICK_SIZE, TRADES
from py_clob_client_v2.http_helpers import helpers as sdk_http

from dualmm.domain.market_moves import MarketResolution
from dualmm.exchange.base import Book, RateLimited, VenueUnavailable
from dualmm.exchange.chain import ChainMerger
from dualmm.exchange.clob_http import AsyncReads, all_pages_async, in_thread, sdk_headers
from dualmm.exchange.clob_wire import book_of
from dualmm.exchange.market_channel import MarketChannel
from dualmm.exchange.rate_limit import GENERAL, RateLimiter, process_limiter
from dualmm.exchange.user_channel import ChannelCreds, UserChannelListener
from dualmm.exchange.wake import FillWaker

META_TTL_SECONDS = 30.0
HEARTBEAT_SECONDS = 5.0  # well inside the venue's ~10 s dead-man timeout


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

# Pauses (seconds) before asking a read again after a 5xx or 429: well inside the shortest
# heartbeat timeout (5 s), so a retried read never starves an activity's heartbeat.
_READ_RETRY_PAUSES = (0.1, 0.2, 0.4)


def _as_answered(response: Any) -> Any:
    return response


@dataclass
class Pending:
    """One idempotency key: the order it signs, and whether the venue may already have it."""

    fields: tuple[object, ...]
    signed: Any
    order_id: str
    may_exist: bool


class ClobCore:
    """What every part of ClobExchange shares: the SDK client, caches, channels and requests."""

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
        self._journal: OrderedDict[str, Pending] = OrderedDict()
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
        return await self._call(lambda: in_thread(fn, *args), endpoint, cost)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`_sdk` for a read: see `_read_async`."""
        endpoint = _SDK_ENDPOINTS.get(getattr(fn, "__name__", ""), GENERAL)
        if args and isinstance(args[0], str) and args[0] in _PATH_ENDPOINTS:
            endpoint = _PATH_ENDPOINTS[args[0]]
        return await self._read_async(lambda: in_thread(fn, *args), endpoint)

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

    async def _trades(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Every trade matching `query` (AuthError when read-only)."""
        return await self._l2_list(TRADES, query)

    async def _rest_book(self, token_id: str) -> Book:
        url = f"{self._client.host}{GET_ORDER_BOOK}"
        raw = await self._read_async(
            lambda: self._reads.get(url, params={"token_id": token_id}), "GET /book"
        )
        book = book_of(raw, token_id)
        self._ticks[token_id] = (self._clock() + self._ttl, book.tick_size)
        return book

    def _channel_creds(self) -> ChannelCreds:
        creds = self._client.creds
        return ChannelCreds(creds.api_key, creds.api_secret, creds.api_passphrase)

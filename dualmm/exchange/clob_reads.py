"""ClobExchange's reads: market data (listings, books, ticks, prices) and the account's
orders, fills, rewards and balances.

Tick size and neg-risk are cached for a short TTL and dropped on a tick-size rejection.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from py_clob_client_v2.clob_types import AssetType, BalanceAllowanceParams, PricesHistoryParams
from py_clob_client_v2.endpoints import (
    GET_MARKET,
    GET_NEG_RISK,
    GET_ORDER,
    GET_REWARDS_MARKETS_CURRENT,
    GET_TICK_SIZE,
    ORDERS,
)
from py_clob_client_v2.http_helpers import helpers as sdk_http

from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import (
    UNITS,
    Balances,
    Book,
    FillPage,
    NotFound,
    Order,
    PricePoint,
    RewardMarket,
)
from dualmm.exchange.clob_core import ClobCore
from dualmm.exchange.clob_wire import (
    all_pages,
    dec,
    listed_resolution,
    market_info,
    parse_order,
    reward_market,
    trade_fills,
)
from dualmm.exchange.rate_limit import GENERAL

MAX_LISTINGS = 1_000  # markets whose listing (resolved or not) is kept (the oldest goes first)
# Fills are asked for again from this long before the cursor, so a trade that turns FAILED after
# it was first reported is seen again (consumers deduplicate by trade id).
FILL_OVERLAP_SECONDS = 3600
_Value = TypeVar("_Value")


class ClobReads(ClobCore):
    """The reads of the Exchange protocol."""

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

    async def open_orders(self, condition_id: str | None = None) -> list[Order]:
        query = {"market": condition_id} if condition_id else {}
        return [parse_order(item) for item in await self._l2_list(ORDERS, query)]

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

    async def reward_earnings(self, day: date) -> Decimal:
        raw = await self._read(self._client.get_total_earnings_for_user_for_day, day.isoformat())
        entries = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
        return sum(
            (dec(e.get("earnings") or 0) * dec(e.get("asset_rate") or 1) for e in entries),
            Decimal(0),
        )

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

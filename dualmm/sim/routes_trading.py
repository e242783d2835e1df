"""Trading endpoints behind L2 authentication: orders, cancels, open orders, trades, balances,
order scoring, and the API-key endpoints (L1 to create or derive a key, L2 to list or revoke)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from py_clob_client_v2.config import ContractConfig

from dualmm.domain.rewards import order_side_scores
from dualmm.domain.types import OrderIntent, Side
from dualmm.exchange.base import Order, OrderStatus, OrderType
from dualmm.sim.auth import OWNER_MISMATCH, ApiError, ApiKey, KeyRing
from dualmm.sim.heartbeats import Heartbeats
from dualmm.sim.routes_market_data import MarketDataRoutes
from dualmm.sim.venue import Liquidity, SimVenue, Trade, TradeStatus
from dualmm.sim.wire import (
    JSON,
    UNITS,
    ZERO,
    Request,
    Routes,
    dec,
    num,
    order_status,
    outcome,
    page,
    size,
    token_param,
    trade_status,
    tx_hash,
    units,
    unix,
    unix_param,
    venue_errors,
)

MAX_BATCH = 15
# Bounds no real order comes near: a billion shares or USDC (6 decimals), year 9999.
MAX_AMOUNT_UNITS = 10**15
MAX_EXPIRATION = 253_402_300_799
NOT_CANCELED = "order can't be found - already canceled or matched"
MAX_ALLOWANCE = str(2**256 - 1)


@dataclass(frozen=True)
class _Placement:
    """What the wire format needs about an order and the venue does not keep."""

    owner: str
    expiration: int


class Trading:
    """Orders, trades, balances and keys for the API-key wallets of a venue."""

    def __init__(
        self,
        venue: SimVenue,
        keys: KeyRing,
        market_data: MarketDataRoutes,
        contracts: ContractConfig,
        page_size: int,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.venue = venue
        self.heartbeats = heartbeats
        self.keys = keys
        self.market_data = market_data
        self._contracts = contracts
        self.page_size = page_size
        self._place_lock = threading.Lock()
        self._placements: dict[str, _Placement] = {}

    def routes(self) -> Routes:
        return Routes(
            exact={
                ("POST", "/auth/api-key"): self._create_api_key,
                ("GET", "/auth/derive-api-key"): self._derive_api_key,
            },
            prefix=[],
            keyed={
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
                ("POST", "/v1/heartbeats"): self._heartbeat,  # the SDK's path
                ("POST", "/heartbeats"): self._heartbeat,  # the docs' path
                ("GET", "/rewards/user"): self._earnings,
                ("GET", "/rewards/user/total"): self._total_earnings,
                ("GET", "/order-scoring"): self._order_scoring,
                ("POST", "/orders-scoring"): self._orders_scoring,
                ("GET", "/auth/api-keys"): self._api_keys,
                ("DELETE", "/auth/api-key"): self._delete_api_key,
                ("GET", "/auth/ban-status/closed-only"): lambda _, __: {"closed_only": False},
            },
            keyed_prefix=[("GET", "/data/order/", self._get_order)],
        )

    # --- API keys (L1) ---

    def _create_api_key(self, request: Request) -> JSON:
        creds = self.keys.create(request.headers)
        self.venue.ensure_wallet(creds.address)  # a fresh key can trade at once
        return creds.as_json()

    def _derive_api_key(self, request: Request) -> JSON:
        creds = self.keys.derive(request.headers)
        self.venue.ensure_wallet(creds.address)
        return creds.as_json()

    def _heartbeat(self, _: Request, creds: ApiKey) -> JSON:
        """Keep the wallet's orders alive (a venue without the switch just acknowledges)."""
        beat = self.heartbeats.beat(creds.address) if self.heartbeats else ""
        return {"status": "ok", "heartbeat_id": beat}

    def _api_keys(self, _: Request, creds: ApiKey) -> JSON:
        return {"apiKeys": self.keys.keys_of(creds.address)}

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
            kind = str(payload.get("orderType"))[:20]
            raise ApiError(400, f"order type {kind} is not supported") from None
        with venue_errors(not_found=400):
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
            with venue_errors(not_found=400):
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
        trades = self.venue.order_trades(order_id)
        usdc = sum((t.price * t.size for t in trades), ZERO)
        shares = sum((t.size for t in trades), ZERO)
        making, taking = (usdc, shares) if side is Side.BUY else (shares, usdc)
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order_id,
            "status": "matched" if placed.size_matched > 0 else "live",
            "makingAmount": dec(making) if trades else "",
            "takingAmount": dec(taking) if trades else "",
            # Hashes only for trades already on chain: an unsettled one has none yet.
            "transactionsHashes": [tx_hash(t.trade_id) for t in trades if _on_chain(t)],
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

    def order_json(self, order: Order, creds: ApiKey, trade_ids: list[str]) -> JSON:
        placement = self._placements.get(order.order_id, _Placement(creds.key, 0))
        with venue_errors():
            market = self.venue.market_of_token(order.token_id)
        rules = self.venue.rules
        return {
            "id": order.order_id,
            "status": order_status(order.status.value, rules),
            "owner": placement.owner,
            "maker_address": creds.address,
            "market": order.condition_id,
            "asset_id": order.token_id,
            "side": order.side.value,
            "original_size": size(order.original_size, rules),
            "size_matched": size(order.size_matched, rules),
            "price": dec(order.price),
            "outcome": outcome(market.token_of(order.token_id)),
            "expiration": str(placement.expiration),
            "order_type": order.order_type.value,
            "associate_trades": trade_ids,
            "created_at": unix(order.created_at),
        }

    def _trade_ids(self, order_id: str) -> list[str]:
        return [trade.trade_id for trade in self.venue.order_trades(order_id)]

    def _open_orders(self, request: Request, creds: ApiKey) -> JSON:
        query = request.query
        orders = [
            order
            for order in self.venue.open_orders(creds.address, query.get("market") or None)
            if query.get("asset_id") in (None, "", order.token_id)
            and query.get("id") in (None, "", order.order_id)
        ]
        data = [self.order_json(o, creds, self._trade_ids(o.order_id)) for o in orders]
        return page(data, query.get("next_cursor"), self.page_size, self.venue.rules.end_cursor)

    def _get_order(self, _: Request, creds: ApiKey, order_id: str) -> JSON:
        order = self.venue.get_order(order_id, creds.address)
        if order is None:
            raise ApiError(404, "order not found")
        if self.venue.rules.matched_orders_vanish and order.status is OrderStatus.MATCHED:
            return {}  # as the venue may: nothing for a fully matched order
        return self.order_json(order, creds, self._trade_ids(order_id))

    # --- trades, balances, scoring (L2) ---

    def trade_json(self, trade: Trade, creds: ApiKey) -> JSON:
        rules = self.venue.rules
        ours = {
            "order_id": trade.order_id,
            "owner": self._placements.get(trade.order_id, _Placement(creds.key, 0)).owner,
            "maker_address": creds.address,
            "matched_amount": size(trade.size, rules),
            "price": dec(trade.price),
            "fee_rate_bps": dec(trade.fee_rate_bps),
            "asset_id": trade.token_id,
            "outcome": outcome(trade.token),
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
            "fee_rate_bps": "0",
        }
        if trade.liquidity is Liquidity.TAKER:
            taker, makers = ours, [counterparty]
        else:
            taker, makers = counterparty, [ours]
        match_time = str(unix(trade.at))
        return {
            "id": trade.trade_id,
            "taker_order_id": taker["order_id"],
            "market": trade.condition_id,
            "asset_id": trade.token_id,
            "side": taker["side"],
            "size": size(trade.size, rules),
            "fee_rate_bps": taker["fee_rate_bps"],
            "price": dec(trade.price),
            "status": trade_status(trade.status.value, rules),
            "match_time": match_time,
            "last_update": str(unix(trade.updated_at or trade.at)),
            "outcome": outcome(trade.token),
            "bucket_index": 0,
            "owner": taker["owner"],
            "maker_address": taker["maker_address"],
            "transaction_hash": tx_hash(trade.trade_id) if _on_chain(trade) else "",
            "trader_side": trade.liquidity.value,
            "maker_orders": makers,
        }

    def _trades(self, request: Request, creds: ApiKey) -> JSON:
        query = request.query
        if query.get("maker_address", creds.address).lower() != creds.address.lower():
            return page([], query.get("next_cursor"), self.page_size, self.venue.rules.end_cursor)
        after, before = unix_param(query, "after"), unix_param(query, "before")
        trades = [
            trade
            for trade in self.venue.trades(creds.address, condition_id=query.get("market") or None)
            if query.get("asset_id") in (None, "", trade.token_id)
            and query.get("id") in (None, "", trade.trade_id)
            and (after is None or unix(trade.at) >= after)
            and (before is None or unix(trade.at) <= before)
        ]
        data = [self.trade_json(trade, creds) for trade in trades]
        return page(data, query.get("next_cursor"), self.page_size, self.venue.rules.end_cursor)

    def _balance_allowance(self, request: Request, creds: ApiKey) -> JSON:
        asset_type = request.query.get("asset_type", "").upper()
        held = self.venue.balances(creds.address)
        if asset_type == "COLLATERAL":
            balance = held.collateral
        elif asset_type == "CONDITIONAL":
            token_id = token_param(request)
            with venue_errors(not_found=400):
                self.venue.market_of_token(token_id)
            balance = held.tokens.get(token_id, ZERO)
        else:
            raise ApiError(400, "Invalid asset type")
        spenders = (
            self._contracts.exchange_v2,
            self._contracts.neg_risk_exchange_v2,
            self._contracts.neg_risk_adapter,
        )
        return {"balance": units(balance), "allowances": dict.fromkeys(spenders, MAX_ALLOWANCE)}

    def _day(self, request: Request) -> date:
        text = request.query.get("date", "")
        try:
            if len(text) != 10:
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            raise ApiError(400, "Invalid date: expected YYYY-MM-DD") from None

    def _earning_json(self, day: date, creds: ApiKey, amount: Decimal, **extra: str) -> JSON:
        return {
            "date": f"{day.isoformat()}T00:00:00Z",
            **extra,
            "asset_address": self._contracts.collateral,
            "maker_address": creds.address,
            "earnings": num(amount),
            "asset_rate": 1,
        }

    def _earnings(self, request: Request, creds: ApiKey) -> JSON:
        """GET /rewards/user: the day's earnings per market (paged)."""
        day = self._day(request)
        found = self.venue.reward_earnings(creds.address, day)
        data = [
            self._earning_json(day, creds, amount, condition_id=cid)
            for cid, amount in sorted(found.items())
        ]
        return page(
            data, request.query.get("next_cursor"), self.page_size, self.venue.rules.end_cursor
        )

    def _total_earnings(self, request: Request, creds: ApiKey) -> JSON:
        """GET /rewards/user/total: the day's total, one entry per reward asset."""
        day = self._day(request)
        total = sum(self.venue.reward_earnings(creds.address, day).values(), ZERO)
        return [self._earning_json(day, creds, total)] if total else []

    def _scoring(self, creds: ApiKey, order_id: str) -> bool:
        """Whether a resting order earns liquidity rewards now (the domain's reward score)."""
        order = self.venue.get_order(order_id, creds.address)
        if order is None or order.status is not OrderStatus.LIVE:
            return False
        age = (self.venue.now() - order.created_at).total_seconds()
        if age < self.venue.rules.reward_min_order_age_seconds:
            return False
        with venue_errors():
            market = self.venue.market_of_token(order.token_id)
        intent = OrderIntent(
            token=market.token_of(order.token_id),
            side=order.side,
            price=order.price,
            size=order.remaining,
        )
        scores = order_side_scores(
            [intent],
            self.market_data.midpoint(market.yes_token_id),
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


def _on_chain(trade: Trade) -> bool:
    """A settlement transaction exists once the trade is mined (or failed after retrying)."""
    return trade.status in (TradeStatus.MINED, TradeStatus.CONFIRMED, TradeStatus.FAILED)


def _decode_amounts(order: dict[str, Any], order_id: str) -> tuple[Side, Decimal, Decimal]:
    """Side, price and size from the signed amounts (6-decimal fixed point).

    A BUY gives `makerAmount` collateral for `takerAmount` tokens, a SELL the reverse.
    """
    try:
        side = Side(str(order["side"]).upper())
        maker, taker = int(order["makerAmount"]), int(order["takerAmount"])
    except (KeyError, ValueError, TypeError, OverflowError):
        raise ApiError(400, "Invalid order payload") from None
    collateral, tokens = (maker, taker) if side is Side.BUY else (taker, maker)
    if collateral <= 0 or tokens <= 0:
        raise ApiError(400, f"order {order_id} is invalid. Amounts must be positive")
    if collateral > MAX_AMOUNT_UNITS or tokens > MAX_AMOUNT_UNITS:
        raise ApiError(400, f"order {order_id} is invalid. Amount too large")
    return side, Decimal(collateral) / Decimal(tokens), Decimal(tokens) / UNITS


def _expiration(order: dict[str, Any], order_id: str) -> int:
    try:
        expiration = int(order.get("expiration") or 0)
    except (ValueError, TypeError, OverflowError):
        raise ApiError(400, f"order {order_id} is invalid. Invalid expiration") from None
    if not 0 <= expiration <= MAX_EXPIRATION:
        raise ApiError(400, f"order {order_id} is invalid. Invalid expiration")
    return expiration

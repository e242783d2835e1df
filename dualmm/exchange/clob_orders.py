"""ClobExchange's orders: placement (one or a batch), idempotent by key, and cancels.

Polymarket has no client order id, so the order is signed by us with its free fields taken
from `PlaceOrder.key`: salt = hash of the key, timestamp = `request.signed_at` (else the first
attempt's time, kept in memory). The same key therefore always signs the same order, whose id
is its EIP-712 hash, known before the POST. A retry (and any placement with `signed_at`, which
may follow a crash) first looks that id up and returns the venue's order if it has one; only
otherwise does it POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from decimal import Decimal
from typing import Any

from py_clob_client_v2.clob_types import OrderMarketCancelParams, OrderPayload, PostOrdersV2Args
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.constants import BYTES32_ZERO
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side as SdkSide
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2

from dualmm.domain.types import Side
from dualmm.exchange.base import (
    UNITS,
    AuthError,
    ExchangeError,
    InvalidOrder,
    NotFound,
    Order,
    OrderStatus,
    PlaceOrder,
    VenueUnavailable,
)
from dualmm.exchange.clob_core import Pending
from dualmm.exchange.clob_reads import ClobReads
from dualmm.exchange.clob_wire import order_status, trade_fills, utc_now
from dualmm.exchange.errors import classify, is_duplicate, is_tick_error, venue_message

_JOURNAL_LIMIT = 50_000


def _to_units(amount: Decimal) -> str:
    units = amount * UNITS
    if units != units.to_integral_value():
        raise InvalidOrder(f"amount {amount} has more than 6 decimals")
    return str(int(units))


def key_salt(key: str) -> int:
    """The order salt for an idempotency key (48 bits: exact in JSON numbers everywhere)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:6], "big")


class ClobOrders(ClobReads):
    """Placing and cancelling orders."""

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

    async def _prepare(self, request: PlaceOrder) -> Pending:
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

    async def _answered(self, request: PlaceOrder, pending: Pending, answer: Any) -> Order:
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
        self, request: PlaceOrder, pending: Pending, error: ExchangeError
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

    def _remember(self, key: str, pending: Pending) -> None:
        self._journal[key] = pending
        while len(self._journal) > _JOURNAL_LIMIT:
            oldest, _ = self._journal.popitem(last=False)
            lock = self._key_locks.get(oldest)
            if lock is not None and not lock.locked():
                del self._key_locks[oldest]

    async def _sign(self, request: PlaceOrder, fields: tuple[object, ...]) -> Pending:
        neg_risk = await self.neg_risk(request.token_id)
        signed_at = request.signed_at or utc_now()
        timestamp_ms = int(signed_at.timestamp() * 1000)
        signed, order_id = await asyncio.to_thread(
            self._signed_order, request, neg_risk, timestamp_ms
        )
        return Pending(fields, signed, order_id, may_exist=request.signed_at is not None)

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
        to_post: list[tuple[int, Pending]] = []
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

    async def cancel_all(self) -> None:
        await self._sdk(self._client.cancel_all)

"""The venue's records: orders, trades and wallets, as the simulator keeps them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from dualmm.domain.types import Fill, Frozen, Side, Token
from dualmm.exchange.base import Order, OrderStatus, OrderType

ZERO = Decimal(0)


class TradeStatus(StrEnum):
    """A trade's settlement: MATCHED -> MINED -> CONFIRMED, or MATCHED -> RETRYING -> FAILED."""

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        return self in (TradeStatus.CONFIRMED, TradeStatus.FAILED)


class Liquidity(StrEnum):
    MAKER = "MAKER"  # a resting order reached by the market
    TAKER = "TAKER"  # an order that crossed when placed


class Trade(Frozen):
    """One fill of one of our orders. `seq` grows with every change (a fill, a settlement
    step, a failure), so `trades(after=seq)` also reports a trade that moved on after it was
    first seen. `updated_at` is the time of its latest status."""

    trade_id: str
    seq: int
    order_id: str
    address: str
    condition_id: str
    token_id: str
    token: Token
    side: Side
    price: Decimal
    size: Decimal
    at: datetime
    status: TradeStatus = TradeStatus.MATCHED
    liquidity: Liquidity
    updated_at: datetime | None = None
    fee: Decimal = ZERO  # USDC the taker pays at settlement

    @property
    def fee_rate_bps(self) -> Decimal:
        """The fee as basis points of the notional, as trades report it."""
        notional = self.price * self.size
        return (self.fee / notional * 10000).quantize(Decimal("0.0001")) if notional else ZERO

    def to_fill(self) -> Fill:
        return Fill(
            trade_id=self.trade_id,
            condition_id=self.condition_id,
            token=self.token,
            side=self.side,
            price=self.price,
            size=self.size,
            at=self.at,
            order_id=self.order_id,
            status=self.status.value,
            fee=self.fee,
        )


@dataclass
class OrderRecord:
    order_id: str
    address: str
    condition_id: str
    token_id: str
    token: Token
    side: Side
    price: Decimal
    original_size: Decimal
    created_at: datetime
    order_type: OrderType
    expiration: datetime | None
    post_only: bool
    size_matched: Decimal = ZERO
    status: OrderStatus = OrderStatus.LIVE
    cancelled_at: datetime | None = None
    filled_at: datetime | None = None
    fills: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.original_size - self.size_matched

    def to_order(self) -> Order:
        return Order(
            order_id=self.order_id,
            condition_id=self.condition_id,
            token_id=self.token_id,
            side=self.side,
            price=self.price,
            original_size=self.original_size,
            size_matched=self.size_matched,
            status=self.status,
            created_at=self.created_at,
            order_type=self.order_type,
        )

    def ledger_entry(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "address": self.address,
            "condition_id": self.condition_id,
            "token_id": self.token_id,
            "token": self.token.value,
            "side": self.side.value,
            "price": str(self.price),
            "size": str(self.original_size),
            "size_matched": str(self.size_matched),
            "status": self.status.value,
            "order_type": self.order_type.value,
            "post_only": self.post_only,
            "created_at": iso(self.created_at),
            "expiration": iso(self.expiration),
            "cancelled_at": iso(self.cancelled_at),
            "filled_at": iso(self.filled_at),
        }


@dataclass
class Wallet:
    collateral: Decimal
    tokens: dict[str, Decimal] = field(default_factory=dict)

    def add_tokens(self, token_id: str, qty: Decimal) -> None:
        self.tokens[token_id] = self.tokens.get(token_id, ZERO) + qty


@dataclass(frozen=True)
class TapePrint:
    """The other traders' trade the simulator infers when the touch moves through levels: a
    taker on `side` took `size` of the YES book at `price`."""

    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    at: datetime


@dataclass(frozen=True)
class VenueEvent:
    """A change to one wallet's orders or trades, as the user channel reports it: an `order`
    event (`type` PLACEMENT, UPDATE on a fill, CANCELLATION) or a `trade` event (a new match
    or a later settlement status). `trade_id` on an order UPDATE names the fill. A `book`
    event (no wallet) says a market's book may have moved: its midpoint or tick changed; a
    `tape` event carries the other traders' trade that moved it."""

    kind: str  # "order" | "trade" | "book" | "tape"
    type: str
    address: str
    condition_id: str
    order: Order | None = None
    trade: Trade | None = None
    trade_id: str | None = None
    tape: TapePrint | None = None


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def wallet_address(address: str) -> str:
    """Wallet addresses are case-insensitive (checksummed or not)."""
    return address.lower()

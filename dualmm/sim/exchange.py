"""The Exchange protocol for one wallet of a SimVenue, in-process (no I/O)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date, datetime
from decimal import Decimal

from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import (
    Balances,
    Book,
    FillPage,
    InvalidOrder,
    MergeJournal,
    MergeReport,
    NonRetryableError,
    Order,
    PlaceOrder,
    PricePoint,
    RewardMarket,
)
from dualmm.sim.ledger import ZERO, wallet_address
from dualmm.sim.venue import SimVenue


class SimExchange:
    """The Exchange protocol for one wallet of a SimVenue, in-process (no I/O)."""

    def __init__(self, venue: SimVenue, address: str) -> None:
        self._venue = venue
        self._address = address
        venue.ensure_wallet(address)

    async def fill_mark(self, condition_id: str) -> int:
        return 0

    async def wait_for_fill(self, condition_id: str, mark: int, timeout: float) -> bool:
        """No push channel in-process (the HTTP server has the user channel): a plain wait,
        so the workflow tests on this exchange keep the poll's cadence."""
        await asyncio.sleep(timeout)
        return False

    @staticmethod
    def order_id_for(address: str, key: str) -> str:
        """The order id a placement key maps to, so a retried placement finds its order."""
        return "0x" + hashlib.sha256(f"{wallet_address(address)}:{key}".encode()).hexdigest()

    async def reward_markets(self) -> list[RewardMarket]:
        return self._venue.reward_markets()

    async def market(self, condition_id: str) -> MarketInfo:
        return self._venue.market(condition_id)

    async def book(self, token_id: str) -> Book:
        return self._venue.book(token_id)

    async def midpoint(self, token_id: str) -> Decimal:
        return self._venue.midpoint(token_id)

    async def tick_size(self, token_id: str) -> Decimal:
        return self._venue.tick_size(token_id)

    async def neg_risk(self, token_id: str) -> bool:
        return self._venue.neg_risk(token_id)

    async def listed_resolution(self, condition_id: str) -> MarketResolution | None:
        winner = self._venue.winner(condition_id)
        if winner is None:
            return None
        token_id = self._venue.market(condition_id).token_id(winner)
        return MarketResolution(winning_asset_id=token_id, winning_outcome=winner.value.title())

    async def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        return self._venue.price_history(token_id, start, end, fidelity_minutes)

    async def place_order(self, request: PlaceOrder) -> Order:
        try:
            request.market.token_of(request.token_id)
        except ValueError as exc:
            raise InvalidOrder(str(exc)) from None
        return self._venue.place(
            self._address,
            self.order_id_for(self._address, request.key),
            request.token_id,
            request.side,
            request.price,
            request.size,
            request.order_type,
            request.expiration,
            request.post_only,
        )

    async def cancel_order(self, order_id: str) -> None:
        self._venue.cancel(self._address, order_id)

    async def cancel_market(self, condition_id: str) -> None:
        self._venue.cancel_market(self._address, condition_id)

    async def reward_earnings(self, day: date) -> Decimal:
        return sum(self._venue.reward_earnings(self._address, day).values(), ZERO)

    async def heartbeat(self) -> None:
        """The in-process venue has no dead-man switch (the HTTP server does)."""

    async def cancel_all(self) -> None:
        self._venue.cancel_all(self._address)

    async def open_orders(self, condition_id: str | None = None) -> list[Order]:
        return self._venue.open_orders(self._address, condition_id)

    async def get_order(self, order_id: str) -> Order | None:
        return self._venue.get_order(order_id, self._address)

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        """Fills (and later failures) newer than `cursor`; the cursor is a sequence number."""
        try:
            after = int(cursor) if cursor else 0
        except ValueError:
            raise NonRetryableError(f"bad fills cursor {cursor!r}") from None
        trades = self._venue.trades(self._address, after, market.condition_id)
        return FillPage(
            fills=tuple(trade.to_fill() for trade in trades),
            cursor=str(trades[-1].seq if trades else after),
        )

    async def balances(self, token_ids: list[str]) -> Balances:
        held = self._venue.balances(self._address)
        return Balances(
            collateral=held.collateral,
            tokens={token_id: held.tokens.get(token_id, ZERO) for token_id in token_ids},
        )

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, journal: MergeJournal | None = None
    ) -> MergeReport:
        return self._venue.merge(self._address, market.condition_id, qty, key)

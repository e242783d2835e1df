"""The simulated venue's state and what every part of it shares: the lock, the clock, the
lookups of markets and tokens, the resting orders by wallet, and change notices.

SimVenue (dualmm.sim.venue) is built in layers, one module a concern, each a class on the one
below: this state, then wallets and settlement (venue_wallets), orders and matching
(venue_orders), market data and rewards (venue_markets), and time (venue). One object holds
all the state, so a snapshot (dualmm.sim.snapshot) is the same whichever layer wrote it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Concatenate, ParamSpec, TypeVar

from dualmm.domain.types import Token
from dualmm.exchange.base import MergeReport, NotFound
from dualmm.sim.clock import SimClock
from dualmm.sim.ledger import OrderRecord, Trade, VenueEvent, Wallet
from dualmm.sim.market import SimMarket
from dualmm.sim.rewards import RewardLedger
from dualmm.sim.rules import VenueRules
from dualmm.sim.settlement import Settlement

_V = TypeVar("_V", bound="VenueBase")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def synchronized(
    method: Callable[Concatenate[_V, _P], _R],
) -> Callable[Concatenate[_V, _P], _R]:
    """Run the method under the venue's lock (the HTTP server is threaded)."""

    @functools.wraps(method)
    def locked(self: _V, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class VenueBase:
    """The venue's state (set by SimVenue.__init__ and SimVenue.index) and shared helpers."""

    rules: VenueRules
    rewards: RewardLedger
    _invent: bool  # the touch is invented beyond [tick, 1 - tick] (VenueRules)
    _settlement: Settlement
    _lock: threading.RLock
    _clock: SimClock
    _fund: Decimal
    _fill_cap: Decimal | None
    _markets: dict[str, SimMarket]
    _tokens: dict[str, tuple[SimMarket, Token]]
    _processed: datetime  # the markets are processed up to here
    _wallets: dict[str, Wallet]
    _merges: dict[tuple[str, str], MergeReport]  # (wallet, key) -> the merge
    _orders: dict[str, OrderRecord]  # every order ever accepted, by id
    _live: dict[str, OrderRecord]  # resting orders, in placement order
    _trades: dict[str, Trade]  # by id, in fill order
    _seq: int
    _listeners: list[Callable[[VenueEvent], None]]
    # The indexes (SimVenue.INDEXES): derived from the state above, never saved.
    _last_touch: dict[str, tuple[Decimal, Decimal]]
    _last_print: dict[str, tuple[Decimal, str]]  # token -> (price, taker side) of its last trade
    _market_number: dict[str, int]
    _changes: list[tuple[datetime, int, str]]
    _steered: list[str]
    _expiring: list[tuple[datetime, int, str]]
    _placed: int
    _live_by_market: dict[str, dict[str, OrderRecord]]
    _live_by_wallet: dict[str, dict[str, OrderRecord]]
    _trades_by_wallet: dict[str, dict[str, None]]
    _trades_by_market: dict[tuple[str, str], dict[str, None]]
    _trades_by_order: dict[str, list[str]]

    def _sync(self) -> None:
        """Process the markets up to the clock (SimVenue's, which knows every event)."""
        raise NotImplementedError

    # --- change notices ---

    @synchronized
    def add_listener(self, listener: Callable[[VenueEvent], None]) -> None:
        self._listeners.append(listener)

    @synchronized
    def remove_listener(self, listener: Callable[[VenueEvent], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _order_event(self, order: OrderRecord, type_: str, trade_id: str | None = None) -> None:
        if self._listeners:
            address, market, snapshot = order.address, order.condition_id, order.to_order()
            self._emit(VenueEvent("order", type_, address, market, snapshot, None, trade_id))

    def _trade_event(self, trade: Trade) -> None:
        if self._listeners:
            self._emit(VenueEvent("trade", "TRADE", trade.address, trade.condition_id, None, trade))

    def _book_event(self, condition_id: str) -> None:
        """The market's book may have moved (its midpoint or tick changed)."""
        if self._listeners:
            self._emit(VenueEvent("book", "", "", condition_id))

    def _emit(self, event: VenueEvent) -> None:
        for listener in self._listeners:
            listener(event)

    def now(self) -> datetime:
        return self._clock.now()

    @synchronized
    def last_trade(self, token_id: str) -> tuple[Decimal, str] | None:
        """The price and taker side of the token's last trade (the tape's or a fill of ours)
        since the venue was built or loaded; None before any."""
        self._sync()
        self._token(token_id)
        return self._last_print.get(token_id)

    def _token(self, token_id: str) -> tuple[SimMarket, Token]:
        try:
            return self._tokens[token_id]
        except KeyError:
            raise NotFound(f"no orderbook exists for the requested token id {token_id}") from None

    def _market(self, condition_id: str) -> SimMarket:
        try:
            return self._markets[condition_id]
        except KeyError:
            raise NotFound(f"market {condition_id} not found") from None

    def _open(self, address: str, condition_id: str | None = None) -> list[OrderRecord]:
        """The wallet's resting orders (in one market), in placement order."""
        if condition_id is None:
            return list(self._live_by_wallet.get(address, {}).values())
        in_market = self._live_by_market.get(condition_id, {})
        return [order for order in in_market.values() if order.address == address]

"""The simulated venue: markets whose midpoint follows a scenario path or a synthetic walk,
wallets, our orders, and fills by the touch fill model (dualmm.domain.fillmodel).

Fill semantics, shared with the pure replay:
- an order that crosses the touch when placed fills at the touch (taker);
- at every midpoint change time, each resting order that the new touch reaches fills at its own
  price (maker), timestamped at that change time; expirations at the same time go first;
- NO orders use the mirrored touch: NO bid = 1 - YES ask, NO ask = 1 - YES bid;
- our orders never match each other or the background book (which is display depth only);
- `fill_cap` (off by default) caps what one order fills per event, giving partial fills; the
  rest keeps resting and fills at its own price at later change times.

Balances are totals like Polymarket's balance endpoint (see dualmm.sim.venue_wallets). One
re-entrant lock guards the venue (the HTTP server is threaded), and every public read first
processes the market up to `clock.now()`, so a wall clock needs no driver.

This module holds the venue's construction and its time; the rest is split by concern, one
class on another (see dualmm.sim.venue_base): wallets, balances and settlement in
venue_wallets, orders and matching in venue_orders, market data and rewards in venue_markets.

Cost: a request costs what it touches, not the size of the venue. Live orders are indexed by
market and by wallet, trades by wallet, market and order; each market's next midpoint change
waits in a heap, so catching up to `now` visits only the markets that moved (BENCHMARKS.md
has the request times at a thousand markets).
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dualmm.domain.types import Token
from dualmm.exchange.base import OrderStatus
from dualmm.sim.clock import ManualClock, SimClock, WallClock
from dualmm.sim.ledger import Liquidity, Trade, TradeStatus
from dualmm.sim.market import MidProcess, SimMarket, token_touch
from dualmm.sim.rewards import RewardLedger
from dualmm.sim.rules import VenueRules
from dualmm.sim.settlement import Settlement
from dualmm.sim.synthetic import DEFAULT_STEP_SECONDS, synthetic_markets
from dualmm.sim.venue_base import synchronized
from dualmm.sim.venue_markets import VenueMarkets

if TYPE_CHECKING:
    from dualmm.scenario import Scenario

# Re-exported: callers import the simulator's parts from here.
__all__ = [
    "Liquidity",
    "ManualClock",
    "MidProcess",
    "SimClock",
    "SimMarket",
    "SimVenue",
    "Trade",
    "TradeStatus",
    "WallClock",
    "token_touch",
]

DEFAULT_FUND = Decimal(10000)


class SimVenue(VenueMarkets):
    """The simulated exchange for any number of wallets (see the module docstring)."""

    def __init__(
        self,
        markets: Sequence[SimMarket],
        clock: SimClock,
        fund: Decimal = DEFAULT_FUND,
        fill_cap: Decimal | None = None,
        rules: VenueRules | None = None,
    ) -> None:
        if fill_cap is not None and fill_cap <= 0:
            raise ValueError("fill_cap must be positive")
        self.rules = rules or VenueRules()
        self._invent = not self.rules.no_invented_touch
        self._settlement = Settlement(self.rules)
        self.rewards = RewardLedger(timedelta(seconds=self.rules.reward_min_order_age_seconds))
        self._lock = threading.RLock()
        self._clock = clock
        self._fund = fund
        self._fill_cap = fill_cap
        self._markets = {market.info.condition_id: market for market in markets}
        self._tokens = {}
        for market in markets:
            for token in Token:
                self._tokens[market.info.token_id(token)] = (market, token)
        self._processed = clock.now()
        if self.rules.dynamic_tick:
            for market in markets:
                market.retick(self._processed)
        self._wallets = {}
        self._merges = {}  # (wallet, key) -> the merge
        self._orders = {}  # every order ever accepted, by id
        self._live = {}  # resting orders, in placement order
        self._trades = {}  # by id, in fill order
        self._seq = 0
        # Called (under the venue's lock, so quick and never raising) with every change to an
        # order or trade: the simulator's user channel and in-process fill notices.
        self._listeners = []
        self.index()

    # Derived from the state above (rebuilt by `index`, never saved in a snapshot).
    INDEXES = (
        "_last_print",
        "_last_touch",
        "_market_number",
        "_changes",
        "_steered",
        "_expiring",
        "_placed",
        "_live_by_market",
        "_live_by_wallet",
        "_trades_by_wallet",
        "_trades_by_market",
        "_trades_by_order",
    )

    def index(self) -> None:
        """(Re)build the indexes from the orders, trades and markets (after a snapshot load)."""
        self._market_number = {cid: number for number, cid in enumerate(self._markets)}
        self._last_touch = {}  # the other makers' YES touch each market last showed (tape)
        self._last_print = {}
        # Each market's next midpoint change (or a time to look again): (time, number, id);
        # a market whose process may still change its future is asked every time instead.
        self._changes = []
        self._steered = [cid for cid, m in self._markets.items() if not m.fixed_future]
        for condition_id, market in self._markets.items():
            if market.fixed_future:
                self._schedule_change(condition_id, self._processed)
        self._expiring = []  # GTD orders: (expiry, n, id)
        self._placed = 0  # placement number: ties at one time go in placement order
        self._live_by_market = {}
        self._live_by_wallet = {}
        for order in self._live.values():
            self._add_live(order)
        self._trades_by_wallet = {}  # trade ids, in fill order
        self._trades_by_market = {}
        self._trades_by_order = {}
        for trade in self._trades.values():
            self._add_trade(trade)

    def _schedule_change(self, condition_id: str, after: datetime) -> None:
        at = self._markets[condition_id].next_change_after(after)
        heapq.heappush(self._changes, (at, self._market_number[condition_id], condition_id))

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, clock: SimClock | None = None, **kw: Any
    ) -> SimVenue:
        """A venue on a scenario's paths; a ManualClock at the scenario start by default."""
        markets = [SimMarket.from_scenario(m, scenario.start) for m in scenario.markets]
        return cls(markets, clock or ManualClock(scenario.start), **kw)

    @classmethod
    def synthetic(
        cls,
        n_markets: int,
        seed: int,
        clock: SimClock,
        step_seconds: int = DEFAULT_STEP_SECONDS,
        start: datetime | None = None,
        **kw: Any,
    ) -> SimVenue:
        """`n_markets` seeded synthetic reward markets whose walks start at `start` (default
        `clock.now()`); an earlier start gives them price history and no orders to replay."""
        start = start or clock.now()
        markets = [
            SimMarket(
                m.info,
                m.walk,
                start,
                book_seed=m.book_seed,
                end_date=m.end_date,
                half_spread=m.half_spread,
            )
            for m in synthetic_markets(n_markets, seed, start, step_seconds)
        ]
        return cls(markets, clock, **kw)

    # --- time ---

    @synchronized
    def advance_to(self, t: datetime) -> None:
        """Move a manual clock to `t` (never back) and process the markets up to the clock."""
        if isinstance(self._clock, ManualClock):
            self._clock.advance_to(t)
        self._sync()

    def advance(self, seconds: float) -> None:
        self.advance_to(self.now() + timedelta(seconds=seconds))

    def _sync(self) -> None:
        self._process_until(self._clock.now())

    def _process_until(self, until: datetime) -> None:
        """Replay every expiration and midpoint change in (processed, until], in time order."""
        if until <= self._processed:
            return
        # Ties at one time: expirations first (in placement order), then changes (in market
        # order), then the reward sample.
        events: list[tuple[datetime, int, int, str]] = []
        while self._expiring and self._expiring[0][0] <= until:
            expiration, number, order_id = heapq.heappop(self._expiring)
            events.append((expiration, 0, number, order_id))
        while self._changes and self._changes[0][0] <= until:
            _, number, condition_id = heapq.heappop(self._changes)
            for at in self._markets[condition_id].change_times(self._processed, until):
                events.append((at, 1, number, condition_id))
            self._schedule_change(condition_id, until)
        for condition_id in self._steered:
            number = self._market_number[condition_id]
            for at in self._markets[condition_id].change_times(self._processed, until):
                events.append((at, 1, number, condition_id))
        if self.rules.venue_rewards:
            minute = self._processed.replace(second=0, microsecond=0) + timedelta(minutes=1)
            while minute <= until:
                events.append((minute, 2, 0, ""))
                minute += timedelta(minutes=1)
        for at, kind, _, key in sorted(events):
            if kind == 0:
                if key in self._live:  # not filled in the meantime
                    self._close(self._live[key], OrderStatus.CANCELED, at)
            elif kind == 1:
                self._fill_resting(self._markets[key], at)
            else:
                self._sample_rewards(at)
        for at, trade_id, status in self._settlement.due(until):
            self._settle_step(self._trades[trade_id], status, at)
        self._processed = until

"""The simulated venue: markets whose midpoint follows a scenario path or a synthetic walk,
wallets, our orders, and fills by the DESIGN.md fill model (dualmm.domain.fillmodel).

Fill semantics, shared with the pure replay:
- an order that crosses the touch when placed fills at the touch (taker);
- at every midpoint change time, each resting order that the new touch reaches fills at its own
  price (maker), timestamped at that change time; expirations at the same time go first;
- NO orders use the mirrored touch: NO bid = 1 - YES ask, NO ask = 1 - YES bid;
- our orders never match each other or the background book (which is display depth only);
- `fill_cap` (off by default) caps what one order fills per event, giving partial fills; the
  rest keeps resting and fills at its own price at later change times.

Balances are totals like Polymarket's balance endpoint (open orders do not reduce them);
`available` is what new orders can still lock: BUY locks price * remaining collateral, SELL
locks the remaining tokens. One re-entrant lock guards the venue (the HTTP server is threaded),
and every public read first processes the market up to `clock.now()`, so a wall clock needs no
driver.

Cost: a request costs what it touches, not the size of the venue. Live orders are indexed by
market and by wallet, trades by wallet, market and order; each market's next midpoint change
waits in a heap, so catching up to `now` visits only the markets that moved (at 1000 markets
and 1000 live orders the old full scans cost every request milliseconds under the lock:
bench/sim_requests.py).
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from dualmm.domain.fees import taker_fee
from dualmm.domain.fillmodel import price_on_placement, resting_fills
from dualmm.domain.prices import ONE, check_tick, is_on_tick, round_size
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange.base import (
    Balances,
    Book,
    BookLevel,
    InsufficientBalance,
    InvalidOrder,
    MergeReport,
    NotFound,
    Order,
    OrderStatus,
    OrderType,
    PricePoint,
    RewardMarket,
    WouldCross,
)
from dualmm.sim.clock import ManualClock, SimClock, WallClock
from dualmm.sim.ledger import (
    ZERO,
    Liquidity,
    OrderRecord,
    Trade,
    TradeStatus,
    VenueEvent,
    Wallet,
    iso,
    wallet_address,
)
from dualmm.sim.market import MidProcess, SimMarket, token_touch
from dualmm.sim.rewards import RewardLedger
from dualmm.sim.rules import VenueRules
from dualmm.sim.settlement import Settlement
from dualmm.sim.synthetic import DEFAULT_STEP_SECONDS, competitor_levels, synthetic_markets

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
COARSE_TICK, FINE_TICK, FINE_ABOVE = Decimal("0.01"), Decimal("0.001"), Decimal("0.96")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _synchronized(
    method: Callable[Concatenate[SimVenue, _P], _R],
) -> Callable[Concatenate[SimVenue, _P], _R]:
    @functools.wraps(method)
    def locked(self: SimVenue, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class SimVenue:
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
        self._tokens: dict[str, tuple[SimMarket, Token]] = {}
        for market in markets:
            for token in Token:
                self._tokens[market.info.token_id(token)] = (market, token)
        self._processed = clock.now()
        if self.rules.dynamic_tick:
            for market in markets:
                self._retick(market, self._processed)
        self._wallets: dict[str, Wallet] = {}
        self._merges: dict[tuple[str, str], MergeReport] = {}  # (wallet, key) -> the merge
        self._orders: dict[str, OrderRecord] = {}  # every order ever accepted, by id
        self._live: dict[str, OrderRecord] = {}  # resting orders, in placement order
        self._trades: dict[str, Trade] = {}  # by id, in fill order
        self._seq = 0
        # Called (under the venue's lock, so quick and never raising) with every change to an
        # order or trade: the simulator's user channel and in-process fill notices.
        self._listeners: list[Callable[[VenueEvent], None]] = []
        self.index()

    # Derived from the state above (rebuilt by `index`, never saved in a snapshot).
    INDEXES = (
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
        # Each market's next midpoint change (or a time to look again): (time, number, id);
        # a market whose process may still change its future is asked every time instead.
        self._changes: list[tuple[datetime, int, str]] = []
        self._steered = [cid for cid, m in self._markets.items() if not m.fixed_future]
        for condition_id, market in self._markets.items():
            if market.fixed_future:
                self._schedule_change(condition_id, self._processed)
        self._expiring: list[tuple[datetime, int, str]] = []  # GTD orders: (expiry, n, id)
        self._placed = 0  # placement number: ties at one time go in placement order
        self._live_by_market: dict[str, dict[str, OrderRecord]] = {}
        self._live_by_wallet: dict[str, dict[str, OrderRecord]] = {}
        for order in self._live.values():
            self._add_live(order)
        self._trades_by_wallet: dict[str, dict[str, None]] = {}  # trade ids, in fill order
        self._trades_by_market: dict[tuple[str, str], dict[str, None]] = {}
        self._trades_by_order: dict[str, list[str]] = {}
        for trade in self._trades.values():
            self._add_trade(trade)

    def _schedule_change(self, condition_id: str, after: datetime) -> None:
        at = self._markets[condition_id].next_change_after(after)
        heapq.heappush(self._changes, (at, self._market_number[condition_id], condition_id))

    def _add_live(self, order: OrderRecord) -> None:
        self._live_by_market.setdefault(order.condition_id, {})[order.order_id] = order
        self._live_by_wallet.setdefault(order.address, {})[order.order_id] = order
        if order.expiration is not None:
            heapq.heappush(self._expiring, (order.expiration, self._placed, order.order_id))
        self._placed += 1

    def _add_trade(self, trade: Trade) -> None:
        self._trades_by_wallet.setdefault(trade.address, {})[trade.trade_id] = None
        key = (trade.address, trade.condition_id)
        self._trades_by_market.setdefault(key, {})[trade.trade_id] = None
        self._trades_by_order.setdefault(trade.order_id, []).append(trade.trade_id)

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
            SimMarket(m.info, m.walk, start, book_seed=m.book_seed, end_date=m.end_date)
            for m in synthetic_markets(n_markets, seed, start, step_seconds)
        ]
        return cls(markets, clock, **kw)

    # --- change notices ---

    @_synchronized
    def add_listener(self, listener: Callable[[VenueEvent], None]) -> None:
        self._listeners.append(listener)

    @_synchronized
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

    def _emit(self, event: VenueEvent) -> None:
        for listener in self._listeners:
            listener(event)

    # --- time ---

    def now(self) -> datetime:
        return self._clock.now()

    @_synchronized
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

    # --- wallets ---

    @_synchronized
    def ensure_wallet(self, address: str) -> None:
        """Create (and fund with `fund` USDC) a wallet seen for the first time."""
        self._wallets.setdefault(wallet_address(address), Wallet(collateral=self._fund))

    @_synchronized
    def credit(self, address: str, token_id: str, qty: Decimal) -> None:
        """Give a wallet outcome tokens (a starting position); creates the wallet if new."""
        if qty <= 0:
            raise ValueError(f"credit: quantity must be positive, got {qty}")
        self._token(token_id)
        self.ensure_wallet(address)
        self._wallets[wallet_address(address)].add_tokens(token_id, qty)

    @_synchronized
    def merge(self, address: str, condition_id: str, qty: Decimal, key: str) -> MergeReport:
        """`mergePositions`: burn `qty` YES and `qty` NO of the wallet's settled, unlocked
        tokens and credit `qty` USDC. A key already used returns its merge again."""
        address = wallet_address(address)
        done = self._merges.get((address, key))
        if done is not None:
            return done
        if qty <= 0 or round_size(qty) != qty:
            raise InvalidOrder(f"merge quantity {qty} is not a positive multiple of 0.01")
        info = self._market(condition_id).info
        free = self.available(address).tokens
        for token_id in (info.yes_token_id, info.no_token_id):
            if free.get(token_id, ZERO) < qty:
                raise InsufficientBalance(
                    f"merge of {qty} pairs: only {free.get(token_id, ZERO)} of {token_id} free"
                )
        wallet = self._wallets[address]
        wallet.add_tokens(info.yes_token_id, -qty)
        wallet.add_tokens(info.no_token_id, -qty)
        wallet.collateral += qty
        report = MergeReport(key=key, condition_id=condition_id, qty=qty, at=self.now())
        self._merges[(address, key)] = report
        return report

    @_synchronized
    def balances(self, address: str) -> Balances:
        """Total collateral and tokens held (open orders do not reduce them)."""
        self._sync()
        wallet = self._wallets.get(wallet_address(address))
        if wallet is None:
            return Balances(collateral=ZERO, tokens={})
        return Balances(collateral=wallet.collateral, tokens=dict(wallet.tokens))

    @_synchronized
    def available(self, address: str) -> Balances:
        """What is left for new orders once open orders' locks are taken out."""
        self._sync()
        total = self.balances(address)
        collateral, tokens = total.collateral, dict(total.tokens)
        address = wallet_address(address)
        for order in self._open(address):
            if order.side is Side.BUY:
                collateral -= order.price * order.remaining
            else:
                tokens[order.token_id] = tokens.get(order.token_id, ZERO) - order.remaining
        # A matched trade commits what it pays until it settles; what it buys is not there yet.
        for trade_id in self._trades_by_wallet.get(address, {}):
            trade = self._trades[trade_id]
            if self._settlement.pending(trade_id):
                collateral -= trade.fee
                if trade.side is Side.BUY:
                    collateral -= trade.price * trade.size
                else:
                    tokens[trade.token_id] = tokens.get(trade.token_id, ZERO) - trade.size
        return Balances(collateral=collateral, tokens=tokens)

    # --- markets ---

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

    @_synchronized
    def markets(self) -> list[MarketInfo]:
        return [market.info for market in self._markets.values()]

    @_synchronized
    def market(self, condition_id: str) -> MarketInfo:
        return self._market(condition_id).info

    @_synchronized
    def market_of_token(self, token_id: str) -> MarketInfo:
        return self._token(token_id)[0].info

    @_synchronized
    def reward_markets(self) -> list[RewardMarket]:
        return [RewardMarket(info=m.info, end_date=m.end_date) for m in self._markets.values()]

    @_synchronized
    def tick_size(self, token_id: str) -> Decimal:
        return self._token(token_id)[0].info.tick_size

    @_synchronized
    def neg_risk(self, token_id: str) -> bool:
        return self._token(token_id)[0].info.neg_risk

    @_synchronized
    def set_tick_size(self, condition_id: str, tick: Decimal) -> None:
        """Change a live market's tick; resting orders the new touch reaches fill now."""
        check_tick(tick)
        self._sync()
        market = self._market(condition_id)
        market.info = market.info.model_copy(update={"tick_size": tick})
        self._fill_resting(market, self._processed)

    @_synchronized
    def midpoint(self, token_id: str) -> Decimal:
        """This token's midpoint: of the whole book, ours included, when our orders move prices
        (the process midpoint when a side of that book is empty); else the process midpoint."""
        self._sync()
        market, token = self._token(token_id)
        if self.rules.own_orders_move_prices:
            book = self.book(token_id)
            if book.best_bid is not None and book.best_ask is not None:
                return (book.best_bid + book.best_ask) / 2
        mid = market.mid_at(self._processed)
        return mid if token is Token.YES else ONE - mid

    @_synchronized
    def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        """The process midpoint sampled every `fidelity_minutes` from `start`, in this token's
        prices; only times the market has lived through (from its start up to now)."""
        if fidelity_minutes < 1:
            raise InvalidOrder("fidelity must be a positive number of minutes")
        self._sync()
        market, token = self._token(token_id)
        step = timedelta(minutes=fidelity_minutes)
        at, until = max(start, market.start), min(end, self._processed)
        points = []
        while at <= until:
            mid = market.mid_at(at)
            points.append(PricePoint(at=at, price=mid if token is Token.YES else ONE - mid))
            at += step
        return points

    @_synchronized
    def touch(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        """(best bid, best ask) in this token's prices, None for an empty side: of the whole
        book when our orders move prices, else the other makers' (the fill model's)."""
        self._sync()
        market, token = self._token(token_id)
        if self.rules.own_orders_move_prices:
            book = self.book(token_id)
            return book.best_bid, book.best_ask
        bid, ask = token_touch(token, *market.touch_at(self._processed, self._invent))
        return (bid if ZERO < bid < ONE else None), (ask if ZERO < ask < ONE else None)

    @_synchronized
    def book(self, token_id: str) -> Book:
        """Competitor depth around the touch plus every wallet's resting orders."""
        self._sync()
        market, token = self._token(token_id)
        tick = market.info.tick_size
        others = market.touch_at(self._processed, self._invent)
        bids, asks = competitor_levels(market.book_seed, *others, tick)
        ours = list(self._live_by_market.get(market.info.condition_id, {}).values())
        our_bids, our_asks = self._yes_levels(ours)
        for levels, mine in ((bids, our_bids), (asks, our_asks)):
            for price, size in mine.items():
                levels[price] = levels.get(price, ZERO) + size
        if token is Token.NO:
            bids, asks = (
                {ONE - price: size for price, size in asks.items()},
                {ONE - price: size for price, size in bids.items()},
            )
        return Book(
            token_id=token_id,
            bids=tuple(BookLevel(price=p, size=bids[p]) for p in sorted(bids, reverse=True)),
            asks=tuple(BookLevel(price=p, size=asks[p]) for p in sorted(asks)),
            tick_size=tick,
            min_order_size=market.info.min_order_size,
            at=self._processed,
        )

    # --- orders ---

    @_synchronized
    def place(
        self,
        address: str,
        order_id: str,
        token_id: str,
        side: Side,
        price: Decimal,
        size: Decimal,
        order_type: OrderType = OrderType.GTC,
        expiration: datetime | None = None,
        post_only: bool = False,
    ) -> Order:
        """Accept an order (or return the one already accepted under `order_id`)."""
        self._sync()
        existing = self._orders.get(order_id)
        if existing is not None:
            return existing.to_order()
        address = wallet_address(address)
        try:
            market, token = self._token(token_id)
        except NotFound as exc:
            raise InvalidOrder(str(exc)) from None
        now = self._processed
        self._validate(order_id, market.info, price, size, order_type, expiration, now)
        bid, ask = token_touch(token, *market.touch_at(now, self._invent))
        fill_price = price_on_placement(side, price, bid, ask)
        if post_only and fill_price is not None:
            raise WouldCross("invalid post-only order: order crosses book")
        self._check_funds(address, token_id, side, price, size)
        order = OrderRecord(
            order_id=order_id,
            address=address,
            condition_id=market.info.condition_id,
            token_id=token_id,
            token=token,
            side=side,
            price=price,
            original_size=size,
            created_at=now,
            order_type=order_type,
            expiration=expiration if order_type is OrderType.GTD else None,
            post_only=post_only,
        )
        self._orders[order_id] = order
        self._live[order_id] = order
        self._add_live(order)
        self._order_event(order, "PLACEMENT")
        if fill_price is not None:
            self._execute(order, fill_price, now, Liquidity.TAKER)
        return order.to_order()

    @staticmethod
    def _validate(
        order_id: str,
        info: MarketInfo,
        price: Decimal,
        size: Decimal,
        order_type: OrderType,
        expiration: datetime | None,
        now: datetime,
    ) -> None:
        tick = info.tick_size
        if not is_on_tick(price, tick):
            raise InvalidOrder(
                f"order {order_id} is invalid. Price ({price}) breaks minimum tick size rule: "
                f"{tick}"
            )
        if not tick <= price <= ONE - tick:
            raise InvalidOrder(
                f"order {order_id} is invalid. Price ({price}), min: {tick} - max: {ONE - tick}"
            )
        if size <= 0 or round_size(size) != size:
            raise InvalidOrder(
                f"order {order_id} is invalid. Size ({size}) must be a positive multiple of 0.01"
            )
        if size < info.min_order_size:
            raise InvalidOrder(
                f"order {order_id} is invalid. Size ({size}) lower than the minimum: "
                f"{info.min_order_size}"
            )
        if order_type is OrderType.GTD and (expiration is None or expiration <= now):
            raise InvalidOrder(f"order {order_id} is invalid. GTD needs a future expiration")

    def _check_funds(
        self, address: str, token_id: str, side: Side, price: Decimal, size: Decimal
    ) -> None:
        if address not in self._wallets:
            raise InsufficientBalance(f"not enough balance / allowance: unknown wallet {address}")
        free = self.available(address)
        if side is Side.BUY:
            have, need = free.collateral, price * size
        else:
            have, need = free.tokens.get(token_id, ZERO), size
        if need > have:
            raise InsufficientBalance(
                f"not enough balance / allowance: the balance is not enough -> balance: {have}, "
                f"order amount: {need}"
            )

    def _open(self, address: str, condition_id: str | None = None) -> list[OrderRecord]:
        """The wallet's resting orders (in one market), in placement order."""
        if condition_id is None:
            return list(self._live_by_wallet.get(address, {}).values())
        in_market = self._live_by_market.get(condition_id, {})
        return [order for order in in_market.values() if order.address == address]

    @_synchronized
    def cancel(self, address: str, order_id: str) -> bool:
        """Cancel one of the wallet's resting orders; False if it is not resting (no error)."""
        self._sync()
        order = self._live.get(order_id)
        if order is None or order.address != wallet_address(address):
            return False
        self._close(order, OrderStatus.CANCELED, self._processed)
        return True

    @_synchronized
    def cancel_market(self, address: str, condition_id: str) -> list[str]:
        """Cancel the wallet's resting orders in one market; returns the cancelled ids."""
        self._sync()
        return self._cancel_each(self._open(wallet_address(address), condition_id))

    @_synchronized
    def cancel_all(self, address: str) -> list[str]:
        self._sync()
        return self._cancel_each(self._open(wallet_address(address)))

    def _cancel_each(self, orders: list[OrderRecord]) -> list[str]:
        for order in orders:
            self._close(order, OrderStatus.CANCELED, self._processed)
        return [order.order_id for order in orders]

    @_synchronized
    def open_orders(self, address: str, condition_id: str | None = None) -> list[Order]:
        self._sync()
        return [order.to_order() for order in self._open(wallet_address(address), condition_id)]

    @_synchronized
    def get_order(self, order_id: str, address: str | None = None) -> Order | None:
        """Any order ever accepted (or only the wallet's, when `address` is given)."""
        self._sync()
        order = self._orders.get(order_id)
        if order is None or (address is not None and order.address != wallet_address(address)):
            return None
        return order.to_order()

    def _close(self, order: OrderRecord, status: OrderStatus, at: datetime) -> None:
        order.status = status
        if status is OrderStatus.CANCELED:
            order.cancelled_at = at
        else:
            order.filled_at = at
        if self._live.pop(order.order_id, None) is not None:
            self._live_by_market[order.condition_id].pop(order.order_id)
            self._live_by_wallet[order.address].pop(order.order_id)
        if status is OrderStatus.CANCELED:
            self._order_event(order, "CANCELLATION")

    def _sample_rewards(self, at: datetime) -> None:
        """The minute's reward sample of every market with orders of ours; a new day pays the
        days before it."""
        for address, amount in self.rewards.close_days_before(at.date()).items():
            self._wallets[address].collateral += amount
        by_market: dict[str, list[OrderRecord]] = {}
        for order in self._live.values():
            by_market.setdefault(order.condition_id, []).append(order)
        for condition_id, orders in by_market.items():
            market = self._markets[condition_id]
            others = market.touch_at(at, self._invent)
            bids, asks = competitor_levels(market.book_seed, *others, market.info.tick_size)
            mine_bids, mine_asks = self._yes_levels(orders)
            best_bid = max([*bids, *mine_bids], default=None)
            best_ask = min([*asks, *mine_asks], default=None)
            if best_bid is None or best_ask is None:
                continue
            mid = (
                (best_bid + best_ask) / 2
                if self.rules.own_orders_move_prices
                else market.mid_at(at)
            )
            self.rewards.sample(
                at, market.info, mid, (tuple(bids.items()), tuple(asks.items())), orders
            )

    @staticmethod
    def _yes_levels(
        orders: Sequence[OrderRecord],
    ) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """Orders as YES-book bids and asks (a NO bid is a YES ask at 1 - price)."""
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for order in orders:
            is_yes_bid = (order.side is Side.BUY) == (order.token is Token.YES)
            price = order.price if order.token is Token.YES else ONE - order.price
            levels = bids if is_yes_bid else asks
            levels[price] = levels.get(price, ZERO) + order.remaining
        return bids, asks

    def _retick(self, market: SimMarket, at: datetime) -> None:
        """The tick a 0.01 market has at this midpoint: 0.001 beyond 0.96 / below 0.04."""
        if market.listed_tick != COARSE_TICK:
            return
        mid = market.mid_at(at)
        tick = FINE_TICK if mid > FINE_ABOVE or mid < ONE - FINE_ABOVE else COARSE_TICK
        if tick != market.info.tick_size:
            market.info = market.info.model_copy(update={"tick_size": tick})

    # --- fills ---

    def _fill_resting(self, market: SimMarket, at: datetime) -> None:
        if self.rules.dynamic_tick:
            self._retick(market, at)
        yes_bid, yes_ask = market.touch_at(at, self._invent)
        for order in list(self._live_by_market.get(market.info.condition_id, {}).values()):
            bid, ask = token_touch(order.token, yes_bid, yes_ask)
            if resting_fills(order.side, order.price, bid, ask):
                self._execute(order, order.price, at, Liquidity.MAKER)

    def _execute(
        self, order: OrderRecord, price: Decimal, at: datetime, liquidity: Liquidity
    ) -> None:
        size = order.remaining
        if self._fill_cap is not None:
            size = min(size, self._fill_cap)
        order.size_matched += size
        order.fills += 1
        if order.remaining <= 0:
            self._close(order, OrderStatus.MATCHED, at)
        self._seq += 1
        trade_id = str(
            uuid.UUID(
                bytes=hashlib.sha256(f"{order.order_id}:{order.fills}".encode()).digest()[:16]
            )
        )
        self._trades[trade_id] = Trade(
            trade_id=trade_id,
            seq=self._seq,
            order_id=order.order_id,
            address=order.address,
            condition_id=order.condition_id,
            token_id=order.token_id,
            token=order.token,
            side=order.side,
            price=price,
            size=size,
            at=at,
            liquidity=liquidity,
            status=TradeStatus.CONFIRMED if self._settlement.instant else TradeStatus.MATCHED,
            updated_at=at,
            fee=self._taker_fee(price, size) if liquidity is Liquidity.TAKER else ZERO,
        )
        self._add_trade(self._trades[trade_id])
        if self._settlement.instant:
            self._settle(order.address, order.token_id, order.side, price, size)
            self._wallets[order.address].collateral -= self._trades[trade_id].fee
        else:
            self._settlement.schedule(trade_id, at)
        self._trade_event(self._trades[trade_id])
        self._order_event(order, "UPDATE", trade_id)

    def _taker_fee(self, price: Decimal, size: Decimal) -> Decimal:
        rate, exponent = Decimal(str(self.rules.fee_rate)), Decimal(str(self.rules.fee_exponent))
        return taker_fee(price, size, rate, exponent)

    def _settle_step(self, trade: Trade, status: TradeStatus, at: datetime) -> None:
        """Move a trade on; balances move when it is CONFIRMED (a FAILED one moves nothing)."""
        if status is TradeStatus.CONFIRMED:
            self._settle(trade.address, trade.token_id, trade.side, trade.price, trade.size)
            self._wallets[trade.address].collateral -= trade.fee
        self._seq += 1
        self._trades[trade.trade_id] = trade.model_copy(
            update={"status": status, "seq": self._seq, "updated_at": at}
        )
        self._trade_event(self._trades[trade.trade_id])

    def _settle(
        self, address: str, token_id: str, side: Side, price: Decimal, size: Decimal
    ) -> None:
        """Move collateral and tokens for a fill (a negative size reverses one)."""
        wallet = self._wallets[address]
        sign = 1 if side is Side.BUY else -1
        wallet.collateral -= sign * price * size
        wallet.add_tokens(token_id, sign * size)

    @_synchronized
    def trades(self, address: str, after: int = 0, condition_id: str | None = None) -> list[Trade]:
        """The wallet's trades changed after sequence number `after`, oldest change first."""
        self._sync()
        address = wallet_address(address)
        if condition_id is None:
            ids = self._trades_by_wallet.get(address, {})
        else:
            ids = self._trades_by_market.get((address, condition_id), {})
        return sorted(
            (trade for trade in map(self._trades.__getitem__, ids) if trade.seq > after),
            key=lambda trade: trade.seq,
        )

    @_synchronized
    def order_trades(self, order_id: str) -> list[Trade]:
        """One order's trades, oldest change first."""
        self._sync()
        trades = map(self._trades.__getitem__, self._trades_by_order.get(order_id, ()))
        return sorted(trades, key=lambda trade: trade.seq)

    @_synchronized
    def fail_trade(self, trade_id: str) -> Trade:
        """Mark a trade FAILED now (settlement failed): a settled trade's balance changes are
        reversed, an unsettled one never settles; it is reported again with a new `seq`. The
        order keeps its matched size."""
        trade = self._trades.get(trade_id)
        if trade is None:
            raise NotFound(f"trade {trade_id} not found")
        if trade.status is TradeStatus.FAILED:
            return trade
        if not self._settlement.cancel(trade_id):  # settled: its balance changes go back
            self._settle(trade.address, trade.token_id, trade.side, trade.price, -trade.size)
            self._wallets[trade.address].collateral += trade.fee
        self._seq += 1
        failed = trade.model_copy(
            update={"status": TradeStatus.FAILED, "seq": self._seq, "updated_at": self._processed}
        )
        self._trades[trade_id] = failed
        self._trade_event(failed)
        return failed

    @_synchronized
    def reward_earnings(self, address: str, day: date) -> dict[str, Decimal]:
        """The liquidity rewards a wallet earned on `day`, per market (see dualmm.sim.rewards)."""
        self._sync()
        return self.rewards.earnings(wallet_address(address), day)

    # --- admin ---

    @_synchronized
    def ledger(self) -> dict[str, Any]:
        """Every order ever accepted, every fill and every wallet's holdings, JSON-ready."""
        self._sync()
        return {
            "now": iso(self._processed),
            "wallets": {
                address: {
                    "collateral": str(wallet.collateral),
                    "tokens": {token_id: str(qty) for token_id, qty in wallet.tokens.items()},
                }
                for address, wallet in self._wallets.items()
            },
            "orders": [order.ledger_entry() for order in self._orders.values()],
            "fills": [trade.model_dump(mode="json") for trade in self._trades.values()],
        }

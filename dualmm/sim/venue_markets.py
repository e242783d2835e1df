"""The simulated venue's market data: the markets, their ticks, midpoints, touch, book and
price history, and the minute's liquidity-reward sample."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from dualmm.domain.prices import ONE, check_tick
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange.base import Book, BookLevel, InvalidOrder, PricePoint, RewardMarket
from dualmm.sim.ledger import ZERO, OrderRecord, wallet_address
from dualmm.sim.market import token_touch
from dualmm.sim.synthetic import competitor_levels
from dualmm.sim.venue_base import synchronized
from dualmm.sim.venue_orders import VenueOrders


class VenueMarkets(VenueOrders):
    """Markets, prices, books and rewards (see the module docstring)."""

    @synchronized
    def markets(self) -> list[MarketInfo]:
        return [market.info for market in self._markets.values()]

    @synchronized
    def market(self, condition_id: str) -> MarketInfo:
        return self._market(condition_id).info

    @synchronized
    def market_of_token(self, token_id: str) -> MarketInfo:
        return self._token(token_id)[0].info

    @synchronized
    def reward_markets(self) -> list[RewardMarket]:
        return [
            RewardMarket(
                info=m.info,
                end_date=m.end_date,
                accepting_orders=m.winner is None,
                active=m.winner is None,
            )
            for m in self._markets.values()
        ]

    @synchronized
    def winner(self, condition_id: str) -> Token | None:
        """The token a resolved market paid out on (None: not resolved)."""
        return self._market(condition_id).winner

    @synchronized
    def resolve(self, condition_id: str, winner: Token) -> MarketInfo:
        """Resolve a market: every resting order in it is cancelled and no new one accepted."""
        self._sync()
        market = self._market(condition_id)
        if market.winner is not None:
            raise ValueError(f"market {condition_id} already resolved ({market.winner} won)")
        market.winner = winner
        self._cancel_each(list(self._live_by_market.get(condition_id, {}).values()))
        self._book_event(condition_id)
        return market.info

    @synchronized
    def tick_size(self, token_id: str) -> Decimal:
        return self._token(token_id)[0].info.tick_size

    @synchronized
    def neg_risk(self, token_id: str) -> bool:
        return self._token(token_id)[0].info.neg_risk

    @synchronized
    def set_tick_size(self, condition_id: str, tick: Decimal) -> None:
        """Change a live market's tick; resting orders the new touch reaches fill now."""
        check_tick(tick)
        self._sync()
        market = self._market(condition_id)
        market.info = market.info.model_copy(update={"tick_size": tick})
        self._fill_resting(market, self._processed)

    @synchronized
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

    @synchronized
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

    @synchronized
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

    @synchronized
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

    @synchronized
    def reward_earnings(self, address: str, day: date) -> dict[str, Decimal]:
        """The liquidity rewards a wallet earned on `day`, per market (see dualmm.sim.rewards)."""
        self._sync()
        return self.rewards.earnings(wallet_address(address), day)

"""The simulated venue's orders and fills: validation, placement, cancels, and matching by
the touch fill model (see dualmm.sim.venue for the fill semantics)."""

from __future__ import annotations

import hashlib
import heapq
import uuid
from datetime import datetime
from decimal import Decimal

from dualmm.domain.fillmodel import price_on_placement, resting_fills
from dualmm.domain.prices import ONE, is_on_tick, round_size, round_to_tick
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange.base import InvalidOrder, NotFound, Order, OrderStatus, OrderType, WouldCross
from dualmm.sim.ledger import (
    ZERO,
    Liquidity,
    OrderRecord,
    TapePrint,
    Trade,
    TradeStatus,
    VenueEvent,
    wallet_address,
)
from dualmm.sim.market import SimMarket, token_touch
from dualmm.sim.synthetic import competitor_levels
from dualmm.sim.venue_base import synchronized
from dualmm.sim.venue_wallets import VenueWallets

_OTHER_SIDE = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}


class VenueOrders(VenueWallets):
    """Orders: placed, cancelled, and filled against the touch (see dualmm.sim.venue)."""

    @synchronized
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
        if market.winner is not None:
            raise InvalidOrder(f"order {order_id} is invalid. The market is closed (resolved)")
        now = self._processed
        immediate = order_type in (OrderType.FOK, OrderType.FAK)
        if immediate:  # a market order's amounts give its worst price to within rounding
            price = round_to_tick(price, market.info.tick_size)
        self._validate(order_id, market.info, price, size, order_type, expiration, now)
        if post_only and immediate:
            raise InvalidOrder(
                f"order {order_id} is invalid. Only GTC and GTD orders can be post only"
            )
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
        if immediate:
            return self._take(order, market)
        self._accept(order)
        if fill_price is not None:
            self._execute(order, fill_price, now, Liquidity.TAKER)
        return order.to_order()

    def _accept(self, order: OrderRecord) -> None:
        """Book an order as live (the venue has taken it)."""
        self._orders[order.order_id] = order
        self._live[order.order_id] = order
        self._add_live(order)
        self._order_event(order, "PLACEMENT")

    def _take(self, order: OrderRecord, market: SimMarket) -> Order:
        """A FOK or FAK order: matched at once against the displayed depth within its limit,
        level by level at each level's price; FOK fills all or is killed before any fill, FAK
        fills what there is (killed when nothing matches) and the rest is cancelled."""
        now = self._processed
        side, price = order.side, order.price
        fills = []
        left = order.original_size
        for level_price, level_size in self._depth(market, order.token_id, side):
            if left <= 0 or (level_price > price if side is Side.BUY else level_price < price):
                break
            take = min(left, level_size)
            fills.append((level_price, take))
            left -= take
        if order.order_type is OrderType.FOK and left > 0:
            raise InvalidOrder(
                "order couldn't be fully filled. FOK orders are fully filled or killed."
            )
        if not fills:
            raise InvalidOrder(
                "no orders found to match with FAK order. FAK orders are partially filled or "
                "killed if no match is found."
            )
        self._accept(order)
        for fill_price, fill_size in fills:
            self._execute(order, fill_price, now, Liquidity.TAKER, fill_size)
        if order.order_id in self._live:  # FAK: the rest is cancelled
            self._close(order, OrderStatus.CANCELED, now)
        return order.to_order()

    def _depth(self, market: SimMarket, token_id: str, side: Side) -> list[tuple[Decimal, Decimal]]:
        """The other makers' levels a taker on `side` meets, best first, in this token's
        prices (a NO book mirrors the YES one)."""
        others = market.touch_at(self._processed, self._invent)
        yes_bids, yes_asks = competitor_levels(market.book_seed, *others, market.info.tick_size)
        if market.info.token_of(token_id) is Token.YES:
            levels = yes_asks if side is Side.BUY else yes_bids
            return sorted(levels.items(), reverse=side is Side.SELL)
        levels = yes_bids if side is Side.BUY else yes_asks  # NO ask = 1 - YES bid
        mirrored = {ONE - p: s for p, s in levels.items()}
        return sorted(mirrored.items(), reverse=side is Side.SELL)

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
        immediate = order_type in (OrderType.FOK, OrderType.FAK)  # any share precision
        if size <= 0 or (round_size(size) != size and not immediate):
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

    @synchronized
    def cancel(self, address: str, order_id: str) -> bool:
        """Cancel one of the wallet's resting orders; False if it is not resting (no error)."""
        self._sync()
        order = self._live.get(order_id)
        if order is None or order.address != wallet_address(address):
            return False
        self._close(order, OrderStatus.CANCELED, self._processed)
        return True

    @synchronized
    def cancel_market(self, address: str, condition_id: str) -> list[str]:
        """Cancel the wallet's resting orders in one market; returns the cancelled ids."""
        self._sync()
        return self._cancel_each(self._open(wallet_address(address), condition_id))

    @synchronized
    def cancel_all(self, address: str) -> list[str]:
        self._sync()
        return self._cancel_each(self._open(wallet_address(address)))

    def _cancel_each(self, orders: list[OrderRecord]) -> list[str]:
        for order in orders:
            self._close(order, OrderStatus.CANCELED, self._processed)
        return [order.order_id for order in orders]

    @synchronized
    def open_orders(self, address: str, condition_id: str | None = None) -> list[Order]:
        self._sync()
        return [order.to_order() for order in self._open(wallet_address(address), condition_id)]

    @synchronized
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

    def _add_live(self, order: OrderRecord) -> None:
        self._live_by_market.setdefault(order.condition_id, {})[order.order_id] = order
        self._live_by_wallet.setdefault(order.address, {})[order.order_id] = order
        if order.expiration is not None:
            heapq.heappush(self._expiring, (order.expiration, self._placed, order.order_id))
        self._placed += 1

    # --- fills ---

    def _fill_resting(self, market: SimMarket, at: datetime) -> None:
        if self.rules.dynamic_tick:
            market.retick(at)
        self._book_event(market.info.condition_id)
        yes_bid, yes_ask = market.touch_at(at, self._invent)
        self._tape(market, yes_bid, yes_ask, at)
        for order in list(self._live_by_market.get(market.info.condition_id, {}).values()):
            bid, ask = token_touch(order.token, yes_bid, yes_ask)
            if resting_fills(order.side, order.price, bid, ask):
                self._execute(order, order.price, at, Liquidity.MAKER)

    def _tape(self, market: SimMarket, yes_bid: Decimal, yes_ask: Decimal, at: datetime) -> None:
        """The trades that moved the other makers' touch: a rising ask was bought through (each
        level the old book showed below the new ask), a falling bid sold through."""
        condition_id, tick = market.info.condition_id, market.info.tick_size
        before = self._last_touch.get(condition_id)
        if before is None:  # first seen: the touch as processed so far
            before = market.touch_at(min(self._processed, at), self._invent)
        self._last_touch[condition_id] = (yes_bid, yes_ask)
        if (yes_bid, yes_ask) == before or not self._listeners:
            return
        old_bids, old_asks = competitor_levels(market.book_seed, *before, tick)
        if yes_ask > before[1] and yes_bid >= before[0]:
            taken = [(p, s) for p, s in sorted(old_asks.items()) if p < yes_ask]
            side = Side.BUY
        elif yes_bid < before[0] and yes_ask <= before[1]:
            taken = [(p, s) for p, s in sorted(old_bids.items(), reverse=True) if p > yes_bid]
            side = Side.SELL
        else:
            return
        token_id = market.info.yes_token_id
        if taken:
            self._last_print[token_id] = (taken[-1][0], side.value)
        for price, size in taken:
            tape = TapePrint(condition_id, token_id, side, price, size, at)
            self._emit(VenueEvent("tape", "", "", condition_id, tape=tape))

    def _execute(
        self,
        order: OrderRecord,
        price: Decimal,
        at: datetime,
        liquidity: Liquidity,
        size: Decimal | None = None,
    ) -> None:
        size = order.remaining if size is None else min(size, order.remaining)
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
        taker = order.side if liquidity is Liquidity.TAKER else _OTHER_SIDE[order.side]
        self._last_print[order.token_id] = (price, taker.value)
        if self._settlement.instant:
            self._settle(order.address, order.token_id, order.side, price, size)
            self._wallets[order.address].collateral -= self._trades[trade_id].fee
        else:
            self._settlement.schedule(trade_id, at)
        self._trade_event(self._trades[trade_id])
        self._order_event(order, "UPDATE", trade_id)

"""Public market-data endpoints: tick size, books, midpoints, prices, spreads, history."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dualmm.exchange.base import Book
from dualmm.sim.auth import ApiError
from dualmm.sim.venue import SimVenue
from dualmm.sim.wire import (
    JSON,
    NO_ORDERBOOK,
    Handler,
    Request,
    Routes,
    dec,
    is_digits,
    num,
    token_list,
    token_param,
    unix,
    venue_errors,
)

MAX_FIDELITY_MINUTES = 60 * 24 * 365
# /prices-history intervals back from now; "max" is the market's whole life.
_INTERVALS = {
    "1m": timedelta(days=30),
    "1w": timedelta(weeks=1),
    "1d": timedelta(days=1),
    "6h": timedelta(hours=6),
    "1h": timedelta(hours=1),
    "max": None,
}


class MarketDataRoutes:
    """The public book and price endpoints over a venue."""

    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue

    def routes(self) -> Routes:
        exact: dict[tuple[str, str], Handler] = {
            ("GET", "/"): self.ok,
            ("GET", "/ok"): self.ok,
            ("GET", "/time"): lambda _: int(time.time()),
            ("GET", "/version"): lambda _: {"version": 2},
            ("GET", "/tick-size"): self._tick_size,
            ("GET", "/neg-risk"): self._neg_risk,
            ("GET", "/fee-rate"): self._fee_rate,
            ("GET", "/book"): lambda r: self.book_json(self._venue_book(token_param(r))),
            ("POST", "/books"): self._books,
            ("GET", "/midpoint"): self._midpoint,
            ("POST", "/midpoints"): self._midpoints,
            ("GET", "/price"): self._price,
            ("GET", "/last-trade-price"): self._last_trade_price,
            ("POST", "/last-trades-prices"): self._last_trades_prices,
            ("POST", "/prices"): self._prices,
            ("GET", "/spread"): self._spread,
            ("POST", "/spreads"): self._spreads,
            ("GET", "/prices-history"): self._prices_history,
        }
        return Routes(exact=exact, prefix=[], keyed={}, keyed_prefix=[])

    @staticmethod
    def ok(_: Request) -> str:
        return "OK"

    def _venue_book(self, token_id: str) -> Book:
        with venue_errors(message=NO_ORDERBOOK):
            return self.venue.book(token_id)

    def midpoint(self, token_id: str) -> Decimal:
        with venue_errors(message=NO_ORDERBOOK):
            return self.venue.midpoint(token_id)

    def _midpoint(self, request: Request) -> JSON:
        """`{"mid": p}` as the SDK reads it, or `{"mid_price": p}` as the docs show it."""
        field = "mid_price" if self.venue.rules.status_spelling == "docs" else "mid"
        return {field: dec(self.midpoint(token_param(request)))}

    def _tick_size(self, request: Request) -> JSON:
        with venue_errors(message=NO_ORDERBOOK):
            return {"minimum_tick_size": num(self.venue.tick_size(token_param(request)))}

    def _neg_risk(self, request: Request) -> JSON:
        with venue_errors(message=NO_ORDERBOOK):
            return {"neg_risk": self.venue.neg_risk(token_param(request))}

    def _fee_rate(self, request: Request) -> JSON:
        with venue_errors(message=NO_ORDERBOOK):
            self.venue.market_of_token(token_param(request))
        return {"base_fee": 0}  # the reward markets simulated here charge no fee

    def book_json(self, book: Book) -> JSON:
        with venue_errors():
            market = self.venue.market_of_token(book.token_id)
        summary = {
            "market": market.condition_id,
            "asset_id": book.token_id,
            "timestamp": str(int(book.at.timestamp() * 1000)),
            "hash": "",
            "bids": [{"price": dec(x.price), "size": dec(x.size)} for x in reversed(book.bids)],
            "asks": [{"price": dec(x.price), "size": dec(x.size)} for x in reversed(book.asks)],
            "min_order_size": dec(book.min_order_size),
            "tick_size": dec(book.tick_size),
            "neg_risk": market.neg_risk,
            "last_trade_price": self.last_trade(book.token_id)[0],
        }
        compact = json.dumps(summary, separators=(",", ":"), ensure_ascii=False)
        summary["hash"] = hashlib.sha1(compact.encode()).hexdigest()
        return summary

    def _books(self, request: Request) -> JSON:
        return [self.book_json(self._venue_book(t)) for t in token_list(request)]

    def _midpoints(self, request: Request) -> JSON:
        return {t: dec(self.midpoint(t)) for t in token_list(request)}

    def _price(self, request: Request) -> JSON:
        side = request.query.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            raise ApiError(400, "Invalid side")
        bid, ask = self._touch(token_param(request))
        price = bid if side == "BUY" else ask
        if price is None:  # never invented: a side nobody quotes has no price
            raise ApiError(404, f"No {'bids' if side == 'BUY' else 'asks'} in the orderbook")
        return {"price": dec(price)}

    def last_trade(self, token_id: str) -> tuple[str, str]:
        """The token's last trade (price, taker side); the midpoint before any."""
        with venue_errors(message=NO_ORDERBOOK):
            last = self.venue.last_trade(token_id)
        return (dec(last[0]), last[1]) if last is not None else (dec(self.midpoint(token_id)), "")

    def _last_trade_price(self, request: Request) -> JSON:
        price, side = self.last_trade(token_param(request))
        return {"price": price, "side": side}

    def _last_trades_prices(self, request: Request) -> JSON:
        answers = []
        for token_id in token_list(request):
            price, side = self.last_trade(token_id)
            answers.append({"token_id": token_id, "price": price, "side": side})
        return answers

    def _touch(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        with venue_errors(message=NO_ORDERBOOK):
            return self.venue.touch(token_id)

    def _prices(self, request: Request) -> JSON:
        prices = {}
        for token_id in token_list(request):
            bid, ask = self._touch(token_id)
            sides = (("BUY", bid), ("SELL", ask))
            prices[token_id] = {side: dec(p) for side, p in sides if p is not None}
        return prices

    def _spread(self, request: Request) -> JSON:
        bid, ask = self._touch(token_param(request))
        if bid is None or ask is None:
            raise ApiError(404, "No spread: a side of the orderbook is empty")
        return {"spread": dec(ask - bid)}

    def _spreads(self, request: Request) -> JSON:
        """`{token_id: spread}` for the tokens asked (a token with an empty side has none)."""
        spreads = {}
        for token_id in token_list(request):
            bid, ask = self._touch(token_id)
            if bid is not None and ask is not None:
                spreads[token_id] = dec(ask - bid)
        return spreads

    def _prices_history(self, request: Request) -> JSON:
        """`market` (a token id) with `startTs`/`endTs` (unix seconds) or an `interval` back
        from now; `fidelity` in minutes. Polymarket's shape: {"history": [{"t", "p"}]}."""
        query = request.query
        token_id = query.get("market", "")
        if not is_digits(token_id):
            raise ApiError(400, "Invalid market")
        try:
            fidelity = int(query.get("fidelity", "1"))
            if not 1 <= fidelity <= MAX_FIDELITY_MINUTES:
                raise ValueError("fidelity out of range")
            stamps = [
                datetime.fromtimestamp(int(query[name]), UTC)
                for name in ("startTs", "endTs")
                if name in query
            ]
        except (ValueError, OverflowError, OSError):
            raise ApiError(400, "Invalid startTs, endTs or fidelity") from None
        interval = query.get("interval")
        if interval is not None:
            if stamps:
                raise ApiError(400, "startTs/endTs and interval are mutually exclusive")
            if interval not in _INTERVALS:
                raise ApiError(400, f"Invalid interval {interval!r}")
            now, span = self.venue.now(), _INTERVALS[interval]
            begin, until = (now - span if span else datetime.min.replace(tzinfo=UTC)), now
        elif len(stamps) != 2:
            raise ApiError(400, "startTs and endTs, or interval, are required")
        else:
            begin, until = stamps
        with venue_errors(message=NO_ORDERBOOK):
            points = self.venue.price_history(token_id, begin, until, fidelity)
        return {"history": [{"t": unix(p.at), "p": num(p.price)} for p in points]}

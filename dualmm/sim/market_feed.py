"""The market channel's messages, built from the venue's books and trades (pure functions).

Field names and types as Polymarket documents them (market-data/websocket/market-channel):
prices, sizes and timestamps are strings, timestamps in milliseconds; books list their levels
like REST `/book` (best bid and best ask last). A `price_change` carries one entry per
changed level (`size` "0" removes it) with the asset's best bid and ask after it ("0" and "1"
stand for an empty side) and its `hash` (dualmm.book_hash: the book after that entry).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from dualmm.book_hash import book_hash, canonical
from dualmm.domain.types import Side
from dualmm.exchange.base import Book
from dualmm.sim.ledger import Liquidity, TapePrint, Trade
from dualmm.sim.wire import tx_hash

ZERO, ONE = Decimal(0), Decimal(1)
Message = dict[str, Any]


def ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def levels(book: Book) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    return {x.price: x.size for x in book.bids}, {x.price: x.size for x in book.asks}


def hash_of(book: Book) -> str:
    bids, asks = levels(book)
    return book_hash(book.token_id, bids.items(), asks.items())


def book_message(market: str, book: Book, last_trade_price: Decimal) -> Message:
    return {
        "event_type": "book",
        "asset_id": book.token_id,
        "market": market,
        "bids": [{"price": canonical(x.price), "size": canonical(x.size)} for x in book.bids[::-1]],
        "asks": [{"price": canonical(x.price), "size": canonical(x.size)} for x in book.asks[::-1]],
        "timestamp": ms(book.at),
        "hash": hash_of(book),
        "tick_size": canonical(book.tick_size),
        "last_trade_price": canonical(last_trade_price),
    }


def price_change_entries(old: Book, new: Book) -> list[Message]:
    """The level changes from `old` to `new` of one asset, each with the book after it."""
    bids, asks = levels(old)
    new_bids, new_asks = levels(new)
    changes = [
        (side, price, target.get(price, ZERO))
        for side, book, target in (("BUY", bids, new_bids), ("SELL", asks, new_asks))
        for price in sorted(set(book) | set(target))
        if book.get(price, ZERO) != target.get(price, ZERO)
    ]
    entries = []
    for side, price, size in changes:
        book = bids if side == "BUY" else asks
        if size:
            book[price] = size
        else:
            book.pop(price, None)
        entries.append(
            {
                "asset_id": new.token_id,
                "price": canonical(price),
                "size": canonical(size),
                "side": side,
                "hash": book_hash(new.token_id, bids.items(), asks.items()),
                "best_bid": canonical(max(bids, default=ZERO)),
                "best_ask": canonical(min(asks, default=ONE)),
            }
        )
    return entries


def price_change(market: str, entries: list[Message], at: datetime) -> Message:
    return {
        "event_type": "price_change",
        "market": market,
        "price_changes": entries,
        "timestamp": ms(at),
    }


def tick_size_change(
    market: str, asset_id: str, old: Decimal, new: Decimal, at: datetime
) -> Message:
    return {
        "event_type": "tick_size_change",
        "asset_id": asset_id,
        "market": market,
        "old_tick_size": canonical(old),
        "new_tick_size": canonical(new),
        "timestamp": ms(at),
    }


def best_bid_ask(market: str, book: Book) -> Message:
    bid = book.best_bid if book.best_bid is not None else ZERO
    ask = book.best_ask if book.best_ask is not None else ONE
    return {
        "event_type": "best_bid_ask",
        "market": market,
        "asset_id": book.token_id,
        "best_bid": canonical(bid),
        "best_ask": canonical(ask),
        "spread": canonical(ask - bid),
        "timestamp": ms(book.at),
    }


def taker_side(trade: Trade) -> Side:
    """The side of the order that crossed: ours when we took, the other's when we made."""
    if trade.liquidity is Liquidity.TAKER:
        return trade.side
    return Side.SELL if trade.side is Side.BUY else Side.BUY


def last_trade_price(trade: Trade) -> Message:
    return {
        "event_type": "last_trade_price",
        "asset_id": trade.token_id,
        "market": trade.condition_id,
        "price": canonical(trade.price),
        "size": canonical(trade.size),
        "fee_rate_bps": canonical(trade.fee_rate_bps),
        "side": taker_side(trade).value,
        "timestamp": ms(trade.at),
        "transaction_hash": tx_hash(trade.trade_id),
    }


def tape_trade(tape: TapePrint) -> Message:
    """The other traders' trade (TapePrint) as `last_trade_price`."""
    key = f"tape:{tape.condition_id}:{tape.at.isoformat()}:{tape.side.value}:{tape.price}"
    return {
        "event_type": "last_trade_price",
        "asset_id": tape.token_id,
        "market": tape.condition_id,
        "price": canonical(tape.price),
        "size": canonical(tape.size),
        "fee_rate_bps": "0",
        "side": tape.side.value,
        "timestamp": ms(tape.at),
        "transaction_hash": tx_hash(key),
    }


def new_market(
    market: str, asset_ids: list[str], question: str, tick: Decimal, at: datetime
) -> Message:
    return {
        "event_type": "new_market",
        "id": market,
        "market": market,
        "condition_id": market,
        "question": question,
        "assets_ids": asset_ids,
        "clob_token_ids": asset_ids,
        "outcomes": ["Yes", "No"],
        "order_price_min_tick_size": canonical(tick),
        "active": True,
        "timestamp": ms(at),
    }


def market_resolved(
    market: str, asset_ids: list[str], question: str, winner: str, at: datetime
) -> Message:
    """A market resolved: `winner` is its winning token (the first of `asset_ids` is Yes)."""
    outcomes = ["Yes", "No"]
    return {
        "event_type": "market_resolved",
        "id": market,
        "market": market,
        "question": question,
        "slug": market[:18],
        "description": "",
        "assets_ids": asset_ids,
        "outcomes": outcomes,
        "winning_asset_id": winner,
        "winning_outcome": outcomes[asset_ids.index(winner)],
        "tags": [],
        "timestamp": ms(at),
    }

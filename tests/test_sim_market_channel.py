"""The simulator's market channel (/ws/market, issue 18): documented subscription and events,
published from the book REST serves (our orders included), hashes a client can check after
every event, and the faults of a harsh venue (a cut connection, a silent channel, a missed
event that the next hash exposes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sim_helpers import START, Steered, connect
from sim_helpers import WsClient as Client

from dualmm import websocket as ws
from dualmm.book_hash import book_hash
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange.base import InvalidOrder
from dualmm.exchange.sync import sync_market
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue

YES, NO = "501", "502"
WALLET = "0x" + "ab" * 20


class Market:
    """One market at 0.50 on a manual clock; `move` changes its midpoint."""

    def __init__(self) -> None:
        self.info = MarketInfo(
            condition_id="0xmkt",
            question="Will it?",
            yes_token_id=YES,
            no_token_id=NO,
            tick_size=Decimal("0.01"),
            min_order_size=Decimal(5),
        )
        self.path = Steered()
        self.clock = ManualClock(START)
        self.venue = SimVenue([SimMarket(self.info, self.path, START, book_seed="m")], self.clock)

    def move(self, mid: str) -> None:
        at = (self.clock.now() - START).total_seconds() + 1
        self.path.points.append((at, Decimal(mid)))
        self.venue.advance(1)


class LocalBook:
    """A client's book of one asset, kept from `book` and `price_change` and checked by hash."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.asset = ""

    def load(self, event: dict[str, Any]) -> bool:
        self.asset = event["asset_id"]
        self.bids = {Decimal(x["price"]): Decimal(x["size"]) for x in event["bids"]}
        self.asks = {Decimal(x["price"]): Decimal(x["size"]) for x in event["asks"]}
        return self.hash() == event["hash"]

    def apply(self, entry: dict[str, Any]) -> bool:
        """Apply one price_change entry; whether the hash still matches."""
        side = self.bids if entry["side"] == "BUY" else self.asks
        price, size = Decimal(entry["price"]), Decimal(entry["size"])
        if size:
            side[price] = size
        else:
            side.pop(price, None)
        return self.hash() == entry["hash"]

    def hash(self) -> str:
        return book_hash(self.asset, self.bids.items(), self.asks.items())

    def levels(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        return self.bids, self.asks


def rest_levels(server: SimServer, token: str) -> tuple[dict[Decimal, Decimal], ...]:
    book = server.venue.book(token)
    return {x.price: x.size for x in book.bids}, {x.price: x.size for x in book.asks}


@pytest.fixture
def market() -> Market:
    return Market()


@pytest.fixture
def server(market: Market) -> Iterator[SimServer]:
    with SimServer(market.venue, admin=True, read_timeout_s=2.0) as running:
        yield running


def subscribe(server: SimServer, assets: list[str], **options: Any) -> Client:
    client = Client(server, "/ws/market")
    assert client.status == 101
    client.text({"assets_ids": assets, "type": "market", **options})
    return client


def next_event(client: Client, kind: str) -> dict[str, Any]:
    """The next message of this kind (others skipped)."""
    while True:
        message = client.message()
        if isinstance(message, dict) and message.get("event_type") == kind:
            return message


def follow(client: Client, books: dict[str, LocalBook], until: Any) -> None:
    """Apply events to the local books until `until()` holds, asserting every hash."""
    deadline = time.monotonic() + 30
    while not until():
        assert time.monotonic() < deadline, "the books never caught up"
        message = client.message()
        if message == "PONG":
            continue
        if message["event_type"] == "book":
            assert books[message["asset_id"]].load(message), "book hash"
        elif message["event_type"] == "price_change":
            for entry in message["price_changes"]:
                assert books[entry["asset_id"]].apply(entry), f"hash after {entry}"


def test_subscribing_sends_each_book_as_rest_serves_it(server: SimServer) -> None:
    client = subscribe(server, [YES, NO])
    first, second = client.message(), client.message()
    assert {first["asset_id"], second["asset_id"]} == {YES, NO}
    for event in (first, second):
        assert event["event_type"] == "book" and event["market"] == "0xmkt"
        local = LocalBook()
        assert local.load(event)
        assert local.levels() == rest_levels(server, event["asset_id"])
        assert event["timestamp"] == str(int(START.timestamp() * 1000))
        assert event["tick_size"] == "0.01"
        for level in event["bids"] + event["asks"]:  # strings, as documented
            assert isinstance(level["price"], str) and isinstance(level["size"], str)
        prices = [Decimal(x["price"]) for x in event["bids"]]
        assert prices == sorted(prices)  # best bid last, like REST /book


def test_our_orders_and_moves_reach_the_local_book_hash_by_hash(
    server: SimServer, market: Market
) -> None:
    client = subscribe(server, [YES, NO])
    books = {YES: LocalBook(), NO: LocalBook()}
    for _ in range(2):
        message = client.message()
        books[message["asset_id"]].load(message)
    market.venue.ensure_wallet(WALLET)
    market.venue.place(WALLET, "o1", YES, Side.BUY, Decimal("0.45"), Decimal(20))
    event = next_event(client, "price_change")
    assert event["market"] == "0xmkt" and isinstance(event["timestamp"], str)
    for entry in event["price_changes"]:
        assert set(entry) == {"asset_id", "price", "size", "side", "hash", "best_bid", "best_ask"}
        assert books[entry["asset_id"]].apply(entry)
    # Our bid at 0.45 is in the YES bids and, mirrored, in the NO asks at 0.55.
    assert books[YES].bids[Decimal("0.45")] == rest_levels(server, YES)[0][Decimal("0.45")]
    assert Decimal("0.55") in books[NO].asks

    for mid in ("0.53", "0.47", "0.60"):
        market.move(mid)
        follow(
            client,
            books,
            lambda: all(b.levels() == rest_levels(server, t) for t, b in books.items()),
        )
    market.venue.cancel(WALLET, "o1")
    follow(client, books, lambda: Decimal("0.45") not in books[YES].bids)
    assert books[YES].levels() == rest_levels(server, YES)


def test_a_trade_sends_last_trade_price_then_the_book(server: SimServer, market: Market) -> None:
    client = subscribe(server, [YES])
    client.message()
    market.venue.ensure_wallet(WALLET)
    market.venue.place(WALLET, "o2", YES, Side.BUY, Decimal("0.48"), Decimal(10))
    market.move("0.46")  # the asks come down through our bid: it fills as a maker
    trade = next_event(client, "last_trade_price")
    while trade["size"] != "10":  # the tape of the move (the bids sold through) comes too
        trade = next_event(client, "last_trade_price")
    assert trade["asset_id"] == YES and trade["market"] == "0xmkt"
    assert (trade["price"], trade["size"], trade["side"]) == ("0.48", "10", "SELL")
    assert trade["fee_rate_bps"] == "0" and trade["transaction_hash"].startswith("0x")
    book = next_event(client, "book")
    local = LocalBook()
    assert local.load(book) and local.levels() == rest_levels(server, YES)
    assert book["last_trade_price"] == "0.48"  # our fill, after the move's tape
    rest = httpx.get(f"{server.url}/last-trade-price", params={"token_id": YES}).json()
    assert rest == {"price": "0.48", "side": "SELL"}  # REST says the same


def test_tick_size_change_and_best_bid_ask(server: SimServer, market: Market) -> None:
    plain = subscribe(server, [YES])
    custom = subscribe(server, [YES], custom_feature_enabled=True)
    plain.message(), custom.message()
    market.venue.set_tick_size("0xmkt", Decimal("0.001"))
    change = next_event(custom, "tick_size_change")
    assert (change["old_tick_size"], change["new_tick_size"]) == ("0.01", "0.001")
    assert change["asset_id"] == YES
    assert next_event(custom, "best_bid_ask")["best_bid"] == "0.499"  # the finer tick's touch
    market.move("0.555")
    best = next_event(custom, "best_bid_ask")
    bid, ask = market.venue.touch(YES)
    assert (best["best_bid"], best["best_ask"]) == (str(bid), str(ask)) == ("0.554", "0.556")
    assert best["spread"] == "0.002"
    # Without custom features: no best_bid_ask, the tick change and price changes still come.
    assert next_event(plain, "tick_size_change")["new_tick_size"] == "0.001"
    plain.text("PING")
    seen = []
    while (message := plain.message()) != "PONG":
        seen.append(message["event_type"])
    assert "best_bid_ask" not in seen and "price_change" in seen


def test_ping_and_dynamic_subscriptions(server: SimServer, market: Market) -> None:
    client = subscribe(server, [YES], initial_dump=False)
    client.text("PING")
    assert client.message() == "PONG"  # no initial book: initial_dump is false
    client.text({"operation": "subscribe", "assets_ids": [NO]})
    assert next_event(client, "book")["asset_id"] == NO
    client.text({"operation": "unsubscribe", "assets_ids": [YES]})
    client.text("PING")
    assert client.message() == "PONG"  # the unsubscription is in before the move
    market.move("0.55")
    event = next_event(client, "price_change")
    assert {e["asset_id"] for e in event["price_changes"]} == {NO}


@pytest.mark.parametrize(
    "first", [{"type": "user"}, {"assets_ids": "501", "type": "market"}, [1, 2]]
)
def test_a_bad_subscription_gets_an_error_and_a_close(server: SimServer, first: Any) -> None:
    client = Client(server, "/ws/market")
    client.text(first)
    assert "error" in client.message()
    assert client.close_code() == ws.POLICY_VIOLATION


def test_a_missed_event_shows_in_the_next_hash(server: SimServer, market: Market) -> None:
    client = subscribe(server, [YES])
    local = LocalBook()
    local.load(client.message())
    server.market_channel.fault(miss=1)
    market.move("0.55")  # lost
    session = next(iter(server.market_channel._sessions))
    deadline = time.monotonic() + 30
    while not session.missed:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    market.move("0.58")
    event = next_event(client, "price_change")
    assert not all(local.apply(entry) for entry in event["price_changes"])
    # A fresh book (what a client fetches on a gap) matches the channel again.
    resync = subscribe(server, [YES])
    assert local.load(resync.message()) and local.levels() == rest_levels(server, YES)


def test_a_dropped_connection_has_no_close_frame(server: SimServer) -> None:
    client = subscribe(server, [YES])
    client.message()
    assert server.market_channel.fault(drop=True) == 1
    assert client.close_code() is None
    deadline = time.monotonic() + 30
    while server.market_channel.connections:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_silent_channel_answers_nothing_not_even_pong(server: SimServer, market: Market) -> None:
    client = subscribe(server, [YES])
    client.message()
    server.market_channel.fault(silence_seconds=1.0)
    client.text("PING")
    market.move("0.55")
    client.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        client.frame()
    time.sleep(0.6)
    client.sock.settimeout(10)
    client.text("PING")
    assert next_event_or_pong(client) == "PONG"


def next_event_or_pong(client: Client) -> Any:
    while True:
        message = client.message()
        if message == "PONG":
            return message


def test_harsh_rules_schedule_the_faults() -> None:
    from dualmm.sim.rules import VenueRules

    harsh = VenueRules.harsh()
    assert harsh.market_channel_drop_every_seconds and harsh.market_channel_miss_rate > 0
    assert VenueRules().market_channel_drop_every_seconds is None  # the kind venue: none


def test_a_move_of_the_touch_prints_the_levels_it_went_through(
    server: SimServer, market: Market
) -> None:
    client = subscribe(server, [YES])
    client.message()
    market.move("0.55")  # the asks at 0.51 .. 0.55 were bought through (new touch 0.54/0.56)
    prints = []
    while len(prints) < 5:
        prints.append(next_event(client, "last_trade_price"))
    assert [(p["side"], p["price"], p["asset_id"]) for p in prints] == [
        ("BUY", price, YES) for price in ("0.51", "0.52", "0.53", "0.54", "0.55")
    ]
    assert all(Decimal(p["size"]) > 0 for p in prints)


def test_a_market_listed_while_it_runs_is_announced_with_custom_features(
    server: SimServer, market: Market
) -> None:
    custom = subscribe(server, [YES], custom_feature_enabled=True)
    custom.message()
    listed = MarketInfo(
        condition_id="0xnew",
        question="New?",
        yes_token_id="601",
        no_token_id="602",
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
    )
    markets = [
        SimMarket(market.info, market.path, START, book_seed="m"),
        SimMarket(listed, Steered(), START, book_seed="n"),
    ]
    server.venue = SimVenue(markets, market.clock)
    event = next_event(custom, "new_market")
    assert (event["market"], event["question"]) == ("0xnew", "New?")
    assert event["assets_ids"] == ["601", "602"] and event["order_price_min_tick_size"] == "0.01"


def test_a_resolved_market_is_announced_closed_and_refuses_orders(
    server: SimServer, market: Market
) -> None:
    plain = subscribe(server, [YES])
    custom = subscribe(server, [YES, NO], custom_feature_enabled=True)
    plain.message(), custom.message(), custom.message()
    market.venue.ensure_wallet(WALLET)
    market.venue.place(WALLET, "o1", YES, Side.BUY, Decimal("0.45"), Decimal(20))
    refused = httpx.post(f"{server.url}/_sim/resolve", json={"condition_id": "0xmkt"})
    assert refused.status_code == 400  # no winner named
    reply = httpx.post(f"{server.url}/_sim/resolve", json={"condition_id": "0xmkt", "winner": "No"})
    assert reply.status_code == 200, reply.text
    event = next_event(custom, "market_resolved")
    assert (event["market"], event["id"], event["question"]) == ("0xmkt", "0xmkt", "Will it?")
    assert event["assets_ids"] == [YES, NO] and event["outcomes"] == ["Yes", "No"]
    assert (event["winning_asset_id"], event["winning_outcome"]) == (NO, "No")
    assert event["timestamp"] == str(int(START.timestamp() * 1000))
    # Without custom features: not announced (the cancelled bid still leaves the book).
    plain.text("PING")
    seen = []
    while (message := plain.message()) != "PONG":
        seen.append(message["event_type"])
    assert "market_resolved" not in seen
    # REST answers as for a closed market: no orders accepted, the winner marked.
    rest = httpx.get(f"{server.url}/markets/0xmkt").json()
    assert (rest["closed"], rest["active"], rest["accepting_orders"]) == (True, False, False)
    assert [(t["outcome"], t["winner"], t["price"]) for t in rest["tokens"]] == [
        ("Yes", False, 0),
        ("No", True, 1),
    ]
    assert market.venue.open_orders(WALLET) == []  # resting orders cancelled
    with pytest.raises(InvalidOrder, match="closed"):
        market.venue.place(WALLET, "o2", YES, Side.BUY, Decimal("0.45"), Decimal(20))
    again = httpx.post(
        f"{server.url}/_sim/resolve", json={"condition_id": "0xmkt", "winner": "Yes"}
    )
    assert again.status_code == 400  # resolved once


async def test_the_adapter_reads_a_resolution_from_rest_and_its_sync_carries_it(
    server: SimServer, market: Market
) -> None:
    before = await connect(server)
    assert await before.listed_resolution("0xmkt") is None
    assert (await sync_market(before, market.info, None, None, START)).resolution is None
    market.venue.resolve("0xmkt", Token.YES)
    # An open market's listing is kept for the metadata TTL: a new adapter reads it now.
    assert await before.listed_resolution("0xmkt") is None
    await before.close()
    exchange = await connect(server)
    try:
        listed = await exchange.listed_resolution("0xmkt")
        assert listed == MarketResolution(winning_asset_id=YES, winning_outcome="Yes")
        synced = await sync_market(exchange, market.info, None, None, START)
        assert synced.resolution == listed
        # No book is read for a resolved market: YES is worth its payout.
        snapshot = synced.snapshot
        assert (snapshot.midpoint, snapshot.best_bid, snapshot.best_ask) == (1, None, None)
    finally:
        await exchange.close()

"""The adapter's market channel (issue 18) against a scripted feed: one socket for every
watched token, a local book per token that equals the venue's after every event, a missed
event rebuilt from REST, a silent or dropped socket reconnected (and not live meanwhile)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from market_feed_fake import FakeMarketFeed

from dualmm.domain.market_moves import MarketResolution
from dualmm.exchange import market_channel, ws_client
from dualmm.exchange.market_channel import MarketChannel, market_key
from dualmm.exchange.wake import FillWaker

WAIT = 30.0


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.005)


def levels(channel: MarketChannel, token: str) -> tuple[dict[Decimal, Decimal], ...]:
    book = channel.live_book(token)
    assert book is not None
    return book.bids, book.asks


@pytest.fixture
async def feed() -> AsyncIterator[FakeMarketFeed]:
    async with FakeMarketFeed() as running:
        yield running


@pytest.fixture
async def channel(feed: FakeMarketFeed) -> AsyncIterator[MarketChannel]:
    made = MarketChannel(
        feed.url, feed.rest_book, FillWaker(), ping_seconds=0.05, silence_seconds=0.5
    )
    yield made
    await made.close()


async def watched(feed: FakeMarketFeed, channel: MarketChannel) -> None:
    """Market 0xm (tokens y, n) watched, subscribed, in sync."""
    yes, no = feed.book("y"), feed.book("n")
    yes.bids, yes.asks = {Decimal("0.48"): Decimal(100)}, {Decimal("0.52"): Decimal(100)}
    no.bids, no.asks = {Decimal("0.48"): Decimal(100)}, {Decimal("0.52"): Decimal(100)}
    channel.watch("0xm", ("y", "n"))
    await until(lambda: feed.connections and feed.last.received, "subscribed")
    await until(lambda: channel.live("0xm"), "in sync")


async def test_one_subscription_for_every_token_and_changes_as_markets_come_and_go(
    feed: FakeMarketFeed, channel: MarketChannel
) -> None:
    await watched(feed, channel)
    assert feed.last.received[0] == {
        "assets_ids": ["n", "y"],
        "type": "market",
        "custom_feature_enabled": True,
    }
    channel.watch("0xq", ("a", "b"))
    channel.watch("0xq", ("a", "b"))  # a second watcher: no second subscription
    await until(lambda: len(feed.last.received) >= 2, "second market subscribed")
    assert feed.last.received[1] == {"operation": "subscribe", "assets_ids": ["a", "b"]}
    channel.unwatch("0xq")
    await asyncio.sleep(0.05)
    assert len(feed.last.received) == 2  # still watched once
    channel.unwatch("0xq")
    await until(lambda: len(feed.last.received) >= 3, "unsubscribed")
    assert feed.last.received[2] == {"operation": "unsubscribe", "assets_ids": ["a", "b"]}
    assert len(feed.connections) == 1  # one socket for all


async def test_the_local_book_equals_the_venues_after_every_event(
    feed: FakeMarketFeed, channel: MarketChannel
) -> None:
    await watched(feed, channel)
    waker = channel._waker
    mark = waker.mark(market_key("0xm"))
    await feed.snapshot("y")
    steps = [
        ("BUY", "0.49", "20"),
        ("SELL", "0.52", "0"),  # the ask level goes
        ("SELL", "0.55", "7.5"),
        ("BUY", "0.48", "60"),
    ]
    for side, price, size in steps:
        await feed.change(feed.set_level("y", side, price, size))
        venue = feed.book("y")
        await until(lambda v=venue: levels(channel, "y") == (v.bids, v.asks), "in step")  # type: ignore[misc]
    assert channel.gaps == 0
    assert waker.mark(market_key("0xm")) > mark  # every change woke the market's waiters


async def test_a_missed_event_is_seen_by_its_hash_and_the_book_rebuilt_from_rest(
    feed: FakeMarketFeed, channel: MarketChannel
) -> None:
    await watched(feed, channel)
    await feed.snapshot("y")
    feed.set_level("y", "BUY", "0.47", "30")  # the client never hears of this one
    reads = feed.rest_reads
    await feed.change(feed.set_level("y", "BUY", "0.49", "10"))
    await until(lambda: channel.gaps == 1, "the gap seen")
    await until(lambda: channel.live_book("y") is not None, "rebuilt")
    assert feed.rest_reads > reads
    venue = feed.book("y")
    assert levels(channel, "y") == (venue.bids, venue.asks)
    await feed.change(feed.set_level("y", "SELL", "0.51", "5"))  # and it keeps in step
    await until(lambda: levels(channel, "y") == (venue.bids, venue.asks), "in step")
    assert channel.gaps == 1


async def test_a_touch_that_does_not_add_up_is_a_gap_too(
    feed: FakeMarketFeed, channel: MarketChannel
) -> None:
    """Polymarket's own hash cannot be recomputed: the touch each change reports still can."""
    feed.hash_rule = lambda book: "0" * 40  # a rule the client cannot recompute
    await watched(feed, channel)
    await feed.snapshot("y")
    await until(lambda: channel.hashes_checkable is False, "the venue's rule found out")
    await feed.change(feed.set_level("y", "BUY", "0.49", "10"))  # its hash: not checked
    venue = feed.book("y")
    await until(lambda: levels(channel, "y") == (venue.bids, venue.asks), "in step")
    entry = feed.set_level("y", "BUY", "0.495", "10")
    entry["best_bid"] = "0.50"  # the touch it reports is not the book's
    await feed.change(entry)
    await until(lambda: channel.gaps == 1, "the gap seen")


async def test_trades_and_tick_size_changes_are_kept(
    feed: FakeMarketFeed, channel: MarketChannel
) -> None:
    await watched(feed, channel)
    await feed.last.send(
        {
            "event_type": "last_trade_price",
            "asset_id": "y",
            "market": "0xm",
            "price": "0.48",
            "side": "SELL",
            "size": "10",
            "timestamp": "1700000000002",
        }
    )
    await until(lambda: channel.last_trade("y") is not None, "trade seen")
    trade = channel.last_trade("y")
    assert trade is not None and (trade.count, trade.price) == (1, Decimal("0.48"))
    await feed.last.send(
        {
            "event_type": "tick_size_change",
            "asset_id": "y",
            "market": "0xm",
            "old_tick_size": "0.01",
            "new_tick_size": "0.001",
        }
    )
    await until(
        lambda: (b := channel.live_book("y")) is not None and b.tick_size == Decimal("0.001"),
        "tick",
    )


async def test_a_resolution_is_recorded_and_wakes_the_market(
    feed: FakeMarketFeed, channel: MarketChannel
) -> None:
    await watched(feed, channel)
    assert channel.resolution("0xm") is None
    mark = channel._waker.mark(market_key("0xm"))
    await feed.last.send(
        {
            "event_type": "market_resolved",
            "id": "17",
            "market": "0xm",
            "assets_ids": ["y", "n"],
            "winning_asset_id": "n",
            "winning_outcome": "No",
            "timestamp": "1700000000003",
        }
    )
    await until(lambda: channel.resolution("0xm") is not None, "resolution recorded")
    assert channel.resolution("0xm") == MarketResolution(winning_asset_id="n", winning_outcome="No")
    assert channel._waker.mark(market_key("0xm")) > mark  # the round looks at once
    # An announcement without a winner records nothing (the socket keeps the order: the
    # trade after it is seen only once it was read).
    await feed.last.send({"event_type": "market_resolved", "market": "0xother"})
    await feed.last.send(
        {"event_type": "last_trade_price", "asset_id": "y", "market": "0xm", "price": "0.5"}
    )
    await until(lambda: channel.last_trade("y") is not None, "the trade after it")
    assert channel.resolution("0xother") is None


async def test_a_silent_socket_is_not_live_and_comes_back_in_sync(
    feed: FakeMarketFeed, channel: MarketChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_client, "BACKOFF_MIN_SECONDS", 0.01)
    await watched(feed, channel)
    first = feed.last
    first.silent = True  # no PONG, no event: the socket stays open
    await until(lambda: not channel.live("0xm"), "not live once silent")
    await until(lambda: len(feed.connections) == 2, "reconnected")
    await until(lambda: channel.live("0xm"), "in sync again")
    assert feed.last.received[0]["assets_ids"] == ["n", "y"]  # subscribed again


async def test_a_dropped_socket_reconnects_and_rebuilds_every_book(
    feed: FakeMarketFeed, channel: MarketChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_client, "BACKOFF_MIN_SECONDS", 0.01)
    await watched(feed, channel)
    reads = feed.rest_reads
    feed.set_level("y", "BUY", "0.40", "1")  # missed while away
    feed.last.drop()
    await until(lambda: len(feed.connections) == 2, "reconnected")
    await until(lambda: channel.live("0xm") and feed.rest_reads >= reads + 2, "rebuilt")
    venue = feed.book("y")
    assert levels(channel, "y") == (venue.bids, venue.asks)


async def test_reconnects_back_off_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A venue that refuses every connection is tried again later and later, never in step."""
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(ws_client.asyncio, "sleep", sleep)
    channel = MarketChannel("ws://127.0.0.1:9/ws/market", FakeMarketFeed().rest_book, FillWaker())
    channel.watch("0xm", ("y", "n"))
    deadline = time.monotonic() + WAIT
    while len(waits) < 8:
        assert time.monotonic() < deadline
        await real_sleep(0.01)
    await channel.close()
    base = [ws_client.BACKOFF_MIN_SECONDS * 2**i for i in range(8)]
    for wait, nominal in zip(waits, base, strict=False):
        capped = min(nominal, ws_client.BACKOFF_MAX_SECONDS)
        assert 0.8 * capped <= wait <= 1.2 * capped
    assert waits[5] > waits[0] * 10


async def test_a_market_nobody_waits_on_any_more_is_unsubscribed(
    feed: FakeMarketFeed, channel: MarketChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(market_channel, "LEASE_SECONDS", 0.2)
    channel.want("0xm", ("y", "n"))
    await until(lambda: feed.connections and feed.last.received, "subscribed")
    channel.want("0xm", ("y", "n"))  # waited on again: nothing new to say
    await asyncio.sleep(0.3)
    channel.want("0xq", ("a", "b"))  # 0xm's waiter has gone (its round ended)
    await until(lambda: len(feed.last.received) >= 3, "changed")
    assert feed.last.received[1:] == [
        {"operation": "subscribe", "assets_ids": ["a", "b"]},
        {"operation": "unsubscribe", "assets_ids": ["y", "n"]},
    ]
    assert channel.live_book("y") is None

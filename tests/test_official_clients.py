"""Polymarket's official Python client (py-clob-client-v2) against `dualmm sim-server` exactly as
it starts by default (the harsh venue, no flags): every call returns, paged calls end (the SDK
pages until the cursor is "LTE=", as production ends), FOK and FAK orders match as documented,
batch placement and cancellation work, and /spreads answers.

Each SDK call runs in a thread with a deadline, so a client that would page forever fails the
test instead of hanging it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    BookParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

T = TypeVar("T")
DEADLINE = 60.0  # seconds one SDK call may take on a loaded machine


@dataclass
class Venue:
    url: str
    key: str


@pytest.fixture(scope="module")
def default_venue() -> Iterator[Venue]:
    """`dualmm sim-server --port 0` with nothing else: the venue users and the SDKs meet."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dualmm", "sim-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    url = key = ""
    for line in process.stdout:
        if match := re.search(r"sim-server: (http://\S+)", line):
            url = match.group(1)
        if match := re.search(r"private key: (0x[0-9a-f]+)", line):
            key = match.group(1)
        if "Ctrl-C stops it" in line:
            break
    try:
        assert url and key, "sim-server did not start"
        yield Venue(url, key)
    finally:
        process.terminate()
        process.wait(timeout=30)


def within_deadline(call: Callable[[], T]) -> T:
    """The call's result; fails if it has not returned by DEADLINE."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), "the SDK call never returned (paging forever?)"
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client(default_venue: Venue) -> ClobClient:
    client = ClobClient(default_venue.url, 137, key=default_venue.key)
    client.set_api_creds(within_deadline(client.create_or_derive_api_key))
    return client


@pytest.fixture(scope="module")
def market(client: ClobClient) -> dict[str, Any]:
    """The first market with a two-sided book whose best ask the test wallet can buy out (a
    rich market's reward makers can hold tens of thousands of shares there), and its YES token."""
    markets = within_deadline(lambda: client.get_markets())["data"]
    for candidate in markets:
        token = candidate["tokens"][0]["token_id"]
        book = within_deadline(lambda t=token: client.get_order_book(t))
        if not (book["bids"] and book["asks"]):
            continue
        best = book["asks"][-1]
        if Decimal(best["price"]) * (Decimal(best["size"]) + 100) < 1000:
            return {"condition_id": candidate["condition_id"], "token": token, "book": book}
    pytest.fail("no market with a two-sided book the wallet can buy out at the best ask")


def test_paged_calls_end_on_the_default_venue(client: ClobClient, market: dict[str, Any]) -> None:
    assert within_deadline(lambda: client.get_open_orders()) == []
    assert (
        within_deadline(
            lambda: client.get_open_orders(OpenOrderParams(market=market["condition_id"]))
        )
        == []
    )
    assert isinstance(within_deadline(lambda: client.get_trades()), list)
    assert isinstance(
        within_deadline(lambda: client.get_trades(TradeParams(market=market["condition_id"]))),
        list,
    )
    assert within_deadline(client.get_current_rewards)
    assert isinstance(
        within_deadline(lambda: client.get_raw_rewards_for_market(market["condition_id"])), list
    )
    assert within_deadline(lambda: client.get_markets())["next_cursor"] == "LTE="


def test_public_reads_answer(client: ClobClient, market: dict[str, Any]) -> None:
    token = market["token"]
    assert within_deadline(client.get_ok) == "OK"
    assert within_deadline(lambda: client.get_midpoint(token))
    assert within_deadline(lambda: client.get_price(token, "BUY"))["price"]
    assert within_deadline(lambda: client.get_tick_size(token)) in ("0.01", "0.001")
    spread = within_deadline(lambda: client.get_spread(token))["spread"]
    spreads = within_deadline(lambda: client.get_spreads([BookParams(token_id=token)]))
    assert spreads == {token: spread}
    books = within_deadline(lambda: client.get_order_books([BookParams(token_id=token)]))
    assert books[0]["asset_id"] == token


def shares(text: str) -> Decimal:
    """Sizes as decimal shares or, as the docs spell them, 6-decimal fixed-math integers."""
    value = Decimal(text)
    return value / 10**6 if "." not in text and value >= 10**6 else value


def _options(client: ClobClient, token: str) -> PartialCreateOrderOptions:
    return PartialCreateOrderOptions(tick_size=within_deadline(lambda: client.get_tick_size(token)))


def test_batch_placement_and_cancellation(client: ClobClient, market: dict[str, Any]) -> None:
    token, book = market["token"], market["book"]
    bid = Decimal(book["bids"][-1]["price"])
    options = _options(client, token)
    orders = [
        PostOrdersV2Args(
            order=client.create_order(
                OrderArgsV2(
                    token_id=token, price=float(bid - k * Decimal("0.01")), size=10, side="BUY"
                ),
                options,
            ),
            orderType=OrderType.GTC,
        )
        for k in (1, 2)
    ]
    placed = within_deadline(lambda: client.post_orders(orders, post_only=True))
    ids = [answer["orderID"] for answer in placed]
    assert all(answer["success"] for answer in placed) and len(set(ids)) == 2
    open_ids = {o["id"] for o in within_deadline(lambda: client.get_open_orders())}
    assert open_ids == set(ids)
    cancelled = within_deadline(lambda: client.cancel_orders(ids))
    assert set(cancelled["canceled"]) == set(ids)
    assert within_deadline(lambda: client.get_open_orders()) == []


def test_fok_fills_entirely_or_is_killed(client: ClobClient, market: dict[str, Any]) -> None:
    token = market["token"]
    book = within_deadline(lambda: client.get_order_book(token))
    best_ask, best_size = Decimal(book["asks"][-1]["price"]), Decimal(book["asks"][-1]["size"])
    options = _options(client, token)
    # Within the best ask's size: all of it, at that price.
    size = min(best_size, Decimal(10))
    order = client.create_order(
        OrderArgsV2(token_id=token, price=float(best_ask), size=float(size), side="BUY"), options
    )
    answer = within_deadline(lambda: client.post_order(order, OrderType.FOK))
    assert answer["success"] and answer["status"] == "matched"
    assert Decimal(answer["takingAmount"]) == size
    # More than the displayed asks at or below its price: killed, nothing filled.
    too_big = client.create_order(
        OrderArgsV2(token_id=token, price=float(best_ask), size=float(best_size + 100), side="BUY"),
        options,
    )
    with pytest.raises(PolyApiException, match="FOK orders are fully filled or killed"):
        within_deadline(lambda: client.post_order(too_big, OrderType.FOK))
    assert within_deadline(lambda: client.get_open_orders()) == []


def test_fak_fills_what_it_can_and_cancels_the_rest(
    client: ClobClient, market: dict[str, Any]
) -> None:
    token = market["token"]
    book = within_deadline(lambda: client.get_order_book(token))
    best_ask, best_size = Decimal(book["asks"][-1]["price"]), Decimal(book["asks"][-1]["size"])
    options = _options(client, token)
    # At the best ask's price only that level matches: it fills, the rest is cancelled.
    order = client.create_order(
        OrderArgsV2(token_id=token, price=float(best_ask), size=float(best_size + 50), side="BUY"),
        options,
    )
    answer = within_deadline(lambda: client.post_order(order, OrderType.FAK))
    assert answer["success"] and Decimal(answer["takingAmount"]) == best_size
    placed = within_deadline(lambda: client.get_order(answer["orderID"]))
    assert shares(placed["size_matched"]) == best_size
    assert within_deadline(lambda: client.get_open_orders()) == []
    # Below the book: nothing matches, the order is killed.
    low = client.create_order(
        OrderArgsV2(token_id=token, price=float(best_ask - Decimal("0.05")), size=10, side="BUY"),
        options,
    )
    with pytest.raises(PolyApiException, match="FAK orders are partially filled or killed"):
        within_deadline(lambda: client.post_order(low, OrderType.FAK))


def test_a_market_order_through_the_sdk(client: ClobClient, market: dict[str, Any]) -> None:
    """create_market_order prices from the book itself, then posts a FOK."""
    token = market["token"]
    order = within_deadline(
        lambda: client.create_market_order(
            MarketOrderArgsV2(token_id=token, amount=20.0, side="BUY"), _options(client, token)
        )
    )
    answer = within_deadline(lambda: client.post_order(order, OrderType.FOK))
    assert answer["success"] and answer["status"] == "matched"

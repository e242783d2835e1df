"""The simulator server answers what py-clob-client-v2 expects: these tests drive the real
`ClobClient` directly (no adapter) against `SimServer` over loopback.

The venue runs a scenario on a manual clock. Market A (tick 0.01): YES mid 0.50 (touch
0.49/0.51), then 0.40 at 60 s (touch 0.39/0.41). Market B: tick 0.001, mid 0.300. Markets C
(no rewards) and D complete the list, so with 2 items a page every list spans pages.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from eth_account import Account
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    CreateOrderOptions,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderScoringParams,
    OrdersScoringParams,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    PricesHistoryParams,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.http_helpers import helpers as sdk_http
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from dualmm import cli
from dualmm.domain.types import MarketInfo
from dualmm.scenario import parse_scenario
from dualmm.sim.server import Faults, SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue

START = datetime(2026, 1, 21, 12, 0, tzinfo=UTC)
CHAIN = 137
PAGE = 2


def _market(n: int, tick: str, path: list[list[Any]], rate: str) -> dict[str, Any]:
    return {
        "condition_id": "0x" + f"{n:02x}" * 32,
        "question": f"Market {n}",
        "tick_size": tick,
        "min_order_size": "5",
        "rewards_daily_rate": rate,
        "rewards_max_spread_cents": "3.5",
        "rewards_min_size": "20",
        "path": path,
    }


def make_venue() -> SimVenue:
    scenario = parse_scenario(
        {
            "name": "sim-server",
            "start": START.isoformat(),
            "markets": [
                _market(0xA, "0.01", [[0, "0.50"], [60, "0.40"]], "100"),
                _market(0xB, "0.001", [[0, "0.300"]], "50"),
                _market(0xC, "0.01", [[0, "0.70"]], "0"),
                _market(0xD, "0.01", [[0, "0.20"]], "10"),
            ],
        }
    )
    return SimVenue.from_scenario(scenario)


@pytest.fixture
def venue() -> SimVenue:
    return make_venue()


@pytest.fixture
def server(venue: SimVenue) -> Iterator[SimServer]:
    with SimServer(venue, admin=True, page_size=PAGE) as running:
        yield running


@pytest.fixture
def market_a(venue: SimVenue) -> MarketInfo:
    return venue.markets()[0]


def new_key() -> str:
    return "0x" + bytes(Account.create().key).hex()


def connect(server: SimServer, key: str | None = None, **kwargs: Any) -> ClobClient:
    """A ClobClient with fresh L2 credentials (retry_on_error stays off, the default)."""
    client = ClobClient(server.url, CHAIN, key=key or new_key(), **kwargs)
    client.set_api_creds(client.create_or_derive_api_key())
    return client


@pytest.fixture
def client(server: SimServer) -> ClobClient:
    return connect(server)


def rejection(call: Any) -> tuple[int | None, str]:
    """The HTTP status and `error` text of a call the server rejects."""
    with pytest.raises(PolyApiException) as raised:
        call()
    answer = raised.value.error_msg
    return raised.value.status_code, answer["error"] if isinstance(answer, dict) else str(answer)


def buy(token_id: str, price: float, size: float = 20) -> OrderArgsV2:
    return OrderArgsV2(token_id=token_id, price=price, size=size, side="BUY")


def sell(token_id: str, price: float, size: float = 20) -> OrderArgsV2:
    return OrderArgsV2(token_id=token_id, price=price, size=size, side="SELL")


def ledger(server: SimServer) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/_sim/ledger", timeout=5)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


# --- auth ---------------------------------------------------------------------------------


def test_create_then_derive_give_the_same_creds_and_fund_the_wallet(server: SimServer) -> None:
    client = ClobClient(server.url, CHAIN, key=new_key())
    created = client.create_api_key()
    assert client.derive_api_key() == created
    assert base64.urlsafe_b64decode(created.api_secret)  # a usable HMAC secret
    assert rejection(client.create_api_key) == (400, "Could not create api key")
    assert client.create_or_derive_api_key() == created
    assert rejection(lambda: client.derive_api_key(nonce=7)) == (400, "Could not derive api key!")
    other_nonce = client.create_api_key(nonce=7)
    assert other_nonce.api_key != created.api_key

    client.set_api_creds(created)
    collateral = client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    )
    assert collateral["balance"] == str(10_000 * 10**6)
    assert sorted(client.get_api_keys()["apiKeys"]) == sorted(
        [created.api_key, other_nonce.api_key]
    )


def test_l1_headers_must_be_signed_by_the_address_they_name(server: SimServer) -> None:
    victim = Account.create().address
    headers = create_level_1_headers(Signer(new_key(), CHAIN))
    headers["POLY_ADDRESS"] = victim
    answer = httpx.post(f"{server.url}/auth/api-key", headers=headers, timeout=5)
    assert (answer.status_code, answer.json()) == (401, {"error": "Invalid L1 Request headers"})
    assert httpx.get(f"{server.url}/auth/derive-api-key", timeout=5).status_code == 401


def test_bad_hmac_secret_passphrase_or_key_is_401(server: SimServer, client: ClobClient) -> None:
    creds = client.creds
    assert client.get_open_orders() == []
    forged_secret = base64.urlsafe_b64encode(b"x" * 32).decode()
    for bad in (
        ApiCreds(creds.api_key, forged_secret, creds.api_passphrase),
        ApiCreds(creds.api_key, creds.api_secret, "0" * 64),
        ApiCreds("00000000-0000-4000-8000-000000000000", creds.api_secret, creds.api_passphrase),
    ):
        client.set_api_creds(bad)
        assert rejection(client.get_open_orders) == (401, "Unauthorized/Invalid api key")
    # Right creds, wrong wallet: POLY_ADDRESS must be the key's owner.
    thief = ClobClient(server.url, CHAIN, key=new_key(), creds=creds)
    assert rejection(thief.get_open_orders) == (401, "Unauthorized/Invalid api key")


# --- market data --------------------------------------------------------------------------


def test_books_prices_and_market_parameters(
    server: SimServer, client: ClobClient, venue: SimVenue, market_a: MarketInfo
) -> None:
    yes, no = market_a.yes_token_id, market_a.no_token_id
    book = client.get_order_book(yes)
    assert (book["market"], book["asset_id"]) == (market_a.condition_id, yes)
    assert (book["tick_size"], book["min_order_size"], book["neg_risk"]) == ("0.01", "5", False)
    bids = [Decimal(level["price"]) for level in book["bids"]]
    asks = [Decimal(level["price"]) for level in book["asks"]]
    # Like the CLOB: best price last on both sides.
    assert bids == sorted(bids) and bids[-1] == Decimal("0.49")
    assert asks == sorted(asks, reverse=True) and asks[-1] == Decimal("0.51")
    assert client.get_order_book_hash(dict(book)) == book["hash"]
    no_book = client.get_order_book(no)
    assert (no_book["bids"][-1]["price"], no_book["asks"][-1]["price"]) == ("0.49", "0.51")

    assert client.get_midpoint(yes) == {"mid": "0.5"}
    assert client.get_midpoints([BookParams(token_id=yes), BookParams(token_id=no)]) == {
        yes: "0.5",
        no: "0.5",
    }
    assert client.get_price(yes, "BUY") == {"price": "0.49"}
    assert client.get_price(yes, "SELL") == {"price": "0.51"}
    assert client.get_last_trade_price(yes)["price"] == "0.5"
    assert client.get_last_trades_prices([BookParams(token_id=no)]) == [
        {"token_id": no, "price": "0.5", "side": ""}
    ]
    assert client.get_prices([BookParams(token_id=yes)]) == {yes: {"BUY": "0.49", "SELL": "0.51"}}
    assert client.get_spread(yes) == {"spread": "0.02"}
    assert [b["asset_id"] for b in client.get_order_books([BookParams(token_id=no)])] == [no]
    assert client.get_tick_size(yes) == "0.01"
    assert client.get_tick_size(venue.markets()[1].yes_token_id) == "0.001"
    assert client.get_neg_risk(yes) is False
    assert client.get_fee_rate_bps(yes) == 0
    assert client.get_ok() == "OK"
    assert client.get_version() == 2
    assert isinstance(client.get_server_time(), int)

    assert rejection(lambda: client.get_order_book("123")) == (
        404,
        "No orderbook exists for the requested token id",
    )
    assert rejection(lambda: client.get_midpoint("not-a-token"))[0] == 400


def test_prices_history_has_polymarkets_shape(
    server: SimServer, client: ClobClient, venue: SimVenue, market_a: MarketInfo
) -> None:
    yes, no = market_a.yes_token_id, market_a.no_token_id
    venue.advance(150)
    start = int(START.timestamp())
    answer = client.get_prices_history(
        PricesHistoryParams(market=yes, start_ts=start - 600, end_ts=start + 600, fidelity=1)
    )
    assert answer == {
        "history": [
            {"t": start, "p": 0.5},
            {"t": start + 60, "p": 0.4},
            {"t": start + 120, "p": 0.4},
        ]
    }
    by_interval = client.get_prices_history(
        PricesHistoryParams(market=no, interval="1h", fidelity=2)
    )
    assert by_interval == {"history": [{"t": start, "p": 0.5}, {"t": start + 120, "p": 0.6}]}

    def raw(**params: object) -> tuple[int, str]:
        reply = httpx.get(f"{server.url}/prices-history", params=params, timeout=5)  # type: ignore[arg-type]
        return reply.status_code, reply.json()["error"]

    assert raw(startTs=start, endTs=start + 60) == (400, "Invalid market")
    assert raw(market=yes)[0] == 400  # neither a range nor an interval
    assert raw(market=yes, interval="1h", startTs=start)[0] == 400
    assert raw(market=yes, interval="2d")[0] == 400
    assert raw(market=yes, startTs="soon", endTs=start)[0] == 400
    assert raw(market=yes, interval="1h", fidelity=0)[0] == 400
    assert raw(market="123", interval="max") == (
        404,
        "No orderbook exists for the requested token id",
    )


def test_market_lists_and_current_rewards_page_to_the_end(
    server: SimServer, client: ClobClient, venue: SimVenue, market_a: MarketInfo
) -> None:
    cursor, pages, markets = "MA==", 0, []
    while cursor != "LTE=":
        page = client.get_sampling_markets(next_cursor=cursor)
        assert page["count"] == len(page["data"]) <= PAGE
        markets += page["data"]
        cursor, pages = page["next_cursor"], pages + 1
    assert pages == 2
    assert [m["condition_id"] for m in markets] == [m.condition_id for m in venue.markets()]
    first = markets[0]
    assert first["minimum_tick_size"] == 0.01 and first["minimum_order_size"] == 5
    assert first["rewards"]["max_spread"] == 3.5 and first["rewards"]["min_size"] == 20
    assert [t["token_id"] for t in first["tokens"]] == [market_a.yes_token_id, market_a.no_token_id]
    assert client.get_market(market_a.condition_id)["question"] == "Market 10"

    rewards = client.get_current_rewards()  # the client follows next_cursor to "LTE="
    assert len(rewards) == 3  # market C pays no rewards
    by_id = {r["condition_id"]: r for r in rewards}
    a = by_id[market_a.condition_id]
    assert (a["rewards_max_spread"], a["rewards_min_size"]) == (3.5, 20)
    assert a["rewards_config"][0]["rate_per_day"] == 100
    assert venue.markets()[2].condition_id not in by_id

    info = client.get_clob_market_info(market_a.condition_id)
    assert info["mts"] == 0.01 and [t["t"] for t in info["t"]] == [
        market_a.yes_token_id,
        market_a.no_token_id,
    ]


# --- placing orders -----------------------------------------------------------------------


def test_gtc_order_rests_and_a_repost_of_the_same_signed_order_is_a_duplicate(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    signed = client.create_order(buy(market_a.yes_token_id, 0.45))
    answer = client.post_order(signed, OrderType.GTC)
    assert answer["success"] is True and answer["status"] == "live"
    assert (answer["tradeIDs"], answer["transactionsHashes"]) == ([], [])
    order_id = answer["orderID"]

    order = client.get_order(order_id)
    assert (order["status"], order["side"], order["price"]) == ("LIVE", "BUY", "0.45")
    assert (order["original_size"], order["size_matched"]) == ("20", "0")
    assert (order["market"], order["asset_id"]) == (market_a.condition_id, market_a.yes_token_id)
    assert order["owner"] == client.creds.api_key
    assert order["maker_address"] == client.get_address()

    status, message = rejection(lambda: client.post_order(signed, OrderType.GTC))
    assert (status, message) == (400, f"order {order_id} is invalid. Duplicated.")
    assert [o["order_id"] for o in ledger(server)["orders"]] == [order_id]


def test_gtd_order_carries_its_expiration(client: ClobClient, market_a: MarketInfo) -> None:
    expiration = int(START.timestamp()) + 3600
    args = OrderArgsV2(
        token_id=market_a.yes_token_id, price=0.45, size=20, side="BUY", expiration=expiration
    )
    answer = client.create_and_post_order(args, order_type=OrderType.GTD)
    order = client.get_order(answer["orderID"])
    assert (order["order_type"], order["expiration"]) == ("GTD", str(expiration))
    past = OrderArgsV2(
        token_id=market_a.yes_token_id, price=0.45, size=20, side="BUY", expiration=1
    )
    status, message = rejection(lambda: client.create_and_post_order(past, order_type="GTD"))
    assert status == 400 and "expiration" in message


def test_post_only_rests_or_is_rejected_and_a_crossing_order_fills_at_the_touch(
    client: ClobClient, market_a: MarketInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    yes = market_a.yes_token_id
    # tradeIDs always come with transactionsHashes, else the client polls trades for 30 s.
    monkeypatch.setattr(client, "_wait_for_resolved_trades", lambda _: pytest.fail("polled"))
    resting = client.create_and_post_order(buy(yes, 0.49), post_only=True)
    assert resting["status"] == "live"
    assert rejection(lambda: client.create_and_post_order(buy(yes, 0.51), post_only=True)) == (
        400,
        "invalid post-only order: order crosses book",
    )

    crossing = client.create_and_post_order(buy(yes, 0.55))  # fills at the ask, 0.51
    assert crossing["status"] == "matched"
    assert (crossing["makingAmount"], crossing["takingAmount"]) == ("10.2", "20")
    assert len(crossing["tradeIDs"]) == len(crossing["transactionsHashes"]) == 1
    (trade,) = client.get_trades(TradeParams(id=crossing["tradeIDs"][0]))
    assert (trade["trader_side"], trade["side"], trade["price"], trade["size"]) == (
        "TAKER",
        "BUY",
        "0.51",
        "20",
    )
    assert trade["taker_order_id"] == crossing["orderID"]
    assert trade["transaction_hash"] == crossing["transactionsHashes"][0]

    tokens = client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=yes)
    )
    collateral = client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    )
    assert (tokens["balance"], collateral["balance"]) == ("20000000", "9989800000")
    assert all(int(a) > 10**30 for a in collateral["allowances"].values())


def test_off_tick_below_minimum_and_unfunded_orders_are_rejected(
    client: ClobClient, market_a: MarketInfo
) -> None:
    yes = market_a.yes_token_id
    # The client refuses a finer tick than the market's, so sign one by hand at tick 0.001.
    off_tick = client.builder.build_order(
        buy(yes, 0.455), CreateOrderOptions(tick_size="0.001", neg_risk=False)
    )
    status, message = rejection(lambda: client.post_order(off_tick))
    assert status == 400
    assert message.endswith("is invalid. Price (0.455) breaks minimum tick size rule: 0.01")

    status, message = rejection(lambda: client.create_and_post_order(buy(yes, 0.45, size=4)))
    assert status == 400 and message.endswith("Size (4) lower than the minimum: 5")

    status, message = rejection(lambda: client.create_and_post_order(buy(yes, 0.45, 30_000)))
    assert status == 400 and message.startswith("not enough balance / allowance")
    status, message = rejection(lambda: client.create_and_post_order(sell(yes, 0.60)))
    assert status == 400 and message.startswith("not enough balance / allowance")
    assert client.get_open_orders() == []


def test_tampered_or_foreign_orders_are_rejected(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    signed = client.create_order(buy(market_a.yes_token_id, 0.45))
    signed.makerAmount = str(int(signed.makerAmount) - 10_000)  # pay less than signed for
    assert rejection(lambda: client.post_order(signed)) == (400, "invalid signature")

    # Someone else's signed order, posted with our API key.
    stranger = connect(server)
    foreign = stranger.create_order(buy(market_a.yes_token_id, 0.45))
    assert rejection(lambda: client.post_order(foreign)) == (
        400,
        "the order signer address has to be the address of the API KEY",
    )
    assert client.get_open_orders() == []


def test_an_order_outside_the_price_bounds_is_rejected(
    client: ClobClient, market_a: MarketInfo
) -> None:
    # The client refuses prices outside [tick, 1 - tick]; sign one by hand at 1.00.
    signed = client.builder.build_order(
        buy(market_a.yes_token_id, 1.0), CreateOrderOptions(tick_size="0.01", neg_risk=False)
    )
    status, message = rejection(lambda: client.post_order(signed))
    assert status == 400 and "is invalid. Price (1)" in message
    assert client.get_open_orders() == []


def test_neg_risk_orders_are_signed_for_the_neg_risk_exchange() -> None:
    scenario = parse_scenario(
        {
            "name": "neg-risk",
            "start": START.isoformat(),
            "markets": [_market(0xE, "0.01", [[0, "0.50"]], "10")],
        }
    )
    (plain,) = scenario.markets
    info = plain.info().model_copy(update={"neg_risk": True})
    venue = SimVenue([SimMarket(info, plain, START, book_seed="neg-risk")], ManualClock(START))
    with SimServer(venue) as server:
        client = connect(server)
        assert client.get_neg_risk(info.yes_token_id) is True
        assert client.get_order_book(info.yes_token_id)["neg_risk"] is True
        assert client.create_and_post_order(buy(info.yes_token_id, 0.45))["success"] is True
        wrong_exchange = PartialCreateOrderOptions(neg_risk=False)
        rejected = rejection(
            lambda: client.create_and_post_order(buy(info.yes_token_id, 0.44), wrong_exchange)
        )
        assert rejected == (400, "invalid signature")


@pytest.mark.parametrize("signature_type", [1, 2, 3])
def test_funder_signature_types_are_accepted(
    server: SimServer, market_a: MarketInfo, signature_type: int
) -> None:
    funder = Account.create().address
    client = connect(server, signature_type=signature_type, funder=funder)
    answer = client.create_and_post_order(buy(market_a.yes_token_id, 0.45))
    assert answer["success"] is True
    assert [o["id"] for o in client.get_open_orders()] == [answer["orderID"]]


def test_batch_placement_answers_each_order(client: ClobClient, market_a: MarketInfo) -> None:
    yes = market_a.yes_token_id
    batch = [
        PostOrdersV2Args(order=client.create_order(buy(yes, price))) for price in (0.45, 0.44, 0.60)
    ]
    batch[2].order.signature = batch[1].order.signature  # one bad order in the batch
    answers = client.post_orders(batch)
    assert [a["success"] for a in answers] == [True, True, False]
    assert answers[2]["errorMsg"] == "invalid signature"
    assert len(client.get_open_orders()) == 2


# --- open orders, trades, pagination ------------------------------------------------------


def test_open_orders_and_trades_page_until_lte(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    yes = market_a.yes_token_id
    placed = [client.create_and_post_order(buy(yes, p))["orderID"] for p in (0.45, 0.44, 0.43)]
    placed += [client.create_and_post_order(buy(yes, p))["orderID"] for p in (0.47, 0.46)]
    first = client.get_open_orders(only_first_page=True)
    assert len(first) == PAGE
    assert sorted(o["id"] for o in client.get_open_orders()) == sorted(placed)
    assert len(client.get_open_orders(OpenOrderParams(market=market_a.condition_id))) == 5
    assert client.get_open_orders(OpenOrderParams(asset_id=market_a.no_token_id)) == []

    # Two orders cross now (taker); at 60 s the ask falls to 0.41 and the rest fill (maker).
    takers = [client.create_and_post_order(buy(yes, 0.52))["orderID"] for _ in range(2)]
    assert httpx.post(f"{server.url}/_sim/advance", json={"seconds": 60}, timeout=5).is_success
    assert client.get_open_orders() == []
    trades = client.get_trades()
    assert len(trades) == 7
    assert len({t["id"] for t in trades}) == 7
    by_order = {}
    for trade in trades:
        if trade["trader_side"] == "TAKER":
            by_order[trade["taker_order_id"]] = (trade["side"], trade["price"])
        else:  # our resting order is the maker entry; the top level is the counterparty
            (ours,) = trade["maker_orders"]
            assert ours["owner"] == client.creds.api_key
            assert trade["side"] == "SELL" and ours["matched_amount"] == "20"
            by_order[ours["order_id"]] = (ours["side"], ours["price"])
    assert by_order == {
        **{order_id: ("BUY", "0.51") for order_id in takers},
        **dict(
            zip(placed, [("BUY", p) for p in ("0.45", "0.44", "0.43", "0.47", "0.46")], strict=True)
        ),
    }
    assert client.get_order(placed[0])["status"] == "MATCHED"
    assert client.get_order(placed[0])["associate_trades"]
    later = int(START.timestamp()) + 30  # only the maker fills happened after 30 s
    assert len(client.get_trades(TradeParams(after=later))) == 5
    assert len(client.get_trades(TradeParams(before=later))) == 2
    assert client.get_trades(TradeParams(maker_address=Account.create().address)) == []
    assert rejection(lambda: client.get_trades(TradeParams(after="yesterday")))[0] == 400


def test_raw_cursors_end_with_lte_and_tolerate_url_encoding(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    for price in (0.45, 0.44, 0.43):
        client.create_and_post_order(buy(market_a.yes_token_id, price))
    page = client.get_sampling_markets()
    assert base64.b64decode(page["next_cursor"]) == b"2"
    encoded = page["next_cursor"].replace("=", "%3D")
    url = f"{server.url}/sampling-markets?next_cursor={encoded.replace('%', '%25')}"
    last = httpx.get(url, timeout=5).json()
    assert (last["count"], last["next_cursor"]) == (2, "LTE=")
    assert client.get_sampling_markets(next_cursor="LTE=")["data"] == []
    assert rejection(lambda: client.get_sampling_markets(next_cursor="!!"))[0] == 400


# --- cancels ------------------------------------------------------------------------------


def test_cancel_one_several_by_market_by_token_and_all(
    server: SimServer, client: ClobClient, venue: SimVenue, market_a: MarketInfo
) -> None:
    market_b = venue.markets()[1]
    a_yes = [
        client.create_and_post_order(buy(market_a.yes_token_id, p))["orderID"]
        for p in (
            0.45,
            0.44,
            0.43,
        )
    ]
    a_no = client.create_and_post_order(buy(market_a.no_token_id, 0.40))["orderID"]
    b_ids = [
        client.create_and_post_order(buy(market_b.yes_token_id, p))["orderID"]
        for p in (
            0.25,
            0.24,
        )
    ]

    assert client.cancel_order(OrderPayload(orderID=a_yes[0])) == {
        "canceled": [a_yes[0]],
        "not_canceled": {},
    }
    again = client.cancel_order(OrderPayload(orderID=a_yes[0]))
    assert again["canceled"] == [] and a_yes[0] in again["not_canceled"]
    assert client.cancel_orders([a_yes[1]])["canceled"] == [a_yes[1]]

    by_token = client.cancel_market_orders(OrderMarketCancelParams(asset_id=market_a.no_token_id))
    assert by_token["canceled"] == [a_no]
    by_market = client.cancel_market_orders(OrderMarketCancelParams(market=market_a.condition_id))
    assert by_market["canceled"] == [a_yes[2]]
    assert sorted(o["id"] for o in client.get_open_orders()) == sorted(b_ids)
    assert sorted(client.cancel_all()["canceled"]) == sorted(b_ids)
    assert client.get_open_orders() == []
    assert client.get_order(a_yes[0])["status"] == "CANCELED"


# --- balances and scoring -----------------------------------------------------------------


def test_balance_allowance_needs_a_valid_asset(client: ClobClient, market_a: MarketInfo) -> None:
    tokens = client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=market_a.no_token_id)
    )
    assert tokens["balance"] == "0"
    assert rejection(lambda: client.get_balance_allowance(BalanceAllowanceParams()))[0] == 400
    unknown = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id="42")
    assert rejection(lambda: client.get_balance_allowance(unknown))[0] == 400


def test_order_scoring_follows_the_reward_band(client: ClobClient, market_a: MarketInfo) -> None:
    yes = market_a.yes_token_id
    near = client.create_and_post_order(buy(yes, 0.49))["orderID"]  # 1c from the mid
    far = client.create_and_post_order(buy(yes, 0.45))["orderID"]  # 5c: outside 3.5c
    small = client.create_and_post_order(buy(yes, 0.48, size=10))["orderID"]  # below min size
    assert client.is_order_scoring(OrderScoringParams(orderId=near)) == {"scoring": True}
    assert client.are_orders_scoring(OrdersScoringParams(orderIds=[near, far, small])) == {
        near: True,
        far: False,
        small: False,
    }


# --- faults and admin ---------------------------------------------------------------------


def outcomes(server: SimServer, n: int) -> list[int]:
    """The status of n GET /ok through the client (200 or the injected error)."""
    client = ClobClient(server.url, CHAIN)
    statuses = []
    for _ in range(n):
        try:
            client.get_ok()
            statuses.append(200)
        except PolyApiException as exc:
            assert exc.status_code is not None
            statuses.append(exc.status_code)
    return statuses


def test_error_and_rate_limit_faults_are_seeded(venue: SimVenue) -> None:
    faults = Faults(error_rate=0.3, rate_limit_rate=0.3, seed=11)
    runs = []
    for _ in range(2):
        with SimServer(make_venue(), faults=faults) as server:
            runs.append(outcomes(server, 60))
    assert runs[0] == runs[1]  # same seed, same requests: same answers
    assert {200, 429, 500} == set(runs[0])
    assert 0.15 < runs[0].count(500) / 60 < 0.5

    with SimServer(venue, faults=Faults(rate_limit_rate=1)) as server:
        client = ClobClient(server.url, CHAIN)
        assert rejection(client.get_ok) == (429, "Too Many Requests")
        server.set_faults(Faults(error_rate=1))
        assert rejection(lambda: client.get_tick_size("1"))[0] == 500


def test_latency_holds_venue_answers_but_not_admin_ones(server: SimServer) -> None:
    server.set_faults(Faults(latency_ms=600))
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{server.url}/ok", timeout=0.15)
    assert httpx.get(f"{server.url}/_sim/ledger", timeout=0.5).status_code == 200
    assert httpx.get(f"{server.url}/ok", timeout=5).text == '"OK"'


def test_faults_never_touch_admin_paths_and_are_set_over_http(server: SimServer) -> None:
    answer = httpx.post(f"{server.url}/_sim/faults", json={"error_rate": 1, "seed": 3}, timeout=5)
    assert answer.json()["error_rate"] == 1
    assert httpx.get(f"{server.url}/ok", timeout=5).status_code == 500
    assert httpx.get(f"{server.url}/_sim/ledger", timeout=5).status_code == 200
    bad = httpx.post(f"{server.url}/_sim/faults", json={"error_rate": 2}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"].startswith("faults: error_rate")
    httpx.post(f"{server.url}/_sim/faults", json={"error_rate": 0}, timeout=5)
    assert httpx.get(f"{server.url}/ok", timeout=5).status_code == 200


def test_accept_then_drop_leaves_the_order_on_the_book(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    server.set_faults(Faults(accept_timeout_rate=1))
    with pytest.raises(PolyApiException) as raised:
        client.create_and_post_order(buy(market_a.yes_token_id, 0.45))
    # What the client sees: no HTTP status, a transport error, although the order was accepted.
    assert (raised.value.status_code, raised.value.error_msg) == (None, "Request exception!")
    server.set_faults(Faults())
    (order,) = client.get_open_orders()
    assert order["price"] == "0.45" and order["status"] == "LIVE"


def test_accept_then_hang_past_the_client_timeout(
    server: SimServer, client: ClobClient, market_a: MarketInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client's module-level httpx client waits 5 s; a shorter one keeps the test quick.
    monkeypatch.setattr(sdk_http, "_http_client", httpx.Client(timeout=0.3))
    server.set_faults(Faults(accept_timeout_rate=1, accept_timeout_hang_s=1.0))
    with pytest.raises(PolyApiException) as raised:
        client.create_and_post_order(buy(market_a.yes_token_id, 0.45))
    assert raised.value.status_code is None
    server.set_faults(Faults())
    assert [o["price"] for o in client.get_open_orders()] == ["0.45"]


def test_admin_paths_are_404_without_admin(venue: SimVenue) -> None:
    with SimServer(venue) as server:
        for method, path in (
            ("GET", "/_sim/ledger"),
            ("POST", "/_sim/faults"),
            ("POST", "/_sim/advance"),
        ):
            answer = httpx.request(method, f"{server.url}{path}", json={}, timeout=5)
            assert answer.status_code == 404
        assert httpx.get(f"{server.url}/ok", timeout=5).status_code == 200


def test_admin_advance_and_ledger(server: SimServer, client: ClobClient, venue: SimVenue) -> None:
    answer = httpx.post(f"{server.url}/_sim/advance", json={"seconds": 90}, timeout=5)
    assert answer.json() == {"now": "2026-01-21T12:01:30+00:00"}
    assert venue.now() == datetime(2026, 1, 21, 12, 1, 30, tzinfo=UTC)
    answer = httpx.post(
        f"{server.url}/_sim/advance", json={"to": "2026-01-21T13:00:00+00:00"}, timeout=5
    )
    assert answer.json()["now"] == "2026-01-21T13:00:00+00:00"
    bad = httpx.post(f"{server.url}/_sim/advance", json={"to": "later"}, timeout=5)
    assert bad.status_code == 400
    assert client.get_midpoint(venue.markets()[0].yes_token_id) == {"mid": "0.4"}
    assert ledger(server)["now"] == "2026-01-21T13:00:00+00:00"


def test_a_live_tick_change_reaches_the_client(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    answer = httpx.post(
        f"{server.url}/_sim/tick-size",
        json={"condition_id": market_a.condition_id, "tick_size": "0.001"},
        timeout=5,
    )
    assert answer.json()["tick_size"] == "0.001"
    fresh = connect(server)  # the client caches tick sizes per instance
    assert fresh.get_tick_size(market_a.yes_token_id) == "0.001"
    options = PartialCreateOrderOptions(tick_size="0.001")
    placed = fresh.create_and_post_order(buy(market_a.yes_token_id, 0.455), options)
    assert fresh.get_order(placed["orderID"])["price"] == "0.455"


def test_order_payload_must_belong_to_the_api_key(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    signed = client.create_order(buy(market_a.yes_token_id, 0.45))
    payload = order_to_json_v2(signed, "someone-else", OrderType.GTC)
    raw = httpx.post(f"{server.url}/order", json=payload, timeout=5)
    assert raw.status_code == 401  # no L2 headers at all
    body = json.dumps(payload, separators=(",", ":"))
    headers = client._l2_headers("POST", "/order", serialized_body=body)
    status, message = rejection(
        lambda: client._post(f"{server.url}/order", headers=headers, data=body)
    )
    assert (status, message) == (400, "the order owner has to be the owner of the API KEY")


def test_a_failed_trade_is_reported_and_reversed(
    server: SimServer, client: ClobClient, market_a: MarketInfo
) -> None:
    crossing = client.create_and_post_order(buy(market_a.yes_token_id, 0.52))
    (trade_id,) = crossing["tradeIDs"]
    answer = httpx.post(f"{server.url}/_sim/fail-trade", json={"trade_id": trade_id}, timeout=5)
    assert answer.json()["status"] == "FAILED"
    (trade,) = client.get_trades()
    assert (trade["id"], trade["status"]) == (trade_id, "FAILED")
    collateral = client.get_balance_allowance(
        BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
    )
    assert collateral["balance"] == str(10_000 * 10**6)
    missing = httpx.post(f"{server.url}/_sim/fail-trade", json={"trade_id": "nope"}, timeout=5)
    assert missing.status_code == 404


# --- the command --------------------------------------------------------------------------


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`dualmm sim-server ...` through the real entry point, with only this command registered."""
    monkeypatch.setattr(cli, "_COMMAND_MODULES", ("dualmm.cli.sim",))
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.callback()(lambda: None)  # a group, as in dualmm.cli
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr("sys.argv", ["dualmm", "sim-server", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return int(done.value.code or 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--error-rate", "1.5"], "--error-rate"),
        (["--port", "-1"], "--port"),
        (["--fund", "lots"], "--fund: 'lots' is not a number"),
        (["--fund", "-5"], "--fund: -5 must be a non-negative amount of USDC"),
        (["--scenario", "/no/such/file.json"], "/no/such/file.json: cannot read"),
        (["--speed", "0"], "--speed"),
    ],
)
def test_bad_flags_fail_in_one_line_with_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert run_cli(monkeypatch, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_the_command_serves_a_scenario_and_funds_its_test_key() -> None:
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "skewed-exit.json"
    command = [sys.executable, "-m", "dualmm", "sim-server", "--port", "0", "--admin"]
    process = subprocess.Popen(
        [*command, "--scenario", str(scenario), "--speed", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(7)]
        url = lines[0].split()[2]
        address = next(line.split()[-1] for line in lines if "address:" in line)
        assert "THROWAWAY TEST KEY" in "".join(lines)
        key = next(line.split()[-1] for line in lines if "private key:" in line)
        assert Account.from_key(key).address == address

        client = ClobClient(url, CHAIN, key=key)
        client.set_api_creds(client.create_api_key())
        (market,) = parse_scenario(json.loads(scenario.read_text())).markets
        held = client.get_balance_allowance(
            BalanceAllowanceParams(
                asset_type=AssetType.CONDITIONAL, token_id=market.info().yes_token_id
            )
        )
        assert held["balance"] == "20000000"  # the scenario's starting position
        # The command serves the harsh venue by default: the docs' field name.
        assert client.get_midpoint(market.info().yes_token_id) == {"mid_price": "0.53"}
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.strip().endswith("dualmm sim-server: stopped")

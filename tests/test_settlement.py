"""Settlement lag, ghost fills, wire formats and the touch (issue 8).

The venue: trades go MATCHED -> MINED -> CONFIRMED (or RETRYING -> FAILED) and balances move
only at settlement; statuses and sizes come in the SDK's or the docs' spelling; a side nobody
quotes has no price. The bot: reads both spellings (an unknown status is an error), never
waits 30 s inside post_order, retries a SELL refused while its tokens settle, and a FAILED
buy shrinks the position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from py_clob_client_v2.client import ClobClient
from sim_helpers import START, Flat, connect, market_info
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.liquidation import SETTLEMENT_ATTEMPTS, LiquidationActivities
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, Side, Token
from dualmm.exchange.base import InsufficientBalance, OrderStatus, PlaceOrder
from dualmm.exchange.clob_wire import (
    UnknownStatus,
    order_status,
    shares,
    trade_fills,
    trade_status,
)
from dualmm.sim.clock import ManualClock
from dualmm.sim.exchange import SimExchange
from dualmm.sim.ledger import TradeStatus
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
WALLET = "0x00000000000000000000000000000000000000bb"
LAG = VenueRules(settle_min_seconds=20, settle_max_seconds=20)
GHOSTS = LAG.model_copy(update={"failed_trade_rate": 1.0})


def market(mid: str = "0.50", tick: str = "0.01") -> SimMarket:
    info = market_info("0xsettle", "201", "202", tick_size=D(tick))
    return SimMarket(info, Flat(mid), START, book_seed="settle")


def venue_with(rules: VenueRules, mid: str = "0.50", tick: str = "0.01") -> SimVenue:
    venue = SimVenue([market(mid, tick)], ManualClock(START), fund=D(100), rules=rules)
    venue.ensure_wallet(WALLET)
    return venue


# --- the venue: settlement ----------------------------------------------------------------


def test_a_trade_settles_matched_mined_confirmed_and_balances_move_only_then() -> None:
    venue = venue_with(LAG)
    venue.place(WALLET, "buy", "201", Side.BUY, D("0.55"), D(10))  # crosses the 0.51 ask
    (trade,) = venue.trades(WALLET)
    assert trade.status is TradeStatus.MATCHED
    held = venue.balances(WALLET)
    assert held.collateral == D(100) and held.tokens.get("201", 0) == 0
    assert venue.available(WALLET).collateral == D(100) - D("5.10")  # committed meanwhile

    venue.advance(10)
    assert [t.status for t in venue.trades(WALLET, after=trade.seq)] == [TradeStatus.MINED]
    assert venue.balances(WALLET).tokens.get("201", 0) == 0
    venue.advance(10)
    (confirmed,) = venue.trades(WALLET)
    assert confirmed.status is TradeStatus.CONFIRMED
    held = venue.balances(WALLET)
    assert held.collateral == D(100) - D("5.10") and held.tokens["201"] == D(10)


def test_selling_tokens_whose_buy_has_not_settled_is_refused_for_balance() -> None:
    venue = venue_with(LAG)
    venue.place(WALLET, "buy", "201", Side.BUY, D("0.55"), D(10))
    with pytest.raises(InsufficientBalance, match="not enough balance"):
        venue.place(WALLET, "sell", "201", Side.SELL, D("0.60"), D(10))
    venue.advance(20)
    assert venue.place(WALLET, "sell", "201", Side.SELL, D("0.60"), D(10)).status is (
        OrderStatus.LIVE
    )


def test_a_ghost_fill_goes_retrying_then_failed_and_moves_nothing() -> None:
    venue = venue_with(
        VenueRules(settle_min_seconds=20, settle_max_seconds=20, failed_trade_rate=1)
    )
    venue.place(WALLET, "buy", "201", Side.BUY, D("0.55"), D(10))
    venue.advance(10)
    assert venue.trades(WALLET)[0].status is TradeStatus.RETRYING
    venue.advance(10)
    assert venue.trades(WALLET)[0].status is TradeStatus.FAILED
    held = venue.balances(WALLET)
    assert held.collateral == D(100) and held.tokens.get("201", 0) == 0
    assert venue.available(WALLET).collateral == D(100)


def test_the_kind_venue_settles_at_once() -> None:
    venue = venue_with(VenueRules())
    venue.place(WALLET, "buy", "201", Side.BUY, D("0.55"), D(10))
    assert venue.trades(WALLET)[0].status is TradeStatus.CONFIRMED
    assert venue.balances(WALLET).tokens["201"] == D(10)


# --- the venue: no invented touch ---------------------------------------------------------


def test_no_bid_is_invented_below_the_tick() -> None:
    """Midpoint 0.0015 on a 0.01 tick: the kind venue shows (and fills) a phantom bid at 0.01."""
    harsh = venue_with(VenueRules(no_invented_touch=True), mid="0.0015")
    assert harsh.book("201").bids == () and harsh.touch("201")[0] is None
    harsh.credit(WALLET, "201", D(10))
    resting = harsh.place(WALLET, "sell", "201", Side.SELL, D("0.01"), D(10))
    assert resting.status is OrderStatus.LIVE and resting.size_matched == 0

    kind = venue_with(VenueRules(), mid="0.0015")
    kind.credit(WALLET, "201", D(10))
    assert kind.place(WALLET, "sell", "201", Side.SELL, D("0.01"), D(10)).size_matched == 10


# --- the bot: wire formats ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("LIVE", OrderStatus.LIVE),
        ("ORDER_STATUS_LIVE", OrderStatus.LIVE),
        ("live", OrderStatus.LIVE),
        ("MATCHED", OrderStatus.MATCHED),
        ("ORDER_STATUS_MATCHED", OrderStatus.MATCHED),
        ("ORDER_STATUS_CANCELED", OrderStatus.CANCELED),
        ("CANCELED_MARKET_RESOLVED", OrderStatus.CANCELED),
        ("delayed", OrderStatus.LIVE),
    ],
)
def test_order_statuses_in_either_spelling(raw: str, status: OrderStatus) -> None:
    assert order_status(raw) is status


@pytest.mark.parametrize("raw", ["ORDER_STATUS_SOMETHING_NEW", "PARTIAL", "LIVEISH"])
def test_an_unknown_order_status_is_an_error_never_live(raw: str) -> None:
    with pytest.raises(UnknownStatus):
        order_status(raw)


def test_trade_statuses_in_either_spelling_and_unknown_is_an_error() -> None:
    assert trade_status("TRADE_STATUS_CONFIRMED") == "CONFIRMED"
    assert trade_status("failed") == "FAILED"
    with pytest.raises(UnknownStatus):
        trade_status("TRADE_STATUS_LOST")


def test_sizes_as_decimals_or_fixed_math() -> None:
    assert shares("12.5") == D("12.5")
    assert shares("100") == D(100)
    assert shares("12500000") == D("12.5")  # at least one share in fixed math
    assert shares("5000", fixed=True) == D("0.005")


def test_a_failed_trade_in_the_docs_spelling_reverses_the_fill() -> None:
    info = market().info
    raw = {
        "id": "t1",
        "taker_order_id": "o1",
        "market": info.condition_id,
        "asset_id": "201",
        "side": "BUY",
        "size": "10000000",
        "price": "0.5",
        "status": "TRADE_STATUS_MATCHED",
        "match_time": "1772452800",
        "trader_side": "TAKER",
        "maker_orders": [],
    }
    (bought,) = trade_fills(raw, info, "key", WALLET)
    assert (bought.size, bought.status) == (D(10), "MATCHED")
    (failed,) = trade_fills({**raw, "status": "TRADE_STATUS_FAILED"}, info, "key", WALLET)
    position = PositionTracker().apply_fills([bought]).apply_fills([failed])
    assert position.yes_qty == 0


# --- the bot: through py-clob-client-v2 over HTTP -----------------------------------------


@pytest.fixture
def lagging_server() -> Iterator[SimServer]:
    venue = venue_with(
        VenueRules.harsh(settle_min_seconds=20, settle_max_seconds=20, failed_trade_rate=0)
    )
    with SimServer(venue) as server:
        yield server


def _request(key: str, side: Side, price: str, size: str = "10") -> PlaceOrder:
    info = market().info
    return PlaceOrder(key=key, market=info, token_id="201", side=side, price=D(price), size=D(size))


async def test_a_matched_placement_never_waits_for_settlement_hashes(
    lagging_server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """post_order would poll /data/trades up to 30 s for the hashes of an unsettled match."""
    polls: list[Any] = []
    monkeypatch.setattr(
        ClobClient, "_wait_for_resolved_trades", lambda self, ids: polls.append(ids) or []
    )
    exchange = await connect(lagging_server)
    placed = await exchange.place_order(_request("cross", Side.BUY, "0.55"))
    assert placed.status is OrderStatus.MATCHED and placed.size_matched == 10
    assert polls == []


async def test_fills_report_each_settlement_step_and_balances_follow(
    lagging_server: SimServer,
) -> None:
    exchange = await connect(lagging_server)
    venue = lagging_server.venue
    await exchange.place_order(_request("cross", Side.BUY, "0.55"))
    info = market().info
    first = await exchange.fills(info)
    assert [f.status for f in first.fills] == ["MATCHED"]
    assert (await exchange.balances(["201"])).tokens["201"] == 0
    with pytest.raises(InsufficientBalance):
        await exchange.place_order(_request("sell-early", Side.SELL, "0.60"))
    venue.advance(20)
    later = await exchange.fills(info, first.cursor)
    assert [f.status for f in later.fills] == ["CONFIRMED"]
    assert later.fills[0].trade_id == first.fills[0].trade_id  # one trade, counted once
    assert (await exchange.balances(["201"])).tokens["201"] == D(10)
    sold = await exchange.place_order(_request("sell-later", Side.SELL, "0.60"))
    assert sold.status is OrderStatus.LIVE


# --- the bot: a SELL waiting for its tokens -----------------------------------------------


class _Refusing:
    """An exchange whose placements are refused for balance (tokens still settling)."""

    async def place_order(self, request: PlaceOrder) -> Any:
        raise InsufficientBalance("not enough balance / allowance")


async def _attempt(attempt: int, side: Side) -> ApplicationError:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    activities = LiquidationActivities(_Refusing())  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.place_order, _request("k", side, "0.60"))
    return raised.value


async def test_a_sell_refused_for_balance_is_retried_while_trades_settle() -> None:
    early = await _attempt(1, Side.SELL)
    assert not early.non_retryable and early.next_retry_delay is not None
    late = await _attempt(SETTLEMENT_ATTEMPTS, Side.SELL)
    assert late.non_retryable  # then the workflow looks again at its next check
    buy = await _attempt(1, Side.BUY)
    assert buy.non_retryable  # no collateral is not a settlement wait


async def test_a_sim_exchange_fill_stream_reports_the_failed_buy() -> None:
    venue = venue_with(
        VenueRules(settle_min_seconds=20, settle_max_seconds=20, failed_trade_rate=1)
    )
    exchange = SimExchange(venue, WALLET)
    await exchange.place_order(_request("cross", Side.BUY, "0.55"))
    info = market().info
    page = await exchange.fills(info)
    position = PositionTracker().apply_fills(page.fills)
    assert position.yes_qty == 10
    venue.advance(20)
    later = await exchange.fills(info, page.cursor)
    position = position.apply_fills(later.fills)
    assert [f.status for f in later.fills] == ["FAILED"] and position.yes_qty == 0
    assert isinstance(later.fills[0], Fill) and later.fills[0].token is Token.YES


async def test_a_matched_exit_is_not_followed_by_a_second_full_size_sell() -> None:
    """MARKET crosses at once; the trade is only MATCHED (settling) when the loop looks again:
    the position already shows it, so nothing is sold twice."""
    from datetime import timedelta

    from dualmm.config import LiquidationConfig
    from dualmm.replay import replay_market

    venue = venue_with(LAG)
    venue.credit(WALLET, "201", D(20))
    config = LiquidationConfig(stop_loss_threshold=D(-1))  # 20 at 0.60, mid 0.50: -2 USDC
    replay = await replay_market(
        venue,
        SimExchange(venue, WALLET),
        market().info,
        PositionTracker.opening(Token.YES, D(20), D("0.60")),
        config,
        START,
        START + timedelta(minutes=5),
    )
    assert [(o.price, o.size) for o in replay.orders] == [(D("0.45"), D(20))]
    assert replay.status == "closed" and sum(f.size for f in replay.fills) == 20
    sold = [t for t in venue.trades(WALLET) if t.side is Side.SELL]
    assert sum(t.size for t in sold) == 20


async def test_over_http_a_matched_exit_the_venue_no_longer_shows_is_found_through_its_trades(
    lagging_server: SimServer,
) -> None:
    """The documented wire form: GET /data/order answers nothing for the matched SELL."""
    from datetime import timedelta

    from dualmm.config import LiquidationConfig
    from dualmm.replay import replay_market

    exchange = await connect(lagging_server)
    venue = lagging_server.venue
    venue.credit(exchange._client.builder.funder, "201", D(20))
    replay = await replay_market(
        venue,
        exchange,
        market().info,
        PositionTracker.opening(Token.YES, D(20), D("0.60")),
        LiquidationConfig(stop_loss_threshold=D(-1)),
        START,
        START + timedelta(minutes=5),
    )
    assert [(o.price, o.size) for o in replay.orders] == [(D("0.45"), D(20))]
    assert replay.status == "closed"

"""One contract for every Exchange: the py-clob-client-v2 adapter over HTTP against the simulator
server (fresh key, loopback), and the in-process SimExchange on the same kind of venue.

The venue runs a scenario on a manual clock: YES mid 0.50, then 0.60 at 60 s, 0.40 at 120 s
(tick 0.01, so the touch is 0.49/0.51, then 0.59/0.61, then 0.39/0.41).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio
from eth_account import Account
from py_clob_client_v2.http_helpers import helpers as sdk_http
from pydantic import SecretStr, ValidationError

from dualmm.config import ProcessSettings
from dualmm.domain.position import PositionTracker, absorb_fills
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange.base import (
    AuthError,
    Exchange,
    ExchangeError,
    Fill,
    InsufficientBalance,
    InvalidOrder,
    NotFound,
    OrderStatus,
    OrderType,
    PlaceOrder,
    RateLimited,
    VenueTimeout,
    VenueUnavailable,
    WouldCross,
)
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.clob_wire import trade_fills
from dualmm.exchange.errors import classify
from dualmm.exchange.sync import fill_start, sync_market
from dualmm.scenario import parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import Faults, SimServer
from dualmm.sim.venue import SimVenue

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FUND = Decimal(10000)
PAGE_SIZE = 2  # small pages, so every list below spans several


def market_json(n: int, path: list[tuple[int, str]]) -> dict[str, object]:
    return {
        "condition_id": "0x" + f"{n:02x}" * 32,
        "question": f"Contract market {n}",
        "tick_size": "0.01",
        "min_order_size": "5",
        "rewards_daily_rate": str(10 * n),
        "rewards_max_spread_cents": "3.5",
        "rewards_min_size": "20",
        "path": [[t, mid] for t, mid in path],
    }


def contract_venue(n_markets: int = 3, rules: VenueRules | None = None) -> SimVenue:
    paths = [[(0, "0.50"), (60, "0.60"), (120, "0.40")]] + [
        [(0, f"0.{30 + 10 * i}")] for i in range(1, n_markets)
    ]
    scenario = parse_scenario(
        {
            "name": "contract",
            "start": START.isoformat(),
            "markets": [market_json(i + 1, p) for i, p in enumerate(paths)],
        }
    )
    return SimVenue.from_scenario(scenario, fund=FUND, rules=rules)


def fresh_key() -> str:
    return "0x" + bytes(Account.create().key).hex()


def sim_settings(url: str, key: str, **extra: object) -> ProcessSettings:
    values: dict[str, object] = {"clob_timeout_seconds": 2.0, **extra}
    return ProcessSettings(exchange="sim", clob_url=url, private_key=SecretStr(key), **values)  # type: ignore[arg-type]


@dataclass
class Case:
    exchange: Exchange
    venue: SimVenue
    market: MarketInfo
    server: SimServer | None  # None: in-process, no transport
    url: str = ""
    key: str = ""
    docs_wire: bool = False
    wallet: str = ""  # the address the exchange trades as


@pytest.fixture(scope="module")
def server() -> Iterator[SimServer]:
    """One server for the module (stopping one takes ~0.5 s); each test gives it a new venue."""
    with SimServer(contract_venue(), admin=True, page_size=PAGE_SIZE) as running:
        yield running


# The documented wire forms: ORDER_STATUS_/TRADE_STATUS_ statuses, 6-decimal fixed-math sizes,
# paging that ends on an empty cursor, and nothing from GET /data/order for a matched order.
DOCS_WIRE = VenueRules(
    status_spelling="docs", fixed_math_sizes=True, end_cursor="", matched_orders_vanish=True
)


@pytest_asyncio.fixture(params=["clob-over-http", "clob-over-http-docs-wire", "sim-in-process"])
async def case(request: pytest.FixtureRequest, server: SimServer) -> AsyncIterator[Case]:
    venue = contract_venue(rules=DOCS_WIRE if request.param.endswith("docs-wire") else None)
    market = venue.markets()[0]
    key = fresh_key()
    if request.param == "sim-in-process":
        wallet = Account.from_key(key).address
        yield Case(SimExchange(venue, wallet), venue, market, None, wallet=wallet)
        return
    server.venue = venue
    server.set_faults(Faults())
    exchange = await ClobExchange.connect(sim_settings(server.url, key))
    yield Case(
        exchange,
        venue,
        market,
        server,
        server.url,
        key,
        venue.rules == DOCS_WIRE,
        Account.from_key(key).address,
    )


def order(
    case: Case,
    key: str,
    side: Side,
    price: str,
    size: str = "10",
    *,
    no: bool = False,
    **extra: object,
) -> PlaceOrder:
    market = case.market
    return PlaceOrder(
        key=key,
        market=market,
        token_id=market.no_token_id if no else market.yes_token_id,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        **extra,  # type: ignore[arg-type]
    )


def transport_only(case: Case) -> SimServer:
    if case.server is None:
        pytest.skip("the in-process exchange has no transport or credentials")
    return case.server


async def all_fills(
    exchange: Exchange, market: MarketInfo, cursor: str | None
) -> tuple[dict[str, Fill], str]:
    page = await exchange.fills(market, cursor)
    return {fill.trade_id: fill for fill in page.fills}, page.cursor


# --- market data ------------------------------------------------------------------------------


async def test_reward_markets_list_every_market_with_its_reward_terms(case: Case) -> None:
    found = {m.info.condition_id: m for m in await case.exchange.reward_markets()}
    assert len(found) == 3  # more than one page over HTTP
    for info in case.venue.markets():
        got = found[info.condition_id]
        assert got.accepting_orders and got.active
        assert got.info.yes_token_id == info.yes_token_id
        assert got.info.no_token_id == info.no_token_id
        assert got.info.tick_size == Decimal("0.01")
        assert got.info.min_order_size == Decimal(5)
        assert got.info.rewards_daily_rate == info.rewards_daily_rate
        assert got.info.rewards_max_spread_cents == Decimal("3.5")
        assert got.info.rewards_min_size == Decimal(20)


async def test_market_book_midpoint_tick_and_neg_risk(case: Case) -> None:
    info = await case.exchange.market(case.market.condition_id)
    assert info.yes_token_id == case.market.yes_token_id
    assert info.tick_size == Decimal("0.01")
    yes = await case.exchange.book(case.market.yes_token_id)
    assert (yes.best_bid, yes.best_ask) == (Decimal("0.49"), Decimal("0.51"))
    assert [lvl.price for lvl in yes.bids] == sorted((lvl.price for lvl in yes.bids), reverse=True)
    assert [lvl.price for lvl in yes.asks] == sorted(lvl.price for lvl in yes.asks)
    no = await case.exchange.book(case.market.no_token_id)
    assert (no.best_bid, no.best_ask) == (Decimal("0.49"), Decimal("0.51"))  # 1 - YES touch
    assert await case.exchange.midpoint(case.market.yes_token_id) == Decimal("0.5")
    assert await case.exchange.tick_size(case.market.yes_token_id) == Decimal("0.01")
    assert await case.exchange.neg_risk(case.market.yes_token_id) is False


async def test_price_history_of_both_tokens(case: Case) -> None:
    case.venue.advance(150)
    later = START + timedelta(minutes=10)
    yes = await case.exchange.price_history(case.market.yes_token_id, START, later, 1)
    assert [(p.at, p.price) for p in yes] == [
        (START, Decimal("0.5")),
        (START + timedelta(minutes=1), Decimal("0.6")),
        (START + timedelta(minutes=2), Decimal("0.4")),
    ]
    no = await case.exchange.price_history(case.market.no_token_id, START, later, 2)
    assert [p.price for p in no] == [Decimal("0.5"), Decimal("0.6")]
    with pytest.raises(NotFound):
        await case.exchange.price_history("12345", START, later, 1)


# --- orders -----------------------------------------------------------------------------------


async def test_place_list_get_and_cancel(case: Case) -> None:
    ex = case.exchange
    placed = await ex.place_order(order(case, "a", Side.BUY, "0.45"))
    assert placed.status is OrderStatus.LIVE
    assert (placed.side, placed.price, placed.original_size) == (Side.BUY, Decimal("0.45"), 10)
    assert placed.token_id == case.market.yes_token_id
    assert [o.order_id for o in await ex.open_orders(case.market.condition_id)] == [placed.order_id]
    got = await ex.get_order(placed.order_id)
    assert got is not None and got.status is OrderStatus.LIVE and got.remaining == 10

    await ex.cancel_order(placed.order_id)
    assert await ex.open_orders() == []
    cancelled = await ex.get_order(placed.order_id)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELED
    await ex.cancel_order(placed.order_id)  # already gone: still success
    await ex.cancel_order("0x" + "ab" * 32)  # never existed: success too
    assert await ex.get_order("0x" + "ab" * 32) is None


async def test_same_key_never_makes_a_second_order(case: Case) -> None:
    first = await case.exchange.place_order(order(case, "same", Side.BUY, "0.45"))
    again = await case.exchange.place_order(order(case, "same", Side.BUY, "0.45"))
    assert again.order_id == first.order_id
    assert len(case.venue.ledger()["orders"]) == 1
    other = await case.exchange.place_order(order(case, "other", Side.BUY, "0.45"))
    assert other.order_id != first.order_id
    assert len(await case.exchange.open_orders()) == 2


async def test_cancel_market_and_cancel_all(case: Case) -> None:
    ex = case.exchange
    second = case.venue.markets()[1]
    for i in range(3):
        await ex.place_order(order(case, f"m{i}", Side.BUY, f"0.4{i}"))
    other = await ex.place_order(
        PlaceOrder(
            key="other-market",
            market=second,
            token_id=second.yes_token_id,
            side=Side.BUY,
            price=Decimal("0.30"),
            size=Decimal(10),
        )
    )
    assert len(await ex.open_orders()) == 4  # paged over HTTP
    await ex.cancel_market(case.market.condition_id)
    assert [o.order_id for o in await ex.open_orders()] == [other.order_id]
    await ex.cancel_all()
    assert await ex.open_orders() == []


async def test_open_orders_page_through_every_order(case: Case) -> None:
    ids = set()
    for i in range(5):
        placed = await case.exchange.place_order(order(case, f"p{i}", Side.BUY, f"0.3{i}"))
        ids.add(placed.order_id)
    listed = await case.exchange.open_orders(case.market.condition_id)
    assert {o.order_id for o in listed} == ids


async def test_gtd_order_expires(case: Case) -> None:
    expiry = datetime(2026, 3, 2, 12, 1, 30, tzinfo=UTC)  # before the 0.40 mid at 120 s
    placed = await case.exchange.place_order(
        order(case, "gtd", Side.BUY, "0.45", order_type=OrderType.GTD, expiration=expiry)
    )
    assert placed.order_type is OrderType.GTD
    case.venue.advance(100)
    gone = await case.exchange.get_order(placed.order_id)
    assert gone is not None and gone.status is OrderStatus.CANCELED


# --- fills and balances -----------------------------------------------------------------------


async def test_taker_and_maker_fills_and_balances(case: Case) -> None:
    ex, market = case.exchange, case.market
    # Crosses the 0.51 ask when placed: fills at the touch at once.
    taker = await ex.place_order(order(case, "buy", Side.BUY, "0.55"))
    assert taker.status is OrderStatus.MATCHED and taker.size_matched == 10
    got = await ex.get_order(taker.order_id)
    if case.docs_wire:  # the venue may show nothing for a matched order: found via its trades
        assert got is None
    else:
        assert got is not None and got.status is OrderStatus.MATCHED and got.size_matched == 10
    fills, cursor = await all_fills(ex, market, None)
    (bought,) = fills.values()
    assert (bought.side, bought.price, bought.size) == (Side.BUY, Decimal("0.51"), Decimal(10))
    assert bought.order_id == taker.order_id and bought.token.value == "YES"
    held = await ex.balances([market.yes_token_id, market.no_token_id])
    assert held.collateral == FUND - Decimal("5.10")
    assert held.tokens == {market.yes_token_id: Decimal(10), market.no_token_id: Decimal(0)}

    # Rests at 0.59; the mid moves to 0.60 at 60 s, the bid reaches 0.59: fills at 0.59.
    maker = await ex.place_order(order(case, "sell", Side.SELL, "0.59"))
    assert maker.status is OrderStatus.LIVE
    case.venue.advance(60)
    newer, cursor = await all_fills(ex, market, cursor)
    assert bought.trade_id not in newer or newer[bought.trade_id] == bought
    sold = [f for f in newer.values() if f.order_id == maker.order_id]
    assert [(f.side, f.price, f.size) for f in sold] == [(Side.SELL, Decimal("0.59"), 10)]
    held = await ex.balances([market.yes_token_id])
    assert held.collateral == FUND - Decimal("5.10") + Decimal("5.90")
    assert held.tokens[market.yes_token_id] == 0


async def test_a_trade_that_fails_is_reported_again_as_failed(case: Case) -> None:
    ex, market = case.exchange, case.market
    await ex.place_order(order(case, "buy", Side.BUY, "0.55"))
    fills, cursor = await all_fills(ex, market, None)
    (trade_id,) = fills
    case.venue.fail_trade(trade_id)
    later, _ = await all_fills(ex, market, cursor)
    assert later[trade_id].status == "FAILED"
    held = await ex.balances([market.yes_token_id])
    assert held.collateral == FUND and held.tokens[market.yes_token_id] == 0


async def test_fills_page_through_every_trade(case: Case) -> None:
    ids = set()
    for i in range(5):
        ids.add((await case.exchange.place_order(order(case, f"t{i}", Side.BUY, "0.55"))).order_id)
    fills, _ = await all_fills(case.exchange, case.market, None)
    assert {f.order_id for f in fills.values()} == ids


async def test_no_token_orders_fill_on_the_mirrored_book(case: Case) -> None:
    # NO ask = 1 - YES bid = 0.51: a NO bid at 0.52 crosses.
    placed = await case.exchange.place_order(order(case, "no", Side.BUY, "0.52", no=True))
    fills, _ = await all_fills(case.exchange, case.market, None)
    (fill,) = fills.values()
    assert fill.order_id == placed.order_id
    assert (fill.token.value, fill.price) == ("NO", Decimal("0.51"))


async def test_a_new_owner_of_a_market_never_counts_the_earlier_fills(case: Case) -> None:
    """Round 1 buys 10 YES, its liquidation sells them; round 2 starts (fill_start) and buys
    10 YES in the same second as the sale. Whatever the adapter's cursor re-reads, round 2's
    tracker holds exactly its own 10 YES, and a later failure of an earlier trade is not its."""
    ex, market = case.exchange, case.market
    await ex.place_order(order(case, "round-1", Side.BUY, "0.55"))  # fills at 0.51
    case.venue.advance(60)  # touch 0.59 / 0.61
    await ex.place_order(order(case, "liquidation-1", Side.SELL, "0.55"))  # fills at 0.59
    earlier, _ = await all_fills(ex, market, None)
    assert len(earlier) == 2

    start = await fill_start(ex, market)
    assert start.boundary is not None
    await ex.place_order(order(case, "round-2", Side.BUY, "0.65"))  # fills at 0.61
    tracker = PositionTracker().starting_after(start.boundary)
    from_cursor = tracker.apply_fills((await ex.fills(market, start.cursor)).fills)
    from_scratch = tracker.apply_fills((await ex.fills(market, None)).fills)
    for position in (from_cursor, from_scratch):
        assert (position.yes_qty, position.yes_cost, position.no_qty) == (10, Decimal("6.10"), 0)
        assert position.realized_pnl == 0

    # The liquidation's sale turns FAILED after round 2 started: not round 2's trade.
    sale = next(f for f in earlier.values() if f.side is Side.SELL)
    case.venue.fail_trade(sale.trade_id)
    later = from_cursor.apply_fills((await ex.fills(market, start.cursor)).fills)
    assert later == from_cursor
    held = await ex.balances([market.yes_token_id])
    assert held.tokens[market.yes_token_id] == 20  # the venue: the failed sale's 10 are back


async def test_a_liquidation_started_without_a_cursor_counts_only_its_own_fills(
    case: Case,
) -> None:
    """The operator starts a liquidation of 10 YES @ 0.40 (no parent, no cursor) on a market
    the wallet bought and sold 10 YES on moments ago: its first sync reports the start
    boundary and none of those fills, and its tracker, fed by the syncs as the workflow does,
    holds only its own sale, whatever the adapter's cursor re-reads."""
    ex, market = case.exchange, case.market
    await ex.place_order(order(case, "round-1", Side.BUY, "0.55"))  # fills at 0.51
    case.venue.advance(60)  # touch 0.59 / 0.61
    await ex.place_order(order(case, "liquidation-1", Side.SELL, "0.55"))  # fills at 0.59
    case.venue.credit(case.wallet, market.yes_token_id, Decimal(10))

    first = await sync_market(ex, market, None, None, case.venue.now())
    assert first.boundary is not None and first.fills == ()
    opening = PositionTracker.opening(Token.YES, Decimal(10), Decimal("0.40"))
    position, own = absorb_fills(opening, (), first.fills, set(), first.boundary)
    sale = await ex.place_order(order(case, "liquidation-2", Side.SELL, "0.55"))  # at 0.59
    later = await sync_market(ex, market, first.cursor, None, case.venue.now())
    position, own = absorb_fills(position, own, later.fills, {sale.order_id})
    assert (position.yes_qty, position.yes_cost, position.no_qty) == (0, 0, 0)
    assert position.realized_pnl == Decimal("1.90")  # 10 * (0.59 - 0.40)
    assert [(f.side, f.price) for f in own] == [(Side.SELL, Decimal("0.59"))]


# --- errors -----------------------------------------------------------------------------------


async def test_rejections_are_typed(case: Case) -> None:
    ex = case.exchange
    with pytest.raises(InvalidOrder):
        await ex.place_order(order(case, "off-tick", Side.BUY, "0.455"))
    with pytest.raises(InvalidOrder):
        await ex.place_order(order(case, "tiny", Side.BUY, "0.45", size="1"))
    with pytest.raises(InvalidOrder):
        await ex.place_order(order(case, "bounds", Side.BUY, "0.995"))
    with pytest.raises(WouldCross):
        await ex.place_order(order(case, "cross", Side.BUY, "0.55", post_only=True))
    with pytest.raises(InsufficientBalance):
        await ex.place_order(order(case, "rich", Side.BUY, "0.45", size="100000"))
    with pytest.raises(InsufficientBalance):
        await ex.place_order(order(case, "short", Side.SELL, "0.55"))
    assert case.venue.ledger()["orders"] == []
    for error in (InvalidOrder, WouldCross, InsufficientBalance):
        assert not error.retryable


async def test_a_finer_tick_is_picked_up_while_live(case: Case) -> None:
    assert await case.exchange.tick_size(case.market.yes_token_id) == Decimal("0.01")
    case.venue.set_tick_size(case.market.condition_id, Decimal("0.001"))
    placed = await case.exchange.place_order(order(case, "fine", Side.BUY, "0.455"))
    assert placed.price == Decimal("0.455")
    info = await case.exchange.market(case.market.condition_id)
    assert info.tick_size == Decimal("0.001")


async def test_bad_credentials_are_an_auth_error(case: Case) -> None:
    server = transport_only(case)
    wrong = sim_settings(
        server.url,
        fresh_key(),
        api_key=SecretStr("00000000-0000-0000-0000-000000000000"),
        api_secret=SecretStr("c2VjcmV0LXRoYXQtaXMtd3Jvbmc="),
        api_passphrase=SecretStr("wrong"),
    )
    exchange = await ClobExchange.connect(wrong)
    with pytest.raises(AuthError) as raised:
        await exchange.open_orders()
    assert "c2VjcmV0" not in str(raised.value) and "wrong" not in repr(exchange)
    # A malformed key is refused by the settings, without repeating it.
    with pytest.raises(ValidationError, match="not a 32-byte hex private key") as bad:
        sim_settings(server.url, "0x1234")
    assert "1234" not in str(bad.value)


@pytest.mark.parametrize("signature_type", [1, 2, 3])
async def test_proxy_safe_and_contract_wallets_can_trade(case: Case, signature_type: int) -> None:
    server = transport_only(case)
    funder = "0x" + "12" * 20  # the proxy / safe / 1271 wallet holding the funds
    settings = sim_settings(server.url, fresh_key(), signature_type=signature_type, funder=funder)
    exchange = await ClobExchange.connect(settings)
    placed = await exchange.place_order(order(case, "w", Side.BUY, "0.45"))
    assert [o.order_id for o in await exchange.open_orders()] == [placed.order_id]
    assert await exchange.get_order(placed.order_id) is not None


async def test_no_secret_in_logs_errors_or_repr(
    case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    server = transport_only(case)
    caplog.set_level(logging.DEBUG)
    exchange = await ClobExchange.connect(sim_settings(server.url, case.key))
    assert isinstance(exchange, ClobExchange)
    creds = exchange._client.creds
    secrets = [case.key, case.key.removeprefix("0x"), creds.api_secret, creds.api_passphrase]
    errors: list[str] = [repr(exchange)]
    await exchange.place_order(order(case, "s", Side.BUY, "0.45"))
    for bad in (order(case, "x", Side.BUY, "0.45", size="1"), order(case, "y", Side.SELL, "0.5")):
        with pytest.raises(ExchangeError) as raised:
            await exchange.place_order(bad)
        errors.append(str(raised.value))
    server.set_faults(Faults(error_rate=1))
    with pytest.raises(VenueUnavailable) as unavailable:
        await exchange.open_orders()
    errors.append(str(unavailable.value))
    text = caplog.text + "\n".join(errors)
    assert "HTTP 400" in text and "HTTP 500" in text  # the failures were seen and logged
    assert not [s for s in secrets if s in text]


async def test_the_client_never_re_posts_and_uses_the_configured_timeout(case: Case) -> None:
    server = transport_only(case)
    exchange = await ClobExchange.connect(
        sim_settings(server.url, case.key, clob_timeout_seconds=0.75)
    )
    assert isinstance(exchange, ClobExchange)
    assert exchange._client.retry_on_error is False
    assert sdk_http._http_client.timeout.read == 0.75
    # A 500 on the POST (tick and neg-risk already cached): reported, never re-posted.
    await exchange.tick_size(case.market.yes_token_id)
    await exchange.neg_risk(case.market.yes_token_id)
    server.set_faults(Faults(error_rate=1))
    with pytest.raises(VenueUnavailable):
        await exchange.place_order(order(case, "once", Side.BUY, "0.45"))
    assert case.venue.ledger()["orders"] == []


async def test_transport_errors_are_retryable_and_typed(case: Case) -> None:
    server = transport_only(case)
    cases: list[tuple[Faults, type[Exception]]] = [
        (Faults(error_rate=1), VenueUnavailable),
        (Faults(rate_limit_rate=1), RateLimited),
    ]
    for faults, error in cases:
        server.set_faults(faults)
        with pytest.raises(error) as raised:
            await case.exchange.open_orders()
        assert raised.value.retryable  # type: ignore[attr-defined]
    server.set_faults(Faults())


async def test_an_accepted_placement_that_times_out_is_found_not_replaced(case: Case) -> None:
    server = transport_only(case)
    signed_at = datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)
    request = order(case, "lost-answer", Side.BUY, "0.45", signed_at=signed_at)
    server.set_faults(Faults(accept_timeout_rate=1))
    with pytest.raises(VenueTimeout):
        await case.exchange.place_order(request)
    server.set_faults(Faults())
    assert len(case.venue.ledger()["orders"]) == 1  # the venue took it
    found = await case.exchange.place_order(request)
    assert found.status is OrderStatus.LIVE
    # A new process (empty journal) with the same intent signs the same order and finds it.
    restarted = await ClobExchange.connect(sim_settings(case.url, case.key))
    assert (await restarted.place_order(request)).order_id == found.order_id
    assert [o["order_id"] for o in case.venue.ledger()["orders"]] == [found.order_id]


# --- the venue's answers, as Polymarket words them --------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (None, "Request exception!", VenueTimeout),
        (429, "Too Many Requests", RateLimited),
        (500, "internal error", VenueUnavailable),
        (503, "Trading is currently disabled. Check polymarket.com for updates", VenueUnavailable),
        (425, "service not ready", VenueUnavailable),
        (400, "the market is not yet ready to process new orders", VenueUnavailable),
        (401, "Unauthorized/Invalid api key", AuthError),
        (403, "address banned", AuthError),
        (400, "invalid post-only order: order crosses book", WouldCross),
        (400, "not enough balance / allowance", InsufficientBalance),
        (
            400,
            "Price (0.455) breaks minimum tick size rule: 0.01",
            InvalidOrder,
        ),
        (400, "order 0xab is invalid. Size (1) lower than the minimum: 5", InvalidOrder),
        (404, "order not found", NotFound),
    ],
)
def test_venue_answers_map_to_typed_errors(
    status: int | None, message: str, error: type[Exception]
) -> None:
    mapped = classify(status, message)
    assert type(mapped) is error
    assert message in str(mapped)


def test_maker_trades_yield_our_maker_entries_only() -> None:
    market = MarketInfo(
        condition_id="0xc",
        yes_token_id="1",
        no_token_id="2",
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
    )
    ours = {"owner": "our-key", "maker_address": "0xUs", "fee_rate_bps": "0"}
    trade = {
        "id": "t1",
        "taker_order_id": "0xtheirs",
        "market": "0xc",
        "asset_id": "1",
        "side": "BUY",  # the taker's
        "size": "30",
        "price": "0.52",
        "status": "MINED",
        "match_time": "1772452800",
        "trader_side": "MAKER",
        "maker_orders": [
            {**ours, "order_id": "0xa", "asset_id": "1", "price": "0.52", "matched_amount": "10"},
            {**ours, "order_id": "0xb", "asset_id": "2", "price": "0.48", "matched_amount": "5"},
            {
                "owner": "else",
                "maker_address": "0xThem",
                "order_id": "0xz",
                "asset_id": "1",
                "price": "0.52",
                "matched_amount": "15",
            },
        ],
    }
    fills = trade_fills(trade, market, "our-key", "0xus")
    assert [(f.trade_id, f.order_id, f.token, f.side, f.price, f.size) for f in fills] == [
        ("t1:0xa", "0xa", Token.YES, Side.SELL, Decimal("0.52"), Decimal(10)),  # sold to the taker
        ("t1:0xb", "0xb", Token.NO, Side.BUY, Decimal("0.48"), Decimal(5)),  # minted with it
    ]
    assert all(f.status == "MINED" and f.at == datetime(2026, 3, 2, 12, tzinfo=UTC) for f in fills)

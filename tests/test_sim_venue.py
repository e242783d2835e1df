"""The in-process simulated venue: fill model, balances, errors, synthetic markets, SimExchange."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import START, Flat, Steered, market_info

from dualmm.domain.types import Side, Token
from dualmm.exchange.base import (
    Exchange,
    InsufficientBalance,
    InvalidOrder,
    OrderStatus,
    OrderType,
    PlaceOrder,
    WouldCross,
)
from dualmm.scenario import Scenario, parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.market import SimMarket
from dualmm.sim.synthetic import GeneratedPath
from dualmm.sim.venue import Liquidity, ManualClock, SimVenue, TradeStatus, WallClock
from dualmm.synthetic.walk import Dynamics, Walk

D = Decimal
WALLET = "0xAbC0000000000000000000000000000000000001"
OTHER = "0x0000000000000000000000000000000000000002"
CID = "0xfeed"


def scenario(path: list[tuple[int, str]], tick: str = "0.01") -> Scenario:
    return parse_scenario(
        {
            "name": "t",
            "start": "2026-01-21T12:00:00Z",
            "markets": [
                {
                    "condition_id": CID,
                    "tick_size": tick,
                    "min_order_size": "5",
                    "path": [[t, mid] for t, mid in path],
                }
            ],
        }
    )


# YES mid 0.50 -> touch 0.49/0.51; at 120 s mid 0.555 -> bid 0.55; then up, then down hard.
RISING = [(0, "0.50"), (60, "0.52"), (120, "0.555"), (180, "0.56"), (240, "0.565"), (300, "0.44")]


def make_venue(path: list[tuple[int, str]] = RISING, **kw: Any) -> tuple[SimVenue, Scenario]:
    sc = scenario(path)
    venue = SimVenue.from_scenario(sc, **kw)
    venue.ensure_wallet(WALLET)
    return venue, sc


def yes(sc: Scenario) -> str:
    return sc.markets[0].info().yes_token_id


def no(sc: Scenario) -> str:
    return sc.markets[0].info().no_token_id


def test_resting_sell_fills_at_its_price_at_the_change_time_the_bid_reaches_it() -> None:
    venue, sc = make_venue()
    venue.credit(WALLET, yes(sc), D(20))
    order = venue.place(WALLET, "o1", yes(sc), Side.SELL, D("0.55"), D(20))
    assert order.status is OrderStatus.LIVE and order.size_matched == 0

    venue.advance_to(sc.at(119))
    assert venue.trades(WALLET) == []
    venue.advance_to(sc.at(1000))  # one jump past several change times

    [trade] = venue.trades(WALLET)
    assert (trade.price, trade.size, trade.at) == (D("0.55"), D(20), sc.at(120))
    assert trade.liquidity is Liquidity.MAKER
    assert venue.get_order("o1").status is OrderStatus.MATCHED  # type: ignore[union-attr]
    assert venue.balances(WALLET).collateral == D(10000) + D("11.00")


def test_resting_buy_fills_when_the_ask_falls_to_it() -> None:
    venue, sc = make_venue()
    venue.place(WALLET, "b1", yes(sc), Side.BUY, D("0.45"), D(10))
    venue.advance_to(sc.at(299))
    assert venue.trades(WALLET) == []
    venue.advance_to(sc.at(300))  # mid 0.44 -> ask 0.45
    [trade] = venue.trades(WALLET)
    assert (trade.side, trade.price, trade.at) == (Side.BUY, D("0.45"), sc.at(300))


@pytest.mark.parametrize(
    ("side", "price", "touch_price"),
    [(Side.SELL, "0.45", "0.49"), (Side.BUY, "0.60", "0.51")],
)
def test_crossing_order_fills_at_the_touch(side: Side, price: str, touch_price: str) -> None:
    venue, sc = make_venue()
    venue.credit(WALLET, yes(sc), D(10))
    order = venue.place(WALLET, "x", yes(sc), side, D(price), D(10))
    assert order.status is OrderStatus.MATCHED and order.size_matched == D(10)
    [trade] = venue.trades(WALLET)
    assert (trade.price, trade.at, trade.liquidity) == (D(touch_price), sc.start, Liquidity.TAKER)
    sign = 1 if side is Side.SELL else -1
    assert venue.balances(WALLET).collateral == D(10000) + sign * D(touch_price) * 10
    assert venue.open_orders(WALLET) == []


def test_fill_cap_gives_partial_fills_per_change_time() -> None:
    venue, sc = make_venue(fill_cap=D(7))
    venue.credit(WALLET, yes(sc), D(20))
    venue.place(WALLET, "s", yes(sc), Side.SELL, D("0.55"), D(20))
    venue.advance_to(sc.at(150))
    assert venue.get_order("s").size_matched == D(7)  # type: ignore[union-attr]
    assert venue.get_order("s").status is OrderStatus.LIVE  # type: ignore[union-attr]
    venue.advance_to(sc.at(300))
    trades = venue.trades(WALLET)
    assert [(t.size, t.at) for t in trades] == [
        (D(7), sc.at(120)),
        (D(7), sc.at(180)),
        (D(6), sc.at(240)),
    ]
    assert {t.price for t in trades} == {D("0.55")}
    assert len({t.trade_id for t in trades}) == 3
    assert venue.get_order("s").status is OrderStatus.MATCHED  # type: ignore[union-attr]


def test_balances_and_locks_add_up_to_the_cent() -> None:
    venue, sc = make_venue(fund=D(1000))
    venue.credit(WALLET, yes(sc), D(30))
    venue.place(WALLET, "buy", yes(sc), Side.BUY, D("0.40"), D("10.5"))
    venue.place(WALLET, "sell", yes(sc), Side.SELL, D("0.56"), D(30))
    free = venue.available(WALLET)
    assert free.collateral == D("995.80")  # 1000 - 0.40 * 10.5
    assert free.tokens[yes(sc)] == 0
    assert venue.balances(WALLET).collateral == D(1000)  # totals ignore locks

    with pytest.raises(InsufficientBalance):
        venue.place(WALLET, "sell2", yes(sc), Side.SELL, D("0.60"), D(5))
    with pytest.raises(InsufficientBalance):
        venue.place(WALLET, "buy2", yes(sc), Side.BUY, D("0.40"), D(2490))  # 996 > 995.80

    venue.cancel(WALLET, "buy")
    assert venue.available(WALLET).collateral == D(1000)
    # BUY NO crosses at NO ask = 1 - YES bid = 0.51.
    venue.place(WALLET, "buy-no", no(sc), Side.BUY, D("0.55"), D(20))
    venue.advance_to(sc.at(240))  # bid 0.56: the YES sell fills at its price
    held = venue.balances(WALLET)
    assert held.collateral == D(1000) - D("0.51") * 20 + D("0.56") * 30 == D("1006.60")
    assert held.tokens == {yes(sc): D(0), no(sc): D(20)}
    assert venue.available(WALLET) == held  # nothing open, nothing locked


def test_duplicate_order_id_returns_the_existing_order() -> None:
    venue, sc = make_venue()
    first = venue.place(WALLET, "dup", yes(sc), Side.BUY, D("0.40"), D(10))
    again = venue.place(WALLET, "dup", yes(sc), Side.BUY, D("0.45"), D(50))
    assert again == first
    assert len(venue.open_orders(WALLET)) == 1
    assert len(venue.ledger()["orders"]) == 1
    assert venue.available(WALLET).collateral == D(10000) - D(4)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"price": D("0.555")}, InvalidOrder),
        ({"price": D("0.00")}, InvalidOrder),
        ({"price": D("1.00")}, InvalidOrder),
        ({"size": D(4)}, InvalidOrder),
        ({"size": D("5.001")}, InvalidOrder),
        ({"token_id": "123"}, InvalidOrder),
        ({"order_type": OrderType.GTD}, InvalidOrder),  # no expiration
        ({"price": D("0.51"), "post_only": True}, WouldCross),
        ({"size": D(30000)}, InsufficientBalance),
    ],
)
def test_validation_errors(kwargs: dict[str, Any], error: type[Exception]) -> None:
    venue, sc = make_venue()
    args: dict[str, Any] = {"token_id": yes(sc), "side": Side.BUY, "price": D("0.40")}
    args |= {"size": D(10)} | kwargs
    with pytest.raises(error) as caught:
        venue.place(WALLET, "bad", **args)
    assert not caught.value.retryable  # type: ignore[attr-defined]
    assert venue.ledger()["orders"] == []


def test_post_only_that_rests_is_accepted() -> None:
    venue, sc = make_venue()
    order = venue.place(WALLET, "po", yes(sc), Side.BUY, D("0.50"), D(10), post_only=True)
    assert order.status is OrderStatus.LIVE


def test_gtd_order_expires_before_a_change_at_the_same_time() -> None:
    venue, sc = make_venue()
    venue.credit(WALLET, yes(sc), D(40))
    venue.place(WALLET, "a", yes(sc), Side.SELL, D("0.55"), D(20), OrderType.GTD, sc.at(120))
    venue.place(WALLET, "b", yes(sc), Side.SELL, D("0.55"), D(20), OrderType.GTD, sc.at(121))
    venue.advance_to(sc.at(600))
    a, b = venue.get_order("a"), venue.get_order("b")
    assert a is not None and a.status is OrderStatus.CANCELED and a.size_matched == 0
    assert b is not None and b.status is OrderStatus.MATCHED
    [entry] = [o for o in venue.ledger()["orders"] if o["order_id"] == "a"]
    assert entry["cancelled_at"] == sc.at(120).isoformat()


async def test_failed_trade_reverses_balances_and_is_reported_again() -> None:
    venue, sc = make_venue()
    exchange = SimExchange(venue, WALLET)
    info = sc.markets[0].info()
    venue.place(WALLET, "b", yes(sc), Side.BUY, D("0.60"), D(10))
    page = await exchange.fills(info)
    [fill] = page.fills
    assert venue.balances(WALLET).collateral == D(10000) - D("5.10")

    failed = venue.fail_trade(fill.trade_id)
    assert failed.status is TradeStatus.FAILED
    assert venue.balances(WALLET).collateral == D(10000)
    assert venue.balances(WALLET).tokens[yes(sc)] == 0

    later = await exchange.fills(info, page.cursor)
    assert [(f.trade_id, f.status) for f in later.fills] == [(fill.trade_id, "FAILED")]
    assert (await exchange.fills(info, later.cursor)).fills == ()
    venue.fail_trade(fill.trade_id)  # twice is a no-op
    assert venue.balances(WALLET).collateral == D(10000)


def test_no_token_book_mirrors_yes_and_no_orders_fill_on_the_mirrored_touch() -> None:
    venue, sc = make_venue()
    assert venue.midpoint(no(sc)) == D("0.50") and venue.touch(no(sc)) == (D("0.49"), D("0.51"))
    venue.credit(WALLET, no(sc), D(10))
    venue.place(WALLET, "sell-no", no(sc), Side.SELL, D("0.55"), D(10))
    venue.advance_to(sc.at(60))  # YES 0.52: ask 0.53, NO bid 0.47
    yes_book, no_book = venue.book(yes(sc)), venue.book(no(sc))
    assert [(D(1) - lv.price, lv.size) for lv in yes_book.asks] == [
        (lv.price, lv.size) for lv in no_book.bids
    ]
    assert [(D(1) - lv.price, lv.size) for lv in yes_book.bids] == [
        (lv.price, lv.size) for lv in no_book.asks
    ]
    # Our SELL NO at 0.55 is a YES bid at 0.45 on the unified book.
    assert any(lv.price == D("0.45") for lv in yes_book.bids)
    assert (no_book.bids[0].price, no_book.asks[0].price) == (D("0.47"), D("0.49"))
    assert any(lv.price == D("0.55") for lv in no_book.asks)

    venue.advance_to(sc.at(299))
    assert venue.trades(WALLET) == []
    venue.advance_to(sc.at(300))  # YES 0.44: ask 0.45, NO bid 0.55
    [trade] = venue.trades(WALLET)
    assert (trade.token, trade.price, trade.at) == (Token.NO, D("0.55"), sc.at(300))


def test_book_has_background_depth_and_our_orders() -> None:
    venue, sc = make_venue()
    venue.place(WALLET, "b", yes(sc), Side.BUY, D("0.49"), D(10))
    book = venue.book(yes(sc))
    prices = [lv.price for lv in book.bids]
    assert prices == sorted(prices, reverse=True) and len(prices) > 3
    asks = [lv.price for lv in book.asks]
    assert asks == sorted(asks) and asks[0] == D("0.51")
    background = SimVenue.from_scenario(sc).book(yes(sc))
    assert book.bids[0].size == background.bids[0].size + 10
    assert all(D("0.01") <= p <= D("0.99") for p in prices + asks)


def test_reads_process_up_to_the_clock_without_a_driver() -> None:
    sc = scenario(RISING)
    clock = ManualClock(sc.start)
    venue = SimVenue.from_scenario(sc, clock)
    venue.credit(WALLET, yes(sc), D(20))
    venue.place(WALLET, "s", yes(sc), Side.SELL, D("0.55"), D(20))
    clock.advance(130)  # moved behind the venue's back, as a wall clock would
    assert venue.open_orders(WALLET) == []
    assert venue.trades(WALLET)[0].at == sc.at(120)
    clock.advance_to(sc.start)  # never goes back
    assert clock.now() == sc.at(130)


def test_price_history_samples_the_lived_midpoint_in_each_tokens_prices() -> None:
    venue, sc = make_venue()
    start = sc.start
    venue.advance(150)
    history = venue.price_history(
        yes(sc), start - timedelta(hours=1), start + timedelta(hours=1), 1
    )
    # Nothing before the market started or after now; one point a minute from the start.
    assert [(p.at - start).total_seconds() for p in history] == [0, 60, 120]
    assert [p.price for p in history] == [D("0.50"), D("0.52"), D("0.555")]
    assert [p.price for p in venue.price_history(no(sc), start, start, 1)] == [D("0.50")]
    no_history = venue.price_history(no(sc), start + timedelta(seconds=60), venue.now(), 1)
    assert [p.price for p in no_history] == [D("0.48"), D("0.445")]
    assert venue.price_history(yes(sc), start + timedelta(hours=2), start, 1) == []
    with pytest.raises(InvalidOrder):
        venue.price_history(yes(sc), start, venue.now(), 0)


def test_a_synthetic_venue_started_earlier_has_history_to_now() -> None:
    now = datetime(2026, 1, 21, 12, 0, tzinfo=UTC)
    venue = SimVenue.synthetic(1, seed=3, clock=ManualClock(now), start=now - timedelta(hours=2))
    token = venue.markets()[0].yes_token_id
    history = venue.price_history(token, now - timedelta(hours=3), now, 30)
    assert [p.at for p in history] == [now - timedelta(minutes=m) for m in (120, 90, 60, 30, 0)]
    assert history[-1].price == venue.midpoint(token)
    assert len({p.price for p in history}) > 1  # the walk moved


def test_tick_size_change_applies_live() -> None:
    venue, sc = make_venue([(0, "0.5349")])  # tick 0.01: touch 0.52 / 0.54
    venue.credit(WALLET, yes(sc), D(10))
    venue.place(WALLET, "s", yes(sc), Side.SELL, D("0.53"), D(10))
    with pytest.raises(InvalidOrder):
        venue.place(WALLET, "fine", yes(sc), Side.BUY, D("0.521"), D(10))
    assert venue.trades(WALLET) == []

    venue.set_tick_size(CID, D("0.001"))  # touch 0.534 / 0.536: the resting SELL is reached
    assert venue.tick_size(yes(sc)) == D("0.001") and venue.market(CID).tick_size == D("0.001")
    [trade] = venue.trades(WALLET)
    assert (trade.price, trade.liquidity) == (D("0.53"), Liquidity.MAKER)
    assert venue.place(WALLET, "fine", yes(sc), Side.BUY, D("0.521"), D(10)).status is (
        OrderStatus.LIVE
    )


def test_ledger_records_orders_and_fills() -> None:
    venue, sc = make_venue()
    venue.credit(WALLET, yes(sc), D(20))
    venue.place(WALLET, "s", yes(sc), Side.SELL, D("0.55"), D(20))
    venue.place(WALLET, "b", yes(sc), Side.BUY, D("0.40"), D(10))
    venue.advance_to(sc.at(30))
    venue.cancel(WALLET, "b")
    venue.advance_to(sc.at(200))
    ledger = venue.ledger()
    orders = {o["order_id"]: o for o in ledger["orders"]}
    assert orders["s"]["status"] == "MATCHED" and orders["s"]["filled_at"] == sc.at(120).isoformat()
    assert (
        orders["b"]["status"] == "CANCELED" and orders["b"]["cancelled_at"] == sc.at(30).isoformat()
    )
    assert [(f["order_id"], f["price"], f["size"]) for f in ledger["fills"]] == [
        ("s", "0.55", "20")
    ]


def test_cancels_touch_only_the_wallets_own_orders() -> None:
    venue, sc = make_venue()
    venue.ensure_wallet(OTHER)
    venue.place(WALLET, "mine", yes(sc), Side.BUY, D("0.40"), D(10))
    venue.place(OTHER, "theirs", yes(sc), Side.BUY, D("0.40"), D(10))
    assert venue.cancel(OTHER, "mine") is False
    assert venue.cancel_market(WALLET.lower(), CID) == ["mine"]
    assert venue.cancel(WALLET, "mine") is False  # already gone: no error
    assert [o.order_id for o in venue.open_orders(OTHER)] == ["theirs"]
    assert venue.cancel_all(OTHER) == ["theirs"]


def test_concurrent_placements_make_one_order_per_id() -> None:
    venue, sc = make_venue(fund=D(1000))

    def place_all() -> None:
        for i in range(40):
            venue.place(WALLET, f"id{i}", yes(sc), Side.BUY, D("0.40"), D(5))

    threads = [threading.Thread(target=place_all) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(venue.open_orders(WALLET)) == 40
    assert venue.available(WALLET).collateral == D(1000) - 40 * D(2)


# --- synthetic markets ---


def mids(venue: SimVenue, token_ids: list[str], clock: ManualClock, steps: int) -> list[Decimal]:
    seen = []
    for _ in range(steps):
        clock.advance(37)
        seen += [venue.midpoint(token_id) for token_id in token_ids]
    return seen


def synthetic(seed: int) -> tuple[SimVenue, ManualClock]:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    return SimVenue.synthetic(4, seed, clock), clock


def test_synthetic_markets_are_deterministic_per_seed() -> None:
    (a, clock_a), (b, clock_b), (c, _) = synthetic(7), synthetic(7), synthetic(8)
    assert a.reward_markets() == b.reward_markets()
    assert [m.info.condition_id for m in a.reward_markets()] != [
        m.info.condition_id for m in c.reward_markets()
    ]
    tokens = [m.yes_token_id for m in a.markets()]
    path = mids(a, tokens, clock_a, 200)
    assert path == mids(b, tokens, clock_b, 200)
    assert len(set(path)) > 20  # the markets do move
    assert a.book(tokens[0]) == b.book(tokens[0])
    assert all(m.end_date is not None for m in a.reward_markets())


def test_synthetic_walk_stays_inside_bounds_and_reads_in_any_order() -> None:
    def path() -> GeneratedPath:
        return GeneratedPath(Walk(random.Random("edge"), Dynamics(300.0, 0.0, (), 0.0), 250))

    walk = path()
    late = walk.mid_at(5 * 20000)
    mids = [walk.mid_at(5 * step) for step in range(20001)]
    assert mids[-1] == late
    assert min(mids) >= D("0.02") and max(mids) <= D("0.98")
    assert min(mids) < D("0.05") and max(mids) > D("0.95")  # the walk does reach the edges
    again = path()
    assert [again.mid_at(5 * step) for step in range(20001)] == mids
    moved = walk.change_times(0, 5 * 100)
    assert moved == [5 * s for s in range(1, 101) if mids[s] != mids[s - 1]]


def test_synthetic_venue_fills_by_the_fill_model() -> None:
    venue, clock = synthetic(7)  # its first market moves (many calibrated ones hardly do)
    market = venue.markets()[0]
    venue.ensure_wallet(WALLET)
    start = clock.now()
    bid, _ = venue.touch(market.yes_token_id)
    venue.place(WALLET, "b", market.yes_token_id, Side.BUY, bid, market.min_order_size)
    venue.advance_to(start + timedelta(days=2))
    [trade] = venue.trades(WALLET)
    assert (trade.price, trade.size) == (bid, market.min_order_size)
    # A replica shows the ask above our bid just before the fill and at it from the fill on.
    replica, _ = synthetic(7)
    replica.advance_to(trade.at - timedelta(seconds=1))
    assert replica.touch(market.yes_token_id)[1] > bid
    replica.advance_to(trade.at)
    assert replica.touch(market.yes_token_id)[1] <= bid


# --- SimExchange ---


async def test_sim_exchange_satisfies_the_protocol_and_is_idempotent_by_key() -> None:
    venue, sc = make_venue()
    exchange = SimExchange(venue, WALLET)
    assert isinstance(exchange, Exchange)
    info = sc.markets[0].info()
    request = PlaceOrder(
        key="liq:1", market=info, token_id=yes(sc), side=Side.BUY, price=D("0.45"), size=D(10)
    )
    first = await exchange.place_order(request)
    retried = await exchange.place_order(request)
    assert retried == first
    other = await exchange.place_order(request.model_copy(update={"key": "liq:2"}))
    assert other.order_id != first.order_id
    assert {o.order_id for o in await exchange.open_orders(CID)} == {
        first.order_id,
        other.order_id,
    }
    assert first.order_id == SimExchange.order_id_for(WALLET.lower(), "liq:1")

    await exchange.cancel_order(first.order_id)
    assert (await exchange.get_order(first.order_id)).status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert await exchange.place_order(request) == await exchange.get_order(first.order_id)

    venue.advance_to(sc.at(300))  # ask 0.45: the second order fills
    page = await exchange.fills(info)
    [fill] = page.fills
    assert (fill.token, fill.side, fill.price, fill.order_id) == (
        Token.YES,
        Side.BUY,
        D("0.45"),
        other.order_id,
    )
    assert (await exchange.fills(info, page.cursor)).fills == ()
    balances = await exchange.balances([yes(sc), no(sc)])
    assert balances.tokens == {yes(sc): D(10), no(sc): D(0)}
    assert balances.collateral == D(10000) - D("4.5")
    assert await exchange.midpoint(no(sc)) == D("0.56")
    assert await exchange.tick_size(yes(sc)) == D("0.01")
    assert await exchange.neg_risk(yes(sc)) is False
    assert [m.info.condition_id for m in await exchange.reward_markets()] == [CID]


async def test_sim_exchange_sees_only_its_own_wallet() -> None:
    venue, sc = make_venue()
    mine, theirs = SimExchange(venue, WALLET), SimExchange(venue, OTHER)
    info = sc.markets[0].info()
    request = PlaceOrder(
        key="k", market=info, token_id=yes(sc), side=Side.BUY, price=D("0.60"), size=D(10)
    )
    placed = await mine.place_order(request)
    assert (await theirs.place_order(request)).order_id != placed.order_id
    assert await theirs.get_order(placed.order_id) is None
    assert len((await mine.fills(info)).fills) == 1
    await theirs.cancel_all()
    assert (await mine.get_order(placed.order_id)).status is OrderStatus.MATCHED  # type: ignore[union-attr]


async def test_sim_exchange_rejects_a_token_of_another_market() -> None:
    venue, sc = make_venue()
    exchange = SimExchange(venue, WALLET)
    other_market = sc.markets[0].info().model_copy(update={"condition_id": "0xother"})
    request = PlaceOrder(
        key="k",
        market=other_market.model_copy(update={"yes_token_id": "1", "no_token_id": "2"}),
        token_id=yes(sc),
        side=Side.BUY,
        price=D("0.40"),
        size=D(10),
    )
    with pytest.raises(InvalidOrder):
        await exchange.place_order(request)
    assert venue.ledger()["orders"] == []


def test_wall_clock_venue_needs_no_driver() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = WallClock(start, speed=3600)
    venue = SimVenue.synthetic(2, 11, clock)
    token = venue.markets()[0].yes_token_id
    venue.ensure_wallet(WALLET)
    bid, _ = venue.touch(token)
    venue.place(WALLET, "b", token, Side.BUY, bid, D(20))
    book = venue.book(token)
    assert book.at >= start and book.best_bid is not None and book.best_ask is not None
    assert book.best_bid < book.best_ask
    assert venue.ledger()["wallets"][WALLET.lower()]["collateral"] == "10000"
    with pytest.raises(ValueError):
        WallClock(speed=0)


# --- invariants under random use ---

_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.sampled_from([Token.YES, Token.NO]),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(1, 99),  # price in cents
            st.integers(500, 2000),  # size in hundredths
        ),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(st.just("advance"), st.integers(1, 200)),
    ),
    min_size=10,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS, cap=st.sampled_from([None, D(3)]))
def test_balances_locks_and_fills_stay_consistent(ops: list[tuple[Any, ...]], cap: Any) -> None:
    mids = (50, 52, 47, 41, 55, 63, 58, 35, 50, 49, 51)
    path = [(20 * i, f"0.{mids[i % len(mids)]}") for i in range(60)]
    venue, sc = make_venue(path, fund=D(10), fill_cap=cap)
    venue.credit(WALLET, yes(sc), D(30))
    placed: list[str] = []
    for op in ops:
        if op[0] == "place":
            _, token, side, cents, hundredths = op
            token_id = yes(sc) if token is Token.YES else no(sc)
            order_id = f"o{len(placed)}"
            try:
                venue.place(WALLET, order_id, token_id, side, D(cents) / 100, D(hundredths) / 100)
            except InsufficientBalance:
                continue
            placed.append(order_id)
        elif op[0] == "cancel" and placed:
            venue.cancel(WALLET, placed[op[1] % len(placed)])
        elif op[0] == "advance":
            venue.advance(op[1])
        free = venue.available(WALLET)  # never more locked than held
        assert free.collateral >= 0 and all(qty >= 0 for qty in free.tokens.values())
    trades = venue.trades(WALLET)
    collateral, tokens = D(10), {yes(sc): D(30), no(sc): D(0)}
    for trade in trades:
        sign = 1 if trade.side is Side.BUY else -1
        collateral -= sign * trade.price * trade.size
        tokens[trade.token_id] += sign * trade.size
        order = venue.get_order(trade.order_id)
        assert order is not None
        # Never a worse price than the limit.
        assert trade.price <= order.price if trade.side is Side.BUY else trade.price >= order.price
    held = venue.balances(WALLET)
    assert held.collateral == collateral
    assert {t: held.tokens.get(t, D(0)) for t in tokens} == tokens
    for order_id in placed:
        order = venue.get_order(order_id)
        assert order is not None
        matched = sum((t.size for t in trades if t.order_id == order_id), D(0))
        assert order.size_matched == matched <= order.original_size
        assert (order.status is OrderStatus.MATCHED) == (order.remaining == 0)


def test_rebuilt_indexes_keep_fills_expiries_and_cancels() -> None:
    """A snapshot load rebuilds the venue's indexes (live orders by market and wallet, the
    heaps of midpoint changes and expiries, trades by wallet): the venue goes on the same."""
    venue, sc = make_venue()
    yes = sc.markets[0].info().yes_token_id
    venue.credit(WALLET, yes, D(20))
    venue.place(WALLET, "ask", yes, Side.SELL, D("0.55"), D(10))
    expires = sc.start + timedelta(seconds=90)
    venue.place(WALLET, "gtd", yes, Side.BUY, D("0.40"), D(10), OrderType.GTD, expiration=expires)
    venue.place(WALLET, "kept", yes, Side.BUY, D("0.30"), D(10))
    venue.advance_to(sc.start + timedelta(seconds=30))
    venue.index()  # as load_venue does
    venue.advance_to(sc.start + timedelta(seconds=130))
    assert {o.order_id for o in venue.open_orders(WALLET)} == {"kept"}
    assert venue.get_order("gtd").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    (fill,) = venue.trades(WALLET, condition_id=CID)
    assert (fill.order_id, fill.price, fill.at) == (
        "ask",
        D("0.55"),
        sc.start + timedelta(seconds=120),
    )
    assert venue.order_trades("ask") == [fill]
    assert venue.cancel(WALLET, "kept") and venue.open_orders(WALLET, CID) == []


def test_a_process_extended_as_it_goes_still_fills_orders() -> None:
    """A midpoint process without a fixed future (a test steering it) is asked on every
    request, so a change added after the venue looked ahead still fills what it reaches."""

    start = datetime(2026, 1, 21, 12, tzinfo=UTC)
    info = scenario(RISING).markets[0].info()
    process = Steered()
    venue = SimVenue([SimMarket(info, process, start, book_seed="s")], ManualClock(start))
    venue.ensure_wallet(WALLET)
    venue.credit(WALLET, info.yes_token_id, D(10))
    venue.place(WALLET, "ask", info.yes_token_id, Side.SELL, D("0.55"), D(10))
    venue.advance(10)
    process.points.append((20.0, D("0.56")))  # steered after the venue has looked
    venue.advance(20)
    assert [t.order_id for t in venue.trades(WALLET)] == ["ask"]


@pytest.mark.parametrize(
    ("listed", "mid", "tick"),
    [
        ("0.01", "0.97", "0.001"),  # beyond 0.96
        ("0.01", "0.03", "0.001"),  # below 0.04
        ("0.01", "0.96", "0.01"),  # the bounds themselves keep the coarse tick
        ("0.01", "0.50", "0.01"),
        ("0.001", "0.50", "0.001"),  # a market listed fine never goes coarse
    ],
)
def test_market_retick_follows_the_midpoint(listed: str, mid: str, tick: str) -> None:
    market = SimMarket(market_info(CID, "y", "n", tick_size=D(listed)), Flat(mid), START, CID)
    market.retick(START)
    assert market.info.tick_size == D(tick)


def test_venue_state_is_what_a_snapshot_saves() -> None:
    """The venue's layers share one object: its attributes are the saved state plus the
    indexes, lock, clock and listeners that a snapshot skips (dualmm.sim.snapshot)."""
    venue = SimVenue.from_scenario(scenario([(0, "0.50")]))
    saved = set(vars(venue)) - {"_lock", "_clock", "_listeners", *SimVenue.INDEXES}
    assert saved == {
        "rules",
        "_invent",
        "_settlement",
        "rewards",
        "_fund",
        "_fill_cap",
        "_markets",
        "_tokens",
        "_processed",
        "_wallets",
        "_merges",
        "_orders",
        "_live",
        "_trades",
        "_seq",
    }

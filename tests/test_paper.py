"""Paper mode: simulated orders and fills over real market data, and no way to a real order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from test_exchange_contract import contract_venue, fresh_key, sim_settings

from dualmm.config import ProcessSettings
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.position import PositionTracker, absorb_fills
from dualmm.domain.types import MarketInfo, Side, Token
from dualmm.exchange.base import (
    AuthError,
    Book,
    BookLevel,
    InsufficientBalance,
    InvalidOrder,
    OrderStatus,
    OrderType,
    PlaceOrder,
    PricePoint,
    RewardMarket,
    WouldCross,
)
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.clob_urls import POLYMARKET_HOST
from dualmm.exchange.factory import open_exchange, venue_settings
from dualmm.exchange.paper import PAPER_COLLATERAL, PaperExchange
from dualmm.exchange.sync import fill_start, sync_market
from dualmm.sim.server import SimServer

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MARKET = MarketInfo(
    condition_id="0xpaper",
    yes_token_id="111",
    no_token_id="222",
    tick_size=Decimal("0.01"),
    min_order_size=Decimal(5),
)
TRADING = ("place_order", "cancel_order", "cancel_market", "cancel_all")


def book(token_id: str, bid: str | None, ask: str | None) -> Book:
    return Book(
        token_id=token_id,
        bids=(BookLevel(price=Decimal(bid), size=Decimal(100)),) if bid else (),
        asks=(BookLevel(price=Decimal(ask), size=Decimal(100)),) if ask else (),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        at=NOW,
    )


class SpyVenue:
    """Market data the test controls; its trading methods record the call and blow up."""

    def __init__(self) -> None:
        self.books = {"111": book("111", "0.49", "0.51"), "222": book("222", "0.49", "0.51")}
        self.trading_calls: list[str] = []

    async def reward_markets(self) -> list[RewardMarket]:
        return [RewardMarket(info=MARKET)]

    async def market(self, condition_id: str) -> MarketInfo:
        return MARKET

    async def book(self, token_id: str) -> Book:
        return self.books[token_id]

    async def midpoint(self, token_id: str) -> Decimal:
        b = self.books[token_id]
        assert b.best_bid is not None and b.best_ask is not None
        return (b.best_bid + b.best_ask) / 2

    async def tick_size(self, token_id: str) -> Decimal:
        return Decimal("0.01")

    async def neg_risk(self, token_id: str) -> bool:
        return False

    async def listed_resolution(self, condition_id: str) -> MarketResolution | None:
        return None

    async def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        return [
            PricePoint(at=start, price=Decimal("0.5")),
            PricePoint(at=end, price=Decimal("0.6")),
        ]

    def __getattr__(self, name: str) -> object:
        if name in TRADING:
            self.trading_calls.append(name)
            raise AssertionError(f"paper mode reached the venue's {name}")
        raise AttributeError(name)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def spy() -> SpyVenue:
    return SpyVenue()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def paper(spy: SpyVenue, clock: Clock) -> PaperExchange:
    return PaperExchange(spy, tokens={"111": Decimal(20)}, clock=clock)


def request(key: str, side: Side, price: str, size: str = "10", **extra: object) -> PlaceOrder:
    return PlaceOrder(
        key=key,
        market=MARKET,
        token_id="111",
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        **extra,  # type: ignore[arg-type]
    )


async def test_an_order_that_crosses_fills_at_the_touch(paper: PaperExchange) -> None:
    placed = await paper.place_order(request("buy", Side.BUY, "0.55"))
    assert placed.status is OrderStatus.MATCHED and placed.size_matched == 10
    page = await paper.fills(MARKET)
    (fill,) = page.fills
    assert (fill.side, fill.price, fill.size, fill.token) == (
        Side.BUY,
        Decimal("0.51"),
        10,
        Token.YES,
    )
    held = await paper.balances(["111"])
    assert held.collateral == PAPER_COLLATERAL - Decimal("5.10")
    assert held.tokens["111"] == 30
    assert (await paper.fills(MARKET, page.cursor)).fills == ()


async def test_a_new_owner_counts_only_fills_after_its_start(paper: PaperExchange) -> None:
    """The fill-boundary contract (see test_exchange_contract): paper fills in one second."""
    await paper.place_order(request("round-1", Side.BUY, "0.55"))
    await paper.place_order(request("liquidation-1", Side.SELL, "0.45"))
    start = await fill_start(paper, MARKET)
    await paper.place_order(request("round-2", Side.BUY, "0.55"))
    tracker = PositionTracker().starting_after(start.boundary)
    for cursor in (start.cursor, None):
        position = tracker.apply_fills((await paper.fills(MARKET, cursor)).fills)
        assert (position.yes_qty, position.yes_cost, position.realized_pnl) == (
            10,
            Decimal("5.10"),
            0,
        )


async def test_a_liquidation_started_without_a_cursor_counts_only_its_own_fills(
    paper: PaperExchange,
) -> None:
    """The same contract for a liquidation with no parent (see test_exchange_contract)."""
    await paper.place_order(request("round-1", Side.BUY, "0.55"))
    await paper.place_order(request("liquidation-1", Side.SELL, "0.45"))
    first = await sync_market(paper, MARKET, None, None, datetime.now(UTC))
    assert first.boundary is not None and first.fills == ()
    position, own = absorb_fills(PositionTracker(), (), first.fills, set(), first.boundary)
    bought = await paper.place_order(request("liquidation-2", Side.BUY, "0.55"))
    later = await sync_market(paper, MARKET, first.cursor, None, datetime.now(UTC))
    position, own = absorb_fills(position, own, later.fills, {bought.order_id})
    assert (position.yes_qty, position.yes_cost, position.realized_pnl) == (10, Decimal("5.10"), 0)
    assert [f.order_id for f in own] == [bought.order_id]


async def test_a_resting_order_fills_at_its_price_when_the_book_reaches_it(
    paper: PaperExchange, spy: SpyVenue
) -> None:
    placed = await paper.place_order(request("sell", Side.SELL, "0.55"))
    assert placed.status is OrderStatus.LIVE
    spy.books["111"] = book("111", "0.54", "0.56")  # not there yet
    assert [o.order_id for o in await paper.open_orders()] == [placed.order_id]
    spy.books["111"] = book("111", "0.57", "0.58")  # the bid passes our ask
    (fill,) = (await paper.fills(MARKET)).fills
    assert (fill.side, fill.price, fill.order_id) == (Side.SELL, Decimal("0.55"), placed.order_id)
    assert await paper.open_orders() == []
    held = await paper.balances(["111"])
    assert held.collateral == PAPER_COLLATERAL + Decimal("5.50")
    assert held.tokens["111"] == 10


async def test_a_cancelled_order_never_fills(paper: PaperExchange, spy: SpyVenue) -> None:
    placed = await paper.place_order(request("bid", Side.BUY, "0.45"))
    await paper.cancel_order(placed.order_id)
    spy.books["111"] = book("111", "0.40", "0.42")
    assert (await paper.fills(MARKET)).fills == ()
    got = await paper.get_order(placed.order_id)
    assert got is not None and got.status is OrderStatus.CANCELED


async def test_the_same_key_returns_the_same_order(paper: PaperExchange) -> None:
    first = await paper.place_order(request("k", Side.BUY, "0.45"))
    again = await paper.place_order(request("k", Side.BUY, "0.45"))
    assert again.order_id == first.order_id
    assert len(await paper.open_orders()) == 1


async def test_rejections(paper: PaperExchange) -> None:
    with pytest.raises(InvalidOrder):
        await paper.place_order(request("tick", Side.BUY, "0.455"))
    with pytest.raises(InvalidOrder):
        await paper.place_order(request("small", Side.BUY, "0.45", size="4"))
    # Out of bounds at tick 0.01, a size that is not a positive multiple of 0.01.
    for price, size in (("1.00", "10"), ("0.00", "10"), ("0.45", "-5"), ("0.45", "10.001")):
        with pytest.raises(InvalidOrder):
            await paper.place_order(request(f"bad-{price}-{size}", Side.BUY, price, size=size))
    for expiration in (None, NOW - timedelta(seconds=1)):
        with pytest.raises(InvalidOrder):
            await paper.place_order(
                request("gtd", Side.BUY, "0.45", order_type=OrderType.GTD, expiration=expiration)
            )
    with pytest.raises(WouldCross):
        await paper.place_order(request("cross", Side.BUY, "0.52", post_only=True))
    await paper.place_order(request("lock", Side.BUY, "0.40", size="24000"))  # locks 9600
    with pytest.raises(InsufficientBalance):
        await paper.place_order(request("more", Side.BUY, "0.40", size="1001"))
    await paper.place_order(request("sell", Side.SELL, "0.60", size="15"))
    with pytest.raises(InsufficientBalance):
        await paper.place_order(request("oversell", Side.SELL, "0.60", size="6"))


async def test_price_history_is_the_real_venues(paper: PaperExchange) -> None:
    history = await paper.price_history("111", NOW - timedelta(hours=1), NOW, 60)
    assert [p.price for p in history] == [Decimal("0.5"), Decimal("0.6")]


async def test_gtd_orders_expire(paper: PaperExchange, clock: Clock) -> None:
    placed = await paper.place_order(
        request(
            "gtd", Side.BUY, "0.45", order_type=OrderType.GTD, expiration=NOW + timedelta(minutes=5)
        )
    )
    clock.now = NOW + timedelta(minutes=6)
    got = await paper.get_order(placed.order_id)
    assert got is not None and got.status is OrderStatus.CANCELED


async def test_a_paper_session_never_reaches_the_venues_trading_methods(
    paper: PaperExchange, spy: SpyVenue
) -> None:
    resting = await paper.place_order(request("a", Side.BUY, "0.45"))
    await paper.place_order(request("b", Side.BUY, "0.55"))
    await paper.place_order(request("c", Side.SELL, "0.60"))
    await paper.cancel_order(resting.order_id)
    await paper.cancel_market(MARKET.condition_id)
    await paper.cancel_all()
    spy.books["111"] = book("111", "0.60", "0.62")
    await paper.fills(MARKET)
    await paper.balances(["111", "222"])
    assert spy.trading_calls == []
    # What paper mode holds has no trading method at all, and cannot be given one.
    for name in TRADING:
        assert not hasattr(paper._data, name)
    with pytest.raises(AttributeError):
        paper._data.place_order = print  # type: ignore[attr-defined]


@pytest.fixture
def server() -> Iterator[SimServer]:
    with SimServer(contract_venue(), admin=True) as running:
        yield running


async def test_paper_over_the_simulator_reads_its_books_and_posts_nothing(
    server: SimServer,
) -> None:
    settings = ProcessSettings(
        exchange="paper", clob_url=server.url, private_key=SecretStr(fresh_key())
    )
    paper = await open_exchange(settings, "paper")
    assert isinstance(paper, PaperExchange)
    market = server.venue.markets()[0]
    placed = await paper.place_order(
        PlaceOrder(
            key="x",
            market=market,
            token_id=market.yes_token_id,
            side=Side.BUY,
            price=Decimal("0.55"),
            size=Decimal(10),
        )
    )
    (fill,) = (await paper.fills(market)).fills
    assert fill.order_id == placed.order_id and fill.price == Decimal("0.51")  # the sim's ask
    assert server.venue.ledger()["orders"] == []
    # The adapter paper mode is built on has no key: it could not sign an order anyway.
    read_only = await ClobExchange.connect(settings, read_only=True)
    with pytest.raises(AuthError):
        await read_only.place_order(
            PlaceOrder(
                key="y",
                market=market,
                token_id=market.yes_token_id,
                side=Side.BUY,
                price=Decimal("0.45"),
                size=Decimal(10),
            )
        )
    assert server.venue.ledger()["orders"] == []


async def test_paper_mode_wraps_any_venue_in_paper(server: SimServer) -> None:
    settings = sim_settings(server.url, fresh_key())
    assert isinstance(await open_exchange(settings, "paper"), PaperExchange)
    assert isinstance(await open_exchange(settings, "sim"), ClobExchange)


def test_paper_and_polymarket_read_polymarket_unless_a_url_is_given() -> None:
    assert venue_settings(ProcessSettings(exchange="paper")).clob_url == POLYMARKET_HOST
    assert venue_settings(ProcessSettings(exchange="polymarket")).clob_url == POLYMARKET_HOST
    given = ProcessSettings(exchange="polymarket", clob_url="http://127.0.0.1:9")
    assert venue_settings(given).clob_url == "http://127.0.0.1:9"
    assert venue_settings(ProcessSettings(exchange="sim")).clob_url == ProcessSettings().clob_url

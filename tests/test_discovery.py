"""Market discovery: ranking on crafted books, filters, and the `dualmm markets` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import typer
from test_exchange_contract import contract_venue

import dualmm.cli as cli
from dualmm.config import MarketMakerConfig
from dualmm.discovery import HISTORY_POINTS, Filters, discover
from dualmm.domain.types import MarketInfo
from dualmm.domain.volatility import price_range
from dualmm.exchange.base import Book, BookLevel, PricePoint, RewardMarket
from dualmm.sim.server import SimServer

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONFIG = MarketMakerConfig(order_size=Decimal(50))


def info(name: str, rate: str = "100", **extra: object) -> MarketInfo:
    return MarketInfo(
        condition_id=f"0x{name}",
        question=f"Market {name}",
        yes_token_id=f"{name}-yes",
        no_token_id=f"{name}-no",
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        rewards_daily_rate=Decimal(rate),
        rewards_max_spread_cents=Decimal(3),
        rewards_min_size=Decimal(20),
        **extra,  # type: ignore[arg-type]
    )


def yes_book(
    token_id: str, bid: str = "0.49", ask: str = "0.51", depth: str = "0", empty: bool = False
) -> Book:
    """A touch of `bid`/`ask`, with `depth` shares of competitors on each side of it."""
    size = Decimal(depth)

    def side(price: str) -> tuple[BookLevel, ...]:
        return () if empty else (BookLevel(price=Decimal(price), size=size),)

    return Book(
        token_id=token_id,
        bids=side(bid),
        asks=side(ask),
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        at=NOW,
    )


class BookVenue:
    """Just what discovery reads: reward markets, YES books and YES price histories."""

    def __init__(self, markets: list[RewardMarket], books: dict[str, Book]) -> None:
        self.markets = markets
        self.books = books
        self.books_read: list[str] = []
        self.histories: dict[str, list[str]] = {}  # token id -> prices, one per fidelity step
        self.history_asks: list[tuple[str, datetime, datetime, int]] = []

    async def price_history(
        self, token_id: str, start: datetime, end: datetime, fidelity_minutes: int
    ) -> list[PricePoint]:
        self.history_asks.append((token_id, start, end, fidelity_minutes))
        step = timedelta(minutes=fidelity_minutes)
        return [
            PricePoint(at=start + i * step, price=Decimal(p))
            for i, p in enumerate(self.histories.get(token_id, []))
        ]

    async def reward_markets(self) -> list[RewardMarket]:
        return self.markets

    async def book(self, token_id: str) -> Book:
        self.books_read.append(token_id)
        return self.books[token_id]


async def ranked(venue: BookVenue, filters: Filters = Filters(), **kw: object) -> list[str]:
    found = await discover(venue, filters, CONFIG, kw.get("max_capital"), NOW)  # type: ignore[arg-type]
    return [e.market.condition_id for e in found]


def venue_of(*entries: tuple[RewardMarket, Book]) -> BookVenue:
    return BookVenue([m for m, _ in entries], {b.token_id: b for _, b in entries})


async def test_less_competition_and_more_reward_rank_higher() -> None:
    venue = venue_of(
        (RewardMarket(info=info("crowded")), yes_book("crowded-yes", depth="5000")),
        (RewardMarket(info=info("quiet")), yes_book("quiet-yes", depth="20")),
        (RewardMarket(info=info("alone")), yes_book("alone-yes", depth="0")),
        (RewardMarket(info=info("rich", rate="1000")), yes_book("rich-yes", depth="5000")),
    )
    found = await discover(venue, Filters(), CONFIG, None, NOW)  # type: ignore[arg-type]
    assert [e.market.condition_id for e in found] == ["0xalone", "0xquiet", "0xrich", "0xcrowded"]
    alone = found[0]
    assert alone.q_competitors == 0
    assert alone.daily_earnings == Decimal(100)  # the whole pool: nobody else scores
    assert alone.yes_mid == Decimal("0.50")
    # Ten times the rate against the same crowd earns ten times as much.
    assert found[2].daily_earnings == 10 * found[3].daily_earnings


async def test_filters_leave_out_what_we_should_not_quote() -> None:
    soon = NOW + timedelta(hours=3)
    later = NOW + timedelta(days=30)
    venue = venue_of(
        (RewardMarket(info=info("ok"), end_date=later), yes_book("ok-yes")),
        (RewardMarket(info=info("closed"), accepting_orders=False), yes_book("closed-yes")),
        (RewardMarket(info=info("inactive"), active=False), yes_book("inactive-yes")),
        (RewardMarket(info=info("ending"), end_date=soon), yes_book("ending-yes")),
        (RewardMarket(info=info("negrisk", neg_risk=True)), yes_book("negrisk-yes")),
        (RewardMarket(info=info("norate", rate="0")), yes_book("norate-yes")),
        (RewardMarket(info=info("cheap")), yes_book("cheap-yes", "0.04", "0.06")),
        (RewardMarket(info=info("dear")), yes_book("dear-yes", "0.94", "0.96")),
        (RewardMarket(info=info("empty")), yes_book("empty-yes", empty=True)),
        (RewardMarket(info=info("excluded")), yes_book("excluded-yes")),
    )
    filters = Filters(allow_neg_risk=False, exclude=frozenset({"0xexcluded"}))
    assert await ranked(venue, filters) == ["0xok"]
    # Markets filtered before the book is needed are not even fetched.
    assert "closed-yes" not in venue.books_read and "excluded-yes" not in venue.books_read

    relaxed = Filters(min_price=Decimal("0.05"), max_price=Decimal("0.95"), min_hours_to_end=0)
    assert set(await ranked(venue, relaxed)) == {
        "0xok",
        "0xending",
        "0xnegrisk",
        "0xcheap",
        "0xdear",
        "0xexcluded",
    }


def test_price_range_is_high_minus_low() -> None:
    assert price_range([]) == 0
    assert price_range([Decimal("0.50")]) == 0
    assert price_range(Decimal(p) for p in ("0.50", "0.47", "0.55", "0.52")) == Decimal("0.08")


async def test_markets_that_moved_too_much_over_the_lookback_are_left_out() -> None:
    venue = venue_of(
        (RewardMarket(info=info("calm")), yes_book("calm-yes")),
        (RewardMarket(info=info("swing")), yes_book("swing-yes")),
        (RewardMarket(info=info("edge")), yes_book("edge-yes")),
        (RewardMarket(info=info("new")), yes_book("new-yes")),
    )
    venue.histories = {
        "calm-yes": ["0.50", "0.51", "0.49", "0.50"],
        "swing-yes": ["0.50", "0.62", "0.41", "0.50"],  # back where it began, but ran 21 cents
        "edge-yes": ["0.45", "0.50"],  # exactly the limit: kept
    }
    assert set(await ranked(venue)) == {"0xcalm", "0xswing", "0xedge", "0xnew"}
    assert venue.history_asks == []  # no filter, no history fetched

    venue.books_read.clear()
    filters = Filters(max_volatility=Decimal("0.05"), volatility_lookback_hours=Decimal(6))
    assert set(await ranked(venue, filters)) == {"0xcalm", "0xedge", "0xnew"}
    assert "swing-yes" not in venue.books_read  # its book is not even fetched
    asks = {token: (start, end, fidelity) for token, start, end, fidelity in venue.history_asks}
    assert asks["swing-yes"] == (NOW - timedelta(hours=6), NOW, 360 // HISTORY_POINTS)


async def test_markets_needing_more_capital_than_allowed_are_left_out() -> None:
    venue = venue_of((RewardMarket(info=info("a")), yes_book("a-yes")))
    assert await ranked(venue, max_capital=Decimal(1000)) == ["0xa"]
    assert await ranked(venue, max_capital=Decimal(10)) == []


# --- the command ------------------------------------------------------------------------------


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """`dualmm markets ...` through the real entry point, with only this command registered."""
    monkeypatch.setattr(cli, "_COMMAND_MODULES", ("dualmm.cli.markets",))
    app = typer.Typer(add_completion=False, rich_markup_mode=None)
    app.callback()(lambda: None)  # a group, as in dualmm.cli, so `markets` is a subcommand
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr("sys.argv", ["dualmm", "markets", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return int(done.value.code or 0)


@pytest.fixture(autouse=True)
def _no_env_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DUALMM_EXCHANGE", "DUALMM_CLOB_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[SimServer]:
    with SimServer(contract_venue(), page_size=2) as running:
        yield running


def test_cli_prints_a_table_from_an_in_process_simulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "--exchange", "sim", "--limit", "3") == 0
    out = capsys.readouterr().out
    assert "in-process simulator" in out and "est. $/day" in out
    assert out.count("Synthetic market") == 3


def test_cli_volatility_filter_on_the_in_process_simulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def shown(*args: str) -> set[str]:
        assert run_cli(monkeypatch, "--exchange", "sim", "--json", "--limit", "50", *args) == 0
        return {row["condition_id"] for row in json.loads(capsys.readouterr().out)}

    everything = shown()
    # The synthetic walks have a day of history (seed 7: 7 of 8 moved less than 30 cents, one
    # not at all, as calm real long-dated markets do).
    calm = shown("--max-volatility", "0.3")
    assert set() < calm < everything
    assert len(shown("--max-volatility", "0")) < len(calm)
    assert shown("--max-volatility", "1") == everything


def test_cli_json_over_http_is_ranked_and_complete(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: SimServer
) -> None:
    code = run_cli(monkeypatch, "--exchange", "sim", "--url", server.url, "--json")
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["condition_id"] for r in rows} == {m.condition_id for m in server.venue.markets()}
    per_usdc = [Decimal(r["earnings_per_usdc"]) for r in rows]
    assert per_usdc == sorted(per_usdc, reverse=True)
    assert all(len(r["quotes"]) == 2 and Decimal(r["capital"]) > 0 for r in rows)

    excluded = rows[0]["condition_id"]
    run_cli(monkeypatch, "--exchange", "sim", "--url", server.url, "--json", "--exclude", excluded)
    assert excluded not in {r["condition_id"] for r in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize(
    "args",
    [
        ["--limit", "0"],
        ["--liquidity", "lots"],
        ["--liquidity", "-5"],
        ["--exchange", "kraken"],
        ["--min-price", "0.8", "--max-price", "0.2"],
        ["--order-size", "0"],
        ["--no-such-flag"],
        ["--max-volatility", "-0.01"],
        ["--max-volatility", "wild"],
        ["--volatility-lookback", "0"],
        ["--volatility-lookback", "NaN"],
        ["--min-hours-to-end", "-1"],
        ["--min-hours-to-end", "1e20"],
    ],
)
def test_bad_flags_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert run_cli(monkeypatch, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_an_unreachable_venue_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(monkeypatch, "--exchange", "sim", "--url", "http://127.0.0.1:9")
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1

"""`dualmm record` (issue 18): what it records from the simulator's market channel equals what
the venue published (every book state, every trade, NO trades on the YES token's terms), a
SIGKILL mid-write loses at most the last second and a restart duplicates nothing, and bad
input is one line with exit code 2."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sim_helpers import START, Steered

from dualmm.domain.types import MarketInfo, Side
from dualmm.record import record
from dualmm.record_store import KEYS
from dualmm.sim.ledger import Liquidity, VenueEvent
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue, WallClock

YES, NO = "701", "702"
WALLET = "0x" + "cd" * 20
WAIT = 60.0
_OTHER = {"BUY": "SELL", "SELL": "BUY"}


def _wait(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _quiet(line: str, last: bool) -> None:
    pass


def _parts(folder: Path, kind: str) -> int:
    return len(list(folder.glob(f"*/parts/{kind}-*.parquet")))


def _rows(folder: Path, kind: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(folder.glob(f"*/{kind}.parquet")) + sorted(
        folder.glob(f"*/parts/{kind}-*.parquet")
    ):
        rows += pq.read_table(path).to_pylist()
    return rows


def _levels(book: Any) -> tuple[list[float], ...]:
    return (
        [float(x.price) for x in book.bids],
        [float(x.size) for x in book.bids],
        [float(x.price) for x in book.asks],
        [float(x.size) for x in book.asks],
    )


@pytest.fixture
def steered() -> Iterator[tuple[SimServer, Steered, ManualClock]]:
    info = MarketInfo(
        condition_id="0xrec",
        question="Recorded?",
        yes_token_id=YES,
        no_token_id=NO,
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
        rewards_daily_rate=Decimal(10),
        rewards_max_spread_cents=Decimal(3),
        rewards_min_size=Decimal(10),
    )
    path, clock = Steered(), ManualClock(START)
    venue = SimVenue([SimMarket(info, path, START, book_seed="rec")], clock)
    venue.ensure_wallet(WALLET)
    with SimServer(venue) as server:
        yield server, path, clock


def test_what_is_recorded_is_what_was_published(
    steered: tuple[SimServer, Steered, ManualClock], tmp_path: Path
) -> None:
    server, path, clock = steered
    venue = server.venue
    out = tmp_path / "rec"
    loop = asyncio.new_event_loop()
    task = loop.create_task(record(out, "sim", server.url, None, ["0xrec"], None, _quiet))

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    runner = threading.Thread(target=run, daemon=True)
    published: list[tuple[int, tuple[list[float], ...]]] = []
    printed: list[tuple[int, str, float, float]] = []
    fills: set[str] = set()

    def on_event(event: VenueEvent) -> None:
        """Every trade the venue reports: the tape, and our fills (once each)."""
        if event.tape is not None:
            tape = event.tape
            at = int(tape.at.timestamp() * 1000)
            printed.append((at, tape.side.value, float(tape.price), float(tape.size)))
        trade = event.trade
        if trade is not None and trade.trade_id not in fills:
            fills.add(trade.trade_id)
            taker = trade.side.value
            if trade.liquidity is Liquidity.MAKER:
                taker = _OTHER[taker]
            price, side = trade.price, taker
            if trade.token_id == NO:
                price, side = 1 - price, _OTHER[taker]
            at = int(trade.at.timestamp() * 1000)
            printed.append((at, side, float(price), float(trade.size)))

    venue.add_listener(on_event)

    def state() -> None:
        book = venue.book(YES)
        published.append((int(book.at.timestamp() * 1000), _levels(book)))

    def step(change: Callable[[], None]) -> None:
        """One change, then wait until the recorder has written it (a new books part)."""
        before = _parts(out, "books")
        change()
        state()
        _wait(lambda: _parts(out, "books") > before, "the recorder wrote the change")

    def bid(token: str, price: str, size: int) -> None:
        venue.place(WALLET, f"{token}-{price}", token, Side.BUY, Decimal(price), Decimal(size))

    def move(mid: str) -> None:
        at = (clock.now() - START).total_seconds() + 1
        path.points.append((at, Decimal(mid)))
        venue.advance(1)

    runner.start()
    _wait(lambda: _parts(out, "books") >= 1, "the first snapshot")
    state()
    step(lambda: move("0.53"))
    step(lambda: bid(YES, "0.48", 10))  # the same millisecond as the move: a second state
    step(lambda: move("0.46"))  # our YES bid at 0.48 is reached: a YES trade (taker SELL)
    step(lambda: bid(NO, "0.40", 12))
    step(lambda: move("0.63"))  # our NO bid at 0.40 is reached: a NO trade
    loop.call_soon_threadsafe(task.cancel)  # as Ctrl-C does: flush and compact
    runner.join(timeout=WAIT)
    assert not runner.is_alive()
    assert not list(out.glob("*/parts/*.parquet"))  # all compacted

    books = [r for r in _rows(out, "books") if r["side"] == "UP"]
    recorded = [
        (r["ts"], (r["bid_px"], r["bid_sz"], r["ask_px"], r["ask_sz"]))
        for r in sorted(books, key=lambda r: r["ts"])
    ]
    assert recorded == published
    downs = [r for r in _rows(out, "books") if r["side"] == "DOWN"]
    assert len(downs) == len(published)  # the NO book, every state too
    trades = sorted((t["ts"], t["side"], t["price"], t["size"]) for t in _rows(out, "trades"))
    assert trades == sorted(printed)  # the tape the moves printed, and our fills
    moved = int((START + timedelta(seconds=2)).timestamp() * 1000)
    assert (moved, "SELL", 0.48, 10.0) in trades  # the taker sold YES into our bid
    # The taker sold NO at 0.40 into our bid: on the YES token, bought at 0.60.
    assert (moved + 1000, "BUY", 0.6, 12.0) in trades
    markets = _rows(out, "markets")
    assert [(m["market_id"], m["question"]) for m in markets] == [("0xrec", "Recorded?")]


def test_every_day_recorded_has_its_markets(tmp_path: Path) -> None:
    """A recording that runs past midnight (UTC, the venue's clock) writes each day's folder
    whole: `dualmm backtest DIR/<day>` needs that day's markets, not the first day's."""
    info = MarketInfo(
        condition_id="0xday",
        question="Past midnight?",
        yes_token_id=YES,
        no_token_id=NO,
        tick_size=Decimal("0.01"),
        min_order_size=Decimal(5),
    )
    late = datetime(2026, 3, 2, 23, 59, 58, tzinfo=UTC)
    path, clock = Steered(), ManualClock(late)
    out = tmp_path / "rec"
    with SimServer(SimVenue([SimMarket(info, path, late, book_seed="day")], clock)) as server:
        loop = asyncio.new_event_loop()
        task = loop.create_task(record(out, "sim", server.url, None, ["0xday"], None, _quiet))

        def run() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)

        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        _wait(lambda: _parts(out, "books") >= 1, "the first snapshot")
        path.points.append((3, Decimal("0.55")))
        server.venue.advance(3)  # 00:00:01 the next day
        _wait(lambda: list(out.glob("2026-03-03/parts/books-*")), "a book of the next day")
        loop.call_soon_threadsafe(task.cancel)
        runner.join(timeout=WAIT)
        assert not runner.is_alive()
    assert sorted(p.name for p in out.iterdir()) == ["2026-03-02", "2026-03-03"]
    for day in out.iterdir():
        assert pq.read_table(day / "books.parquet").num_rows > 0
        markets = pq.read_table(day / "markets.parquet").to_pylist()
        assert [(m["market_id"], m["question"]) for m in markets] == [("0xday", "Past midnight?")]


def _sim_server_with_moving_books() -> SimServer:
    clock = WallClock(datetime.now(UTC), speed=600.0)
    venue = SimVenue.synthetic(2, seed=7, clock=clock)
    return SimServer(venue).start()


def _start_recorder(server: SimServer, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = ["--exchange", "sim", "--clob-url", server.url, "--markets", "2", "--out", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "dualmm", "record", *args, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_kill_mid_write_loses_at_most_the_last_second_and_a_restart_duplicates_nothing(
    tmp_path: Path,
) -> None:
    server = _sim_server_with_moving_books()
    out = tmp_path / "rec"
    try:
        first = _start_recorder(server, out)
        _wait(lambda: _parts(out, "books") >= 4, "four seconds of parts")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        # What a kill in the middle of a write leaves: a half-written temporary file.
        day = next(p for p in out.iterdir() if p.is_dir())
        (day / "parts" / "books-999999999999-1-1.parquet.tmp").write_bytes(b"PAR1\x00half")
        before = _rows(out, "books")  # every part the first run finished
        assert before
        second = _start_recorder(server, out, "--duration", "3")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()[-500:]
    finally:
        server.stop()
    after = _rows(out, "books")
    keys = [tuple(r[k] for k in KEYS["books"]) for r in after]
    assert len(keys) == len(set(keys)), "a row was recorded twice"
    assert {tuple(r[k] for k in KEYS["books"]) for r in before} <= set(keys), "a row was lost"
    assert len(after) > len(before)  # the second run recorded on
    assert not list(out.glob("**/*.tmp")) and not list(out.glob("*/parts/*.parquet"))
    for kind in ("markets", "books", "trades"):
        assert (day / f"{kind}.parquet").exists()
    assert "recording 2 markets" in err.decode()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exchange", "kraken"], "--exchange: expected polymarket or sim"),
        (["--markets", "2", "--condition-id", "0x1"], "give one or the other"),
        (["--clob-url", "ftp://x"], "--clob-url: not an http(s) address"),
        (["--exchange", "sim", "--clob-url", "http://127.0.0.1:9"], "cannot list markets"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dualmm", "record", "--out", str(tmp_path / "o"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr

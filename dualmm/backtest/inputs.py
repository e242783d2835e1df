"""What a backtest runs on: markets on one clock, from a scenario or recorded books.

Recorded books come in resolvedkit's two-file Parquet layout (one folder):
  markets.parquet  market_id, slug, question, start_ts, end_ts, ... (payout_up: what an UP share
                   paid at resolution, null if unresolved)
  books.parquet    market_id, ts (epoch ms), side "UP"/"DOWN", bid_px, bid_sz, ask_px, ask_sz
                   (lists, best level first)
  trades.parquet (optional) market_id, ts (epoch ms), side "BUY"/"SELL" (the taker's, on the
                 UP token), price (UP price), size (shares)
UP is our YES token. The DOWN book mirrors the UP book on Polymarket's unified book, so it is
read only for a market without UP rows. With trades, our quotes fill from them through their
queue; without, only the recorded book moving through a quote fills it (the conservative
bound). A market's clock starts at its first usable snapshot
and it closes at its last; the data lacks reward parameters and the minimum order size, so they
come from the caller (`--rewards-*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from dualmm.backtest.markets import (
    BookMarket,
    MarketData,
    PathMarket,
    TradeTape,
    two_sided_mid,
)
from dualmm.domain.prices import ONE
from dualmm.domain.types import MarketInfo, Token
from dualmm.scenario import Scenario, token_id_for
from dualmm.synthetic.competition import calibrated_levels

SECONDS_PER_DAY = 86_400
# Polymarket shows a midpoint only while the spread is at most 10 cents; a wider book (e.g. the
# 0.01/0.99 placeholder of a freshly listed market) is not quotable.
MAX_RECORDED_SPREAD = Decimal("0.10")
RECORDED_MIN_ORDER_SIZE = Decimal(5)


class InputError(ValueError):
    """Backtest input that cannot be used; the message says what is wrong, in one line."""


@dataclass
class BacktestInput:
    name: str
    start: datetime
    duration: int  # seconds simulated
    markets: list[MarketData]
    # Paths hold their last midpoint for ever, so `--days` may run past their last point.
    open_ended: bool = False

    @property
    def days(self) -> Decimal:
        return Decimal(self.duration) / SECONDS_PER_DAY

    def cut(self, days: Decimal | None) -> BacktestInput:
        """The first `days` of the input (`--days`): never longer than recorded data; paths,
        which hold their last midpoint, run as long as asked."""
        if days is None:
            if self.duration < 60:
                raise InputError(
                    f"{self.name}: less than a minute of data; give --days to say how long to run"
                )
            return self
        duration = int(days * SECONDS_PER_DAY)
        if not self.open_ended:
            duration = min(self.duration, duration)
        if duration < 60:
            raise InputError(f"--days: {days} leaves less than a minute to simulate")
        return BacktestInput(self.name, self.start, duration, self.markets, self.open_ended)


def whole_minutes(seconds: int) -> int:
    return -(-seconds // 60) * 60


@dataclass(frozen=True)
class RewardParams:
    daily_rate: Decimal = Decimal(100)
    max_spread_cents: Decimal = Decimal(3)
    min_size: Decimal = Decimal(50)


def from_scenario(scenario: Scenario) -> BacktestInput:
    """Each scenario market as a path; `position` starts it in liquidation at 0 s."""
    markets: list[MarketData] = []
    for market in scenario.markets:
        position, info = market.position, market.info()
        stated = market.competition
        markets.append(
            PathMarket(
                info=info,
                times=[t for t, _ in market.path],
                mids=[mid for _, mid in market.path],
                position=(position.held, position.qty, position.avg_cost) if position else None,
                levels=_default_competition(info) if stated is None else stated,
            )
        )
    duration = whole_minutes(max(m.end_seconds for m in scenario.markets))
    return BacktestInput(scenario.name, scenario.start, duration, markets, open_ended=True)


def _default_competition(info: MarketInfo) -> tuple[tuple[Decimal, Decimal], ...]:
    """A market that states no competition meets the calibrated competition for its pool."""
    return calibrated_levels(
        info.rewards_daily_rate, info.rewards_max_spread_cents, info.rewards_min_size
    )


_MARKET_COLUMNS = ("market_id", "question", "start_ts", "end_ts")
_BOOK_COLUMNS = ("market_id", "ts", "side", "bid_px", "bid_sz", "ask_px", "ask_sz")
_TRADE_COLUMNS = ("market_id", "ts", "side", "price", "size")


def _read(path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        wanted = [*columns, *(c for c in optional if c in schema.names)]
        return pq.read_table(path, columns=wanted)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, pa.ArrowException) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: unreadable Parquet ({reason})") from None


def _tick(prices: list[float]) -> Decimal:
    """0.01 unless a recorded price needs a finer tick."""
    fine = any(abs(p * 100 - round(p * 100)) > 1e-6 for p in prices)
    return Decimal("0.001") if fine else Decimal("0.01")


def from_recorded(folder: Path, rewards: RewardParams) -> BacktestInput:
    """Recorded books in resolvedkit's layout; every market on the clock of the earliest book."""
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory with markets.parquet and books.parquet")
    markets = _read(folder / "markets.parquet", _MARKET_COLUMNS, ("payout_up",)).to_pylist()
    books = _read(folder / "books.parquet", _BOOK_COLUMNS).to_pylist()
    trades_path = folder / "trades.parquet"
    trades = _read(trades_path, _TRADE_COLUMNS).to_pylist() if trades_path.exists() else None
    try:
        data = _recorded(folder, markets, books, rewards)
        if trades is not None:
            _attach_trades(data, trades, trades_path)
        return data
    except (TypeError, ValueError, ArithmeticError) as exc:  # a column of the wrong type
        raise InputError(f"{folder}: values not in resolvedkit's layout ({exc})") from None


def _attach_trades(data: BacktestInput, trades: list[dict[str, Any]], path: Path) -> None:
    """Each market's recorded trades, on the books' clock."""
    origin = int(data.start.timestamp())
    rows: dict[str, list[tuple[int, str, Decimal | None, Decimal]]] = {}
    for row in trades:
        side = str(row["side"]).upper()
        if side not in ("BUY", "SELL"):
            raise InputError(f"{path}: side {row['side']!r} is neither BUY nor SELL")
        price, size = Decimal(str(row["price"])), Decimal(str(row["size"]))
        if not Decimal(0) < price < ONE or size <= 0:
            raise InputError(f"{path}: a trade of {size} at {price} is not a trade")
        at = int(row["ts"]) // 1000 - origin
        rows.setdefault(str(row["market_id"]), []).append((at, side, price, size))
    for market in data.markets:
        market.tape = TradeTape.recorded(rows.get(market.condition_id, []))


def _recorded(
    folder: Path, markets: list[dict[str, Any]], books: list[dict[str, Any]], rewards: RewardParams
) -> BacktestInput:
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in books:
        rows.setdefault(str(row["market_id"]), []).append(row)
    if not rows:
        raise InputError(f"{folder / 'books.parquet'}: no book snapshots")
    origin = min(int(r["ts"]) for rs in rows.values() for r in rs) // 1000
    built: list[MarketData] = []
    for meta in markets:
        market = _book_market(meta, rows.get(str(meta["market_id"]), []), origin, rewards)
        if market is not None:
            built.append(market)
    if not built:
        raise InputError(f"{folder}: no market has a two-sided book within 10 cents")
    duration = whole_minutes(max(m.closes or 0 for m in built))
    start = datetime.fromtimestamp(origin, UTC)
    return BacktestInput(folder.name, start, duration, built)


def _book_market(
    meta: dict[str, Any], rows: list[dict[str, Any]], origin: int, rewards: RewardParams
) -> BookMarket | None:
    up = [r for r in rows if r["side"] == "UP"]
    mirrored = not up
    series = sorted(up or [r for r in rows if r["side"] == "DOWN"], key=lambda r: r["ts"])
    by_second: dict[int, tuple[Any, Any]] = {}
    for row in series:
        bids = (row["bid_px"] or [], row["bid_sz"] or [])
        asks = (row["ask_px"] or [], row["ask_sz"] or [])
        if mirrored:  # a DOWN bid at p is an UP ask at 1 - p
            bids, asks = _mirror(asks), _mirror(bids)
        by_second[int(row["ts"]) // 1000 - origin] = (bids, asks)
    times: list[int] = []
    mids: list[Decimal] = []
    raw_bids, raw_asks, prices = [], [], []
    for second in sorted(by_second):
        bids, asks = by_second[second]
        if not bids[0] or not asks[0]:
            continue
        best_bid, best_ask = Decimal(str(bids[0][0])), Decimal(str(asks[0][0]))
        if not Decimal(0) < best_bid < best_ask < ONE or best_ask - best_bid > MAX_RECORDED_SPREAD:
            continue
        times.append(second)
        mids.append(two_sided_mid(best_bid, best_ask))
        raw_bids.append(bids)
        raw_asks.append(asks)
        prices += [bids[0][0], asks[0][0]]
    if not times:
        return None
    condition_id = str(meta["market_id"])
    payout = meta.get("payout_up")
    info = MarketInfo(
        condition_id=condition_id,
        question=str(meta.get("question") or ""),
        yes_token_id=token_id_for(condition_id, Token.YES),
        no_token_id=token_id_for(condition_id, Token.NO),
        tick_size=_tick(prices),
        min_order_size=RECORDED_MIN_ORDER_SIZE,
        rewards_daily_rate=rewards.daily_rate,
        rewards_max_spread_cents=rewards.max_spread_cents,
        rewards_min_size=rewards.min_size,
    )
    return BookMarket(
        info=info,
        times=times,
        mids=mids,
        closes=times[-1] + 1,
        payout_yes=None if payout is None else Decimal(str(payout)),
        raw_bids=raw_bids,
        raw_asks=raw_asks,
    )


def _mirror(side: tuple[Any, Any]) -> tuple[list[float], list[float]]:
    prices, sizes = side
    return [round(1 - p, 6) for p in prices], list(sizes)


def at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)

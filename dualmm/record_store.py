"""Where `dualmm record` keeps what it saw: one folder per UTC day in the backtest's layout
(dualmm.backtest.inputs), written so that a crash loses at most the last second and a restart
duplicates nothing.

    DIR/2026-12-04/markets.parquet  market_id, slug, question, start_ts, end_ts, payout_up
    DIR/2026-12-04/books.parquet    market_id, ts (ms), side UP/DOWN, bid_px, bid_sz, ask_px,
                                    ask_sz (lists, best level first), book_hash
    DIR/2026-12-04/trades.parquet   market_id, ts (ms), side (the taker's, on UP), price (UP),
                                    size, trade_key

Every second the rows seen are appended as small part files under DIR/<day>/parts/, each
written to a temporary name, synced, then renamed (a part is whole or absent). Compaction
folds a day's parts into its three files the same way and only then deletes the parts; rows
are deduplicated by key (books: market, ts, side and the book's hash, as one millisecond may
see two states; trades: trade_key; markets: market_id), so
a crash between the rename and the deletes, or a restart that compacts again, adds nothing
twice. A restart first removes temporary files a crash left and compacts every day.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KINDS = ("markets", "books", "trades")
KEYS = {
    "markets": ("market_id",),
    "books": ("market_id", "ts", "side", "book_hash"),
    "trades": ("trade_key",),
}
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Row = dict[str, Any]


def schema(kind: str) -> Any:
    import pyarrow as pa

    prices = pa.list_(pa.float64())
    fields = {
        "markets": [
            ("market_id", pa.string()),
            ("slug", pa.string()),
            ("question", pa.string()),
            ("start_ts", pa.int64()),
            ("end_ts", pa.int64()),
            ("payout_up", pa.float64()),
        ],
        "books": [
            ("market_id", pa.string()),
            ("ts", pa.int64()),
            ("side", pa.string()),
            ("bid_px", prices),
            ("bid_sz", prices),
            ("ask_px", prices),
            ("ask_sz", prices),
            ("book_hash", pa.string()),
        ],
        "trades": [
            ("market_id", pa.string()),
            ("ts", pa.int64()),
            ("side", pa.string()),
            ("price", pa.float64()),
            ("size", pa.float64()),
            ("trade_key", pa.string()),
        ],
    }[kind]
    return pa.schema(fields)


def day_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d")


def _write_atomic(path: Path, kind: str, rows: list[Row]) -> int:
    """Write rows to `path` whole or not at all; the bytes written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema(kind))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)
    return path.stat().st_size


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    rows: list[Row] = pq.read_table(path).to_pylist()
    return rows


class Store:
    """The recording folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._seq = 0
        self.bytes_written = 0
        root.mkdir(parents=True, exist_ok=True)

    def days(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _DAY.match(p.name))

    def recover(self) -> None:
        """After a crash: drop half-written files, fold every day's parts in."""
        for tmp in self.root.glob("*/**/*.tmp"):
            tmp.unlink()
        for day in self.days():
            self.compact(day)

    def append(self, kind: str, rows: Iterable[Row]) -> None:
        """Add rows as part files, one per UTC day of their `ts` (markets: `start_ts`)."""
        by_day: dict[str, list[Row]] = {}
        for row in rows:
            by_day.setdefault(day_of(row["ts" if kind != "markets" else "start_ts"]), []).append(
                row
            )
        for day, day_rows in by_day.items():
            parts = self.root / day / "parts"
            parts.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            name = f"{kind}-{datetime.now(UTC).strftime('%H%M%S%f')}-{os.getpid()}-{self._seq}"
            self.bytes_written += _write_atomic(parts / f"{name}.parquet", kind, day_rows)

    def compact(self, day: str) -> None:
        """Fold the day's parts into its three files (deduplicated, in time order)."""
        folder = self.root / day
        parts_dir = folder / "parts"
        for kind in KINDS:
            parts = sorted(parts_dir.glob(f"{kind}-*.parquet")) if parts_dir.is_dir() else []
            target = folder / f"{kind}.parquet"
            if not parts and target.exists():
                continue
            rows = _read(target) if target.exists() else []
            for part in parts:
                rows += _read(part)
            _write_atomic(target, kind, dedupe(kind, rows))
            for part in parts:
                part.unlink()


def dedupe(kind: str, rows: list[Row]) -> list[Row]:
    """The first row of each key, in time order (markets: the latest row of each market)."""
    key = KEYS[kind]
    if kind == "markets":
        latest = {row["market_id"]: row for row in rows}
        return sorted(latest.values(), key=lambda r: str(r["market_id"]))
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for row in rows:
        k = tuple(row[name] for name in key)
        if k not in seen:
            seen.add(k)
            kept.append(row)
    return sorted(kept, key=lambda r: (r["ts"], str(r["market_id"]), str(r["side"])))

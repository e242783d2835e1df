"""Cost of the PositionTracker as its log grows: applying N fills, a FAILED reversal at log
size N (the re-fold), the fills that follow a pending reversal, and the snapshot.

Run: .venv/bin/python bench/position_tracker.py [N ...]   (default 100 1000 10000)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from timing import machine, median_seconds, micros, millis, table

from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, Side, Token

D = Decimal
AT = datetime(2026, 1, 1, tzinfo=UTC)


def fill(
    trade_id: str, token: Token, side: Side, price: str, size: str, status: str = "MATCHED"
) -> Fill:
    return Fill(
        trade_id=trade_id,
        condition_id="0xc",
        token=token,
        side=side,
        price=D(price),
        size=D(size),
        at=AT,
        status=status,
    )


def failed(f: Fill) -> Fill:
    return f.model_copy(update={"status": "FAILED"})


def history(n: int) -> list[Fill]:
    """n YES fills, three buys of 10 then a sell of 10, prices moving: the holding grows."""
    return [
        fill(
            f"t{i}",
            Token.YES,
            Side.SELL if i % 4 == 3 else Side.BUY,
            f"0.{40 + i % 50}",
            "10",
        )
        for i in range(n)
    ]


def one_by_one(fills: list[Fill]) -> PositionTracker:
    tracker = PositionTracker()
    for f in fills:
        tracker = tracker.apply_fill(f)
    return tracker


def measure(n: int) -> list[tuple[str, str]]:
    repeats = 3 if n >= 10_000 else 5
    fills = history(n)
    built = PositionTracker().apply_fills(fills)
    # A NO buy sold at once: its FAILED report alone would strand the sell, so it waits.
    no_buy = fill("nb", Token.NO, Side.BUY, "0.30", "10")
    no_sell = fill("ns", Token.NO, Side.SELL, "0.35", "10")
    with_pair = built.apply_fills([no_buy, no_sell])
    pending = with_pair.apply_fill(failed(no_buy))
    assert pending.pending_reversals == ("nb",)
    reversible = failed(fills[0])
    assert built.apply_fill(reversible).pending_reversals == ()
    next_buy = fill("x1", Token.YES, Side.BUY, "0.50", "10")
    next_sell = fill("x2", Token.YES, Side.SELL, "0.50", "10")
    snapshot = built.model_dump_json()

    def per_call(tracker: PositionTracker, report: Fill, number: int) -> str:
        return micros(median_seconds(partial(tracker.apply_fill, report), repeats, number))

    each = median_seconds(partial(one_by_one, fills), repeats)
    batch = median_seconds(partial(PositionTracker().apply_fills, fills), repeats)
    restore = median_seconds(partial(PositionTracker.model_validate_json, snapshot), repeats)
    return [
        ("apply N fills, one call each: total ms", millis(each)),
        ("  mean µs per fill", micros(each / n)),
        ("apply N fills in one call: total ms", millis(batch)),
        ("next fill at log size N: µs", per_call(built, next_buy, 20)),
        ("FAILED reversal (re-fold): µs", per_call(built, reversible, 5)),
        ("FAILED that must wait (pending): µs", per_call(with_pair, failed(no_buy), 5)),
        ("buy while a reversal is pending: µs", per_call(pending, next_buy, 20)),
        ("sell while a reversal is pending: µs", per_call(pending, next_sell, 5)),
        ("the dependent FAILED (both go): µs", per_call(pending, failed(no_sell), 5)),
        ("snapshot JSON: KiB", f"{len(snapshot) / 1024:,.1f}"),
        ("restore snapshot (re-folds to validate): ms", millis(restore)),
    ]


def main(sizes: list[int]) -> None:
    columns = [measure(n) for n in sizes]
    print(f"PositionTracker, medians over repeats (3 at N >= 10 000, else 5); {machine()}")
    print(
        table(
            ["figure", *(f"N={n:,}" for n in sizes)],
            [[label, *(c[i][1] for c in columns)] for i, (label, _) in enumerate(columns[0])],
        )
    )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100, 1_000, 10_000])

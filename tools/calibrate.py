"""Fit the synthetic markets to real top-of-book data and compare the two.

    .venv/bin/python tools/calibrate.py data/longdated-l1 [--seeds 5] [--dry-run]

Reads a folder in resolvedkit's layout whose markets.parquet has a `category` column, computes
the statistics of `dualmm.synthetic.calibration` per category, fits one dynamics profile per real
market (spread, tick, random-walk step, jump rate) and the category's jump sizes and flickers,
adds the reward-market figures of the data's README (pools, minimum sizes, competition),
rewrites dualmm/synthetic/calibration.json (keeping its `depth`, fitted by
tools/calibrate_depth.py), then prints real against generated statistics.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics as stats
import sys
from collections import defaultdict
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dualmm.synthetic import calibration  # noqa: E402
from dualmm.synthetic.calibration import GRID_SECONDS, Series, Stats, on_grid  # noqa: E402

# The real data's categories as the generator knows them (one finance market joins macro).
CATEGORY = {"politics": "politics", "macro": "macro", "finance": "macro", "culture": "culture"}
# The snapshot's category mix (README of the data), for the categories the paths cover.
SNAPSHOT_WEIGHTS = {"politics": 32, "macro": 14, "culture": 4}
# The snapshot's figures (README of the data), as the generator draws them.
POOLS = [[0.0, 1.0], [0.25, 2], [0.5, 5], [0.75, 20], [0.9, 50], [0.99, 250], [1.0, 5283]]
MIN_SIZES = {"50": 52, "20": 22, "30": 10, "100": 6, "500": 4, "250": 2, "200": 2}
COMPETITION = {
    "none": 0.38,
    "thin": 0.09,
    "contested": 0.53,
    # Assumptions (not in the snapshot): the inputs whose uncertainty `levels` brackets.
    "contested_makers": [2, 6],
    "contested_daily_yield": 0.005,
    "one_sided": 0.2,
    # how much likelier than the average market one with a pool up to this is uncontested or
    # thin: richer pools draw makers (the factors keep the averages at 38 % and 9 %)
    "odds_by_pool": [[5, 1.5], [20, 0.8], [50, 0.3], [1e12, 0.0]],
    "levels": {
        "low": {"capital": 0.5, "none": 1.3},
        "calibrated": {"capital": 1.0, "none": 1.0},
        "high": {"capital": 2.0, "none": 0.65},
    },
}
JUMP = calibration.JUMP_CENTS + 1e-9
# A jump undone by an opposite jump within 10 minutes is a flicker; with fewer than
# MIN_OWN_JUMPS jump events a market's share of flickers is its category's.
REVERT_STEPS = 5
MIN_OWN_JUMPS = 10
FIT_PATHS = 4
FIT_ROUNDS = 3


def read_real(folder: Path) -> dict[str, list[tuple[Series, dict[str, Any]]]]:
    """Each market's grid series and figures, by category."""
    import pyarrow.parquet as pq

    meta = {r["market_id"]: r for r in pq.read_table(folder / "markets.parquet").to_pylist()}
    cols = ["market_id", "ts", "side", "bid_px", "ask_px"]
    rows: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for r in pq.read_table(folder / "books.parquet", columns=cols).to_pylist():
        if r["side"] == "UP" and r["bid_px"] and r["ask_px"]:
            bid, ask = r["bid_px"][0], r["ask_px"][0]
            if 0 < bid < ask < 1:
                rows[r["market_id"]].append((int(r["ts"]) // 1000, bid, ask))
    end = max(t for polls in rows.values() for t, _, _ in polls)
    out: dict[str, list[tuple[Series, dict[str, Any]]]] = defaultdict(list)
    for market_id, polls in sorted(rows.items()):
        polls.sort()
        times = [t for t, _, _ in polls]
        mids = [(b + a) * 50 for _, b, a in polls]
        spreads = [(a - b) * 100 for _, b, a in polls]
        fine = any(abs(p * 100 - round(p * 100)) > 1e-6 for _, b, a in polls for p in (b, a))
        series = on_grid(times, mids, spreads, end)
        category = CATEGORY[meta[market_id]["category"]]
        out[category].append((series, {"tick": "0.001" if fine else "0.01"}))
    return out


def _flickers(series: Series) -> tuple[int, int]:
    """(jumps, jumps undone by an opposite jump within REVERT_STEPS grid points)."""
    mids, n, undone, skip = series.mids, 0, 0, -1
    moves = [(b - a if a is not None and b is not None else 0.0) for a, b in pairwise(mids)]
    for k, move in enumerate(moves):
        if abs(move) <= JUMP:
            continue
        n += 1
        if k <= skip:
            continue
        ahead = moves[k + 1 : k + 1 + REVERT_STEPS]
        opposite = (j for j, m in enumerate(ahead) if abs(m) > JUMP and m * move < 0)
        back = next(opposite, None)
        if back is not None:
            undone += 1
            skip = k + 1 + back
    return n, undone


def fit(real: dict[str, list[tuple[Series, dict[str, Any]]]]) -> dict[str, Any]:
    categories: dict[str, Any] = {}
    for category, markets in sorted(real.items()):
        sizes: list[float] = []
        jumps = undone = 0
        for series, _ in markets:
            sizes += [abs(d) for d in calibration.jumps(series)]
            n, u = _flickers(series)
            jumps, undone = jumps + n, undone + u
        events = max(jumps - undone, 1)
        revert_odds = undone / events
        mean_square = stats.fmean(s * s for s in sizes) if sizes else 0.0
        profiles = []
        for series, figures in markets:
            one = calibration.statistics([series])
            quotable = [s for s in series.spreads if s is not None]
            n, u = _flickers(series)
            per_day = (n - u) / one.days if one.days else 0.0
            # a market's own share of flickers once it has enough jumps to tell
            own_odds = u / (n - u) if n - u >= MIN_OWN_JUMPS else revert_odds
            # what is left of the hourly variance once the lasting jumps are taken out
            lasting = per_day * (1 - own_odds) / 24 * mean_square
            sigma = math.sqrt(max(one.vol_1h**2 - lasting, 0.0) / 60) * 100
            profiles.append(
                {
                    "spread": round(stats.median(quotable), 1) if quotable else 1.0,
                    "tick": figures["tick"],
                    "sigma": round(sigma, 3),
                    "jump_events_per_day": round(per_day, 3),
                    "revert_odds": round(own_odds, 3),
                    "target_vol_1h": round(one.vol_1h, 3),
                    "target_jumps": round(one.jumps_per_day, 3),
                    "days": round(one.days, 2),
                }
            )
        real_stats = calibration.statistics([series for series, _ in markets])
        reversion = _reversion(real_stats.vol_1d / real_stats.vol_1h if real_stats.vol_1h else 0)
        categories[category] = {
            "weight": SNAPSHOT_WEIGHTS[category],
            "real": {k: round(v, 3) for k, v in vars(real_stats).items()},
            "jump_cents": sorted(round(s, 2) for s in sizes),
            "revert_odds": round(revert_odds, 3),
            "reversion": reversion,
            "profiles": profiles,
        }
    for category in categories.values():
        for profile in category["profiles"]:
            _fit_sigma(profile, category)
            del profile["target_vol_1h"], profile["target_jumps"]
    return {
        "derivation": (
            "Written by tools/calibrate.py from data/longdated-l1 (7.7 days of real "
            "top-of-book for 45 long-dated markets, CC BY 4.0, Dinesh Gopalakrishnan, "
            "'Polymarket Order Book Dataset (2026)'). Per category: every real market is one "
            "dynamics profile, drawn in proportion to its quotable days (median quotable spread, "
            "tick, jump events a day and random-walk step, both fitted by simulation to the "
            "market's jump rate and 1-hour volatility); jump sizes are the "
            "category's real jumps (moves over 2 cents between 2-minute polls); revert_odds is "
            "the share undone within 10 minutes (a market's own with 10 jumps or more); "
            "reversion matches the category's 1-day to 1-hour volatility ratio. Category "
            "weights, pools, minimum sizes and competition shares are the data README's "
            "snapshot of 8,370 reward markets; the competition's capital "
            "(contested_daily_yield) and its levels are assumptions."
        ),
        "categories": categories,
        "pools": {"quantiles": POOLS},
        "min_sizes": MIN_SIZES,
        "competition": COMPETITION,
    }


def _reversion(ratio: float) -> float:
    """The pull `k` a minute whose Ornstein-Uhlenbeck walk has this 1-day to 1-hour volatility
    ratio (sqrt(24) and above: none): var(h) ~ (1 - exp(-2 k h)) / 2k."""
    if ratio <= 0 or ratio >= math.sqrt(24):
        return 0.0

    def of(k: float) -> float:
        return math.sqrt((1 - math.exp(-2 * k * 1440)) / (1 - math.exp(-2 * k * 60)))

    low, high = 1e-7, 1.0
    for _ in range(60):
        mid = math.sqrt(low * high)
        low, high = (mid, high) if of(mid) > ratio else (low, mid)
    return round(low, 6)


def _fit_sigma(profile: dict[str, Any], category: dict[str, Any]) -> None:
    """Scale the walk's step and the jump rate until simulated paths show the real market's
    1-hour volatility and jump rate (the tick-rounded touch makes small steps look larger than
    they are, and hides jumps that round down to 2 cents)."""
    from dualmm.synthetic.walk import dynamics_of, walk

    target, minutes = profile["target_vol_1h"], max(int(profile["days"] * 1440), 1440)
    if target <= 0:
        profile["sigma"] = profile["jump_events_per_day"] = 0.0
        return
    tick_units = round(float(profile["tick"]) * 10_000)
    for round_ in range(FIT_ROUNDS):
        dynamics = dynamics_of(profile, category)
        series = []
        for k in range(FIT_PATHS):
            rng = random.Random(f"fit:{round_}:{k}")
            times, units = walk(rng, minutes, dynamics, rng.randint(2000, 8000))
            series.append(_touch_series(times, units, tick_units, profile["spread"], minutes))
        got = calibration.statistics(series)
        if got.vol_1h > 0 and profile["sigma"] > 0:
            profile["sigma"] = round(profile["sigma"] * target / got.vol_1h, 3)
        if got.jumps_per_day > 0:
            scale = profile["target_jumps"] / got.jumps_per_day
            profile["jump_events_per_day"] = round(profile["jump_events_per_day"] * scale, 3)


def _touch_series(
    times: list[int], units: list[int], tick: int, spread: float, minutes: int
) -> Series:
    from dualmm.synthetic.walk import touch_mid_cents

    mids = [touch_mid_cents(x, tick) for x in units]
    return on_grid(times, mids, [spread] * len(mids), minutes * 60 - 60, stale_seconds=None)


def generated(seeds: int, markets: int, days: Decimal) -> dict[str, list[Series]]:
    from dualmm.backtest.synthetic import synthetic_input

    out: dict[str, list[Series]] = defaultdict(list)
    for seed in range(1, seeds + 1):
        data = synthetic_input(markets, days, seed)
        for market in data.markets:
            spreads, mids = [], []
            for i in range(len(market.times)):
                bids, asks = market.competition(i)
                spreads.append(float(asks[0][0] - bids[0][0]) * 100)
                mids.append(float(market.mid(i)) * 100)
            series = on_grid(market.times, mids, spreads, data.duration - 60, stale_seconds=None)
            out[getattr(market, "category", "")].append(series)
    return out


def table(real: dict[str, list[Series]], synthetic: dict[str, list[Series]]) -> str:
    columns = ["category", "data", "markets", "market-days", "spread p50", "spread p90"]
    columns += ["vol 1 h", "vol 1 d", "jumps/day", "jump size"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    everything: dict[str, list[Series]] = {"real": [], "generated": []}
    for category in sorted(real):
        for name, source in (("real", real), ("generated", synthetic)):
            got = source.get(category, [])
            everything[name] += got
            lines.append(_line(category, name, calibration.statistics(got)))
    for name in ("real", "generated"):
        lines.append(_line("all", name, calibration.statistics(everything[name])))
    return "\n".join(lines)


def _line(category: str, name: str, s: Stats) -> str:
    return f"| {category} | {name} | {s.markets} | {s.days:.0f} | " + " | ".join(s.row()) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seeds", type=int, default=5, help="synthetic seeds to compare")
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--days", type=Decimal, default=Decimal(8))
    parser.add_argument("--dry-run", action="store_true", help="compare only, write nothing")
    args = parser.parse_args()
    if not (args.folder / "books.parquet").is_file():
        parser.exit(2, f"{args.folder}: no books.parquet (give the longdated-l1 folder)\n")
    real = read_real(args.folder)
    if not args.dry_run:
        fitted = fit(real)
        fitted["depth"] = calibration.parameters()["depth"]  # tools/calibrate_depth.py's
        calibration.PARAMETERS.write_text(json.dumps(fitted, indent=1) + "\n")
        calibration.parameters.cache_clear()
        print(f"wrote {calibration.PARAMETERS.relative_to(ROOT)}")
    real_series = {c: [s for s, _ in markets] for c, markets in real.items()}
    print(
        f"generated: {args.seeds} seeds x {args.markets} markets x {args.days} days; statistics "
        f"in cents, {GRID_SECONDS} s grid, jump: a move over {calibration.JUMP_CENTS} c"
    )
    print(table(real_series, generated(args.seeds, args.markets, args.days)))


if __name__ == "__main__":
    main()

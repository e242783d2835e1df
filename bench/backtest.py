"""Wall time of `dualmm backtest --synthetic` at the issue's size: 20 markets, 30 days, one-minute
resolution, both modes (goal: under 60 s on a 2-core machine), split into generating the
markets and running each mode, then the whole CLI command in a new process; and where the time
goes (cProfile of one both-mode run, top functions by own time).

Run: .venv/bin/python bench/backtest.py [--markets 20] [--days 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from timing import machine, median_seconds, table

from dualmm.backtest.engine import run_mode
from dualmm.backtest.synthetic import synthetic_input
from dualmm.config import OrchestratorConfig

ROOT = Path(__file__).resolve().parent.parent
DUALMM = ROOT / ".venv" / "bin" / "dualmm"
SEED = 7


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = OrchestratorConfig()
    days = Decimal(args.days)

    def generate() -> object:
        return synthetic_input(args.markets, days, SEED)

    rows = []
    gen = median_seconds(generate, args.repeats)
    rows.append(["generate the markets", f"{gen:.2f}"])
    for dual in (False, True):
        # a fresh input each time: the reward cache would otherwise carry over
        mode = "dual" if dual else "single"
        seconds = median_seconds(
            lambda dual=dual: run_mode(synthetic_input(args.markets, days, SEED), config, dual),
            args.repeats,
        )
        rows.append([f"run {mode} mode (with generating)", f"{seconds:.2f}"])
    began = time.perf_counter()
    result = subprocess.run(
        [str(DUALMM), "backtest", "--synthetic", "--markets", str(args.markets),
         "--days", str(args.days), "--seed", str(SEED), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    cli = time.perf_counter() - began
    rows.append(
        ["`dualmm backtest --synthetic ... --json` (both modes, new process)", f"{cli:.2f}"]
    )
    minutes = args.days * 1440
    title = (
        f"backtest, {args.markets} markets x {args.days} days = {minutes:,} minutes per mode, "
        f"medians of {args.repeats}; {machine()}"
    )
    print(title)
    print(table(["step", "seconds"], rows))
    assert '"ratios"' in result.stdout

    profile = cProfile.Profile()
    profile.enable()
    fresh = synthetic_input(args.markets, days, SEED)
    for dual in (False, True):
        run_mode(fresh, config, dual)
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(12)
    print("\nwhere the time goes (cProfile, one generate + both modes, by own time):")
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\n".join(lines[start : start + 13]))


if __name__ == "__main__":
    main()

"""Wall time of the backtest's two long commands, each in a new process:
  one seed     20 markets x 30 days, both modes, both fill bounds (goal: under 60 s)
  20 seeds     the same, paired over seeds 1-20, on both cores (goal: under 10 minutes)

Run: .venv/bin/python bench/backtest_speed.py [--markets 20] [--days 30] [--seeds 20]
     [--repeats 3]   (the one-seed command's median; the seeds command runs once)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from timing import machine, table

DUALMM = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "dualmm"


def timed(args: list[str]) -> tuple[float, dict[str, object]]:
    began = time.perf_counter()
    result = subprocess.run(
        [str(DUALMM), "backtest", *args, "--json"], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - began, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = ["--synthetic", "--markets", str(args.markets), "--days", str(args.days)]
    one = sorted(timed([*size, "--seed", "7"])[0] for _ in range(args.repeats))
    many, report = timed([*size, "--seeds", str(args.seeds)])
    assert set(report) == {"conservative", "probabilistic"}
    print(
        f"backtest speed, {args.markets} markets x {args.days} days, both modes, both fill "
        f"bounds; load average {os.getloadavg()[0]:.1f} at the end; {machine()}"
    )
    rows = [
        [f"one seed (median of {args.repeats})", f"{one[len(one) // 2]:.1f}", "60"],
        [f"{args.seeds} paired seeds, 2 processes", f"{many:.1f}", "600"],
    ]
    print(table(["command", "seconds", "goal"], rows))


if __name__ == "__main__":
    main()

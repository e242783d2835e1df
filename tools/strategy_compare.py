"""Strategy settings against the defaults, paired seed by seed, walk-forward, both fill bounds.

Every variant runs on the same synthetic paths (or the same recorded input) as the defaults;
the first half of the seeds chooses (the best mean dual net P&L), the second half reports,
with each variant's paired difference from the defaults (mean and 90 % t interval). Settings
are OrchestratorConfig fields by dotted path, so options without a CLI flag can be measured:

    .venv/bin/python tools/strategy_compare.py --seeds 8 --days 14 \\
        --variant skew=market_maker.inventory_skew=1 \\
        --variant stop=market_maker.stop_adding_at=0.5
    .venv/bin/python tools/strategy_compare.py --data data/longdated-l1 \\
        --variant touch=market_maker.spread_fraction=0.1
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path
from statistics import mean
from typing import Any

from dualmm.backtest.engine import ModeRun
from dualmm.backtest.inputs import RewardParams, from_recorded
from dualmm.backtest.paired import mean_ci90
from dualmm.backtest.report import figures, p90
from dualmm.backtest.runs import Markets, Settings, run_jobs
from dualmm.config import OrchestratorConfig
from dualmm.domain.fees import Fees
from dualmm.domain.queue import FillModel

BOUNDS: tuple[FillModel, ...] = ("conservative", "probabilistic")
MODES = ("single", "dual")
SHOWN = (
    "net_pnl",
    "rewards",
    "market_making_pnl",
    "liquidation_pnl",
    "liquidations",
    "avg_capital",
    "capital_efficiency",
)


def variant(text: str) -> tuple[str, OrchestratorConfig]:
    """NAME=path=value[,path=value...] as a config over the defaults."""
    name, _, rest = text.partition("=")
    values: dict[str, Any] = {}
    for item in rest.split(","):
        path, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--variant: {text!r} is not NAME=path=value[,path=value]")
        *parents, leaf = path.split(".")
        node = values
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return name, OrchestratorConfig.model_validate(values)


def summary(
    runs: list[dict[str, Any]], base: list[dict[str, Any]], exits: list[Decimal]
) -> dict[str, Any]:
    """Means of the shown figures, the pooled p90 losing exit (the seed's target), and the
    paired net difference from the defaults."""
    out: dict[str, Any] = {k: mean(float(r[k] or 0) for r in runs) for k in SHOWN}
    out["p90_loss_exit"] = float(p90(exits)) if exits else None
    marks = [
        r["markouts_cents"].get("60") for r in runs if r["markouts_cents"].get("60") is not None
    ]
    out["quote_markout_60"] = mean(float(m) for m in marks) if marks else None
    diff = mean_ci90([r["net_pnl"] - b["net_pnl"] for r, b in zip(runs, base, strict=True)])
    out["net_diff"] = diff.mean
    out["net_diff_ci90"] = diff.ci90
    return out


def losing_exits(runs: list[ModeRun]) -> list[Decimal]:
    """Minutes of every closed break-even-or-worse exit, pooled over the runs."""
    return [
        lq.exit_minutes
        for run in runs
        for lq in run.liquidations
        if lq.status == "closed" and lq.exit_minutes is not None and lq.pnl <= 0
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[], type=variant)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--days", type=Decimal, default=Decimal(14))
    parser.add_argument("--data", type=Path, help="a recorded input instead of synthetic seeds")
    parser.add_argument("--rewards", default="5,50,3.5", help="daily,min size,band (recorded)")
    args = parser.parse_args()
    combos = [("defaults", OrchestratorConfig()), *args.variant]
    settings = [Settings({"variant": n}, c, Fees()) for n, c in combos]
    if args.data is not None:
        daily, size, band = (Decimal(x) for x in args.rewards.split(","))
        rewards = RewardParams(daily_rate=daily, max_spread_cents=band, min_size=size)
        markets = Markets(from_recorded(args.data, rewards))
        seeds: list[int | None] = [None]
        step = 5
    else:
        markets = Markets(count=args.markets, days=args.days)
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        step = 60
    results = run_jobs(markets, settings, seeds, MODES, BOUNDS, step, lambda _: None)
    half = len(seeds) // 2 if len(seeds) > 1 else 0
    table: dict[str, Any] = {}
    per_combo = range(len(combos))
    for bound in BOUNDS:
        for mode in MODES:
            runs = {k: [r.runs[bound][mode] for r in results if r.combo == k] for k in per_combo}
            per = {k: [figures(run) for run in v] for k, v in runs.items()}
            choose = {
                k: summary(v[:half], per[0][:half], losing_exits(runs[k][:half])) if half else None
                for k, v in per.items()
            }
            report = {
                k: summary(v[half:], per[0][half:], losing_exits(runs[k][half:]))
                for k, v in per.items()
            }
            for k, (name, _) in enumerate(combos):
                table[f"{bound}/{mode}/{name}"] = {"choose": choose[k], "report": report[k]}
    print(json.dumps(table, indent=1, default=str))


if __name__ == "__main__":
    main()

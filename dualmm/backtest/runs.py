"""Running the backtest's jobs: every (seed, flag combination) in both modes and each fill bound,
on both cores when there are several seeds, and folding them into one report per bound.

A job generates its seed's markets once and runs every bound and mode on them, so single and
dual see identical paths; it hands back its runs without their minute-by-minute lists (the
paired comparison's parts are taken from them first, in the job).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dualmm.backtest import report
from dualmm.backtest.engine import ModeRun, run_mode
from dualmm.backtest.inputs import BacktestInput
from dualmm.backtest.paired import Sources, lean, pool, sources
from dualmm.config import OrchestratorConfig
from dualmm.domain.fees import Fees
from dualmm.domain.queue import FillModel

BoundRuns = dict[str, dict[str, ModeRun]]  # bound -> mode -> run


@dataclass(frozen=True)
class Settings:
    """One combination: the orchestrator's config and the fee schedule."""

    label: dict[str, str]
    config: OrchestratorConfig
    fees: Fees
    min_to_end: int = 0  # seconds


@dataclass(frozen=True)
class Markets:
    """Where the markets come from: one loaded input, or seeded synthetic markets."""

    data: BacktestInput | None = None
    count: int = 20
    days: Decimal = Decimal(30)
    competition: str = "calibrated"
    flow: str = "calibrated"  # the synthetic taker flow's level

    def input(self, seed: int | None) -> BacktestInput:
        if self.data is not None:
            return self.data
        from dualmm.backtest.synthetic import synthetic_input

        assert seed is not None
        return synthetic_input(
            self.count, self.days, seed, competition=self.competition, flow=self.flow
        )

    def minutes(self) -> int:
        return self.data.duration // 60 if self.data is not None else int(self.days * 1440)


@dataclass
class JobResult:
    seed: int | None
    combo: int
    runs: BoundRuns
    parts: dict[str, Sources] = field(default_factory=dict)  # bound -> dual against single


def run_job(
    markets: Markets,
    settings: Settings,
    seed: int | None,
    combo: int,
    modes: Sequence[str],
    bounds: Sequence[FillModel],
    step: int,
    progress: Callable[[int], None] | None = None,
) -> JobResult:
    data = markets.input(seed)
    result = JobResult(seed, combo, {})
    for bound in bounds:
        runs = {
            mode: run_mode(
                data,
                settings.config,
                mode == "dual",
                settings.fees,
                progress,
                settings.min_to_end,
                step,
                fill_model=bound,
            )
            for mode in modes
        }
        if "single" in runs and "dual" in runs:
            result.parts[bound] = sources(runs["single"], runs["dual"])
        result.runs[bound] = {mode: lean(run) for mode, run in runs.items()}
    return result


def run_jobs(
    markets: Markets,
    combos: Sequence[Settings],
    seeds: Sequence[int | None],
    modes: Sequence[str],
    bounds: Sequence[FillModel],
    step: int,
    advance: Callable[[int], None],
) -> list[JobResult]:
    """Every seed x combination; in worker processes when there is more than one job."""
    jobs = [(seed, k) for k in range(len(combos)) for seed in seeds]
    per_job = markets.minutes() * len(modes) * len(bounds)
    if len(jobs) == 1 or (os.cpu_count() or 1) < 2:
        return [
            run_job(markets, combos[k], seed, k, modes, bounds, step, advance) for seed, k in jobs
        ]
    results = []
    with ProcessPoolExecutor(max_workers=min(2, len(jobs))) as executor:
        futures = [
            executor.submit(run_job, markets, combos[k], seed, k, modes, bounds, step)
            for seed, k in jobs
        ]
        for future in as_completed(futures):
            results.append(future.result())
            advance(per_job)
    return sorted(results, key=lambda r: (r.combo, -1 if r.seed is None else r.seed))


def bound_reports(results: Sequence[JobResult], bounds: Sequence[str]) -> dict[str, report.Report]:
    """One report per bound from one combination's jobs: one seed as it ran; several pooled
    (`paired.pool`) with the paired comparison over the seeds."""
    out: dict[str, report.Report] = {}
    for bound in bounds:
        runs = [r.runs[bound] for r in results]
        if len(runs) == 1:
            out[bound] = report.build(runs[0])
            continue
        pooled = {mode: pool([r[mode] for r in runs]) for mode in runs[0]}
        paired: dict[str, Any] | None = None
        if "single" in pooled and "dual" in pooled:
            paired = report.paired_figures(
                [report.figures(r["single"]) for r in runs],
                [report.figures(r["dual"]) for r in runs],
                [r.parts[bound] for r in results],
            )
        out[bound] = report.build(pooled, paired)
    return out

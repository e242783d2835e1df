"""Running a backtest: the markets to run on, every job under a progress bar, the walk-forward
choice among swept combinations, then the output."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from dualmm.cli.backtest.output import Sweep, net, print_levels, print_sweep, write_plot
from dualmm.errors import UsageError

if TYPE_CHECKING:
    from dualmm.backtest.inputs import BacktestInput, RewardParams
    from dualmm.backtest.runs import JobResult, Markets, Settings
    from dualmm.domain.queue import FillModel


def load_input(path: Path, days: Decimal | None, rewards: RewardParams) -> BacktestInput:
    from dualmm.backtest.inputs import InputError, from_recorded, from_scenario
    from dualmm.scenario import ScenarioError, load_scenario

    try:
        if path.is_dir():
            data = from_recorded(path, rewards)
        elif path.suffix.lower() == ".parquet":
            raise UsageError(f"{path}: give the folder holding markets.parquet and books.parquet")
        else:
            data = from_scenario(load_scenario(path))
        return data.cut(days)
    except (InputError, ScenarioError) as exc:
        raise UsageError(str(exc)) from None


def markets_for(
    path: Path | None,
    levels: list[str],
    flows: list[str],
    count: int,
    days: Decimal | None,
    rewards: RewardParams,
    quiet: bool,
) -> dict[str, Markets]:
    """The markets per competition level, or per flow level when flows are compared (a loaded
    input is one, under "calibrated")."""
    from dualmm.backtest.runs import Markets

    span = days or Decimal(30)
    if path is None and len(flows) > 1:
        return {flow: Markets(None, count, span, levels[0], flow) for flow in flows}
    if path is None:
        return {level: Markets(None, count, span, level, flows[0]) for level in levels}
    with _status("reading the input", quiet):
        return {"calibrated": Markets(load_input(path, days, rewards))}


@contextlib.contextmanager
def progress_bar(total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A bar of simulated minutes on stderr (never with --json)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    ) as bar:
        task = bar.add_task("simulated minutes", total=total)
        yield lambda n: bar.advance(task, n)


def _status(message: str, quiet: bool) -> contextlib.AbstractContextManager[object]:
    """A spinner on stderr while the input loads (never with --json)."""
    if quiet:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def walk_forward(
    results: Sequence[JobResult], combos: list[Settings], bounds: Sequence[str]
) -> tuple[Sweep, list[int | None]]:
    """Per combination, the reports on the seeds that choose and on the seeds reported; the
    combination chosen; and the seeds reported."""
    from dualmm.backtest.runs import bound_reports

    seeds = sorted({r.seed for r in results}, key=lambda s: -1 if s is None else s)
    if len(combos) > 1 and len(seeds) > 1:
        choose, shown = seeds[: len(seeds) // 2], seeds[len(seeds) // 2 :]
    else:
        choose = shown = seeds  # nothing to choose, or one path: in-sample
    chosen_on, reported = [], []
    for k in range(len(combos)):
        mine = [r for r in results if r.combo == k]
        chosen_on.append(bound_reports([r for r in mine if r.seed in choose], bounds))
        reported.append(bound_reports([r for r in mine if r.seed in shown], bounds))
    best = max(range(len(combos)), key=lambda k: net(chosen_on[k][bounds[0]]))
    split = None
    if len(seeds) > 1:
        split = {"choose_seeds": [s for s in seeds if s not in shown], "report_seeds": shown}
    return Sweep(combos, chosen_on, reported, best, split), shown


def run_and_report(
    sources: dict[str, Markets],
    combos: list[Settings],
    seeds: list[int | None],
    modes: tuple[str, ...],
    bounds: tuple[FillModel, ...],
    step: int,
    as_json: bool,
    plot: Path | None,
) -> None:
    from dualmm.backtest import report
    from dualmm.backtest.runs import run_jobs

    one = next(iter(sources.values()))
    name = one.data.name if one.data is not None else _synthetic_name(one, seeds)
    total = sum(m.minutes() for m in sources.values()) * len(modes) * len(bounds)
    total *= len(combos) * len(seeds)
    by_level: dict[str, list[JobResult]] = {}
    with progress_bar(total, as_json) as advance:
        for level, markets in sources.items():
            by_level[level] = run_jobs(markets, combos, seeds, modes, bounds, step, advance)
    results = next(iter(by_level.values()))
    sweep, shown = walk_forward(results, combos, bounds)
    if plot is not None:
        first = next(r for r in results if r.combo == sweep.best and r.seed == shown[0])
        write_plot(first, sweep.reported[sweep.best], plot, name)
    if len(sources) > 1:
        levels = {
            level: walk_forward(r, combos, bounds)[0].reported[0] for level, r in by_level.items()
        }
        flows = {m.flow for m in sources.values()}
        print_levels(name, levels, "flow" if len(flows) > 1 else "competition", as_json)
    elif len(combos) > 1:
        print_sweep(name, sweep, bounds, as_json)
    elif as_json:
        print(report.dumps(sweep.reported[0]))
    else:
        report.render(sweep.reported[0], f"dualmm backtest: {name}")
    if plot is not None and not as_json:
        print(f"plot: {plot}")


def _synthetic_name(markets: Markets, seeds: list[int | None]) -> str:
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} paired seeds"
    return f"synthetic ({which}, {markets.count} markets, {markets.days} days)"

"""`dualmm backtest [INPUT] [options]`: the command, its flags, paired seeds and `--sweep`.

Synthetic markets in both modes run over paired seeds by default (20: seeds 1-20), so no single
seed decides a headline; `--seed S` runs one. `--sweep` chooses on the first half of the seeds
and reports the second half (walk-forward); on a recorded input, which is one path, the sweep is
in-sample and says so.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cli.options import (
    LiqBlockLosing,
    LiqCheckInterval,
    LiqProfitMargin,
    LiqSkewMax,
    LiqSkewRate,
    LiqSkewStart,
    LiqStopLoss,
    LiqStopLossThreshold,
    LiqTimeout,
    LossCooldown,
    Rerank,
    RerankMinutes,
    SwitchMargin,
    decimal_flag,
    default_help,
)
from dualmm.config import MarketMakerConfig, OrchestratorConfig
from dualmm.errors import UsageError

if TYPE_CHECKING:
    from dualmm.backtest.inputs import BacktestInput, RewardParams
    from dualmm.backtest.report import Report
    from dualmm.backtest.runs import JobResult, Markets, Settings
    from dualmm.domain.queue import FillModel

MODES = ("single", "dual", "both")
FILLS = ("conservative", "probabilistic", "both")
BOUNDS: tuple[FillModel, ...] = ("conservative", "probabilistic")
COMPETITION = ("low", "calibrated", "high")
DEFAULT_SEEDS = 20
MAX_SEEDS = 1000
MONEY = Decimal("0.000001")
# Recorded books move every second or so: look as often as the workflow's round (5 s).
RECORDED_STEP = 5
MAX_MARKETS = 500
MAX_DAYS = Decimal(3650)
# Flag -> keyword of `dualmm.cli.bot.orchestrator_config` (valued flags, then on/off ones).
CONFIG_FLAGS = {
    "--position-limit": "position_limit",
    "--order-size": "order_size",
    "--spread-fraction": "spread_fraction",
    "--requote-threshold": "requote_threshold",
    "--liquidity-budget": "liquidity_budget",
    "--liq-profit-margin": "profit_margin",
    "--liq-skew-start": "skew_start",
    "--liq-skew-rate": "skew_rate",
    "--liq-skew-max": "skew_max",
    "--liq-stop-loss-threshold": "stop_loss_threshold",
    "--liq-timeout": "timeout",
    "--liq-check-interval": "check_interval",
    "--rerank-minutes": "rerank_minutes",
    "--switch-margin": "switch_margin",
    "--loss-cooldown": "loss_cooldown",
}
SWITCH_FLAGS = {
    "--liq-stop-loss": "stop_loss",
    "--liq-block-losing": "block_losing",
    "--rerank": "rerank",
}
RUN_FLAGS = ("--fee-rate", "--fee-exponent", "--min-hours-to-end")
SWEEPABLE = (*CONFIG_FLAGS, *SWITCH_FLAGS, *RUN_FLAGS)
_ON, _OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


def settings_for(flags: dict[str, Any], label: dict[str, str]) -> Settings:
    """Config and fees from flag values (strings as typed; switches as bools)."""
    from dualmm.backtest.runs import Settings
    from dualmm.cli.bot import orchestrator_config
    from dualmm.domain.fees import Fees

    kwargs: dict[str, Any] = {}
    for flag, keyword in CONFIG_FLAGS.items():
        value = flags.get(flag)
        whole = ("--liq-check-interval", "--rerank-minutes", "--loss-cooldown")
        if flag in whole and isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise UsageError(f"{flag}: {value!r} is not a whole number") from None
        kwargs[keyword] = value
    for flag, keyword in SWITCH_FLAGS.items():
        kwargs[keyword] = flags[flag]
    config = orchestrator_config(**kwargs)
    # No --fee-rate: each market pays its category's documented rate.
    rate = decimal_flag("--fee-rate", flags.get("--fee-rate"))
    exponent = decimal_flag("--fee-exponent", flags.get("--fee-exponent"))
    if rate is not None and not 0 <= rate < 1:
        raise UsageError("--fee-rate: need a rate in [0, 1)")
    if exponent is not None and exponent <= 0:
        raise UsageError("--fee-exponent: must be positive")
    fees = Fees(rate=rate) if exponent is None else Fees(rate=rate, exponent=exponent)
    hours = decimal_flag("--min-hours-to-end", flags.get("--min-hours-to-end")) or Decimal(0)
    if not Decimal(0) <= hours <= MAX_DAYS * 24:
        raise UsageError(f"--min-hours-to-end: need hours in [0, {MAX_DAYS * 24}]")
    return Settings(label=label, config=config, fees=fees, min_to_end=int(hours * 3600))


def parse_sweeps(sweeps: list[str]) -> list[tuple[str, list[str]]]:
    parsed: list[tuple[str, list[str]]] = []
    for sweep in sweeps:
        name, sep, values = sweep.partition("=")
        flag = "--" + name.strip().removeprefix("--")
        if not sep or not values.strip():
            raise UsageError(f"--sweep: {sweep!r} is not FLAG=v1,v2,...")
        if flag not in SWEEPABLE:
            raise UsageError(f"--sweep: unknown flag {flag} (sweepable: {', '.join(SWEEPABLE)})")
        if any(flag == seen for seen, _ in parsed):
            raise UsageError(f"--sweep: {flag} is swept twice")
        parsed.append((flag, [v.strip() for v in values.split(",") if v.strip()]))
    return parsed


def _switch(flag: str, value: str) -> bool:
    if value.lower() in _ON:
        return True
    if value.lower() in _OFF:
        return False
    raise UsageError(f"--sweep: {flag} takes on/off, not {value!r}")


def combinations(base: dict[str, Any], sweeps: list[tuple[str, list[str]]]) -> list[Settings]:
    """Every combination of the swept values over the base flags (just the base without)."""
    combos = []
    for values in itertools.product(*(v for _, v in sweeps)):
        flags = dict(base)
        label = {}
        for (flag, _), value in zip(sweeps, values, strict=True):
            flags[flag] = _switch(flag, value) if flag in SWITCH_FLAGS else value
            label[flag] = value
        combos.append(settings_for(flags, label))
    return combos


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


def seed_list(
    synthetic: bool, seed: int | None, seeds: int | None, modes: tuple[str, ...], sweeping: bool
) -> list[int | None]:
    """The seeds to run: paired seeds by default for a synthetic comparison or sweep, one seed
    with `--seed` alone, none (one loaded input) otherwise."""
    if not synthetic:
        if seeds is not None or seed is not None:
            raise UsageError("--seed/--seeds: only with --synthetic (INPUT is one path)")
        return [None]
    if seeds is None:
        paired = len(modes) == 2 or sweeping
        seeds = DEFAULT_SEEDS if seed is None and paired else 1
    if not 1 <= seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds: need a number of seeds in [1, {MAX_SEEDS}]")
    if sweeping and seeds < 2:
        raise UsageError("--sweep: needs --seeds 2 or more (it chooses on some, reports others)")
    first = seed if seed is not None else (1 if seeds > 1 else 7)
    return list(range(first, first + seeds))


def competition_levels(value: str, flag: str = "--competition") -> list[str]:
    """The levels of `--competition` or `--flow` (the same three names)."""
    levels = [v.strip() for v in value.split(",") if v.strip()]
    wrong = [v for v in levels if v not in COMPETITION]
    if not levels or wrong:
        bad = wrong[0] if wrong else value
        raise UsageError(f"{flag}: {bad!r} is not one of {', '.join(COMPETITION)}")
    return list(dict.fromkeys(levels))


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


def walk_forward(
    results: Sequence[JobResult], combos: Sequence[Settings], bounds: Sequence[str]
) -> tuple[int, list[dict[str, Report]], list[dict[str, Report]], list[int | None]]:
    """Per combination, the reports on the seeds that choose and on the seeds reported; the
    combination chosen (best primary-mode net P&L on the choosing seeds, first bound)."""
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
    best = max(range(len(combos)), key=lambda k: _net(chosen_on[k][bounds[0]]))
    return best, chosen_on, reported, shown


def register(app: typer.Typer) -> None:
    @app.command()
    def backtest(
        input_path: Annotated[
            Path | None,
            typer.Argument(
                help="Scenario JSON, or a folder with markets.parquet + books.parquet.",
                show_default=False,
            ),
        ] = None,
        synthetic: Annotated[
            bool, typer.Option("--synthetic", help="Seeded synthetic markets instead of INPUT.")
        ] = False,
        markets: Annotated[
            int, typer.Option("--markets", help="Synthetic markets.", min=1, max=MAX_MARKETS)
        ] = 20,
        days: Annotated[
            str | None,
            typer.Option("--days", help="Days to simulate (synthetic: 30; else cuts the input)."),
        ] = None,
        seed: Annotated[
            int | None,
            typer.Option(
                "--seed", help="Synthetic: one seed (7 when one runs), or the first of --seeds."
            ),
        ] = None,
        seeds: Annotated[
            int | None,
            typer.Option(
                "--seeds",
                help="Synthetic: paired seeds, both modes on the same paths "
                f"[default: {DEFAULT_SEEDS} comparing both modes or sweeping, else 1].",
            ),
        ] = None,
        competition: Annotated[
            str,
            typer.Option(
                "--competition",
                help="Synthetic competing makers: low, calibrated, high, or a list "
                "(low,calibrated,high) to compare them.",
            ),
        ] = "calibrated",
        flow: Annotated[
            str,
            typer.Option(
                "--flow",
                help="Synthetic taker flow: low (more informed), calibrated (touch fills mark "
                "about zero), high (the unfitted flow), or a list to compare them.",
            ),
        ] = "calibrated",
        fills: Annotated[
            str,
            typer.Option(
                "--fills", help="Fill model: conservative, probabilistic or both (side by side)."
            ),
        ] = "both",
        mode: Annotated[str, typer.Option("--mode", help="single, dual or both.")] = "both",
        position_limit: Annotated[
            str | None,
            typer.Option(
                "--position-limit",
                help="|net| shares before liquidating. "
                + default_help(MarketMakerConfig, "position_limit"),
            ),
        ] = None,
        order_size: Annotated[
            str | None,
            typer.Option(
                "--order-size",
                help=f"Shares per quote. {default_help(MarketMakerConfig, 'order_size')}",
            ),
        ] = None,
        spread_fraction: Annotated[
            str | None,
            typer.Option(
                "--spread-fraction",
                help="Quote this fraction of the reward band out. "
                + default_help(MarketMakerConfig, "spread_fraction"),
            ),
        ] = None,
        requote_threshold: Annotated[
            str | None,
            typer.Option(
                "--requote-threshold",
                help="Midpoint move that requotes. "
                + default_help(MarketMakerConfig, "requote_threshold"),
            ),
        ] = None,
        liquidity_budget: Annotated[
            str | None,
            typer.Option(
                "--liquidity-budget",
                help="Capital for quotes and held tokens (USDC). "
                + default_help(OrchestratorConfig, "liquidity_budget"),
            ),
        ] = None,
        profit_margin: LiqProfitMargin = None,
        skew_start: LiqSkewStart = None,
        skew_rate: LiqSkewRate = None,
        skew_max: LiqSkewMax = None,
        stop_loss_threshold: LiqStopLossThreshold = None,
        stop_loss: LiqStopLoss = True,
        timeout: LiqTimeout = None,
        check_interval: LiqCheckInterval = None,
        block_losing: LiqBlockLosing = True,
        rerank: Rerank = True,
        rerank_minutes: RerankMinutes = None,
        switch_margin: SwitchMargin = None,
        loss_cooldown: LossCooldown = None,
        rewards_daily_rate: Annotated[
            str, typer.Option("--rewards-daily-rate", help="Recorded books: USDC per day.")
        ] = "100",
        rewards_max_spread: Annotated[
            str, typer.Option("--rewards-max-spread", help="Recorded books: band (cents).")
        ] = "3",
        rewards_min_size: Annotated[
            str, typer.Option("--rewards-min-size", help="Recorded books: minimum shares.")
        ] = "50",
        fee_rate: Annotated[
            str | None,
            typer.Option(
                "--fee-rate",
                help="Taker fee rate: rate * (p(1-p))^exponent per share "
                "[default: the market category's documented rate].",
            ),
        ] = None,
        fee_exponent: Annotated[
            str | None, typer.Option("--fee-exponent", help="Taker fee exponent [default: 1].")
        ] = None,
        min_hours_to_end: Annotated[
            str | None,
            typer.Option(
                "--min-hours-to-end",
                help="Skip markets closing sooner (discovery's filter) [default: 0].",
            ),
        ] = None,
        step: Annotated[
            int | None,
            typer.Option(
                "--step",
                help="Seconds between the bot's looks, a divisor of 60 "
                "[default: 5 on recorded books, else 60].",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Write a PNG of rewards and net P&L.")
        ] = None,
        sweep: Annotated[
            list[str] | None,
            typer.Option("--sweep", help="FLAG=v1,v2,... (repeatable): run every combination."),
        ] = None,
    ) -> None:
        """The whole bot in simulated time: single- against dual-market mode."""
        if mode not in MODES:
            raise UsageError(f"--mode: {mode!r} is not one of {', '.join(MODES)}")
        modes = ("single", "dual") if mode == "both" else (mode,)
        if fills not in FILLS:
            raise UsageError(f"--fills: {fills!r} is not one of {', '.join(FILLS)}")
        bounds = BOUNDS if fills == "both" else tuple(b for b in BOUNDS if b == fills)
        levels = competition_levels(competition)
        if synthetic == (input_path is not None):
            raise UsageError(
                "give INPUT (a scenario JSON or a recorded-books folder) or --synthetic"
            )
        if not synthetic and levels != ["calibrated"]:
            raise UsageError("--competition: only with --synthetic (INPUT states its own)")
        flows = competition_levels(flow, "--flow")
        if not synthetic and flows != ["calibrated"]:
            raise UsageError("--flow: only with --synthetic (INPUT's trades are its own)")
        if len(levels) > 1 and len(flows) > 1:
            raise UsageError("--flow: compare one of --competition and --flow at a time")
        day_count = decimal_flag("--days", days)
        if day_count is not None and not Decimal(0) < day_count <= MAX_DAYS:
            raise UsageError(f"--days: need a number of days in (0, {MAX_DAYS}]")
        rewards = _reward_params(rewards_daily_rate, rewards_max_spread, rewards_min_size)
        if plot is not None and not plot.parent.is_dir():
            raise UsageError(f"--plot: {plot.parent} is not a directory")
        base: dict[str, Any] = {
            "--position-limit": position_limit,
            "--order-size": order_size,
            "--spread-fraction": spread_fraction,
            "--requote-threshold": requote_threshold,
            "--liquidity-budget": liquidity_budget,
            "--liq-profit-margin": profit_margin,
            "--liq-skew-start": skew_start,
            "--liq-skew-rate": skew_rate,
            "--liq-skew-max": skew_max,
            "--liq-stop-loss-threshold": stop_loss_threshold,
            "--liq-timeout": timeout,
            "--liq-check-interval": check_interval,
            "--liq-stop-loss": stop_loss,
            "--liq-block-losing": block_losing,
            "--rerank": rerank,
            "--rerank-minutes": rerank_minutes,
            "--switch-margin": switch_margin,
            "--loss-cooldown": loss_cooldown,
            "--fee-rate": fee_rate,
            "--fee-exponent": fee_exponent,
            "--min-hours-to-end": min_hours_to_end,
        }
        if step is not None and (step <= 0 or 60 % step):
            raise UsageError(f"--step: {step} s does not divide a minute (1, 2, 5, 10, 30, 60...)")
        combos = combinations(base, parse_sweeps(sweep or []))
        if len(combos) > 1 and max(len(levels), len(flows)) > 1:
            raise UsageError("--sweep: one --competition and --flow level at a time")
        seed_runs = seed_list(synthetic, seed, seeds, modes, len(combos) > 1)
        sources = _markets(input_path, levels, flows, markets, day_count, rewards, as_json)
        if step is None:
            recorded = input_path is not None and input_path.is_dir()
            step = RECORDED_STEP if recorded else 60
        _run_and_report(sources, combos, seed_runs, modes, bounds, step, as_json, plot)


def _markets(
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


def _run_and_report(
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
    best, chosen_on, reported, shown = walk_forward(results, combos, bounds)
    if plot is not None:
        first = next(r for r in results if r.combo == best and r.seed == shown[0])
        _write_plot(first, reported[best], plot, name)
    if len(sources) > 1:
        levels = {level: walk_forward(r, combos, bounds)[2][0] for level, r in by_level.items()}
        if as_json:
            out = {level: report.bounds_json(r) for level, r in levels.items()}
            print(json.dumps({_compared(sources): out}, indent=2))
        else:
            render_levels(name, levels, _compared(sources))
    elif len(combos) == 1:
        if as_json:
            print(report.dumps(reported[0]))
        else:
            report.render(reported[0], f"dualmm backtest: {name}")
    elif as_json:
        rows = [
            {
                "flags": c.label,
                "best": k == best,
                "chosen_by_net_pnl": str(_net(chosen_on[k][bounds[0]]).quantize(MONEY)),
                **report.bounds_json(r),
            }
            for k, (c, r) in enumerate(zip(combos, reported, strict=True))
        ]
        print(json.dumps({"walk_forward": _split(seeds, shown), "sweep": rows}, indent=2))
    else:
        render_sweep(name, combos, reported, best, bounds, _split(seeds, shown))
    if plot is not None and not as_json:
        print(f"plot: {plot}")


def _compared(sources: dict[str, Markets]) -> str:
    """What the levels of `sources` differ in: "flow" or "competition"."""
    flows = {m.flow for m in sources.values()}
    return "flow" if len(flows) > 1 else "competition"


def _synthetic_name(markets: Markets, seeds: list[int | None]) -> str:
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} paired seeds"
    return f"synthetic ({which}, {markets.count} markets, {markets.days} days)"


def _split(seeds: list[int | None], shown: list[int | None]) -> dict[str, Any] | None:
    """The walk-forward split, or None for an in-sample sweep (one path)."""
    if len(seeds) < 2:
        return None
    return {
        "choose_seeds": [s for s in seeds if s not in shown],
        "report_seeds": list(shown),
    }


def _write_plot(first: JobResult, reported: dict[str, Report], plot: Path, name: str) -> None:
    from dualmm.backtest.plot import write_plot

    markouts = {
        bound: {mode: values["markouts_cents"] for mode, values in r.items() if mode in MODES}
        for bound, r in reported.items()
    }
    try:
        write_plot(first.runs, markouts, plot, name)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {plot} ({exc.strerror})") from None


def _status(message: str, quiet: bool) -> contextlib.AbstractContextManager[object]:
    """A spinner on stderr while the input loads (never with --json)."""
    if quiet:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def _net(values: dict[str, dict[str, Any]]) -> Decimal:
    primary = values["dual"] if "dual" in values else next(iter(values.values()))
    net = primary["net_pnl"]
    assert isinstance(net, Decimal)
    return net


def _reward_params(rate: str, spread: str, size: str) -> RewardParams:
    from dualmm.backtest.inputs import RewardParams
    from dualmm.config import MAX_SHARES, MAX_USDC

    values = (
        decimal_flag("--rewards-daily-rate", rate),
        decimal_flag("--rewards-max-spread", spread),
        decimal_flag("--rewards-min-size", size),
    )
    names = ("--rewards-daily-rate", "--rewards-max-spread", "--rewards-min-size")
    bounds = (MAX_USDC, Decimal(100), MAX_SHARES)  # USDC a day, cents, shares
    for name, value, most in zip(names, values, bounds, strict=True):
        if value is None or not 0 <= value <= most:
            raise UsageError(f"{name}: must be a number in [0, {most}]")
    daily, band, minimum = (v or Decimal(0) for v in values)
    return RewardParams(daily_rate=daily, max_spread_cents=band, min_size=minimum)


def _efficiency_ratio(values: Report) -> str:
    """dual / single capital efficiency: the paired estimate when there is one."""
    from dualmm.backtest.report import _estimate_text, _show

    if "paired" in values:
        return _estimate_text(values["paired"]["capital_efficiency_ratio"])
    return _show(values.get("ratios", {}).get("capital_efficiency"))


def render_sweep(
    name: str,
    combos: list[Settings],
    reports: list[dict[str, Report]],
    best: int,
    bounds: tuple[str, ...],
    split: dict[str, Any] | None,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from dualmm.backtest.report import _show

    if split is None:
        how = "in-sample: one path, chosen and reported on the same data"
    else:
        chosen, shown = split["choose_seeds"], split["report_seeds"]
        how = f"chosen on seeds {chosen[0]}-{chosen[-1]}, reported on seeds {shown[0]}-{shown[-1]}"
    table = Table(title=f"dualmm backtest sweep: {name}\n(* best net P&L, {how})")
    table.add_column("")
    for flag in combos[0].label:
        table.add_column(flag.removeprefix("--"), no_wrap=True)
    modes = [m for m in ("single", "dual") if m in reports[0][bounds[0]]]
    for bound in bounds:
        for mode in modes:
            table.add_column(f"{bound}\n{mode} net P&L", justify="right")
        if len(modes) == 2:
            table.add_column(f"{bound}\ncap. eff. d/s", justify="right")
    for k, (settings, values) in enumerate(zip(combos, reports, strict=True)):
        row = ["*" if k == best else "", *settings.label.values()]
        for bound in bounds:
            row += [_show(values[bound][mode]["net_pnl"]) for mode in modes]
            if len(modes) == 2:
                row.append(_efficiency_ratio(values[bound]))
        table.add_row(*row)
    Console(width=200).print(table)


def render_levels(
    name: str, levels: dict[str, dict[str, Report]], compared: str = "competition"
) -> None:
    """Net P&L and the dual/single ratio at each competition (or flow) level."""
    from rich.console import Console
    from rich.table import Table

    from dualmm.backtest.report import _estimate_text, _show

    table = Table(title=f"dualmm backtest across {compared} levels: {name}")
    for column in (compared, "fills", "single net P&L", "dual net P&L"):
        table.add_column(column, justify="left" if column in (compared, "fills") else "right")
    table.add_column("dual - single (per seed)", justify="right")
    table.add_column("cap. eff. dual / single", justify="right")
    for level, reports in levels.items():
        for bound, values in reports.items():
            paired = values.get("paired")
            diff = "" if paired is None else _estimate_text(paired["net_pnl_diff"])
            table.add_row(
                level,
                bound,
                _show(values["single"]["net_pnl"]),
                _show(values["dual"]["net_pnl"]),
                diff,
                _efficiency_ratio(values),
            )
    Console(width=160).print(table)

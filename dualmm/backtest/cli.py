"""`dualmm backtest [INPUT] [options]`: the command, its flags and `--sweep`."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cliutil import (
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
    UsageError,
    decimal_flag,
    default_help,
)
from dualmm.config import MarketMakerConfig, OrchestratorConfig

if TYPE_CHECKING:
    from dualmm.backtest.engine import ModeRun
    from dualmm.backtest.inputs import BacktestInput, RewardParams
    from dualmm.domain.fees import Fees

MODES = ("single", "dual", "both")
# Recorded books move every second or so: look as often as the workflow's round (5 s).
RECORDED_STEP = 5
MAX_MARKETS = 500
MAX_DAYS = Decimal(3650)
# Flag -> keyword of `dualmm.commands.orchestrator_config` (valued flags, then on/off ones).
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


@dataclass
class Settings:
    """One combination: the orchestrator's config and the fee schedule."""

    label: dict[str, str]
    config: OrchestratorConfig
    fees: Fees
    min_to_end: int = 0  # seconds


def settings_for(flags: dict[str, Any], label: dict[str, str]) -> Settings:
    """Config and fees from flag values (strings as typed; switches as bools)."""
    from dualmm.commands import orchestrator_config
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


def load_input(
    path: Path | None,
    synthetic: bool,
    markets: int,
    days: Decimal | None,
    seed: int,
    rewards: RewardParams,
) -> BacktestInput:
    from dualmm.backtest.inputs import InputError, from_recorded, from_scenario
    from dualmm.backtest.synthetic import synthetic_input
    from dualmm.scenario import ScenarioError, load_scenario

    if synthetic == (path is not None):
        raise UsageError("give INPUT (a scenario JSON or a recorded-books folder) or --synthetic")
    try:
        if synthetic:
            return synthetic_input(markets, days or Decimal(30), seed)
        assert path is not None
        if path.is_dir():
            data = from_recorded(path, rewards)
        elif path.suffix.lower() == ".parquet":
            raise UsageError(f"{path}: give the folder holding markets.parquet and books.parquet")
        else:
            data = from_scenario(load_scenario(path))
        return data.cut(days)
    except (InputError, ScenarioError) as exc:
        raise UsageError(str(exc)) from None


def run_all(
    data: BacktestInput,
    combos: list[Settings],
    modes: tuple[str, ...],
    quiet: bool,
    step: int = 60,
) -> list[dict[str, ModeRun]]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from dualmm.backtest.engine import run_mode

    total = data.duration // 60 * len(modes) * len(combos)
    results = []
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
        advance: Callable[[int], None] = lambda n: bar.advance(task, n)  # noqa: E731
        for settings in combos:
            runs = {}
            for mode in modes:
                dual = mode == "dual"
                runs[mode] = run_mode(
                    data, settings.config, dual, settings.fees, advance, settings.min_to_end, step
                )
            results.append(runs)
    return results


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
        seed: Annotated[int, typer.Option("--seed", help="Synthetic generator seed.")] = 7,
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
        from dualmm.backtest import report

        if mode not in MODES:
            raise UsageError(f"--mode: {mode!r} is not one of {', '.join(MODES)}")
        modes = ("single", "dual") if mode == "both" else (mode,)
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
        with _status("reading the input" if input_path else "generating the markets", as_json):
            data = load_input(input_path, synthetic, markets, day_count, seed, rewards)
        if step is None:
            recorded = input_path is not None and input_path.is_dir()
            step = RECORDED_STEP if recorded else 60
        results = run_all(data, combos, modes, as_json, step)
        reports = [report.build(runs) for runs in results]
        best = max(range(len(reports)), key=lambda k: _net(reports[k]))
        if plot is not None:
            from dualmm.backtest.plot import write_plot

            try:
                write_plot(results[best], plot, data.name)
            except OSError as exc:
                raise UsageError(f"--plot: cannot write {plot} ({exc.strerror})") from None
        if len(combos) == 1:
            if as_json:
                print(report.dumps(reports[0]))
            else:
                report.render(reports[0], f"dualmm backtest: {data.name}")
            return
        if as_json:
            print(
                json.dumps(
                    {
                        "sweep": [
                            {"flags": c.label, "best": k == best, **report.to_json(r)}
                            for k, (c, r) in enumerate(zip(combos, reports, strict=True))
                        ]
                    },
                    indent=2,
                )
            )
        else:
            render_sweep(data.name, combos, reports, best)
        if plot is not None and not as_json:
            print(f"plot of the best combination: {plot}")


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


def render_sweep(
    name: str, combos: list[Settings], reports: list[dict[str, dict[str, Any]]], best: int
) -> None:
    from rich.console import Console
    from rich.table import Table

    from dualmm.backtest.report import _show

    modes = [m for m in ("single", "dual") if m in reports[0]]
    table = Table(title=f"dualmm backtest sweep: {name} (* best by net P&L)")
    table.add_column("")
    for flag in combos[0].label:
        table.add_column(flag.removeprefix("--"), no_wrap=True)
    figures: tuple[tuple[str, str], ...] = (
        ("net P&L", "net_pnl"),
        ("rewards", "rewards"),
        ("uptime", "uptime"),
        ("liq. P&L", "liquidation_pnl"),
        ("cap. eff.", "capital_efficiency"),
    )
    for mode in modes:
        for label, _ in figures:
            table.add_column(f"{mode}\n{label}", justify="right")
    if len(modes) == 2:
        table.add_column("dual/single\ncap. eff.", justify="right")
    for k, (settings, values) in enumerate(zip(combos, reports, strict=True)):
        row = ["*" if k == best else "", *settings.label.values()]
        for mode in modes:
            row += [_show(values[mode][key]) for _, key in figures]
        if len(modes) == 2:
            row.append(_show(values["ratios"]["capital_efficiency"]))
        table.add_row(*row)
    Console(width=200).print(table)

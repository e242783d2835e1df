"""`dualmm backtest [INPUT] [options]`: the command and its flags.

Synthetic markets in both modes run over paired seeds by default (20: seeds 1-20), so no single
seed decides a headline; `--seed S` runs one. `--sweep` chooses on the first half of the seeds
and reports the second half (walk-forward); on a recorded input, which is one path, the sweep is
in-sample and says so.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dualmm.cli.backtest.output import MODES
from dualmm.cli.backtest.run import markets_for, run_and_report
from dualmm.cli.backtest.settings import (
    DEFAULT_SEEDS,
    MAX_DAYS,
    NOT_BACKTESTED,
    combinations,
    competition_levels,
    parse_sweeps,
    reward_params,
    seed_list,
)
from dualmm.cli.options import ConfigFlags, config_options, decimal_flag
from dualmm.errors import UsageError

if TYPE_CHECKING:
    from dualmm.domain.queue import FillModel

FILLS = ("conservative", "probabilistic", "both")
BOUNDS: tuple[FillModel, ...] = ("conservative", "probabilistic")
# Recorded books move every second or so: look as often as the workflow's round (5 s).
RECORDED_STEP = 5
MAX_MARKETS = 500


def register(app: typer.Typer) -> None:
    @app.command()
    @config_options(skip=NOT_BACKTESTED)
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
        *,
        config_flags: ConfigFlags,
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
        rewards = reward_params(rewards_daily_rate, rewards_max_spread, rewards_min_size)
        if plot is not None and not plot.parent.is_dir():
            raise UsageError(f"--plot: {plot.parent} is not a directory")
        base: dict[str, Any] = {
            **config_flags,
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
        sources = markets_for(input_path, levels, flows, markets, day_count, rewards, as_json)
        if step is None:
            recorded = input_path is not None and input_path.is_dir()
            step = RECORDED_STEP if recorded else 60
        run_and_report(sources, combos, seed_runs, modes, bounds, step, as_json, plot)

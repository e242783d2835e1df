"""What a backtest prints: one report, a sweep or levels side by side, as tables or JSON, and
the plot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dualmm.errors import UsageError

if TYPE_CHECKING:
    from dualmm.backtest.report import Report
    from dualmm.backtest.runs import JobResult, Settings

MODES = ("single", "dual", "both")
MONEY = Decimal("0.000001")


@dataclass(frozen=True)
class Sweep:
    """Every combination's reports on the seeds reported, the one chosen (best primary-mode
    net P&L on the seeds that choose) and the walk-forward split (None: in-sample)."""

    combos: list[Settings]
    chosen_on: list[dict[str, Report]]
    reported: list[dict[str, Report]]
    best: int
    split: dict[str, Any] | None


def net(values: dict[str, dict[str, Any]]) -> Decimal:
    """The primary mode's net P&L (dual where it ran)."""
    primary = values["dual"] if "dual" in values else next(iter(values.values()))
    value = primary["net_pnl"]
    assert isinstance(value, Decimal)
    return value


def print_sweep(name: str, sweep: Sweep, bounds: tuple[str, ...], as_json: bool) -> None:
    from dualmm.backtest import report

    if not as_json:
        render_sweep(name, sweep, bounds)
        return
    rows = [
        {
            "flags": c.label,
            "best": k == sweep.best,
            "chosen_by_net_pnl": str(net(sweep.chosen_on[k][bounds[0]]).quantize(MONEY)),
            **report.bounds_json(r),
        }
        for k, (c, r) in enumerate(zip(sweep.combos, sweep.reported, strict=True))
    ]
    print(json.dumps({"walk_forward": sweep.split, "sweep": rows}, indent=2))


def print_levels(
    name: str, levels: dict[str, dict[str, Report]], compared: str, as_json: bool
) -> None:
    from dualmm.backtest import report

    if as_json:
        out = {level: report.bounds_json(r) for level, r in levels.items()}
        print(json.dumps({compared: out}, indent=2))
    else:
        render_levels(name, levels, compared)


def write_plot(first: JobResult, reported: dict[str, Report], plot: Path, name: str) -> None:
    from dualmm.backtest.plot import write_plot as draw

    markouts = {
        bound: {mode: values["markouts_cents"] for mode, values in r.items() if mode in MODES}
        for bound, r in reported.items()
    }
    try:
        draw(first.runs, markouts, plot, name)
    except OSError as exc:
        raise UsageError(f"--plot: cannot write {plot} ({exc.strerror})") from None


def _efficiency_ratio(values: Report) -> str:
    """dual / single capital efficiency: the paired estimate when there is one."""
    from dualmm.backtest.report import _estimate_text, _show

    if "paired" in values:
        return _estimate_text(values["paired"]["capital_efficiency_ratio"])
    return _show(values.get("ratios", {}).get("capital_efficiency"))


def render_sweep(name: str, sweep: Sweep, bounds: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    from dualmm.backtest.report import _show

    if sweep.split is None:
        how = "in-sample: one path, chosen and reported on the same data"
    else:
        chosen, shown = sweep.split["choose_seeds"], sweep.split["report_seeds"]
        how = f"chosen on seeds {chosen[0]}-{chosen[-1]}, reported on seeds {shown[0]}-{shown[-1]}"
    table = Table(title=f"dualmm backtest sweep: {name}\n(* best net P&L, {how})")
    table.add_column("")
    for flag in sweep.combos[0].label:
        table.add_column(flag.removeprefix("--"), no_wrap=True)
    modes = [m for m in ("single", "dual") if m in sweep.reported[0][bounds[0]]]
    for bound in bounds:
        for mode in modes:
            table.add_column(f"{bound}\n{mode} net P&L", justify="right")
        if len(modes) == 2:
            table.add_column(f"{bound}\ncap. eff. d/s", justify="right")
    for k, (settings, values) in enumerate(zip(sweep.combos, sweep.reported, strict=True)):
        row = ["*" if k == sweep.best else "", *settings.label.values()]
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

"""The backtest's figures: per mode, the dual/single ratios, the seed's targets; JSON and table.

Definitions (README "Backtest"):
  uptime               share of sampled minutes with at least one of our orders earning
                       (Q_min > 0: inside the band, at or above the minimum size, anywhere)
  active_uptime        the same for the active market's quotes alone (the seed's "earning")
  liquidation_pnl      what liquidations realized, less taker fees, plus settlement or the
                       final mark of what they still hold
  net_pnl              rewards + market-making P&L (merged pairs, the active position marked at
                       the final midpoint) + liquidation_pnl
  loss_to_earnings     the losing liquidations' losses / rewards
  avg_capital          deployed capital (resting BUY collateral + tokens at cost, the active
                       market's and the liquidations') averaged over every minute of the run
  peak_capital         its highest minute sample; `budget` is the liquidity budget
  capital_efficiency   net_pnl (rewards + trading P&L) per USDC of avg_capital per day
  markouts_cents       the mean move of the midpoint after the quotes' fills, 1/5/30/60
                       minutes on, cents per share (positive: our way); the liquidations'
                       fills apart in markouts_cents_liquidation
A ratio is dual / single, shown only where single's figure is above 0 (with a loss below, a
larger number would read as a gain); else null, with the reason in `ratio_notes`.
An exit is profitable when its liquidation P&L is above 0; break-even or worse otherwise.
With both fill bounds the JSON is {"conservative": {...}, "probabilistic": {...}}, each of one
bound's shape; paired seeds add "paired" to each bound (`dualmm.backtest.paired`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal
from statistics import median
from typing import Any

from dualmm.backtest.engine import ModeRun
from dualmm.backtest.paired import Estimate, Sources, mean_ci90, ratio_ci90

ZERO = Decimal(0)
MONEY = Decimal("0.000001")
RATIO = Decimal("0.0001")
MINUTES = Decimal("0.01")
CENTS = Decimal("0.0001")
MARKOUT_MINUTES = ("1", "5", "30", "60")
# The seed's success metrics (phase4-dual-market-design.md "Success Metrics").
TARGET_UPTIME = Decimal("0.95")
TARGET_PROFITABLE_MINUTES = Decimal(30)
TARGET_LOSS_MINUTES = Decimal(60)
TARGET_LOSS_TO_EARNINGS = Decimal("0.20")
TARGET_EFFICIENCY_RATIO = Decimal("1.2")
RATIO_FIELDS = (
    "uptime",
    "active_uptime",
    "rewards",
    "net_pnl",
    "liquidation_pnl",
    "avg_capital",
    "peak_capital",
    "capital_efficiency",
)
BOUNDS = ("conservative", "probabilistic")

Report = dict[str, Any]  # one fill bound: {"single", "dual", "ratios", "ratio_notes"[, "paired"]}


def _q(value: Decimal | None, step: Decimal) -> str | None:
    return None if value is None else str(value.quantize(step))


def p90(values: Sequence[Decimal]) -> Decimal:
    """Nearest-rank 90th percentile."""
    ordered = sorted(values)
    rank = int((Decimal("0.9") * len(ordered)).to_integral_value(rounding=ROUND_CEILING))
    return ordered[max(rank, 1) - 1]


def figures(run: ModeRun) -> dict[str, Any]:
    """Every figure of one mode, exact."""
    liquidations = run.liquidations
    exits = [lq for lq in liquidations if lq.status == "closed" and lq.exit_minutes is not None]
    profitable = [lq.exit_minutes for lq in exits if lq.pnl > 0 and lq.exit_minutes is not None]
    losing = [lq.exit_minutes for lq in exits if lq.pnl <= 0 and lq.exit_minutes is not None]
    liquidation_pnl = sum((lq.pnl for lq in liquidations), ZERO)
    losses = sum((-lq.pnl for lq in liquidations if lq.pnl < 0), ZERO)
    rewards = run.rewards
    net = rewards + run.mm_realized + run.mm_unrealized + liquidation_pnl
    minutes = Decimal(run.minutes) if run.minutes else Decimal(1)
    average, days = run.avg_capital, run.days
    return {
        "days": days,
        "uptime": Decimal(run.scoring_minutes) / minutes,
        "active_uptime": Decimal(run.active_minutes) / minutes,
        "rewards": rewards,
        "rewards_active": run.rewards_active,
        "rewards_liquidating": run.rewards_liquidating,
        "markets_quoted": run.rounds,
        "switches": run.switches,
        "liquidations": len(liquidations),
        "exits_profitable": len(profitable),
        "exits_loss": len(losing),
        "still_open": sum(1 for lq in liquidations if lq.status == "open"),
        "median_exit_minutes_profitable": Decimal(median(profitable)) if profitable else None,
        "p90_exit_minutes_profitable": p90(profitable) if profitable else None,
        "median_exit_minutes_loss": Decimal(median(losing)) if losing else None,
        "p90_exit_minutes_loss": p90(losing) if losing else None,
        "liquidation_pnl": liquidation_pnl,
        "liquidation_losses": losses,
        "fees": sum((lq.fees for lq in liquidations), ZERO),
        "market_making_pnl": run.mm_realized + run.mm_unrealized,
        "net_pnl": net,
        "loss_to_earnings": losses / rewards if rewards > 0 else None,
        "budget": run.budget,
        "avg_capital": average,
        "peak_capital": run.peak_capital,
        "capital_efficiency": net / average / days if average > 0 and days > 0 else None,
        "markouts_cents": run.markouts.cents("quoting"),
        "markouts_cents_liquidation": run.markouts.cents("liquidation"),
    }


_COUNTS = {
    "markets_quoted",
    "switches",
    "liquidations",
    "exits_profitable",
    "exits_loss",
    "still_open",
}
_RATIOS = {"uptime", "active_uptime", "loss_to_earnings", "capital_efficiency", "days"}


def to_json_values(values: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings: money to 1e-6, ratios to 1e-4, minutes to 0.01, cents to 1e-4."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or key in _COUNTS:
            out[key] = value
        elif key.startswith("markouts_cents"):
            out[key] = {h: _q(v, CENTS) for h, v in value.items()}
        elif key in _RATIOS:
            out[key] = _q(value, RATIO if key != "capital_efficiency" else MONEY)
        elif "minutes" in key:
            out[key] = _q(value, MINUTES)
        else:
            out[key] = _q(value, MONEY)
    return out


def ratios(
    single: dict[str, Any], dual: dict[str, Any]
) -> tuple[dict[str, Decimal | None], dict[str, str]]:
    """dual / single per figure, and why a ratio is null where it is."""
    out: dict[str, Decimal | None] = {}
    notes: dict[str, str] = {}
    for key in RATIO_FIELDS:
        a, b = single.get(key), dual.get(key)
        out[key] = None
        if a is None or b is None:
            notes[key] = "a mode has no figure"
        elif a <= 0:
            notes[key] = f"single's {key} is {_show(a)}, not above 0: a ratio would misread"
        else:
            out[key] = b / a
    return out, notes


def build(runs: dict[str, ModeRun], paired: dict[str, Any] | None = None) -> Report:
    """One fill bound: {"single": ..., "dual": ..., "ratios": ..., "ratio_notes": ...} (only the
    modes that ran; ratios with both), and "paired" over seeds when given."""
    values = {mode: figures(run) for mode, run in runs.items()}
    report: Report = dict(values)
    if "single" in values and "dual" in values:
        report["ratios"], report["ratio_notes"] = ratios(values["single"], values["dual"])
    if paired is not None:
        report["paired"] = paired
    return report


def paired_figures(
    single: Sequence[dict[str, Any]], dual: Sequence[dict[str, Any]], parts: Sequence[Sources]
) -> dict[str, Any]:
    """The paired comparison over seeds (seed k of `single`, `dual` and `parts` match)."""
    diffs = [d["net_pnl"] - s["net_pnl"] for s, d in zip(single, dual, strict=True)]
    return {
        "seeds": len(diffs),
        "net_pnl_diff": mean_ci90(diffs),
        "capital_efficiency_ratio": ratio_ci90(
            [s["capital_efficiency"] for s in single], [d["capital_efficiency"] for d in dual]
        ),
        "sources": {
            "minutes_single_idled_dual_earned": mean_ci90([Decimal(p.idle_minutes) for p in parts]),
            "rewards_while_single_idled": mean_ci90([p.idle_rewards for p in parts]),
            "minutes_dual_on_worse_market": mean_ci90([Decimal(p.worse_minutes) for p in parts]),
            "rewards_other_minutes": mean_ci90([p.other_rewards for p in parts]),
            "trading_pnl_diff": mean_ci90([p.inventory for p in parts]),
        },
    }


def _estimate_json(estimate: Estimate, places: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mean": None if estimate.mean is None else round(estimate.mean, places),
        "ci90": None if estimate.ci90 is None else [round(x, places) for x in estimate.ci90],
    }
    if estimate.note is not None:
        out["note"] = estimate.note
    return out


def _paired_json(paired: dict[str, Any]) -> dict[str, Any]:
    return {
        "seeds": paired["seeds"],
        "net_pnl_diff": _estimate_json(paired["net_pnl_diff"], 6),
        "capital_efficiency_ratio": _estimate_json(paired["capital_efficiency_ratio"], 4),
        "sources": {k: _estimate_json(v, 6) for k, v in paired["sources"].items()},
    }


def to_json(report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in report.items():
        if key == "ratios":
            out[key] = {k: _q(v, RATIO) for k, v in values.items()}
        elif key == "ratio_notes":
            out[key] = dict(values)
        elif key == "paired":
            out[key] = _paired_json(values)
        else:
            out[key] = to_json_values(values)
    return out


def bounds_json(reports: dict[str, Report]) -> dict[str, Any]:
    """One bound: its report as is (today's shape); both: keyed by bound."""
    if len(reports) == 1:
        return to_json(next(iter(reports.values())))
    return {bound: to_json(report) for bound, report in reports.items()}


def dumps(reports: dict[str, Report]) -> str:
    return json.dumps(bounds_json(reports), indent=2)


Check = tuple[str, str, bool | None]


def targets(report: Report) -> list[Check]:
    """The seed's success metrics against the primary mode (dual when it ran): (target, value,
    met); met is None where the figure does not exist (no such exits, no ratio)."""
    mode = "dual" if "dual" in report else next(iter(report))
    r = report[mode]

    def below(value: Any, limit: Decimal) -> bool | None:
        return None if value is None else value < limit

    checks: list[Check] = [
        ("uptime > 95 %", _show(r["uptime"]), r["uptime"] > TARGET_UPTIME),
        (
            "profitable exits < 30 min (p90)",
            _show(r["p90_exit_minutes_profitable"]),
            below(r["p90_exit_minutes_profitable"], TARGET_PROFITABLE_MINUTES),
        ),
        (
            "break-even-or-worse exits < 60 min (p90)",
            _show(r["p90_exit_minutes_loss"]),
            below(r["p90_exit_minutes_loss"], TARGET_LOSS_MINUTES),
        ),
        (
            "liquidation losses < 20 % of rewards",
            _show(r["loss_to_earnings"]),
            below(r["loss_to_earnings"], TARGET_LOSS_TO_EARNINGS),
        ),
    ]
    if "paired" in report:
        estimate: Estimate = report["paired"]["capital_efficiency_ratio"]
        value = "-" if estimate.mean is None else f"{estimate.mean:.4f}"
        if estimate.ci90 is not None:
            value += f" [{estimate.ci90[0]:.2f}, {estimate.ci90[1]:.2f}]"
        ok = None if estimate.mean is None else estimate.mean >= float(TARGET_EFFICIENCY_RATIO)
        checks.append(("capital efficiency dual/single >= 1.2", value, ok))
    elif "ratios" in report:
        ratio = report["ratios"]["capital_efficiency"]
        ok = None if ratio is None else ratio >= TARGET_EFFICIENCY_RATIO
        checks.append(("capital efficiency dual/single >= 1.2", _show(ratio), ok))
    return [(f"{mode} {name}" if k < 4 else name, v, ok) for k, (name, v, ok) in enumerate(checks)]


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


_ROWS = (
    ("days", "days"),
    ("uptime", "uptime (any order earning)"),
    ("active_uptime", "uptime (active market)"),
    ("rewards", "rewards (USDC)"),
    ("rewards_liquidating", "  of which by liquidation orders"),
    ("markets_quoted", "markets quoted (rounds)"),
    ("switches", "  of which moves to a better market"),
    ("liquidations", "liquidations"),
    ("exits_profitable", "  profitable exits"),
    ("exits_loss", "  break-even-or-worse exits"),
    ("still_open", "  still open at the end"),
    ("median_exit_minutes_profitable", "median exit, profitable (min)"),
    ("p90_exit_minutes_profitable", "p90 exit, profitable (min)"),
    ("median_exit_minutes_loss", "median exit, loss (min)"),
    ("p90_exit_minutes_loss", "p90 exit, loss (min)"),
    ("liquidation_pnl", "liquidation P&L (USDC)"),
    ("fees", "  taker fees paid"),
    ("market_making_pnl", "market-making P&L (USDC)"),
    ("net_pnl", "net P&L (USDC)"),
    ("loss_to_earnings", "liquidation losses / rewards"),
    ("avg_capital", "average capital (USDC)"),
    ("peak_capital", "peak capital (USDC)"),
    ("budget", "budget (USDC)"),
    ("capital_efficiency", "capital efficiency (/USDC/day)"),
)


def _estimate_text(estimate: Estimate) -> str:
    if estimate.mean is None:
        return f"n/a ({estimate.note})"
    text = f"{estimate.mean:.4f}" if abs(estimate.mean) < 10 else f"{estimate.mean:.2f}"
    if estimate.ci90 is not None:
        lo, hi = estimate.ci90
        text += f" [{lo:.2f}, {hi:.2f}]"
    elif estimate.note is not None:
        text += f" (no interval: {estimate.note})"
    return text


_PAIRED_ROWS = (
    ("net_pnl_diff", "net P&L, dual - single (USDC/seed)"),
    ("capital_efficiency_ratio", "capital efficiency, dual / single"),
)
_SOURCE_ROWS = (
    ("minutes_single_idled_dual_earned", "  minutes single idled, dual earned"),
    ("rewards_while_single_idled", "  rewards dual earned then (USDC)"),
    ("minutes_dual_on_worse_market", "  minutes dual on a worse market"),
    ("rewards_other_minutes", "  reward difference, other minutes"),
    ("trading_pnl_diff", "  trading P&L difference (inventory)"),
)


def render(reports: dict[str, Report], title: str) -> None:
    """The figures of every bound side by side, the paired comparison, the targets."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    first = next(iter(reports.values()))
    modes = [m for m in ("single", "dual") if m in first]
    both = "ratios" in first
    table = Table(title=title)
    table.add_column("figure")
    for bound in reports:
        for mode in modes:
            table.add_column(f"{bound}\n{mode}", justify="right")
        if both:
            table.add_column(f"{bound}\ndual / single", justify="right")
    for key, label in _ROWS:
        row = [label]
        for report in reports.values():
            row += [_show(report[mode][key]) for mode in modes]
            if both:
                row.append(_show(report["ratios"].get(key)) if key in RATIO_FIELDS else "")
        table.add_row(*row)
    for key, kind in (("markouts_cents", "quotes"), ("markouts_cents_liquidation", "exits")):
        for h in MARKOUT_MINUTES:
            row = [f"markout {h} min, {kind} (cents/share)"]
            for report in reports.values():
                row += [_show(report[mode][key][h]) for mode in modes]
                if both:
                    row.append("")
            table.add_row(*row)
    console.print(table)
    notes = {k: v for report in reports.values() for k, v in report.get("ratio_notes", {}).items()}
    for key, note in notes.items():
        console.print(f"dual / single {key}: n/a, {note}")
    if "paired" in first:
        _render_paired(console, reports)
    checks = Table(title="The seed's targets")
    checks.add_column("target")
    for bound in reports:
        checks.add_column(f"{bound}\nvalue", justify="right")
        checks.add_column("met", justify="right")
    per_bound = [targets(report) for report in reports.values()]
    for k, (name, _, _) in enumerate(per_bound[0]):
        row = [name]
        for checked in per_bound:
            _, value, ok = checked[k]
            row += [value, "-" if ok is None else ("yes" if ok else "NO")]
        checks.add_row(*row)
    console.print(checks)


def _render_paired(console: Any, reports: dict[str, Report]) -> None:
    from rich.table import Table

    seeds = next(iter(reports.values()))["paired"]["seeds"]
    table = Table(title=f"Dual against single over {seeds} paired seeds: mean [90 % interval]")
    table.add_column("")
    for bound in reports:
        table.add_column(bound, justify="right")
    for key, label in _PAIRED_ROWS:
        table.add_row(label, *(_estimate_text(r["paired"][key]) for r in reports.values()))
    for key, label in _SOURCE_ROWS:
        table.add_row(
            label, *(_estimate_text(r["paired"]["sources"][key]) for r in reports.values())
        )
    console.print(table)

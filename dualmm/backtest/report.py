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
  capital_efficiency   net_pnl per USDC of peak capital per day
  markouts_cents       the mean move of the midpoint after our fills, 1/5/30/60 minutes on, in
                       cents per share (positive: our way), quoting and liquidation fills apart
An exit is profitable when its liquidation P&L is above 0; break-even or worse otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal
from statistics import median
from typing import Any

from dualmm.backtest.engine import ModeRun
from dualmm.backtest.markouts import KINDS

ZERO = Decimal(0)
MONEY = Decimal("0.000001")
RATIO = Decimal("0.0001")
MINUTES = Decimal("0.01")
CENTS = Decimal("0.0001")
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
    "peak_capital",
    "capital_efficiency",
)


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
    peak, days = run.peak_capital, run.days
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
        "peak_capital": peak,
        "capital_efficiency": net / peak / days if peak > 0 and days > 0 else None,
        "markouts_cents": {kind: run.markouts.cents(kind) for kind in KINDS},
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
    """Decimals as strings: money to 1e-6, ratios to 1e-4, minutes to 0.01."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "markouts_cents":
            out[key] = {k: {h: _q(c, CENTS) for h, c in v.items()} for k, v in value.items()}
        elif value is None or key in _COUNTS:
            out[key] = value
        elif key in _RATIOS:
            out[key] = _q(value, RATIO if key != "capital_efficiency" else MONEY)
        elif "minutes" in key:
            out[key] = _q(value, MINUTES)
        else:
            out[key] = _q(value, MONEY)
    return out


def ratios(single: dict[str, Any], dual: dict[str, Any]) -> dict[str, Decimal | None]:
    out: dict[str, Decimal | None] = {}
    for key in RATIO_FIELDS:
        a, b = single.get(key), dual.get(key)
        out[key] = b / a if isinstance(a, Decimal) and isinstance(b, Decimal) and a != 0 else None
    return out


def build(runs: dict[str, ModeRun]) -> dict[str, dict[str, Any]]:
    """{"single": ..., "dual": ..., "ratios": ...} (only the modes that ran; ratios with both)."""
    values = {mode: figures(run) for mode, run in runs.items()}
    report: dict[str, dict[str, Any]] = {mode: v for mode, v in values.items()}
    if "single" in values and "dual" in values:
        report["ratios"] = ratios(values["single"], values["dual"])
    return report


def to_json(report: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in report.items():
        if key == "ratios":
            out[key] = {k: _q(v, RATIO) for k, v in values.items()}
        else:
            out[key] = to_json_values(values)
    return out


def dumps(report: dict[str, dict[str, Any]]) -> str:
    return json.dumps(to_json(report), indent=2)


def targets(report: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """The seed's success metrics against the primary mode (dual when it ran)."""
    mode = "dual" if "dual" in report else next(iter(report))
    r = report[mode]

    def below(value: Any, limit: Decimal) -> bool | None:
        return None if value is None else value < limit

    checks: list[tuple[str, str, bool | None]] = [
        (f"{mode} uptime > 95 %", _show(r["uptime"]), r["uptime"] > TARGET_UPTIME),
        (
            f"{mode} profitable exits < 30 min (p90)",
            _show(r["p90_exit_minutes_profitable"]),
            below(r["p90_exit_minutes_profitable"], TARGET_PROFITABLE_MINUTES),
        ),
        (
            f"{mode} break-even-or-worse exits < 60 min (p90)",
            _show(r["p90_exit_minutes_loss"]),
            below(r["p90_exit_minutes_loss"], TARGET_LOSS_MINUTES),
        ),
        (
            f"{mode} liquidation losses < 20 % of rewards",
            _show(r["loss_to_earnings"]),
            below(r["loss_to_earnings"], TARGET_LOSS_TO_EARNINGS),
        ),
    ]
    ratio = report.get("ratios", {}).get("capital_efficiency")
    if "ratios" in report:
        single_eff = report["single"]["capital_efficiency"]
        ok = (
            None
            if ratio is None or single_eff is None or single_eff <= 0
            else ratio >= (TARGET_EFFICIENCY_RATIO)
        )
        checks.append(("capital efficiency dual/single >= 1.2", _show(ratio), ok))
    return checks


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
    ("peak_capital", "peak capital (USDC)"),
    ("capital_efficiency", "capital efficiency (/USDC/day)"),
)


def render(report: dict[str, dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    modes = [m for m in ("single", "dual") if m in report]
    table = Table(title=title)
    table.add_column("figure")
    for mode in modes:
        table.add_column(mode, justify="right")
    if "ratios" in report:
        table.add_column("dual / single", justify="right")
    for key, label in _ROWS:
        row = [label, *(_show(report[mode][key]) for mode in modes)]
        if "ratios" in report:
            row.append(_show(report["ratios"].get(key)) if key in RATIO_FIELDS else "")
        table.add_row(*row)
    console = Console(width=110)
    console.print(table)
    checks = Table(title="The seed's targets")
    for name in ("target", "value", "met"):
        checks.add_column(name, justify="left" if name == "target" else "right")
    for name, value, ok in targets(report):
        checks.add_row(name, value, "-" if ok is None else ("yes" if ok else "NO"))
    console.print(checks)

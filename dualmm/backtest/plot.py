"""`--plot FILE.png`: cumulative rewards and net P&L of each mode over time, liquidations shaded.

The net P&L curve counts a liquidation when it ends (until then its tokens stand at cost); its
last point is the report's `net_pnl` less the final mark of what is still held.
"""

from __future__ import annotations

from pathlib import Path

from dualmm.backtest.engine import ModeRun

COLORS = {"single": "tab:orange", "dual": "tab:blue"}


def write_plot(runs: dict[str, ModeRun], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    span = max(run.minutes for run in runs.values())
    unit, per_unit = ("days", 1440) if span >= 2 * 1440 else ("hours", 60)
    for mode, run in runs.items():
        color = COLORS.get(mode, "tab:gray")
        days = [m / per_unit for m, _, _ in run.timeline]
        top.plot(days, [float(r) for _, r, _ in run.timeline], color=color, label=mode)
        bottom.plot(days, [float(n) for _, _, n in run.timeline], color=color, label=mode)
        for liquidation in run.liquidations:
            end = liquidation.finished if liquidation.finished is not None else run.minutes * 60
            for axis in (top, bottom):
                axis.axvspan(
                    liquidation.started / 60 / per_unit,
                    end / 60 / per_unit,
                    color=color,
                    alpha=0.12,
                    lw=0,
                )
    top.set_title(f"dualmm backtest: {title}")
    top.set_ylabel("cumulative rewards (USDC)")
    bottom.set_ylabel("net P&L (USDC)")
    bottom.set_xlabel(f"{unit} (shaded: a liquidation running, in the mode's colour)")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)

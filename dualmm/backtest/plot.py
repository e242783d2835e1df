"""`--plot FILE.png`: cumulative rewards and net P&L of each mode over time under each fill bound
(solid: conservative, dashed: probabilistic; liquidations of the first bound shaded), and the
markouts of each mode and bound at 1, 5, 30 and 60 minutes.

The net P&L curve counts a liquidation when it ends (until then its tokens stand at cost); its
last point is the report's `net_pnl` less the final mark of what is still held. With paired seeds
the curves are the first reported seed's; the markouts are pooled over the seeds.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from dualmm.backtest.engine import ModeRun

COLORS = {"single": "tab:orange", "dual": "tab:blue"}
STYLES = {"conservative": "-", "probabilistic": "--"}
HORIZONS = ("1", "5", "30", "60")


def write_plot(
    runs: dict[str, dict[str, ModeRun]],
    markouts: dict[str, dict[str, dict[str, Decimal | None]]],
    path: Path,
    title: str,
) -> None:
    """`runs` and `markouts`: bound -> mode -> the run / the markout per horizon (cents)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 9))
    grid = fig.add_gridspec(3, 1, height_ratios=(3, 3, 2))
    top = fig.add_subplot(grid[0])
    middle = fig.add_subplot(grid[1], sharex=top)
    bottom = fig.add_subplot(grid[2])
    span = max(run.minutes for by_mode in runs.values() for run in by_mode.values())
    unit, per_unit = ("days", 1440) if span >= 2 * 1440 else ("hours", 60)
    for b, (bound, by_mode) in enumerate(runs.items()):
        style = STYLES.get(bound, ":")
        for mode, run in by_mode.items():
            color = COLORS.get(mode, "tab:gray")
            x = [m / per_unit for m, _, _ in run.timeline]
            label = f"{mode}, {bound}"
            top.plot(x, [float(r) for _, r, _ in run.timeline], style, color=color, label=label)
            middle.plot(x, [float(n) for _, _, n in run.timeline], style, color=color, label=label)
            if b:
                continue
            for liquidation in run.liquidations:
                end = liquidation.finished
                end = run.minutes * 60 if end is None else end
                for axis in (top, middle):
                    axis.axvspan(
                        liquidation.started / 60 / per_unit,
                        end / 60 / per_unit,
                        color=color,
                        alpha=0.10,
                        lw=0,
                    )
    top.set_title(f"dualmm backtest: {title}")
    top.set_ylabel("cumulative rewards (USDC)")
    middle.set_ylabel("net P&L (USDC)")
    middle.set_xlabel(f"{unit} (shaded: a liquidation running, in the mode's colour)")
    for axis in (top, middle):
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize="small")
    _markouts(bottom, markouts)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def _markouts(axis: object, markouts: dict[str, dict[str, dict[str, Decimal | None]]]) -> None:
    """Grouped bars: per horizon, one bar per (bound, mode); a missing markout is not drawn."""
    from matplotlib.axes import Axes

    assert isinstance(axis, Axes)
    series = [(bound, mode, values) for bound, m in markouts.items() for mode, values in m.items()]
    width = 0.8 / max(len(series), 1)
    for k, (bound, mode, values) in enumerate(series):
        xs = [h + (k - (len(series) - 1) / 2) * width for h in range(len(HORIZONS))]
        heights = [float(v) if (v := values.get(h)) is not None else 0.0 for h in HORIZONS]
        axis.bar(
            xs,
            heights,
            width,
            color=COLORS.get(mode, "tab:gray"),
            hatch="" if bound == "conservative" else "//",
            edgecolor="black",
            linewidth=0.5,
            label=f"{mode}, {bound}",
        )
    axis.axhline(0, color="black", lw=0.8)
    axis.set_xticks(range(len(HORIZONS)), [f"{h} min" for h in HORIZONS])
    axis.set_ylabel("markout (cents/share)")
    axis.set_title("mean markout of our fills (positive: the price moved our way)", fontsize=10)
    axis.grid(alpha=0.3, axis="y")
    axis.legend(loc="best", fontsize="small", ncol=2)

"""Fit the synthetic taker flow to the competitive zero-profit anchor.

No input here holds trades, so the flow is anchored on theory instead: where reward makers
compete, a fill of an order resting at the touch marks about zero at 30 and 60 minutes before
rewards (Glosten-Milgrom, Kyle: the makers' spread revenue from the uninformed pays for their
losses to the informed; rewards programs exist because this leaves nothing over). Each
market's uninformed flow is in proportion to its repricings; for each proportion (uninformed
trades a side per repricing) the script measures that markout
(`dualmm.backtest.flow.touch_markouts`, a 50-share order, the default quote size) on calibrated
synthetic markets, then bisects for zero; `--check` prints the shipped levels' markouts, and
the calibrated flow's for an order 1, 2 and 3 cents behind the touch (at the back of the depth
there), which should earn no more than the touch.

    .venv/bin/python tools/calibrate_flow.py --seeds 4 --days 10       # fit on seeds 101-104
    .venv/bin/python tools/calibrate_flow.py --check --first-seed 1    # the levels on seeds 1-8
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from decimal import Decimal

from dualmm.backtest.flow import FLOW_LEVELS, FlowParams
from dualmm.backtest.synthetic import touch_markout_cents

HORIZONS = (1, 5, 30, 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=101)
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--days", type=Decimal, default=Decimal(10))
    parser.add_argument("--check", action="store_true", help="only measure FLOW_LEVELS")
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)

    def measure(params: FlowParams, behind: int = 0) -> dict[int, float]:
        return touch_markout_cents(
            params, seeds, args.markets, args.days, minutes=HORIZONS, behind_cents=Decimal(behind)
        )

    for level, params in FLOW_LEVELS.items():
        print(level, params.uninformed_per_repricing, _show(measure(params)))
    if args.check:
        for behind in (1, 2, 3):
            found = measure(FLOW_LEVELS["calibrated"], behind)
            print(f"calibrated, {behind} c behind", _show(found))
        return
    base = FLOW_LEVELS["calibrated"]
    low, high = 0.0, 512.0  # uninformed trades a side per repricing: markout rises with it
    for _ in range(10):
        middle = (low + high) / 2
        found = measure(replace(base, uninformed_per_repricing=middle))
        both = (found[30] + found[60]) / 2
        print(f"uninformed {middle:.2f} a repricing: {_show(found)}")
        low, high = (low, middle) if both > 0 else (middle, high)
    print(f"zero at about {(low + high) / 2:.1f} uninformed trades a side per repricing")


def _show(found: dict[int, float]) -> str:
    return "  ".join(f"{h} min {v:+.2f} c" for h, v in found.items())


if __name__ == "__main__":
    main()

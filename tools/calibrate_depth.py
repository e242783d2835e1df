"""Fit the synthetic book's depth beyond the touch to real L2 books and store it.

    .venv/bin/python tools/calibrate_depth.py [FOLDER] [--dry-run]

FOLDER is a folder in resolvedkit's layout with depth (default: the sample bundled with the
`resolvedkit` package: real Polymarket L2 books of 18 BTC 15-minute markets, CC BY 4.0,
Resolved Markets). For every snapshot of the UP book with both sides and a midpoint in
[0.2, 0.8], the size resting k cents behind the best price (0 where no level) is divided by the
size at the best price; the profile is the median of that ratio for k = 0..5, on each side
together. It is written into the `depth` entry of dualmm/synthetic/calibration.json, with the
median touch size; the rest of the file (`tools/calibrate.py`) is left as it is.
"""

from __future__ import annotations

import argparse
import json
import statistics as stats
import sys
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dualmm.synthetic import calibration  # noqa: E402

# The touch and 5 cents behind it (the sample's books hold 20 levels): the widest reward band
# is 4.5 cents, so quotes never rest further out; an exit that walks further rests there.
LEVELS = 6
MID_RANGE = (0.2, 0.8)  # away from the last minutes' one-sided books


def bundled_sample() -> Path:
    return Path(str(resources.files("resolvedkit") / "sample_data"))


def fit(folder: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    rows = pq.read_table(folder / "books.parquet").to_pylist()
    ratios: list[list[float]] = [[] for _ in range(LEVELS)]
    touches: list[float] = []
    books = 0
    for row in rows:
        if row["side"] != "UP" or not row["bid_px"] or not row["ask_px"]:
            continue
        mid = (row["bid_px"][0] + row["ask_px"][0]) / 2
        if not MID_RANGE[0] <= mid <= MID_RANGE[1]:
            continue
        books += 1
        for prices, sizes in ((row["bid_px"], row["bid_sz"]), (row["ask_px"], row["ask_sz"])):
            touches.append(sizes[0])
            by_cents = {
                round(abs(p - prices[0]) * 100): s for p, s in zip(prices, sizes, strict=True)
            }
            for k in range(LEVELS):
                ratios[k].append(by_cents.get(k, 0.0) / sizes[0])
    return {
        "source": f"{folder.name}: {books} two-sided UP books, midpoint in {list(MID_RANGE)}",
        "touch_shares_median": round(stats.median(touches), 1),
        "behind_touch": [round(stats.median(r), 2) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=None)
    parser.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    args = parser.parse_args()
    folder = args.folder or bundled_sample()
    if not (folder / "books.parquet").is_file():
        parser.exit(2, f"{folder}: no books.parquet (give a folder of L2 books)\n")
    depth = fit(folder)
    print(json.dumps(depth, indent=1))
    if not args.dry_run:
        params = json.loads(calibration.PARAMETERS.read_text())
        params["depth"] = depth
        calibration.PARAMETERS.write_text(json.dumps(params, indent=1) + "\n")
        print(f"wrote {calibration.PARAMETERS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Shared helpers for the bench scripts: medians of repeated timings and a plain table."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def median_seconds(run: Callable[[], object], repeats: int, number: int = 1) -> float:
    """Median over `repeats` of the mean wall time of one of `number` back-to-back calls."""
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(number):
            run()
        samples.append((time.perf_counter() - began) / number)
    return statistics.median(samples)


def machine() -> str:
    import os

    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc={os.cpu_count()}, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )


def table(headers: list[str], rows: list[list[str]], labels: int = 1) -> str:
    """Columns aligned; the first `labels` columns are text (left), the rest numbers (right)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < labels else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def micros(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def millis(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f}"


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_rows(
    mode: str, result: dict[str, Any], labels: tuple[tuple[str, str], ...], unit: str
) -> list[list[str]]:
    """Table rows (mode, label, n, p50, p99, max) for each `(key, label)` of `result`'s
    latencies in seconds, shown in `unit` ("ms" or "s")."""

    def shown(seconds: float) -> str:
        return f"{1000 * seconds:.0f}" if unit == "ms" else f"{seconds:.3f}"

    rows = []
    for key, label in labels:
        values = result[key]
        rows.append(
            [
                mode,
                label,
                str(len(values)),
                *(shown(percentile(values, p)) for p in (50, 99)),
                shown(max(values, default=float("nan"))),
            ]
        )
    return rows

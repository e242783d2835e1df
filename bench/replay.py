"""Wall time of replaying each scenario in scenarios/: the pure replay (`run_replay`), the
same through LiquidationWorkflow on the time-skipping server (`run_temporal_replay`, one
server shared by the runs), and both `dualmm replay` commands end to end (a new process each,
the --temporal one starting its own server).

Run: .venv/bin/python bench/replay.py [--no-cli]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from timing import machine, millis, table

from dualmm.config import LiquidationConfig
from dualmm.process import hard_exit
from dualmm.replay import run_replay
from dualmm.scenario import load_scenario
from dualmm.temporal_bin import TEST_SERVER, temporal_binary
from dualmm.temporal_replay import _quiet_runtime, run_temporal_replay

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.json"))
DUALMM = ROOT / ".venv" / "bin" / "dualmm"
CONFIG = LiquidationConfig()
PURE_REPEATS = 7
TEMPORAL_REPEATS = 3


async def median_async(make: object, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await make()  # type: ignore[operator]
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def median_command(args: list[str], repeats: int) -> tuple[float, int]:
    """Median wall time of the command, and how many runs exited non-zero (all must still
    print the whole report: a crash at interpreter exit is counted, not hidden)."""
    samples, bad_exits = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True)
        samples.append(time.perf_counter() - began)
        json.loads(done.stdout)
        bad_exits += done.returncode != 0
    return statistics.median(samples), bad_exits


async def main(with_cli: bool) -> None:
    rows = []
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        runtime=_quiet_runtime(),
        test_server_existing_path=temporal_binary(TEST_SERVER),
    )
    try:
        for path in SCENARIOS:
            scenario = load_scenario(path)
            result = await run_replay(scenario, CONFIG)
            market = result.markets[0]
            outcome = (
                f"{market.status} {market.exit_stage or '-'} "
                f"at {market.exit_seconds}s, pnl {market.realized_pnl:.2f}"
            )
            pure = await median_async(lambda s=scenario: run_replay(s, CONFIG), PURE_REPEATS)
            on_temporal = await median_async(
                lambda s=scenario: run_temporal_replay(s, CONFIG, env=env), TEMPORAL_REPEATS
            )
            row = [path.stem, outcome, str(len(market.orders)), millis(pure), millis(on_temporal)]
            if with_cli:
                command = [str(DUALMM), "replay", str(path), "--json"]
                for args in (command, [*command, "--temporal"]):
                    seconds, bad_exits = median_command(args, TEMPORAL_REPEATS)
                    row += [millis(seconds), f"{bad_exits}/{TEMPORAL_REPEATS}"]
            rows.append(row)
    finally:
        await env.shutdown()
    headers = ["scenario", "outcome", "orders", "run_replay ms", "run_temporal_replay ms"]
    if with_cli:
        headers += ["CLI ms", "bad exits", "CLI --temporal ms", "bad exits"]
    print(
        f"replay per scenario, medians of {PURE_REPEATS} (pure) and {TEMPORAL_REPEATS} "
        f"(Temporal, CLI) runs; {machine()}"
    )
    print(table(headers, rows, labels=2))


if __name__ == "__main__":
    asyncio.run(main(with_cli="--no-cli" not in sys.argv[1:]))
    hard_exit(0)  # a Temporal client can abort at interpreter exit (sdk-python #300)

"""Liquidation order staleness: from the venue moving a market's midpoint to the liquidation's
PASSIVE order off the old price and resting at the new one, with the market channel and with
the REST poll only (the channel off).

    .venv/bin/python bench/liquidation_staleness.py [--markets 5] [--moves 6]

Per mode: a Temporal dev server, the simulator over HTTP in this process (wall clock;
midpoints this script moves), one ClobExchange and one worker (dualmm.worker.build_worker)
in this process, and one LiquidationWorkflow per market holding 20 YES bought at 0.05 (the
profit floor stays out of the way; the stage timers hours away, so every order is PASSIVE at
the midpoint). Each market's midpoint falls by 5 cents `--moves` times, at random phases
against the 30 s check (a fall never fills a SELL), and the script times, from the move, the
venue's cancellation of the old order ("stale order gone") and its placement of the new one
("re-priced"). Without the watch between checks the figure would be the check's phase:
uniform over the 30 s interval.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from quote_staleness import _markets  # noqa: E402
from steered import SteeredVenue  # noqa: E402
from timing import latency_rows, machine, table  # noqa: E402
from venue_events import Recorder  # noqa: E402

WAIT = 60.0
MOVE = Decimal("0.05")
START_MID = Decimal("0.50")
CHECK_SECONDS = 30.0  # the default price check


async def run_mode(channel: bool, n: int, moves: int) -> dict[str, Any]:
    from pydantic import SecretStr
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from dualmm.config import LiquidationConfig, ProcessSettings
    from dualmm.devserver import start_dev_server
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.types import Side, Token
    from dualmm.exchange.clob import ClobExchange
    from dualmm.sim.server import SimServer
    from dualmm.worker import build_worker
    from workflows.contracts import liquidation_workflow_id
    from workflows.liquidation import LiquidationInput, LiquidationWorkflow

    infos = _markets(n)
    steered = SteeredVenue(infos, START_MID, "liq-stale", half_spread=Decimal("0.01"))
    venue, key, address, move = steered.venue, steered.key, steered.address, steered.move
    for info in infos:
        venue.credit(address, info.yes_token_id, Decimal(20))
    recorder = Recorder(address, frozenset({"order"}))
    venue.add_listener(recorder)
    config = LiquidationConfig(skew_start_minutes=Decimal(600), timeout_minutes=Decimal(1200))

    def resting(condition_id: str) -> list[Any]:
        return [
            o
            for o in venue.open_orders(address)
            if o.side is Side.SELL and o.condition_id == condition_id
        ]

    server = start_dev_server()
    sim = SimServer(venue).start()
    settings = ProcessSettings(
        exchange="sim", clob_url=sim.url, private_key=SecretStr(key), market_channel=channel
    )
    exchange = await ClobExchange.connect(settings)
    client = await Client.connect(server.address, data_converter=pydantic_data_converter)
    task_queue = f"liq-stale-{uuid.uuid4().hex[:8]}"
    worker = build_worker(client, task_queue, exchange)
    stale: list[float] = []
    repriced: list[float] = []
    lost = 0
    try:
        async with worker:
            for info in infos:
                await client.start_workflow(
                    LiquidationWorkflow.run,
                    LiquidationInput(
                        market=info,
                        position=PositionTracker.opening(Token.YES, Decimal(20), Decimal("0.05")),
                        config=config,
                        started_at=datetime.now(UTC).replace(microsecond=0),
                    ),
                    id=liquidation_workflow_id(info.condition_id),
                    task_queue=task_queue,
                )
            deadline = time.monotonic() + WAIT
            while not all(resting(m.condition_id) for m in infos):
                assert time.monotonic() < deadline, "the liquidations never placed"
                await asyncio.sleep(0.05)

            async def trial(info: Any, mid: Decimal) -> None:
                nonlocal lost
                old = {o.order_id for o in resting(info.condition_id)}
                t0 = time.monotonic()
                move(info.condition_id, mid)
                gone = placed = None
                while gone is None or placed is None:
                    if time.monotonic() > t0 + WAIT:
                        lost += 1
                        return
                    await asyncio.sleep(0.005)
                    gone_times = [
                        recorder.first(
                            t0, lambda e, i=i: e.type == "CANCELLATION" and e.order.order_id == i
                        )
                        for i in old
                    ]
                    if None not in gone_times:
                        gone = max((t for t in gone_times if t is not None), default=t0)
                    placed = recorder.first(
                        t0,
                        lambda e: (
                            e.type == "PLACEMENT"
                            and e.order.token_id == info.yes_token_id
                            and e.order.price == mid
                        ),
                    )
                stale.append(gone - t0)
                repriced.append(placed - t0)

            async def moves_of(info: Any) -> None:
                mid = START_MID
                for _ in range(moves):
                    await asyncio.sleep(random.uniform(0.5, CHECK_SECONDS / 4))
                    mid -= MOVE
                    await trial(info, mid)

            await asyncio.gather(*(moves_of(info) for info in infos))
            for info in infos:
                await client.get_workflow_handle(
                    liquidation_workflow_id(info.condition_id)
                ).cancel()
            await asyncio.sleep(2)  # the cancelled liquidations take their orders off
    finally:
        await exchange.close()
        sim.stop()
        server.stop()
    return {"stale": stale, "repriced": repriced, "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=5)
    parser.add_argument("--moves", type=int, default=6)
    args = parser.parse_args()
    if args.moves * MOVE >= START_MID:
        parser.error(f"--moves: at most {int(START_MID / MOVE) - 1} falls of {MOVE}")
    print(f"# {machine()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows = []
    for channel in (False, True):
        result = asyncio.run(run_mode(channel, args.markets, args.moves))
        mode = "market channel" if channel else "REST poll (channel off)"
        labels = (("stale", "move -> stale order gone"), ("repriced", "move -> re-priced"))
        rows += latency_rows(mode, result, labels, "ms")
        if result["lost"]:
            print(f"  {mode}: {result['lost']} moves never re-priced", file=sys.stderr)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    print(table(["mode", "latency (ms)", "n", "p50", "p99", "max"], rows, labels=2))


if __name__ == "__main__":
    main()

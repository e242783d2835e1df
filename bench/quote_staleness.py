"""Quote staleness: from the venue moving a market's touch to our quotes off the old price
and resting at the new one, with the market channel and with the REST poll only; and the
requests per minute each quoted market costs the venue.

    .venv/bin/python bench/quote_staleness.py [--markets 20] [--moves 5] [--quiet-seconds 60]

Per mode: the simulator over HTTP in this process (wall clock; markets whose midpoints this
script moves; a 20-cent reward band keeps our bids 10 cents off the midpoint, so a 5-cent
move re-prices them without filling them), one ClobExchange (one worker's adapter: one
market-channel socket, one user-channel socket, the process's rate limits), and one
`make_market` round per market in that process (Temporal's ActivityEnvironment: the round's
code as the worker runs it, without a Temporal server, which is not on this path). The poll
is the default 5 s. First a quiet window (nothing moves) counts the requests the venue
serves per quoted market; then each market's midpoint moves by 5 cents `--moves` times, at
random phases, and the script times, from the move, the venue's cancellation of the last
old quote ("stale quote gone") and its placement of the last new one ("requoted").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from steered import SteeredVenue  # noqa: E402
from timing import latency_rows, machine, table  # noqa: E402
from venue_events import Recorder  # noqa: E402

WAIT = 60.0
MOVE = Decimal("0.05")
INTERVAL_MS = 5_000


class Parent:
    """The parent workflow's handle, as a round signals it (nothing listens here)."""

    def get_workflow_handle(self, workflow_id: str) -> Parent:
        return self

    async def signal(self, name: str, arg: Any) -> None:
        return None


def _markets(n: int) -> list[Any]:
    from dualmm.domain.types import MarketInfo, Token
    from dualmm.scenario import token_id_for

    infos = []
    for i in range(n):
        condition_id = f"0xstale{i:03d}"
        infos.append(
            MarketInfo(
                condition_id=condition_id,
                question=f"staleness bench {i}",
                yes_token_id=token_id_for(condition_id, Token.YES),
                no_token_id=token_id_for(condition_id, Token.NO),
                tick_size=Decimal("0.01"),
                min_order_size=Decimal(5),
                rewards_daily_rate=Decimal(100),
                rewards_max_spread_cents=Decimal(20),
                rewards_min_size=Decimal(10),
            )
        )
    return infos


async def run_mode(channel: bool, n: int, moves: int, quiet: float) -> dict[str, Any]:
    from pydantic import SecretStr
    from temporalio.testing import ActivityEnvironment

    from activities.market_making import MarketMakingActivities, MarketMakingInput
    from dualmm.config import MarketMakerConfig, ProcessSettings
    from dualmm.domain.position import PositionTracker
    from dualmm.domain.quoting import desired_quotes
    from dualmm.domain.types import Side
    from dualmm.exchange.clob import ClobExchange
    from dualmm.sim.server import SimServer

    infos = _markets(n)
    steered = SteeredVenue(infos, Decimal("0.50"), "stale", half_spread=Decimal("0.01"))
    venue, key, address, move = steered.venue, steered.key, steered.address, steered.move
    recorder = Recorder(address, frozenset({"order"}))
    venue.add_listener(recorder)
    config = MarketMakerConfig(
        order_size=Decimal(10), position_limit=Decimal(1000), quote_interval_ms=INTERVAL_MS
    )

    sim = SimServer(venue).start()
    served = [0]
    route = sim._route

    def counted(request: Any) -> Any:
        served[0] += 1
        return route(request)

    sim._route = counted  # type: ignore[method-assign]
    settings = ProcessSettings(
        exchange="sim", clob_url=sim.url, private_key=SecretStr(key), market_channel=channel
    )
    exchange = await ClobExchange.connect(settings)
    activities = MarketMakingActivities(exchange, Parent())  # type: ignore[arg-type]
    rounds = []
    for info in infos:
        request = MarketMakingInput(
            parent_workflow_id="bench",
            market=info,
            config=config,
            position=PositionTracker(),
            cursor=None,
            key_prefix=f"stale-{info.condition_id}",
        )
        rounds.append(
            asyncio.create_task(ActivityEnvironment().run(activities.make_market, request))
        )

    def ours(condition_id: str) -> list[Any]:
        return [
            o
            for o in venue.open_orders(address)
            if o.side is Side.BUY and o.condition_id == condition_id
        ]

    try:
        deadline = time.monotonic() + WAIT
        while sum(len(ours(m.condition_id)) == 2 for m in infos) < n:
            assert time.monotonic() < deadline, "the rounds never quoted"
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * INTERVAL_MS / 1000)  # settled (the channel's first books)
        before = served[0]
        await asyncio.sleep(quiet)
        per_minute = (served[0] - before) / n / (quiet / 60)

        stale: list[float] = []
        requoted: list[float] = []
        lost = 0

        async def trial(info: Any, mid: Decimal) -> None:
            nonlocal lost
            old = {o.order_id for o in ours(info.condition_id)}
            wanted = {
                (info.token_id(q.token), q.price)
                for q in desired_quotes(info, mid, PositionTracker(), config)
            }
            t0 = time.monotonic()
            move(info.condition_id, mid)
            until = t0 + WAIT
            gone = placed = None
            while gone is None or placed is None:
                if time.monotonic() > until:
                    lost += 1
                    return
                await asyncio.sleep(0.005)
                gone_times = [
                    recorder.first(
                        t0,
                        lambda e, i=oid: e.type == "CANCELLATION" and e.order.order_id == i,
                    )
                    for oid in old
                ]
                placed_times = [
                    recorder.first(
                        t0,
                        lambda e, w=w: (
                            e.type == "PLACEMENT" and (e.order.token_id, e.order.price) == w
                        ),
                    )
                    for w in wanted
                ]
                if None not in gone_times:
                    gone = max(t for t in gone_times if t is not None)
                if None not in placed_times:
                    placed = max(t for t in placed_times if t is not None)
            stale.append(gone - t0)
            requoted.append(placed - t0)

        async def moves_of(info: Any) -> None:
            mid = Decimal("0.50")
            for _ in range(moves):
                # A random phase against the round's poll; far enough apart not to overlap.
                await asyncio.sleep(random.uniform(0.2, INTERVAL_MS / 1000 + 1.5))
                mid = mid + MOVE if mid <= Decimal("0.50") else mid - MOVE
                await trial(info, mid)

        await asyncio.gather(*(moves_of(info) for info in infos))
    finally:
        for task in rounds:
            task.cancel()
        await asyncio.gather(*rounds, return_exceptions=True)
        await exchange.close()
        sim.stop()
    return {"stale": stale, "requoted": requoted, "per_minute": per_minute, "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=20)
    parser.add_argument("--moves", type=int, default=5)
    parser.add_argument("--quiet-seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(f"# {machine()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows = []
    for channel in (False, True):
        result = asyncio.run(run_mode(channel, args.markets, args.moves, args.quiet_seconds))
        mode = "market channel" if channel else f"poll {INTERVAL_MS} ms only"
        labels = (("stale", "move -> stale quote gone"), ("requoted", "move -> requoted"))
        for row in latency_rows(mode, result, labels, "ms"):
            rows.append([*row, f"{result['per_minute']:.1f}"])
        if result["lost"]:
            print(f"  {mode}: {result['lost']} moves never requoted", file=sys.stderr)
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    headers = ["mode", "latency (ms)", "n", "p50", "p99", "max", "requests/min/market"]
    print(table(headers, rows, labels=2))


if __name__ == "__main__":
    main()

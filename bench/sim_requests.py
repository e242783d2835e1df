"""What one liquidation check costs the simulator at N live orders (no Temporal).

    .venv/bin/python bench/sim_requests.py --n 50 1000 2000 [--checks 200]

A synthetic venue with N markets (price history from an hour ago, as in bench/capacity.py),
one wallet with a resting SELL of 10 at 0.91 in each market, the simulator over HTTP from
this process, and the worker's own client (ClobExchange, py-clob-client-v2). Then `--checks`
liquidation syncs (heartbeat, order, fills, open orders, the market's listing for a
resolution, book: exactly the sync activity's calls) on random markets, one after another.
Prints per N: the first request (which builds what the venue builds lazily), the mean and p99
of one sync, the simulator process's CPU per sync, and its RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from timing import machine, millis, percentile, table  # noqa: E402


async def measure(n: int, checks: int) -> list[str]:
    from eth_account import Account

    from dualmm.config import ProcessSettings
    from dualmm.domain.types import Side, Token
    from dualmm.exchange.base import PlaceOrder
    from dualmm.exchange.factory import open_exchange
    from dualmm.exchange.sync import sync_market
    from dualmm.sim.server import SimServer
    from dualmm.sim.venue import SimVenue, WallClock

    key = "0x" + bytes(Account.create().key).hex()
    address = Account.from_key(key).address
    now = datetime.now(UTC)
    began = time.perf_counter()
    venue = SimVenue.synthetic(n, 1, WallClock(now), start=now - timedelta(hours=1))
    built = time.perf_counter() - began
    markets = venue.markets()
    for info in markets:
        venue.credit(address, info.token_id(Token.YES), Decimal(10))
    with SimServer(venue) as sim:
        settings = ProcessSettings(exchange="sim", clob_url=sim.url, private_key=key)
        began = time.perf_counter()
        exchange = await open_exchange(settings, "sim")
        first = time.perf_counter() - began
        orders = {}
        for info in markets:
            placed = await exchange.place_order(
                PlaceOrder(
                    key=f"bench-{info.condition_id}",
                    market=info,
                    token_id=info.token_id(Token.YES),
                    side=Side.SELL,
                    price=Decimal("0.91"),
                    size=Decimal(10),
                    signed_at=venue.now(),
                )
            )
            orders[info.condition_id] = placed.order_id
        rng = random.Random(1)
        samples = []
        cpu0 = time.process_time()
        for _ in range(checks):
            info = rng.choice(markets)
            t0 = time.perf_counter()
            await exchange.heartbeat()
            await sync_market(exchange, info, None, orders[info.condition_id], venue.now())
            samples.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / checks  # client and server: both in this process
        close = getattr(exchange, "close", None)
        if close is not None:
            await close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        str(n),
        millis(built),
        millis(first),
        millis(sum(samples) / len(samples)),
        millis(percentile(samples, 99)),
        millis(cpu),
        f"{rss:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 1000, 2000])
    parser.add_argument("--checks", type=int, default=200)
    args = parser.parse_args()
    if len(args.n) > 1:  # one process per N: a clean RSS peak
        import subprocess

        print(f"# {machine()}, load average {os.getloadavg()[0]:.1f}", flush=True)
        rows = []
        for n in args.n:
            out = subprocess.run(
                [sys.executable, __file__, "--n", str(n), "--checks", str(args.checks)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            rows.append(out.stdout.strip().splitlines()[-1].split("\t"))
        headers = ["N", "venue built ms", "connect ms", "sync mean ms", "sync p99 ms",
                   "CPU/sync ms", "RSS MB"]  # fmt: skip
        print(table(headers, rows))
        return
    print("\t".join(asyncio.run(measure(args.n[0], args.checks))))


if __name__ == "__main__":
    main()

"""Switch latency in dual mode: a fill that reaches the position limit, to the first BUY on the
next market and to the liquidation's first SELL: the poll alone, the market channel, and both
channels (the default).

    .venv/bin/python bench/switch_latency.py [--switches 20] [--quote-interval-ms 1000]

Per mode: a fresh dev server (in memory), the simulator over HTTP in this process (wall
clock, markets whose midpoints this script moves), and one `dualmm worker` process
(DUALMM_USER_CHANNEL and DUALMM_MARKET_CHANNEL true or false). The bot runs in dual mode
with order size = position limit = 10, so one filled BUY hands the market over. For each
switch: wait until the bot quotes a market, move its midpoint so that its YES bid fills
(the fill's time is when the venue records the trade), then time the venue's next BUY
placement on another market and the first SELL placement on this one (both as the venue
receives them). The liquidation is then told to exit (its MARKET order sells at the touch)
so that its market is free again for a later round: a move up would race its watch, which
re-prices the SELL to the new midpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from steered import SteeredVenue  # noqa: E402
from timing import latency_rows, machine, table  # noqa: E402
from venue_events import Recorder  # noqa: E402

WAIT = 120.0


def _markets(n: int) -> list[Any]:
    from dualmm.domain.types import MarketInfo, Token
    from dualmm.scenario import token_id_for

    tag = uuid.uuid4().hex[:6]
    infos = []
    for i in range(n):
        condition_id = f"0xswitch{tag}{i:02d}"
        infos.append(
            MarketInfo(
                condition_id=condition_id,
                question=f"switch bench {i}",
                yes_token_id=token_id_for(condition_id, Token.YES),
                no_token_id=token_id_for(condition_id, Token.NO),
                tick_size=Decimal("0.01"),
                min_order_size=Decimal(5),
                rewards_daily_rate=Decimal(1000 - 10 * i),  # a fixed order of preference
                rewards_max_spread_cents=Decimal(3),
                rewards_min_size=Decimal(10),
            )
        )
    return infos


MODES = {  # label: (user channel, market channel)
    "poll only": (False, False),
    "market channel": (False, True),
    "user + market channel": (True, True),
}


def run_mode(
    user_channel: bool, market_channel: bool, switches: int, interval_ms: int
) -> dict[str, list[float]]:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from dualmm.config import LiquidationConfig, MarketMakerConfig, OrchestratorConfig
    from dualmm.devserver import WORKER_COMMAND, start_dev_server, stop_process, worker_env
    from dualmm.domain.types import Side
    from dualmm.runtime import start_or_attach
    from dualmm.sim.server import SimServer
    from workflows.contracts import FORCE_EXIT_SIGNAL, liquidation_workflow_id

    infos = _markets(6)  # a finished liquidation frees its market for a later round
    steered = SteeredVenue(infos, Decimal("0.50"), "switch")
    venue, key, address, move = steered.venue, steered.key, steered.address, steered.move
    infos_by_id = {m.condition_id: m for m in infos}
    recorder = Recorder(address)
    venue.add_listener(recorder)

    def quoted() -> tuple[str, Decimal] | None:
        """The market the bot quotes (both BUYs live) and its YES bid's price."""
        buys: dict[str, list[Any]] = {}
        for order in venue.open_orders(address):
            if order.side is Side.BUY:
                buys.setdefault(order.condition_id, []).append(order)
        for cid, orders in buys.items():
            yes = [o for o in orders if o.token_id == infos_by_id[cid].yes_token_id]
            if len(orders) == 2 and yes:
                return cid, yes[0].price
        return None

    sim = SimServer(venue).start()
    name = f"{'user' if user_channel else 'nouser'}-{'market' if market_channel else 'nomarket'}"
    log = open(f"/tmp/switch-bench-{name}.log", "w")  # noqa: SIM115
    temporal = start_dev_server(new_session=True)
    queue = f"switch-{uuid.uuid4().hex[:6]}"
    env = worker_env(
        sim.url,
        key,
        temporal.address,
        queue,
        DUALMM_USER_CHANNEL=str(user_channel).lower(),
        DUALMM_MARKET_CHANNEL=str(market_channel).lower(),
    )
    worker = subprocess.Popen(
        WORKER_COMMAND,
        env=env,
        stdout=log,
        stderr=log,
        cwd=ROOT,
        start_new_session=True,
    )
    to_buy: list[float] = []
    to_sell: list[float] = []
    skipped = 0
    try:

        async def run() -> None:
            nonlocal skipped
            client = None
            for _ in range(60):
                try:
                    client = await Client.connect(
                        temporal.address, data_converter=pydantic_data_converter
                    )
                    break
                except RuntimeError:
                    await asyncio.sleep(1)
            assert client is not None
            config = OrchestratorConfig(
                bot_id=f"switch-{uuid.uuid4().hex[:6]}",
                dual_market_mode=True,
                rerank=False,
                market_maker=MarketMakerConfig(
                    order_size=Decimal(10),
                    position_limit=Decimal(10),
                    quote_interval_ms=interval_ms,
                ),
                liquidation=LiquidationConfig(price_check_interval_ms=1000),
            )
            await start_or_attach(client, queue, config)
            done = 0
            while done < switches:
                deadline = time.monotonic() + WAIT
                while (found := quoted()) is None:
                    assert time.monotonic() < deadline, "the bot quotes nothing"
                    await asyncio.sleep(0.05)
                # A random phase against the quote loop's poll (its wait starts at any time).
                await asyncio.sleep(random.uniform(0.3, 0.3 + interval_ms / 1000))
                market, bid = found
                since = time.monotonic()
                move(market, bid - Decimal("0.02"))  # the YES ask reaches our bid: it fills
                fill = recorder.first(
                    since, lambda e, m=market: e.kind == "trade" and e.condition_id == m
                )
                if fill is None:  # requoted meanwhile: try again
                    skipped += 1
                    move(market, bid)
                    continue
                done += 1
                i = done - 1
                buy = sell = None
                while buy is None or sell is None:
                    assert time.monotonic() < deadline, f"switch {i}: no hand-over"
                    await asyncio.sleep(0.02)
                    buy = recorder.first(
                        fill,
                        lambda e, m=market: (
                            e.type == "PLACEMENT"
                            and e.order.side is Side.BUY
                            and e.condition_id != m
                        ),
                    )
                    sell = recorder.first(
                        fill,
                        lambda e, m=market: (
                            e.type == "PLACEMENT"
                            and e.order.side is Side.SELL
                            and e.condition_id == m
                        ),
                    )
                to_buy.append(buy - fill)
                to_sell.append(sell - fill)
                print(
                    f"  switch {i + 1}: fill -> BUY {1000 * (buy - fill):.0f} ms, "
                    f"-> SELL {1000 * (sell - fill):.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
                exit_now = client.get_workflow_handle(liquidation_workflow_id(market))
                await exit_now.signal(FORCE_EXIT_SIGNAL)  # its market is free once it sold
                await asyncio.sleep(1.0)

        asyncio.run(run())
    finally:
        stop_process(worker)
        temporal.stop()
        sim.stop()
        log.close()
    print(f"  {skipped} fills missed (requoted first), tried again", file=sys.stderr)
    return {"buy": to_buy, "sell": to_sell}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--quote-interval-ms", type=int, default=1000)
    args = parser.parse_args()
    print(f"# {machine()}, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    rows = []
    for label, (user_channel, market_channel) in MODES.items():
        result = run_mode(user_channel, market_channel, args.switches, args.quote_interval_ms)
        mode = f"poll {args.quote_interval_ms} ms only" if label == "poll only" else label
        labels = (("buy", "fill -> first BUY, next market"), ("sell", "fill -> first SELL"))
        rows += latency_rows(mode, result, labels, "s")
    print(f"# load average {os.getloadavg()[0]:.1f} at the end")
    print(table(["mode", "latency (s)", "n", "p50", "p99", "max"], rows, labels=2))


if __name__ == "__main__":
    main()

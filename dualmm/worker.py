"""`dualmm worker`: one Temporal worker for both workflows and every activity."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dualmm.cliutil import UsageError, hard_exit
from dualmm.runtime import (
    Live,
    build_exchange,
    connect_or_fail,
    exchange_kind,
    run_or_fail,
    settings,
)

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from dualmm.exchange.base import Exchange


def build_worker(client: Client, task_queue: str, exchange: Exchange) -> Worker:
    """One worker for both workflows and every activity, over one exchange."""
    from temporalio.worker import Worker

    from activities.liquidation import LiquidationActivities
    from activities.market_making import MarketMakingActivities
    from workflows.active_market import ActiveMarketWorkflow
    from workflows.liquidation import LiquidationWorkflow

    making = MarketMakingActivities(exchange, client)
    liquidating = LiquidationActivities(exchange)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
        activities=[
            making.pick_market,
            making.make_market,
            making.withdraw_quotes,
            making.running_liquidations,
            liquidating.sync_market,
            liquidating.place_order,
            liquidating.cancel_order,
        ],
    )


async def run_worker(live: bool, trace_file: Path | None, tracing: bool) -> None:
    import logging

    from dualmm.exchange.base import ExchangeError
    from dualmm.telemetry import setup_tracing

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = settings()
    setup_tracing("worker", trace_file, enabled=tracing)
    kind = exchange_kind(config, live)
    try:
        exchange = await build_exchange(config, live)
    except ExchangeError as exc:
        raise UsageError(f"exchange {kind}: {exc}") from None
    client = await connect_or_fail(config)
    worker = build_worker(client, config.task_queue, exchange)
    print(
        f"worker: task queue {config.task_queue!r} on {config.temporal_address} "
        f"(namespace {config.temporal_namespace}), exchange {kind}",
        flush=True,
    )
    # SIGINT (Ctrl-C) and SIGTERM (systemd) shut down gracefully: running market-making
    # rounds keep their quotes for the next worker to adopt.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()
    print("worker: stopped", flush=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        live: Live = False,
        trace_file: Annotated[
            Path | None, typer.Option("--trace-file", help="Write spans here, not stderr.")
        ] = None,
        tracing: Annotated[
            bool, typer.Option("--tracing/--no-tracing", help="Export spans.")
        ] = True,
    ) -> None:
        """Run a Temporal worker for both workflows and all activities (Ctrl-C stops it)."""
        from dualmm.telemetry import flush_tracing

        run_or_fail(run_worker(live, trace_file, tracing))
        flush_tracing()
        hard_exit(0)

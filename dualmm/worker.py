"""One Temporal worker for both workflows and every activity (the command: dualmm.cli.worker)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dualmm.errors import UsageError
from dualmm.process import check_secret_files_private
from dualmm.runtime import connect, settings

if TYPE_CHECKING:
    from temporalio.client import Client
    from temporalio.common import WorkerDeploymentVersion
    from temporalio.worker import Worker

    from dualmm.exchange.base import Exchange

_T = TypeVar("_T")


# On SIGTERM the worker stops polling at once and the quote loop hands its round over
# (activities.attempt); other activities get this long to finish before they are cancelled and
# retried elsewhere (idempotent by key). Kubernetes' termination grace period and systemd's
# TimeoutStopSec leave room for it.
DRAIN = timedelta(seconds=10)
STICKY_TIMEOUT = timedelta(seconds=3)


def build_worker(
    client: Client,
    task_queue: str,
    exchange: Exchange,
    cache: int = 1000,
    version: WorkerDeploymentVersion | None = None,
) -> Worker:
    """One worker for both workflows and every activity, over one exchange; with a `version`,
    a versioned worker of that deployment (docs/versioning.md)."""
    from temporalio.common import VersioningBehavior
    from temporalio.worker import PollerBehaviorAutoscaling, Worker, WorkerDeploymentConfig

    from activities.attempt import HEARTBEAT_THROTTLE
    from activities.liquidation import LiquidationActivities
    from activities.market_making import MarketMakingActivities
    from dualmm.metrics import metered
    from workflows.active_market import ActiveMarketWorkflow
    from workflows.liquidation import LiquidationWorkflow

    exchange = metered(exchange)  # orders, fills, venue errors and latency on the activity meter
    making = MarketMakingActivities(exchange, client)
    liquidating = LiquidationActivities(exchange)
    return Worker(
        client,
        task_queue=task_queue,
        max_cached_workflows=cache,
        # Workflow-task polls scale with the load: a fixed few leave many liquidations' tasks
        # queueing on the server (bench/capacity.py measures it).
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        deployment_config=(
            None
            if version is None
            # Every workflow stays on the version that started it (docs/versioning.md).
            else WorkerDeploymentConfig(
                version=version,
                use_worker_versioning=True,
                default_versioning_behavior=VersioningBehavior.PINNED,
            )
        ),
        # Heartbeats reach the server often enough for a short heartbeat timeout.
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        # A dead worker's cached workflows (the liquidations' checks) go to another worker
        # after this, not the SDK's 10 s; a busy worker merely loses a cache hit.
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        graceful_shutdown_timeout=DRAIN,
        workflows=[ActiveMarketWorkflow, LiquidationWorkflow],
        activities=[
            making.pick_market,
            making.make_market,
            making.withdraw_quotes,
            making.running_liquidations,
            liquidating.sync_position,
            liquidating.wait_for_move,
            liquidating.place_order,
            liquidating.cancel_order,
            liquidating.sign_merge,
            liquidating.merge_pairs,
        ],
    )


def deployment_version(name: str | None, build_id: str | None) -> WorkerDeploymentVersion | None:
    """The worker's deployment version: `name` and `build_id`, by default the package's
    version; None without a name (an unversioned worker)."""
    from importlib.metadata import version

    from temporalio.common import WorkerDeploymentVersion

    if name is None:
        return None
    return WorkerDeploymentVersion(deployment_name=name, build_id=build_id or version("dualmm"))


# Start-up retries: Temporal or the venue may be down (a restart, a deploy, a 429 storm) when
# the worker starts; it waits for them with capped exponential backoff instead of exiting.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0


class Stopped(Exception):
    """A stop (SIGTERM, Ctrl-C) came while the worker was still starting."""


async def _unless_stopped(work: Awaitable[_T], stop: asyncio.Event | None) -> _T:
    """`work`'s result, or Stopped (the work cancelled) as soon as `stop` is set."""
    task = asyncio.ensure_future(work)
    if stop is None:
        return await task
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise Stopped
    return task.result()


async def retry_until_up(
    what: str,
    attempt: Callable[[], Awaitable[_T]],
    retryable: tuple[type[BaseException], ...],
    give_up_at: float | None,
    stop: asyncio.Event | None = None,
) -> _T:
    """`attempt()` until it succeeds; each failure is one log line with the next delay.
    Past `give_up_at` (loop time) the last failure is a UsageError (exit 2); a `stop` set
    meanwhile ends the wait at once (Stopped)."""
    import logging
    import random

    log = logging.getLogger("dualmm.worker")
    loop = asyncio.get_running_loop()
    delay = RETRY_FIRST_SECONDS
    for number in itertools.count(1):
        try:
            return await _unless_stopped(attempt(), stop)
        except retryable as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            if give_up_at is not None and loop.time() + delay > give_up_at:
                raise UsageError(
                    f"{what}: still failing after {number} attempt(s): {reason}"
                ) from None
            log.warning(
                "%s failed (attempt %d): %s; retrying in %.1fs", what, number, reason, delay
            )
            await _unless_stopped(asyncio.sleep(delay * random.uniform(0.8, 1.2)), stop)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
    raise AssertionError("unreachable")


async def run_worker(
    live: bool,
    trace_file: Path | None,
    tracing: bool,
    start_timeout: float | None = None,
    ready_file: Path | None = None,
) -> None:
    import logging

    from dualmm.exchange.base import NonRetryableError, RetryableError
    from dualmm.exchange.factory import open_exchange, trading_mode
    from dualmm.logs import configure
    from dualmm.telemetry import setup_tracing

    configure("worker")
    log = logging.getLogger("dualmm.worker")
    config = settings()
    if live:
        check_secret_files_private()
    try:
        setup_tracing("worker", trace_file, enabled=tracing)
    except OSError as exc:
        raise UsageError(f"--trace-file: cannot write {trace_file}: {exc.strerror}") from None
    kind = trading_mode(config, live=live)
    loop = asyncio.get_running_loop()
    # Blocking SDK calls (placements, cancels, heartbeats) run in threads: size their pool.
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=config.worker_threads, thread_name_prefix="exchange")
    )
    give_up_at = None if start_timeout is None else loop.time() + start_timeout
    # SIGINT (Ctrl-C) and SIGTERM (systemd) shut down gracefully: running market-making
    # rounds keep their quotes for the next worker to adopt.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def venue() -> Exchange:
        try:
            return await open_exchange(config, kind)
        except NonRetryableError as exc:  # e.g. a missing or refused key: waiting won't help
            raise UsageError(f"exchange {kind}: {exc}") from None

    try:
        exchange = await retry_until_up(
            f"exchange {kind} at {config.clob_url}", venue, (RetryableError,), give_up_at, stop
        )
    except Stopped:
        print("worker: stopped", flush=True)
        return
    from dualmm.metrics import runtime_for

    runtime = runtime_for(config, "worker")  # metrics: Prometheus endpoint or OTLP, if set
    try:
        client = await retry_until_up(
            f"Temporal at {config.temporal_address}",
            lambda: connect(config, runtime),
            (RuntimeError,),
            give_up_at,
            stop,
        )
    except Stopped:
        stop.set()  # below: close the exchange and say so
    while not stop.is_set():
        version = deployment_version(config.deployment_name, config.build_id)
        worker = build_worker(
            client, config.task_queue, exchange, cache=config.worker_cache, version=version
        )
        versioned = "" if version is None else f", version {version.to_canonical_string()}"
        running = asyncio.create_task(worker.run())
        stopping = asyncio.create_task(stop.wait())
        _ready(ready_file, True)
        print(
            f"worker: task queue {config.task_queue!r} on {config.temporal_address} "
            f"(namespace {config.temporal_namespace}), exchange {kind}{versioned}",
            flush=True,
        )
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        _ready(ready_file, False)
        if stop.is_set():
            # Polls stop now; the quote loop hands its round to another worker at once, the
            # other activities get DRAIN to finish.
            print("worker: draining", flush=True)
            await worker.shutdown()
            with contextlib.suppress(Exception):
                await running
            break
        stopping.cancel()
        # The worker itself failed (e.g. Temporal gone for longer than its own retries):
        # never exit; wait and start a new one on the same client.
        error = running.exception()
        log.error("worker stopped unexpectedly (%s); starting a new one", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_MAX_SECONDS)
    close = getattr(exchange, "close", None)  # ClobExchange: its connections
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
    print("worker: stopped", flush=True)


def _ready(path: Path | None, ready: bool) -> None:
    """The readiness file (a Kubernetes readinessProbe's): there while the worker polls."""
    if path is None:
        return
    if ready:
        try:
            path.write_text("polling\n")
        except OSError as exc:
            raise UsageError(f"--ready-file: cannot write {path}: {exc.strerror}") from None
    else:
        path.unlink(missing_ok=True)

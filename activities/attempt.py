"""One attempt of the long-running `make_market` activity, as the cluster sees it: how Temporal
learns that its worker died, how a stopping worker hands it over, and how an attempt that
lost its place stops before it can double a quote.

Crash takeover. The attempt heartbeats every PULSE_SECONDS from a task of its own, whatever
the quote loop is doing (a slow venue call is not a dead worker); the worker sends the latest
heartbeat to the server at most every HEARTBEAT_THROTTLE (a worker setting; the SDK's default
would be 0.8 times the timeout). The server gives up on an attempt HEARTBEAT_TIMEOUT after the
last heartbeat it recorded, and HANDOVER_RETRY schedules the next attempt half a second later
on any worker polling the queue. A SIGKILLed worker's round so runs elsewhere at most
HEARTBEAT_TIMEOUT + 0.5 s (and a task dispatch) after the last heartbeat it sent: 3 s keeps
that under 5 s with a second to spare on a loaded machine, and three throttle periods between
a live worker and a false takeover (below). The retry interval does not grow: a round may
outlive many crashes and deploys, and each takeover must stay as quick as the first (an
attempt that failed on its own, not handed over, asks for FAILED_ATTEMPT_RETRY instead).

No false takeover under load. A healthy worker's heartbeats reach the server every second, so
the server's timeout needs its event loop stalled for about two seconds before it fires. If
that happens, the attempt may have lost its place to another one: the pulse notices its own
lateness (a gap over LEASE_SECONDS, the heartbeat timeout less the throttle) and from then on
every check of the lease fails the attempt before it writes to the venue. If the server did
give up on it, its next heartbeat is refused and the SDK cancels it (`not_found`); a
cancellation that is not the workflow's leaves the venue alone, since the quotes now belong to
the next attempt. That attempt adopts one BUY per token and cancels the rest, placements are
idempotent by key, and an unknown BUY is cancelled at every check: a late write of the old
attempt lives one check at most.

Rolling restart. On SIGTERM the worker stops polling and the SDK signals worker shutdown: the
attempt heartbeats its checkpoint and fails at once with a retryable WorkerShutdown error,
leaving its quotes live; the next attempt (on another worker, 0.5 s later) resumes from that
checkpoint and adopts them. Short activities get the worker's drain time to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

PULSE_SECONDS = 0.5
HEARTBEAT_THROTTLE = timedelta(seconds=1)
HEARTBEAT_TIMEOUT = timedelta(seconds=3)
LEASE_SECONDS = (HEARTBEAT_TIMEOUT - HEARTBEAT_THROTTLE).total_seconds()
HANDOVER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=0.5), backoff_coefficient=1.0)
FAILED_ATTEMPT_RETRY = timedelta(seconds=5)
WORKER_SHUTDOWN = "WorkerShutdown"
LEASE_LOST = "LeaseLost"


class Attempt:
    """`async with Attempt(checkpoint)`: heartbeats `checkpoint()` every PULSE_SECONDS (while
    it is None, the previous attempt's details again: a placeholder must never replace them)
    and cancels the activity's task when the worker shuts down (`handing_over` says so)."""

    def __init__(self, checkpoint: Callable[[], object | None]) -> None:
        self._checkpoint = checkpoint
        self._beat_at = time.monotonic()
        self._late = False
        self.handing_over = False
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Attempt:
        main = asyncio.current_task()
        assert main is not None
        self._tasks = [
            asyncio.create_task(self._pulse()),
            asyncio.create_task(self._watch_shutdown(main)),
        ]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def beat(self) -> None:
        """Heartbeat the checkpoint now (and check the lease first: a write may follow)."""
        self.check_lease()
        self._record()

    def check_lease(self) -> None:
        """Fail the attempt if its heartbeats were late enough for another to take over."""
        if self._late or time.monotonic() - self._beat_at > LEASE_SECONDS:
            self._late = True
            raise ApplicationError(
                f"heartbeats were over {LEASE_SECONDS:g}s late: the round may run elsewhere",
                type=LEASE_LOST,
            )

    def hand_over(self) -> ApplicationError:
        """The error that ends the attempt on a worker shutdown: retried at once elsewhere."""
        self._record()
        return ApplicationError(
            "the worker is shutting down: the round moves to another worker",
            type=WORKER_SHUTDOWN,
        )

    def _record(self) -> None:
        checkpoint = self._checkpoint()
        if checkpoint is None:
            activity.heartbeat(*activity.info().heartbeat_details)
        else:
            activity.heartbeat(checkpoint)
        self._beat_at = time.monotonic()

    async def _pulse(self) -> None:
        while True:
            await asyncio.sleep(PULSE_SECONDS)
            if time.monotonic() - self._beat_at > LEASE_SECONDS:
                self._late = True
            self._record()

    async def _watch_shutdown(self, main: asyncio.Task[object]) -> None:
        await activity.wait_for_worker_shutdown()
        self.handing_over = True
        main.cancel()


def cancelled_by_workflow() -> bool:
    """The running activity's cancellation is the workflow's (or an operator's pause or
    reset), not a lost attempt (heartbeat refused, timed out) or a worker shutdown."""
    details = activity.cancellation_details()
    return details is not None and (details.cancel_requested or details.paused or details.reset)

"""Token buckets per CLOB endpoint, shared by every request of the process.

Polymarket documents its limits per endpoint (docs.polymarket.com, api-reference/rate-limits):
a request count per 10 s for reads, and for the trading endpoints a burst per 10 s plus a
sustained count per 10 min; every CLOB request also counts toward the general limit. Going
over is throttled, then refused with 429, so the bot waits for a token instead: a bucket per
window, refilled continuously, that a request (or a batch, costing one token per order) takes
from before it is sent. A 429 still happens if another process shares the account; the
adapter then waits out the venue's Retry-After as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

GENERAL = "CLOB general"
TEN_SECONDS = 10.0
TEN_MINUTES = 600.0

# endpoint -> ((requests, per seconds), ...) as documented.
DOCUMENTED: dict[str, tuple[tuple[int, float], ...]] = {
    GENERAL: ((9_000, TEN_SECONDS),),
    "GET /book": ((1_500, TEN_SECONDS),),
    "GET /midpoint": ((1_500, TEN_SECONDS),),
    "GET /tick-size": ((200, TEN_SECONDS),),
    "GET /neg-risk": ((200, TEN_SECONDS),),
    "GET /prices-history": ((1_000, TEN_SECONDS),),
    "GET /data/orders": ((500, TEN_SECONDS),),
    "GET /data/trades": ((500, TEN_SECONDS),),
    "GET /data/order": ((900, TEN_SECONDS),),
    "GET /balance-allowance": ((200, TEN_SECONDS),),
    "API key": ((100, TEN_SECONDS),),
    "POST /order": ((3_500, TEN_SECONDS), (36_000, TEN_MINUTES)),
    "DELETE /order": ((3_000, TEN_SECONDS), (30_000, TEN_MINUTES)),
    "POST /orders": ((1_000, TEN_SECONDS), (15_000, TEN_MINUTES)),
    "DELETE /orders": ((1_000, TEN_SECONDS), (15_000, TEN_MINUTES)),
    "DELETE /cancel-all": ((250, TEN_SECONDS), (6_000, TEN_MINUTES)),
    "DELETE /cancel-market-orders": ((1_000, TEN_SECONDS), (1_500, TEN_MINUTES)),
}


@dataclass
class TokenBucket:
    """`capacity` tokens at most, refilled at `capacity / per_seconds` a second."""

    capacity: float
    per_seconds: float
    tokens: float = field(init=False)
    at: float = field(init=False, default=float("-inf"))

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds

    def _refill(self, now: float) -> None:
        if self.at != float("-inf"):
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` tokens are there (0: now). A cost above the capacity waits
        for a full bucket: a batch never starves."""
        self._refill(now)
        missing = min(cost, self.capacity) - self.tokens
        return max(0.0, missing / self.rate)

    def take(self, cost: float, now: float) -> None:
        self._refill(now)
        self.tokens -= min(cost, self.capacity)


class RateLimiter:
    """The buckets of every endpoint (DOCUMENTED unless given), taken from in the order
    requests ask (one lock: a request that waits keeps its place)."""

    def __init__(
        self,
        limits: dict[str, tuple[tuple[int, float], ...]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._buckets = {
            endpoint: tuple(TokenBucket(float(n), per) for n, per in windows)
            for endpoint, windows in (limits if limits is not None else DOCUMENTED).items()
        }
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.waited = 0.0  # seconds requests spent waiting for a token, in all

    def buckets(self, endpoint: str) -> tuple[TokenBucket, ...]:
        """The buckets a request to `endpoint` takes from: its own and the general limit."""
        return self._buckets.get(endpoint, ()) + self._buckets.get(GENERAL, ())

    async def acquire(self, endpoint: str, cost: int = 1) -> None:
        """Wait until `endpoint` may be called (`cost` tokens: a batch's orders), then take."""
        buckets = self.buckets(endpoint)
        if not buckets:
            return
        async with self._guard():
            while True:
                now = self._clock()
                wait = max(bucket.wait_for(cost, now) for bucket in buckets)
                if wait <= 0:
                    for bucket in buckets:
                        bucket.take(cost, now)
                    return
                self.waited += wait
                await asyncio.sleep(wait)

    def _guard(self) -> asyncio.Lock:
        """The lock of the running loop (a process may run more than one loop in turn)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock


_process_limiter = RateLimiter()


def process_limiter() -> RateLimiter:
    """The buckets every adapter of this process shares."""
    return _process_limiter

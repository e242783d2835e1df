"""Polymarket's documented CLOB rate limits (docs.polymarket.com, api-reference/rate-limits),
enforced per endpoint with sliding windows: a request over any of its limits is answered 429
`{"error": "Too Many Requests"}` with `Retry-After` (whole seconds until the window frees a
slot) and is not served.

Every request counts against the general limit and its endpoint's; trading endpoints have a
burst (10 s) and a sustained (10 min) limit. Production throttles (delays) before it refuses;
the simulator refuses at once, the harsher of the two, so a client must stay under the limits
(VenueRules.rate_limits; off for the kind venue).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Limit = tuple[int, float]  # (requests, window seconds)

GENERAL: Limit = (9000, 10.0)
_TEN_MIN = 600.0
ENDPOINTS: dict[tuple[str, str], tuple[Limit, ...]] = {
    ("GET", "/ok"): ((100, 10.0),),
    ("GET", "/balance-allowance"): ((200, 10.0),),
    ("GET", "/balance-allowance/update"): ((50, 10.0),),
    ("GET", "/book"): ((1500, 10.0),),
    ("POST", "/books"): ((500, 10.0),),
    ("GET", "/price"): ((1500, 10.0),),
    ("POST", "/prices"): ((500, 10.0),),
    ("GET", "/midpoint"): ((1500, 10.0),),
    ("POST", "/midpoints"): ((500, 10.0),),
    ("GET", "/prices-history"): ((1000, 10.0),),
    ("GET", "/tick-size"): ((200, 10.0),),
    ("GET", "/data/orders"): ((500, 10.0),),
    ("GET", "/data/trades"): ((500, 10.0),),
    ("GET", "/data/order/"): ((900, 10.0),),  # one order by id (a prefix)
    ("GET", "/notifications"): ((125, 10.0),),
    ("POST", "/auth/api-key"): ((100, 10.0),),
    ("GET", "/auth/derive-api-key"): ((100, 10.0),),
    ("GET", "/auth/api-keys"): ((100, 10.0),),
    ("DELETE", "/auth/api-key"): ((100, 10.0),),
    ("POST", "/order"): ((3500, 10.0), (36000, _TEN_MIN)),
    ("DELETE", "/order"): ((3000, 10.0), (30000, _TEN_MIN)),
    ("POST", "/orders"): ((1000, 10.0), (15000, _TEN_MIN)),
    ("DELETE", "/orders"): ((1000, 10.0), (15000, _TEN_MIN)),
    ("DELETE", "/cancel-all"): ((250, 10.0), (6000, _TEN_MIN)),
    ("DELETE", "/cancel-market-orders"): ((1000, 10.0), (1500, _TEN_MIN)),
}


def endpoint_of(method: str, path: str) -> tuple[str, str] | None:
    """The rate-limited endpoint a request belongs to (None: only the general limit)."""
    if (method, path) in ENDPOINTS:
        return method, path
    if method == "GET" and path.startswith("/data/order/"):
        return "GET", "/data/order/"
    return None


class _Window:
    """A sliding window: the times of the requests it counted."""

    def __init__(self, limit: Limit) -> None:
        self.requests, self.seconds = limit
        self.times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until this window has room (0: it has)."""
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) < self.requests:
            return 0.0
        return self.times[0] + self.seconds - now


class RateLimiter:
    """The documented limits over one server (every client shares them, as on one IP)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._general = _Window(GENERAL)
        # The API-key endpoints share one limit ("API key endpoints" in the docs).
        keys = [_Window(limit) for limit in ENDPOINTS["POST", "/auth/api-key"]]
        self._windows = {
            key: keys if key[1].startswith("/auth/") else [_Window(limit) for limit in limits]
            for key, limits in ENDPOINTS.items()
        }

    def admit(self, method: str, path: str) -> int | None:
        """Count the request if every limit has room; else the Retry-After seconds."""
        key = endpoint_of(method, path)
        with self._lock:
            now = self._clock()
            windows = [self._general, *(self._windows[key] if key is not None else [])]
            wait = max(window.wait(now) for window in windows)
            if wait > 0:
                return max(1, math.ceil(wait))
            for window in windows:
                window.times.append(now)
            return None

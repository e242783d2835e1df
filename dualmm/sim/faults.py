"""Injected faults and the matching engine's restarts (see dualmm.sim.server).

Faults: latency, 500s, 429s with `Retry-After`, and "accept then time out". Restarts, as
Polymarket documents them: while the engine restarts every order endpoint answers 425; for
`post_only_seconds` afterwards new orders must be post-only (cancels still work), others get
503 `{"error": "post_only_mode", "retry_after_seconds": n}`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from dualmm.config import Flag

# Paths the engine serves: down during a restart.
ORDER_PATHS = ("/order", "/orders", "/cancel-all", "/cancel-market-orders", "/data/order")
POST_ONLY_MODE = "post_only_mode"


class Faults(BaseModel):
    """Injected faults; rates are probabilities per request (not money, so float). Each field
    with a Flag is a `dualmm sim-server` option."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: Annotated[int, Flag("--latency-ms", "Added latency.")] = Field(0, ge=0, le=60_000)
    error_rate: Annotated[float, Flag("--error-rate", "Share of 500 answers.")] = Field(
        0.0, ge=0.0, le=1.0
    )
    rate_limit_rate: Annotated[float, Flag("--rate-limit-rate", "Share of 429 answers.")] = Field(
        0.0, ge=0.0, le=1.0
    )
    accept_timeout_rate: Annotated[
        float,
        Flag("--accept-timeout-rate", "Share of accepted orders whose answer never arrives."),
    ] = Field(0.0, ge=0.0, le=1.0)
    accept_timeout_hang_s: Annotated[
        float, Flag("--accept-timeout-hang", "Seconds to hold such an answer; 0 drops it.")
    ] = Field(0.0, ge=0.0, le=600.0)
    retry_after_s: int = Field(1, ge=0, le=3600)  # the Retry-After of a 429
    # Scheduled engine restarts (real seconds; 0: none), each down, then post-only, this long.
    restart_every_s: Annotated[
        float,
        Flag(
            "--restart-every",
            "Restart the matching engine every this many seconds (0: never): 425s for "
            "--restart-down s, then --restart-post-only s of post-only mode.",
        ),
    ] = Field(0.0, ge=0.0, le=7 * 86400.0)
    restart_down_s: Annotated[float, Flag("--restart-down", "Seconds a restart answers 425.")] = (
        Field(90.0, ge=0.0, le=3600.0)
    )
    restart_post_only_s: Annotated[
        float, Flag("--restart-post-only", "Seconds after a restart of post-only mode.")
    ] = Field(120.0, ge=0.0, le=3600.0)
    seed: int = 0


@dataclass(frozen=True)
class Restart:
    """One engine restart, in real (monotonic) seconds like the venue's own: down until
    `down_until`, post-only until `post_only_until`. Real time, not the venue's clock: a demo
    venue runs its prices faster, but a restart lasts as long as it lasts."""

    down_until: float
    post_only_until: float

    @classmethod
    def at(cls, now: float, down_seconds: float, post_only_seconds: float) -> Restart:
        return cls(now + down_seconds, now + down_seconds + post_only_seconds)

    def refusal(self, now: float, method: str, path: str, body: str) -> tuple[int, Any] | None:
        """The answer the engine gives instead of serving this request now, if any."""
        if not path.startswith(ORDER_PATHS) or now >= self.post_only_until:
            return None
        if now < self.down_until:
            return 425, {"error": "the matching engine is restarting, try again shortly"}
        if method == "POST" and path in ("/order", "/orders") and not _all_post_only(body):
            wait = math.ceil(self.post_only_until - now)
            return 503, {"error": POST_ONLY_MODE, "retry_after_seconds": wait}
        return None


def _all_post_only(body: str) -> bool:
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return True  # not an order at all: the endpoint refuses it itself
    items = payload if isinstance(payload, list) else [payload]
    return all(isinstance(item, dict) and item.get("postOnly") is True for item in items)

"""Injected faults: latency, 500s, 429s, and "accept then time out" (see dualmm.sim.server)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Faults(BaseModel):
    """Injected faults; rates are probabilities per request (not money, so float)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: int = Field(0, ge=0, le=60_000)
    error_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    accept_timeout_rate: float = Field(0.0, ge=0, le=1)
    accept_timeout_hang_s: float = Field(0.0, ge=0, le=600)  # 0: drop the connection
    seed: int = 0

"""Scenario files: market paths (and optional starting positions) for the replay and the sim.

Format (docs/design.md, "Scenario files"): between path points the midpoint holds its last value.
`competition` (optional, read by `dualmm backtest`): other makers' resting size inside the reward
band, `[[distance_cents, size], ...]` on each side of the YES book, moving with the midpoint;
`[]` means none, and an absent field means the calibrated competition for the market's pool
(`dualmm.synthetic.competition.calibrated_levels`).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator, model_validator

from dualmm import jsonio
from dualmm.config import MAX_SHARES, MAX_USDC, describe_validation_error
from dualmm.domain.prices import check_tick
from dualmm.domain.types import Frozen, MarketInfo, Token


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says what is wrong."""


# Bounds: a scenario is simulated minute by minute and its times become datetimes.
MAX_PATH_SECONDS = 10 * 365 * 24 * 3600
MAX_PATH_POINTS = 1_000_000
MAX_MARKETS = 10_000
FIRST_YEAR, LAST_YEAR = 2000, 2100


class ScenarioPosition(Frozen):
    held: Token
    qty: Decimal = Field(gt=0, le=MAX_SHARES)
    avg_cost: Decimal = Field(gt=0, lt=1)


class ScenarioMarket(Frozen):
    condition_id: str = Field(min_length=1, max_length=200)
    question: str = Field("", max_length=2_000)
    tick_size: Decimal
    min_order_size: Decimal = Field(gt=0, le=MAX_SHARES)
    rewards_daily_rate: Decimal = Field(Decimal(0), ge=0, le=MAX_USDC)
    rewards_max_spread_cents: Decimal = Field(Decimal(0), ge=0, le=100)
    rewards_min_size: Decimal = Field(Decimal(0), ge=0, le=MAX_SHARES)
    path: tuple[tuple[int, Decimal], ...] = Field(min_length=1, max_length=MAX_PATH_POINTS)
    position: ScenarioPosition | None = None
    competition: tuple[tuple[Decimal, Decimal], ...] | None = None
    fixed_future: ClassVar[bool] = True  # a frozen path (see dualmm.sim.market.MidProcess)

    @field_validator("competition")
    @classmethod
    def _competition(
        cls, levels: tuple[tuple[Decimal, Decimal], ...] | None
    ) -> tuple[tuple[Decimal, Decimal], ...] | None:
        for distance, size in levels or ():
            if distance < 0 or size <= 0:
                raise ValueError(
                    f"competition: [{distance}, {size}] needs a distance >= 0 cents and a size > 0"
                )
        return levels

    @field_validator("tick_size")
    @classmethod
    def _tick(cls, tick: Decimal) -> Decimal:
        return check_tick(tick)

    @model_validator(mode="after")
    def _path(self) -> ScenarioMarket:
        previous = -1
        for seconds, mid in self.path:
            if seconds < 0:
                raise ValueError(f"path: negative time {seconds}")
            if seconds > MAX_PATH_SECONDS:
                raise ValueError(f"path: time {seconds}s is beyond {MAX_PATH_SECONDS}s (10 years)")
            if seconds <= previous:
                raise ValueError(f"path: times must be strictly increasing (at {seconds}s)")
            if not Decimal(0) < mid < Decimal(1):
                raise ValueError(f"path: midpoint {mid} at {seconds}s is outside (0, 1)")
            previous = seconds
        if self.path[0][0] != 0:
            raise ValueError("path: the first point must be at 0 seconds")
        return self

    @property
    def end_seconds(self) -> int:
        return self.path[-1][0]

    def mid_at(self, seconds: float) -> Decimal:
        """The midpoint `seconds` after the start: the last point at or before that time."""
        index = bisect_right([t for t, _ in self.path], seconds) - 1
        return self.path[max(index, 0)][1]

    def change_times(self, after: float, until: float) -> list[int]:
        """Path times t with after < t <= until (the moments the midpoint may move)."""
        return [t for t, _ in self.path if after < t <= until]

    def info(self) -> MarketInfo:
        return MarketInfo(
            condition_id=self.condition_id,
            question=self.question,
            yes_token_id=token_id_for(self.condition_id, Token.YES),
            no_token_id=token_id_for(self.condition_id, Token.NO),
            tick_size=self.tick_size,
            min_order_size=self.min_order_size,
            rewards_daily_rate=self.rewards_daily_rate,
            rewards_max_spread_cents=self.rewards_max_spread_cents,
            rewards_min_size=self.rewards_min_size,
        )


class Scenario(Frozen):
    model_config = Frozen.model_config | {"extra": "ignore"}

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    start: datetime
    markets: tuple[ScenarioMarket, ...] = Field(min_length=1, max_length=MAX_MARKETS)
    expect: dict[str, Any] = Field(default_factory=dict)

    @field_validator("start")
    @classmethod
    def _aware(cls, start: datetime) -> datetime:
        if start.tzinfo is None:
            raise ValueError("start must carry a timezone (e.g. 2026-01-21T12:00:00Z)")
        if not FIRST_YEAR <= start.year < LAST_YEAR:
            raise ValueError(f"start: year {start.year} is outside {FIRST_YEAR}-{LAST_YEAR - 1}")
        return start

    @field_validator("markets")
    @classmethod
    def _unique_ids(cls, markets: tuple[ScenarioMarket, ...]) -> tuple[ScenarioMarket, ...]:
        # The venue and the replay look markets up by condition id.
        seen: set[str] = set()
        for market in markets:
            if market.condition_id in seen:
                raise ValueError(f"condition_id {market.condition_id} appears twice")
            seen.add(market.condition_id)
        return markets

    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def market(self, condition_id: str) -> ScenarioMarket:
        for market in self.markets:
            if market.condition_id == condition_id:
                return market
        raise KeyError(condition_id)


def token_id_for(condition_id: str, token: Token) -> str:
    """A stable decimal token id, shaped like Polymarket's (uint256 as a decimal string)."""
    digest = hashlib.sha256(f"{condition_id}:{token.value}".encode()).digest()
    return str(int.from_bytes(digest, "big"))


def parse_scenario(data: object, source: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario is a JSON object, not {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {describe_validation_error(exc)}") from None


def load_scenario(path: Path) -> Scenario:
    try:
        data = jsonio.loads(jsonio.read_file(path))
    except jsonio.JsonInputError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse_scenario(data, str(path))

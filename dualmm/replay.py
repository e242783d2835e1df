"""`dualmm replay`: liquidations of a scenario in simulated time, without Temporal.

The replay drives the liquidation algorithm (dualmm.liquidator) with a port on the in-process
simulator over the scenario's paths, its clock moved from check to check; it gives up on a
liquidation at `replay_horizon` ("open"). `replay --temporal` drives the same algorithm
through the real LiquidationWorkflow (dualmm.temporal_replay).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState, elapsed_seconds
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, Frozen, MarketInfo
from dualmm.exchange.base import Exchange, NonRetryableError, Order, PlaceOrder
from dualmm.exchange.sync import PositionSync, sync_position
from dualmm.liquidator import CheckFailed, Liquidation, LiquidationResult, PlacedOrder
from dualmm.scenario import Scenario, ScenarioMarket
from workflows.contracts import liquidation_workflow_id

if TYPE_CHECKING:
    from dualmm.sim.venue import SimVenue

# How long after the later of the path's end and the timeout a replay keeps going.
HORIZON_MARGIN = timedelta(minutes=10)


class ReplayResult(Frozen):
    markets: tuple[LiquidationResult, ...]

    def to_json(self) -> str:
        return json.dumps({"markets": [market_report(r) for r in self.markets]}, indent=2)


def market_report(result: LiquidationResult) -> dict[str, object]:
    """The replay's report of one liquidation: times in whole seconds from its start."""

    def seconds(at: datetime) -> int:
        return elapsed_seconds(result.started_at, at)

    def points(rows: Sequence[PlacedOrder | Fill]) -> list[dict[str, object]]:
        return [
            {"at_seconds": seconds(r.at), "price": str(r.price), "size": str(r.size)} for r in rows
        ]

    exit_at = result.exit_at
    return {
        "condition_id": result.condition_id,
        "status": result.status,
        "exit_stage": None if exit_at is None else result.exit_stage.value,
        "exit_seconds": None if exit_at is None else seconds(exit_at),
        "realized_pnl": str(result.realized_pnl),
        "remaining_qty": str(result.remaining_qty),
        "stages": [{"stage": c.stage.value, "at_seconds": seconds(c.at)} for c in result.stages],
        "orders": points(result.orders),
        "fills": points(result.fills),
    }


def replay_horizon(
    scenario: Scenario, market: ScenarioMarket, config: LiquidationConfig
) -> datetime:
    """When a replay gives up on a liquidation that has not finished ("open")."""
    timeout_seconds = int(config.timeout_minutes * 60)
    return scenario.at(max(market.end_seconds, timeout_seconds)) + HORIZON_MARGIN


def opening_position(market: ScenarioMarket) -> PositionTracker:
    assert market.position is not None
    held = market.position
    return PositionTracker.opening(held.held, held.qty, held.avg_cost)


class SimulatedPort:
    """The liquidation's port on a simulated venue: its clock is moved by hand from check to
    check, and time is up after `horizon`. Venue refusals retrying cannot fix are a
    CheckFailed, as the workflow's activities make them."""

    def __init__(
        self, venue: SimVenue, exchange: Exchange, market: MarketInfo, horizon: datetime
    ) -> None:
        self._venue = venue
        self._exchange = exchange
        self._market = market
        self._horizon = horizon

    async def sleep_until(self, at: datetime) -> datetime | None:
        if at > self._horizon:
            return None
        self._venue.advance_to(at)
        return at

    async def sync(
        self,
        cursor: str | None,
        resting_order_id: str | None,
        at: datetime,
        position: PositionTracker,
        fills: tuple[Fill, ...],
        order_ids: tuple[str, ...],
    ) -> PositionSync:
        async with _check_failed():
            return await sync_position(
                self._exchange,
                self._market,
                cursor,
                resting_order_id,
                at,
                position,
                fills,
                order_ids,
            )

    async def place(self, order: PlaceOrder) -> Order:
        async with _check_failed():
            return await self._exchange.place_order(order)

    async def cancel(self, order_id: str) -> None:
        async with _check_failed():
            await self._exchange.cancel_order(order_id)

    async def merge(self, qty: Decimal, key: str) -> Decimal:
        async with _check_failed():
            return (await self._exchange.merge(self._market, qty, key)).qty

    async def escalated(self, state: LiquidationState, reason: str, at: datetime) -> None:
        pass


@asynccontextmanager
async def _check_failed() -> AsyncIterator[None]:
    try:
        yield
    except NonRetryableError as exc:
        raise CheckFailed(str(exc)) from None


async def replay_market(
    venue: SimVenue,
    exchange: Exchange,
    market: MarketInfo,
    position: PositionTracker,
    config: LiquidationConfig,
    start: datetime,
    horizon: datetime,
) -> LiquidationResult:
    """One liquidation through the shared algorithm on `venue`, from `start` to `horizon`."""
    liquidation = Liquidation(
        SimulatedPort(venue, exchange, market, horizon),
        market,
        position,
        config,
        LiquidationState.start(market.condition_id, start),
        merge_id=liquidation_workflow_id(market.condition_id),
    )
    return await liquidation.run(start)


REPLAY_WALLET = "0x000000000000000000000000000000000000dEaD"


async def run_replay(scenario: Scenario, config: LiquidationConfig) -> ReplayResult:
    """Replay every market of the scenario that starts with a position, each on its own venue."""
    from dualmm.sim.exchange import SimExchange
    from dualmm.sim.venue import SimVenue

    results = []
    for market in scenario.markets:
        if market.position is None:
            continue
        venue = SimVenue.from_scenario(scenario)
        venue.ensure_wallet(REPLAY_WALLET)
        info = market.info()
        venue.credit(REPLAY_WALLET, info.token_id(market.position.held), market.position.qty)
        results.append(
            await replay_market(
                venue,
                SimExchange(venue, REPLAY_WALLET),
                info,
                opening_position(market),
                config,
                scenario.start,
                replay_horizon(scenario, market, config),
            )
        )
    return ReplayResult(markets=tuple(results))


def render_timeline(scenario: Scenario, result: ReplayResult) -> str:
    """A readable per-market timeline of stages, orders and fills."""

    def clock(seconds: int) -> str:
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def at(moment: datetime) -> int:
        return elapsed_seconds(replay.started_at, moment)

    lines = [f"scenario {scenario.name}: {len(result.markets)} liquidation(s)"]
    for replay in result.markets:
        lines.append("")
        lines.append(f"market {replay.condition_id}")
        events: list[tuple[int, int, str]] = []
        events += [(at(c.at), 0, f"stage  {c.stage.value}") for c in replay.stages]
        events += [(at(o.at), 1, f"order  SELL {o.size} @ {o.price}") for o in replay.orders]
        events += [(at(f.at), 2, f"fill   {f.size} @ {f.price}") for f in replay.fills]
        for seconds, _, text in sorted(events):
            lines.append(f"  {clock(seconds)}  {text}")
        exit_at = replay.exit_at
        outcome = (
            f"{replay.status} in {replay.exit_stage.value} after {clock(at(exit_at))}"
            if exit_at is not None
            else f"{replay.status}: {replay.remaining_qty} still held"
        )
        if replay.status == "dust":
            outcome += f" ({replay.remaining_qty} left, below the minimum order size)"
        if replay.resolution is not None:
            outcome += f" ({replay.reason})"
        lines.append(f"  => {outcome}, realized P&L {replay.realized_pnl:.2f} USDC")
    return "\n".join(lines)

"""`dualmm replay`: liquidations of a scenario in simulated time, without Temporal.

The replay runs the same loop as LiquidationWorkflow around the domain's `step`, against the
in-process simulator on the scenario's paths, so `replay --temporal` must print the same thing:
it builds its report with `market_replay` and stops an unfinished liquidation at
`replay_horizon`, exactly as here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from dualmm.cliutil import (
    LiqBlockLosing,
    LiqCheckInterval,
    LiqProfitMargin,
    LiqSkewMax,
    LiqSkewRate,
    LiqSkewStart,
    LiqStopLoss,
    LiqStopLossThreshold,
    LiqTimeout,
    UsageError,
    hard_exit,
    liquidation_config,
)
from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState, RestingOrder, elapsed_seconds, step
from dualmm.domain.position import PositionTracker, unsettled_trades
from dualmm.domain.types import Fill, Frozen, MarketInfo, Stage
from dualmm.exchange.base import Exchange, OrderStatus, PlaceOrder
from dualmm.exchange.sync import still_resting, sync_position
from dualmm.scenario import Scenario, ScenarioError, ScenarioMarket, load_scenario

if TYPE_CHECKING:
    from dualmm.sim.venue import SimVenue

# How long after the later of the path's end and the timeout a replay keeps going.
HORIZON_MARGIN = timedelta(minutes=10)

ReplayStatus = Literal["closed", "dust", "open"]


class StagePoint(Frozen):
    stage: Stage
    at_seconds: int


class OrderPoint(Frozen):
    at_seconds: int
    price: Decimal
    size: Decimal


class FillPoint(Frozen):
    at_seconds: int
    price: Decimal
    size: Decimal


class MarketReplay(Frozen):
    condition_id: str
    status: ReplayStatus
    exit_stage: Stage | None
    exit_seconds: int | None
    realized_pnl: Decimal
    remaining_qty: Decimal
    stages: tuple[StagePoint, ...]
    orders: tuple[OrderPoint, ...]
    fills: tuple[FillPoint, ...]


class ReplayResult(Frozen):
    markets: tuple[MarketReplay, ...]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)


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


def market_replay(
    *,
    start: datetime,
    condition_id: str,
    status: ReplayStatus,
    state: LiquidationState,
    position: PositionTracker,
    orders: list[tuple[datetime, Decimal, Decimal]],
    fills: Sequence[Fill],
    finished_at: datetime | None,
) -> MarketReplay:
    """The replay's report of one liquidation, from what the loop (or the workflow) recorded."""

    def seconds(at: datetime) -> int:
        return elapsed_seconds(start, at)

    exit_at = fills[-1].at if fills and status == "closed" else finished_at
    return MarketReplay(
        condition_id=condition_id,
        status=status,
        exit_stage=state.stage if status != "open" else None,
        exit_seconds=seconds(exit_at) if exit_at is not None and status != "open" else None,
        realized_pnl=position.realized_pnl,
        remaining_qty=position.held_qty,
        stages=tuple(StagePoint(stage=c.stage, at_seconds=seconds(c.at)) for c in state.history),
        orders=tuple(OrderPoint(at_seconds=seconds(at), price=p, size=s) for at, p, s in orders),
        fills=tuple(FillPoint(at_seconds=seconds(f.at), price=f.price, size=f.size) for f in fills),
    )


async def replay_market(
    venue: SimVenue,
    exchange: Exchange,
    market: MarketInfo,
    position: PositionTracker,
    config: LiquidationConfig,
    start: datetime,
    horizon: datetime,
) -> MarketReplay:
    """One liquidation through the shared loop, the clock moved by hand from check to check."""
    state = LiquidationState.start(market.condition_id, start)
    resting: RestingOrder | None = None
    cursor: str | None = None
    orders: list[tuple[datetime, Decimal, Decimal]] = []
    placed_ids: set[str] = set()
    fills: tuple[Fill, ...] = ()
    status: ReplayStatus = "open"
    finished_at: datetime | None = None
    now = start
    while now <= horizon:
        venue.advance_to(now)
        synced = await sync_position(
            exchange,
            market,
            cursor,
            resting.order_id if resting else None,
            now,
            position,
            fills,
            placed_ids,
        )
        cursor, position, fills = synced.cursor, synced.position, synced.fills
        if resting is not None:
            remaining = synced.resting_remaining
            resting = None if remaining is None else resting.model_copy(update={"size": remaining})
        plan = step(
            state,
            position,
            resting,
            synced.snapshot,
            now,
            config,
            unsettled_trades(position, fills, now),
        )
        state = plan.state
        if plan.finished:
            if plan.cancel:
                await exchange.cancel_order(plan.cancel)
            status, finished_at = ("dust" if plan.decision.dust else "closed"), now
            break
        if plan.cancel:
            await exchange.cancel_order(plan.cancel)
            resting = None
        matched_at_once = False
        if plan.place is not None and plan.place_key is not None:
            placed = await exchange.place_order(
                PlaceOrder(
                    key=plan.place_key,
                    market=market,
                    token_id=market.token_id(plan.place.token),
                    side=plan.place.side,
                    price=plan.place.price,
                    size=plan.place.size,
                )
            )
            orders.append((now, plan.place.price, plan.place.size))
            placed_ids.add(placed.order_id)
            matched_at_once = placed.status is OrderStatus.MATCHED
            resting = (
                RestingOrder(
                    order_id=placed.order_id,
                    token=plan.place.token,
                    price=placed.price,
                    size=placed.remaining,
                )
                if still_resting(placed)
                else None
            )
        if not matched_at_once:
            now = plan.wake_at
    return market_replay(
        start=start,
        condition_id=market.condition_id,
        status=status,
        state=state,
        position=position,
        orders=orders,
        fills=fills,
        finished_at=finished_at,
    )


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

    lines = [f"scenario {scenario.name}: {len(result.markets)} liquidation(s)"]
    for replay in result.markets:
        lines.append("")
        lines.append(f"market {replay.condition_id}")
        events: list[tuple[int, int, str]] = []
        events += [(p.at_seconds, 0, f"stage  {p.stage.value}") for p in replay.stages]
        events += [(o.at_seconds, 1, f"order  SELL {o.size} @ {o.price}") for o in replay.orders]
        events += [(f.at_seconds, 2, f"fill   {f.size} @ {f.price}") for f in replay.fills]
        for seconds, _, text in sorted(events):
            lines.append(f"  {clock(seconds)}  {text}")
        outcome = (
            f"{replay.status} in {replay.exit_stage.value} after {clock(replay.exit_seconds)}"
            if replay.exit_stage is not None and replay.exit_seconds is not None
            else f"{replay.status}: {replay.remaining_qty} still held"
        )
        if replay.status == "dust":
            outcome += f" ({replay.remaining_qty} left, below the minimum order size)"
        lines.append(f"  => {outcome}, realized P&L {replay.realized_pnl:.2f} USDC")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command()
    def replay(
        scenario_file: Annotated[Path, typer.Argument(help="Scenario JSON file.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        temporal: Annotated[
            bool,
            typer.Option(
                "--temporal",
                help="Run the real LiquidationWorkflow on Temporal's time-skipping server.",
            ),
        ] = False,
        profit_margin: LiqProfitMargin = None,
        skew_start: LiqSkewStart = None,
        skew_rate: LiqSkewRate = None,
        skew_max: LiqSkewMax = None,
        stop_loss_threshold: LiqStopLossThreshold = None,
        stop_loss: LiqStopLoss = True,
        timeout: LiqTimeout = None,
        check_interval: LiqCheckInterval = None,
        block_losing: LiqBlockLosing = True,
    ) -> None:
        """Replay the liquidation of every market in a scenario that starts with a position."""
        config = liquidation_config(
            profit_margin=profit_margin,
            skew_start=skew_start,
            skew_rate=skew_rate,
            skew_max=skew_max,
            stop_loss_threshold=stop_loss_threshold,
            stop_loss=stop_loss,
            timeout=timeout,
            check_interval=check_interval,
            block_losing=block_losing,
        )
        try:
            scenario = load_scenario(scenario_file)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        if temporal:
            from dualmm.temporal_replay import run_temporal_replay

            result = asyncio.run(run_temporal_replay(scenario, config))
        else:
            result = asyncio.run(run_replay(scenario, config))
        print(result.to_json() if as_json else render_timeline(scenario, result))
        if temporal:
            hard_exit(0)  # the Temporal runtime can abort at interpreter exit (sdk-python #300)

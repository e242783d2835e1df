"""The bot's rotation (`dualmm.domain.rotation`) decides the same whichever driver carries it
out: the ActiveMarketWorkflow (its real `pick_market` activity over scripted rankings, on the
time-skipping server) and the backtest's `run_mode`. Both see the same rankings in the same
order and must quote the same markets in the same order: the same picks, switches and stays.

What makes a driver rank again is `rotation.rerank_due` (tested in test_rotation): here the
backtest re-ranks every minute, and the workflow each time a liquidation reports that it
finished (the test sends that signal: a running round keeps the time-skipping server's clock
at real time, so a minute's timer would take a minute)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from backtest_cases import START, market
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import activities.market_making as market_making
from activities.market_making import (
    Checkpoint,
    MarketMakingActivities,
    MarketMakingInput,
    MarketMakingResult,
    Outcome,
    PickMarketInput,
    RunningLiquidation,
)
from dualmm.backtest import engine
from dualmm.backtest.inputs import from_scenario
from dualmm.config import MarketMakerConfig, OrchestratorConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.rewards import MarketEstimate
from dualmm.domain.types import MarketInfo, Stage
from dualmm.liquidator import LiquidationResult
from dualmm.scenario import parse_scenario
from workflows.active_market import ActiveMarketInput, ActiveMarketWorkflow
from workflows.contracts import FINISHED_SIGNAL

FLAT = [[0, "0.50"], [3600, "0.50"]]  # nothing fills: only the rankings move the bot
MARKETS = ("0xa", "0xb", "0xc")
# One ranking a minute (earnings per USDC of each market); the bot moves only to a market
# earning over 1.2 times the active one's (the default switch margin).
RANKINGS = [
    {"0xa": "3", "0xb": "2", "0xc": "1"},  # pick A
    {"0xa": "3", "0xb": "3.5", "0xc": "1"},  # B within the margin: stay on A
    {"0xa": "3", "0xb": "4", "0xc": "1"},  # B past it: switch to B
    {"0xa": "4.5", "0xb": "4", "0xc": "1"},  # A back within the margin: stay on B
    {"0xa": "1", "0xb": "2", "0xc": "5"},  # C: switch
    {"0xa": "1", "0xb": "2", "0xc": "5"},  # stay
    {"0xa": "7", "0xb": "2", "0xc": "5"},  # A: switch
]
CONFIG = MarketMakerConfig(order_size=Decimal(50), position_limit=Decimal(100))


def orchestrator(rerank_minutes: int) -> OrchestratorConfig:
    return OrchestratorConfig(
        bot_id=f"rot-{uuid.uuid4().hex[:8]}",
        market_maker=CONFIG,
        rerank=True,
        rerank_minutes=rerank_minutes,
    )


def infos() -> dict[str, MarketInfo]:
    data = from_scenario(parse_scenario(scenario()))
    return {m.condition_id: m.info for m in data.markets}


def scenario() -> dict[str, Any]:
    return {
        "name": "rotation",
        "start": START,
        "markets": [market(cid[2:], FLAT) for cid in MARKETS],
    }


class Script:
    """The rankings, handed out in order (the last one again once they run out)."""

    def __init__(self) -> None:
        self.info = infos()
        self.count = 0

    def next(self, exclude: set[str]) -> list[MarketEstimate]:
        ranking = RANKINGS[min(self.count, len(RANKINGS) - 1)]
        self.count += 1
        estimates = [
            MarketEstimate(
                market=self.info[cid],
                yes_mid=Decimal("0.5"),
                quotes=(),
                q_ours=Decimal(1),
                q_competitors=Decimal(1),
                daily_earnings=Decimal(earns),
                capital=Decimal(1),
                earnings_per_usdc=Decimal(earns),
            )
            for cid, earns in ranking.items()
            if cid not in exclude
        ]
        return sorted(estimates, key=lambda e: e.earnings_per_usdc, reverse=True)


def rounds_of(markets: list[str]) -> list[str]:
    """Consecutive repeats collapsed: the markets in the order they were quoted."""
    return [m for i, m in enumerate(markets) if i == 0 or markets[i - 1] != m]


def backtest_rounds(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The markets `run_mode` quotes over len(RANKINGS) minutes, one ranking a minute: in
    the order it quoted them, and the one it quotes after each ranking."""
    script = Script()
    ranked_at: list[int] = []

    def scripted_rank(_markets: Any, exclude: set[str], _until: int, t: int, *_: Any) -> Any:
        ranked_at.append(t)
        return script.next(exclude)

    monkeypatch.setattr(engine, "_rank", scripted_rank)
    looks: list[tuple[int, str]] = []
    requote = engine._requote

    def recording(active: engine.BacktestRound, t: int, *args: Any) -> bool:
        looks.append((t, active.market.condition_id))
        return requote(active, t, *args)

    monkeypatch.setattr(engine, "_requote", recording)
    data = from_scenario(parse_scenario(scenario()))
    data.duration = len(RANKINGS) * 60
    engine.run_mode(data, orchestrator(rerank_minutes=1), dual=True, step=30)
    assert script.count == len(RANKINGS)
    after = [next(cid for at, cid in looks if at >= t) for t in ranked_at]
    return rounds_of([cid for _, cid in looks]), after


def finished_elsewhere() -> LiquidationResult:
    """A liquidation of a market the bot is not quoting, reporting that it finished."""
    now = datetime(2026, 1, 21, 12, tzinfo=UTC)
    return LiquidationResult(
        condition_id="0xgone",
        status="closed",
        exit_stage=Stage.PASSIVE,
        reason="sold",
        started_at=now,
        finished_at=now,
        duration_seconds=0,
        realized_pnl=Decimal(0),
        remaining_qty=Decimal(0),
        position=PositionTracker(),
        stages=(),
        orders=(),
        fills=(),
    )


class FakeRounds:
    """The workflow's activities with the venue left out: `pick_market` is the real activity
    over the scripted rankings; a round quotes nothing and runs until it is cancelled."""

    def __init__(self) -> None:
        self.script = Script()
        self.quoted: list[str] = []
        self.picked: list[str | None] = []  # what each ranking chose
        self._picking = MarketMakingActivities(self, None)  # type: ignore[arg-type]

    @activity.defn(name="pick_market")
    async def pick_market(self, request: PickMarketInput) -> MarketInfo | None:
        chosen = await self._picking.pick_market(request)
        self.picked.append(chosen.condition_id if chosen else None)
        return chosen

    async def open_orders(self, condition_id: str | None = None) -> list[Any]:
        return []

    @activity.defn(name="make_market")
    async def make_market(self, request: MarketMakingInput) -> MarketMakingResult:
        self.quoted.append(request.market.condition_id)
        try:
            while True:
                activity.heartbeat()
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            return MarketMakingResult(
                outcome=Outcome.STOPPED,
                market=request.market,
                checkpoint=Checkpoint(position=PositionTracker(), cursor=""),
            )

    @activity.defn(name="running_liquidations")
    async def running_liquidations(self) -> list[RunningLiquidation]:
        return []


async def workflow_rounds(
    env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[str]]:
    """The markets the workflow quotes while it ranks len(RANKINGS) times: in the order it
    quoted them, and the one it quotes after each ranking."""
    fake = FakeRounds()
    after: list[str] = []

    async def scripted_discover(*args: Any, **kwargs: Any) -> list[MarketEstimate]:
        return fake.script.next(set(args[1].exclude))

    monkeypatch.setattr(market_making, "discover", scripted_discover)
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ActiveMarketWorkflow],
        activities=[fake.pick_market, fake.make_market, fake.running_liquidations],
    ):
        config = orchestrator(rerank_minutes=0)  # only a finished liquidation re-ranks
        handle = await env.client.start_workflow(
            ActiveMarketWorkflow.run,
            ActiveMarketInput(config=config),
            id=f"rotation-{config.bot_id}",
            task_queue=task_queue,
        )
        try:
            async with asyncio.timeout(25):
                ranked = 0
                while True:
                    # the next ranking ran, and the round on the market it chose began
                    while len(fake.picked) == ranked or not fake.quoted:
                        await asyncio.sleep(0.05)
                    ranked = len(fake.picked)
                    while fake.quoted[-1] != fake.picked[-1]:
                        await asyncio.sleep(0.05)
                    after.append(fake.quoted[-1])
                    if ranked == len(RANKINGS):
                        break
                    await handle.signal(FINISHED_SIGNAL, finished_elsewhere())
            await asyncio.sleep(1)
            assert len(fake.picked) == len(RANKINGS), "a ranking nothing asked for"
        finally:
            await handle.terminate("test over")
    return rounds_of(fake.quoted), after


async def test_the_workflow_and_the_backtest_rotate_alike(
    temporal_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulated, simulated_after = backtest_rounds(monkeypatch)
    assert simulated == ["0xa", "0xb", "0xc", "0xa"]
    assert simulated_after == ["0xa", "0xa", "0xb", "0xb", "0xc", "0xc", "0xa"]
    live, live_after = await workflow_rounds(temporal_env, task_queue, monkeypatch)
    assert live == simulated
    assert live_after == simulated_after

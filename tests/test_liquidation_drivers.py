"""The liquidation algorithm (dualmm.liquidator) gives the same exits whichever driver runs
it: the LiquidationWorkflow on Temporal (`dualmm replay --temporal`), `dualmm replay` on the
simulator, and the backtest on market data. Every case goes through every driver and the
reports (stages, orders, fills, exit, P&L) must be equal."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from backtest_cases import FILL_PATH, START, market, scenario_input
from temporalio.testing import WorkflowEnvironment

from dualmm.backtest.engine import run_mode
from dualmm.backtest.inputs import BacktestInput, from_scenario
from dualmm.backtest.liquidation import LiquidationRun, liquidate
from dualmm.backtest.markets import MarketData, PathMarket
from dualmm.backtest.synthetic import synthetic_input
from dualmm.config import LiquidationConfig, OrchestratorConfig
from dualmm.domain.fees import Fees
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Side, Token
from dualmm.replay import REPLAY_WALLET, market_report, replay_horizon, replay_market, run_replay
from dualmm.scenario import Scenario, load_scenario, parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.rules import VenueRules
from dualmm.sim.venue import SimVenue
from dualmm.temporal_replay import run_temporal_replay

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.json"))


def several_markets() -> Scenario:
    """Two liquidations (one of them a NO position) and a market without a position."""

    def entry(name: str, path: list[list[object]], position: dict[str, str] | None) -> Any:
        return {
            "condition_id": f"0x{name}",
            "tick_size": "0.01",
            "min_order_size": "5",
            "path": path,
            **({"position": position} if position else {}),
        }

    def position(held: str, qty: str, avg_cost: str) -> dict[str, str]:
        return {"held": held, "qty": qty, "avg_cost": avg_cost}

    return parse_scenario(
        {
            "name": "several",
            "start": "2026-01-21T12:00:00Z",
            "markets": [
                entry(
                    "aa",
                    [[0, "0.40"], [400, "0.36"]],
                    {"held": "NO", "qty": "30", "avg_cost": "0.58"},
                ),
                entry("bb", [[0, "0.50"]], None),
                entry(
                    "cc",
                    [[0, "0.55"], [90, "0.60"]],
                    {"held": "YES", "qty": "12.5", "avg_cost": "0.52"},
                ),
            ],
        }
    )


# No stop-loss, a 45 s check and an AGGRESSIVE price at the midpoint (it never reaches the bid
# on a flat path): the crash scenario is still open at the horizon, so every driver gives up.
GIVING_UP = LiquidationConfig(
    stop_loss_enabled=False, aggressive_offset=Decimal(0), price_check_interval_ms=45_000
)
CASES = [
    *((load_scenario(p), LiquidationConfig(), "closed") for p in SCENARIOS),
    (load_scenario(SCENARIOS[0].parent / "stop-loss-crash.json"), GIVING_UP, "open"),
    (several_markets(), LiquidationConfig(), "closed"),
]


def backtest_reports(scenario: Scenario, config: LiquidationConfig) -> list[dict[str, object]]:
    """Each position of the scenario liquidated by the backtest's driver, to the replay's
    horizon, as `dualmm replay` reports it."""
    data = from_scenario(scenario)
    reports = []
    for scenario_market, data_market in zip(scenario.markets, data.markets, strict=True):
        if data_market.position is None:
            continue
        held, qty, cost = data_market.position
        horizon = replay_horizon(scenario, scenario_market, config) - scenario.start
        run = liquidate(
            data_market,
            PositionTracker.opening(held, qty, cost),
            0,
            int(horizon.total_seconds()),
            config,
            scenario.start,
        )
        reports.append(market_report(run.result))
    return reports


@pytest.mark.parametrize(
    ("scenario", "config", "status"),
    CASES,
    ids=[f"{s.name}-{status}" for s, _, status in CASES],
)
async def test_every_driver_gives_the_same_exit(
    temporal_env: WorkflowEnvironment, scenario: Scenario, config: LiquidationConfig, status: str
) -> None:
    replayed = await run_replay(scenario, config)
    on_temporal = await run_temporal_replay(scenario, config, env=temporal_env)
    assert on_temporal.to_json() == replayed.to_json()
    reports = json.loads(replayed.to_json())["markets"]
    assert json.loads(json.dumps(backtest_reports(scenario, config))) == reports
    assert {m.status for m in replayed.markets} == {status}


def test_the_crafted_hand_over_exits_as_dualmm_replay_exits_it(tmp_path: Path) -> None:
    """A backtest's own hand-over (the bot filled to its limit) replayed by the CLI."""
    data = scenario_input(market("aa", FILL_PATH, competition=[]))
    (liquidation,) = run_mode(data, OrchestratorConfig(), dual=True).liquidations
    scenario = {
        "name": "hand-over",
        "start": START,
        "markets": [handover_scenario(data.markets[0], liquidation, 3600)],
    }
    path = tmp_path / "handover.json"
    path.write_text(json.dumps(scenario))
    result = subprocess.run(
        [sys.executable, "-m", "dualmm", "replay", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (replayed,) = json.loads(result.stdout)["markets"]
    assert same(replayed) == same(market_report(liquidation.result))
    assert (replayed["status"], replayed["exit_seconds"]) == ("closed", 420)
    assert liquidation.pnl == Decimal("1.50")


def simulator_book(data: BacktestInput) -> BacktestInput:
    """The same calibrated paths and taker flow with the book the replay's simulator shows
    (its touch and default depth; it knows no per-maker book): the parity is the loop's."""
    markets: list[MarketData] = []
    for m in data.markets:
        assert isinstance(m, PathMarket)
        path = PathMarket(info=m.info, times=m.times, mids=m.mids, category=m.category)
        path.flow, path.churn = m.flow, m.churn
        markets.append(path)
    return BacktestInput(data.name, data.start, data.duration, markets, data.open_ended)


async def test_every_synthetic_hand_over_exits_as_the_replay_exits_it() -> None:
    """Each liquidation of a synthetic run, replayed from its hand-over (the same tracker) on
    the simulator the replay uses, makes the same orders and fills and ends the same way."""
    config = OrchestratorConfig()
    by_id: dict[str, MarketData] = {}
    liquidations: list[LiquidationRun] = []
    for seed in range(1, 9):  # calibrated markets are calm: seeds until there are enough exits
        data = simulator_book(synthetic_input(20, Decimal(30), seed=seed))
        by_id |= {m.condition_id: m for m in data.markets}
        for dual in (True, False):
            # the replay's simulator charges no taker fee unless told to
            run = run_mode(data, config, dual, Fees(rate=Decimal(0)))
            liquidations += [lq for lq in run.liquidations if lq.status in ("closed", "dust")]
        if len(liquidations) >= 15 and len({lq.exit_stage for lq in liquidations}) >= 3:
            break
    assert len(liquidations) >= 15
    # PASSIVE or SKEWED exits, timeouts (AGGRESSIVE) and stop-losses (MARKET) among them
    assert len({lq.exit_stage for lq in liquidations}) >= 3
    for liquidation in liquidations:
        replayed = await _replay(by_id[liquidation.condition_id], liquidation, config.liquidation)
        assert same(market_report(replayed)) == same(market_report(liquidation.result))


def same(report: Any) -> Any:
    """A report with its amounts as numbers (1.50 and 1.5000 are the same P&L)."""
    if isinstance(report, dict):
        return {k: same(v) for k, v in report.items()}
    if isinstance(report, list):
        return [same(v) for v in report]
    if isinstance(report, str) and report.replace(".", "", 1).lstrip("-").isdigit():
        return Decimal(report)
    return report


def handover_scenario(
    data_market: MarketData, liquidation: LiquidationRun, until: int
) -> dict[str, object]:
    """The market's path from the hand-over on (times shifted to start there), with the
    hand-over position, as a scenario for `dualmm replay`."""
    started = liquidation.started
    first = data_market.index_at(started)
    path = [[0, str(data_market.mid(first))]]
    for i in data_market.change_indices(started, until):
        path.append([data_market.times[i] - started, str(data_market.mid(i))])
    opening = liquidation.opening
    held = opening.held_token
    assert held is not None
    info = data_market.info
    return {
        "condition_id": info.condition_id,
        "tick_size": str(info.tick_size),
        "min_order_size": str(info.min_order_size),
        "path": path,
        "position": {
            "held": held.value,
            "qty": str(opening.held_qty),
            "avg_cost": str(opening.avg_cost(held)),
        },
    }


async def _replay(data_market: MarketData, liquidation: LiquidationRun, config: LiquidationConfig):  # type: ignore[no-untyped-def]
    assert liquidation.finished is not None
    until = int(liquidation.finished) + 3600
    scenario = parse_scenario(
        {
            "name": "hand-over",
            "start": START,
            "markets": [handover_scenario(data_market, liquidation, until)],
        }
    )
    venue = SimVenue.from_scenario(scenario)
    venue.ensure_wallet(REPLAY_WALLET)
    info = scenario.markets[0].info()
    opening = liquidation.opening
    for token, qty in ((info.yes_token_id, opening.yes_qty), (info.no_token_id, opening.no_qty)):
        if qty > 0:
            venue.credit(REPLAY_WALLET, token, qty)
    horizon = scenario.at(until - liquidation.started)
    return await replay_market(
        venue, SimExchange(venue, REPLAY_WALLET), info, opening, config, scenario.start, horizon
    )


async def test_a_position_in_a_resolved_market_is_left_for_redemption_at_once() -> None:
    # Handed a NO position in a market that already resolved NO: no order (the venue takes
    # none), the 30 NO valued at 1 each against their 0.58 cost.
    scenario = several_markets()
    entry = scenario.markets[0]
    venue = SimVenue.from_scenario(scenario)
    venue.ensure_wallet(REPLAY_WALLET)
    info = entry.info()
    venue.resolve(info.condition_id, Token.NO)
    position = PositionTracker.opening(Token.NO, Decimal(30), Decimal("0.58"))
    config = LiquidationConfig()
    horizon = replay_horizon(scenario, entry, config)
    exchange = SimExchange(venue, REPLAY_WALLET)
    result = await replay_market(venue, exchange, info, position, config, scenario.start, horizon)
    assert (result.status, result.duration_seconds, result.orders) == ("resolved", 0, ())
    assert result.resolution is not None and result.resolution.winner is Token.NO
    assert (result.resolution.no_qty, result.resolution.payout) == (Decimal(30), Decimal(30))
    assert result.realized_pnl == Decimal("12.60")  # 30 * (1 - 0.58)
    assert result.remaining_qty == 30 and "await redemption" in result.reason


async def test_a_resolution_waits_for_a_handed_over_trade_to_settle() -> None:
    # Handed YES 20 (settled) and a NO buy of 20 at 0.60 still MATCHED when the market
    # resolves YES: the end waits until that trade can no longer FAIL (it settles after an
    # hour here), placing nothing meanwhile.
    scenario = several_markets()
    entry = scenario.markets[2]
    info = entry.info()
    venue = SimVenue.from_scenario(
        scenario, rules=VenueRules(settle_min_seconds=3600, settle_max_seconds=3600)
    )
    venue.ensure_wallet(REPLAY_WALLET)
    venue.credit(REPLAY_WALLET, info.yes_token_id, Decimal(20))
    exchange = SimExchange(venue, REPLAY_WALLET)
    venue.place(REPLAY_WALLET, "round-no", info.no_token_id, Side.BUY, Decimal("0.99"), Decimal(20))
    page = await exchange.fills(info)
    (no_buy,) = page.fills
    assert no_buy.status == "MATCHED"
    position = PositionTracker.opening(Token.YES, Decimal(20), Decimal("0.55"))
    position = position.apply_fills(page.fills)
    venue.resolve(info.condition_id, Token.YES)
    config = LiquidationConfig()
    horizon = replay_horizon(scenario, entry, config) + timedelta(hours=2)
    result = await replay_market(venue, exchange, info, position, config, scenario.start, horizon)
    assert (result.status, result.orders) == ("resolved", ())
    assert result.duration_seconds >= 3600  # not before the NO buy settled
    assert result.resolution is not None and result.resolution.winner is Token.YES
    assert (result.resolution.yes_qty, result.resolution.no_qty) == (20, 20)
    assert result.realized_pnl == 20 - 11 - 20 * no_buy.price

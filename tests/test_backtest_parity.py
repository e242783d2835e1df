"""A market handed to liquidation in the backtest exits exactly as `dualmm replay` exits it."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from backtest_cases import FILL_PATH, START, market, scenario_input

from dualmm.backtest.engine import run_mode
from dualmm.backtest.inputs import BacktestInput
from dualmm.backtest.liquidation import LiquidationRun
from dualmm.backtest.markets import MarketData, PathMarket
from dualmm.backtest.synthetic import synthetic_input
from dualmm.config import LiquidationConfig, OrchestratorConfig
from dualmm.domain.fees import Fees
from dualmm.replay import REPLAY_WALLET, replay_market
from dualmm.scenario import parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue


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


def test_the_crafted_hand_over_exits_as_dualmm_replay_exits_it(tmp_path: Path) -> None:
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
    assert replayed["status"] == liquidation.status == "closed"
    assert liquidation.exit_stage is not None
    assert replayed["exit_stage"] == liquidation.exit_stage.value
    assert replayed["exit_seconds"] == liquidation.exit_seconds == 420
    assert Decimal(replayed["realized_pnl"]) == liquidation.pnl == Decimal("1.50")
    shift = liquidation.started
    assert [
        (f["at_seconds"], Decimal(f["price"]), Decimal(f["size"])) for f in replayed["fills"]
    ] == [(at - shift, price, size) for at, price, size in liquidation.fills]
    assert [(s["stage"], s["at_seconds"]) for s in replayed["stages"]] == [
        (stage.value, at - shift) for stage, at in liquidation.stages
    ]
    assert [
        (o["at_seconds"], Decimal(o["price"]), Decimal(o["size"])) for o in replayed["orders"]
    ] == [(at - shift, price, size) for at, price, size in liquidation.orders]


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
    liquidations = []
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
        shift = liquidation.started
        assert replayed.status == liquidation.status
        assert replayed.exit_stage == liquidation.exit_stage
        assert replayed.exit_seconds == liquidation.exit_seconds
        opening = liquidation.opening.realized_pnl
        assert replayed.realized_pnl - opening == liquidation.pnl
        assert [
            (f.at_seconds + shift, f.price, f.size) for f in replayed.fills
        ] == liquidation.fills
        assert [(o.at_seconds + shift, o.price, o.size) for o in replayed.orders] == (
            liquidation.orders
        )


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

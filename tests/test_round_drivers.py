"""The bot's round (`dualmm.domain.quoting.plan_quotes`) decides the same whichever driver
carries it out: the `make_market` activity on the simulator, and the backtest's `run_mode` on
market data. Both see the same scripted market at the same looks, and must rest the same
quotes and hold the same position (YES+NO pairs included: neither merges while quoting) after
every look, and hand over the same position at the same look (at the position limit, or when
the pairs held reach `merge_pairs_at`: the liquidation merges them)."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

import pytest
from backtest_cases import FILL_PATH, START, market
from sim_helpers import FakeParent, round_input
from temporalio.testing import ActivityEnvironment

from activities.market_making import MarketMakingActivities, MarketMakingResult, Outcome
from dualmm.backtest import engine
from dualmm.backtest.inputs import from_scenario
from dualmm.config import MarketMakerConfig, OrchestratorConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Token
from dualmm.scenario import parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from workflows.contracts import POSITION_LIMIT_SIGNAL

WALLET = "0x" + "7d" * 20
STEP = 30  # seconds between looks, in both drivers
# What a look leaves: (token, price, size) of every quote, the priced midpoint, and the
# position held (YES qty, YES cost, NO qty, NO cost).
Held = tuple[Decimal, Decimal, Decimal, Decimal]
Look = tuple[tuple[tuple[Token, Decimal, Decimal], ...], Decimal | None, Held]

CONFIG = MarketMakerConfig(
    order_size=Decimal(50), position_limit=Decimal(100), quote_interval_ms=STEP * 1000
)

# A calm market: the midpoint moves inside and past the requote threshold, nothing fills.
CALM_PATH = [[0, "0.50"], [60, "0.502"], [120, "0.52"], [240, "0.50"], [3600, "0.50"]]
# Both sides fill: 50 YES at 0.48 as the midpoint drops to 0.465, then, once the bot re-priced
# around it (NO 0.52, a YES ask at 0.48), 50 NO at 0.52 as it rises to 0.515: 50 pairs, held.
PAIRS_PATH = [[0, "0.50"], [90, "0.465"], [240, "0.515"], [3600, "0.515"]]
CASES = {
    # FILL_PATH: 50 YES fill at 0.48 by 90 s, the bot re-prices, 50 more fill by 150 s: the
    # limit of 100, handed over at that look.
    "fills to the limit": (FILL_PATH, 6, CONFIG),
    "calm": (CALM_PATH, 10, CONFIG),
    "fills both sides": (PAIRS_PATH, 12, CONFIG),
    # The same 50 pairs, handed over once they reach `merge_pairs_at`.
    "pairs to merge": (PAIRS_PATH, 12, CONFIG.model_copy(update={"merge_pairs_at": Decimal(50)})),
}
# The hand-over: the look it came at, and the position handed (as `held`).
HandOver = tuple[int, Held]
PAIRS_HELD = (50, Decimal("24.00"), 50, Decimal("26.00"))


def scenario(path: list[list[Any]]) -> dict[str, Any]:
    return {"name": "round", "start": START, "markets": [market("rd", path)]}


class Lockstep(SimExchange):
    """The simulator, with the round's wait between looks held by the test: each wait says
    a look is over (`looked`) and returns when the test lets the next look start."""

    def __init__(self, venue: SimVenue) -> None:
        super().__init__(venue, WALLET)
        self.looked: asyncio.Queue[None] = asyncio.Queue()
        self.go: asyncio.Queue[None] = asyncio.Queue()

    async def wait_for_fill(self, condition_id: str, mark: int, timeout: float) -> bool:
        self.looked.put_nowait(None)
        await self.go.get()
        return False


def quotes_of(quotes: Any) -> tuple[tuple[Token, Decimal, Decimal], ...]:
    return tuple(sorted((q.token, q.price, q.size) for q in quotes))


def held(position: PositionTracker) -> Held:
    return (position.yes_qty, position.yes_cost, position.no_qty, position.no_cost)


async def activity_round(
    path: list[list[Any]], looks: int, config: MarketMakerConfig
) -> tuple[list[Look], HandOver | None, FakeParent]:
    """The activity's looks at 0, STEP, 2 STEP, ..., its hand-over, and the parent it
    signalled."""
    parsed = parse_scenario(scenario(path))
    venue = SimVenue.from_scenario(parsed)
    venue.ensure_wallet(WALLET)
    exchange = Lockstep(venue)
    info = from_scenario(parsed).markets[0].info
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.extend(details[:1])
    parent = FakeParent()
    activities = MarketMakingActivities(exchange, parent)  # type: ignore[arg-type]
    task = asyncio.create_task(env.run(activities.make_market, round_input(info, "rd", config)))
    seen: list[Look] = []
    try:
        for n in range(looks):
            waited = asyncio.create_task(exchange.looked.get())
            async with asyncio.timeout(30):
                await asyncio.wait({waited, task}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                waited.cancel()
                result: MarketMakingResult = task.result()
                assert result.outcome is Outcome.POSITION_LIMIT
                return seen, (n, held(result.checkpoint.position)), parent
            checkpoint = beats[-1]
            seen.append(
                (quotes_of(checkpoint.quotes), checkpoint.quoted_mid, held(checkpoint.position))
            )
            venue.advance(STEP)
            exchange.go.put_nowait(None)
        return seen, None, parent
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def backtest_round(
    path: list[list[Any]], looks: int, config: MarketMakerConfig, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Look], HandOver | None]:
    """The backtest's looks every STEP seconds and its hand-over."""
    seen: list[Look] = []
    requote = engine._requote

    def recording(active: engine.BacktestRound, t: int, *args: Any) -> bool:
        ends = requote(active, t, *args)
        if not ends:
            seen.append((quotes_of(active.quotes), active.quoted_mid, held(active.position)))
        return ends

    monkeypatch.setattr(engine, "_requote", recording)
    data = from_scenario(parse_scenario(scenario(path)))
    run = engine.run_mode(data, OrchestratorConfig(market_maker=config), dual=True, step=STEP)
    handed = [lq for lq in run.liquidations if lq.started < looks * STEP]
    if not handed:
        return seen[:looks], None
    look = handed[0].started // STEP
    return seen[:look], (look, held(handed[0].opening))


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_activity_and_the_backtest_quote_and_hand_over_alike(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, looks, config = CASES[case]
    live, live_hand_over, parent = await activity_round(path, looks, config)
    simulated, simulated_hand_over = backtest_round(path, looks, config, monkeypatch)
    assert live == simulated
    assert live_hand_over == simulated_hand_over
    assert live[0][0], "the first look quotes"
    # Whatever is handed over reaches the parent once (it queues one liquidation per market,
    # and `_close_round` queues the same position again: ignored as a duplicate).
    handed = [held(x.position) for name, x in parent.signals if name == POSITION_LIMIT_SIGNAL]
    assert handed == ([] if live_hand_over is None else [live_hand_over[1]])
    if case == "fills to the limit":
        assert live_hand_over is not None
        look, (yes_qty, _, no_qty, _) = live_hand_over
        assert (look, yes_qty - no_qty) == (5, Decimal(100))
    elif case == "fills both sides":
        assert live_hand_over is None
        assert live[-1][2] == PAIRS_HELD, "50 pairs held"
    elif case == "pairs to merge":
        # The look after the NO fill that made the 50th pair (the same look in both drivers).
        assert live_hand_over is not None
        assert live_hand_over[1] == PAIRS_HELD, "50 pairs, no exposure, handed over"
    else:
        assert len({quotes for quotes, _, _ in live}) > 1, "the calm path re-prices"


def test_a_round_leaving_with_pairs_hands_them_to_a_liquidation_that_merges_them() -> None:
    """The backtest's round keeps its YES+NO pairs (capital counts them) until it ends, here
    by a switch to a richer market that enters the price band at 600 s; the liquidation
    merges them."""
    richer = market("rich", [[0, "0.02"], [600, "0.50"], [3600, "0.50"]], competition=[])
    data = from_scenario(
        parse_scenario(
            {"name": "pairs", "start": START, "markets": [market("rd", PAIRS_PATH), richer]}
        )
    )
    config = OrchestratorConfig(market_maker=CONFIG, rerank=True, rerank_minutes=5)
    run = engine.run_mode(data, config, dual=True, step=STEP)
    assert run.switches == 1
    (liquidation,) = run.liquidations
    assert liquidation.condition_id == "0xrd"
    opening = liquidation.opening
    assert (opening.yes_qty, opening.no_qty) == (50, 50)
    assert liquidation.position.yes_qty == liquidation.position.no_qty == 0
    assert liquidation.status in ("closed", "dust")
    assert liquidation.pnl == 50 * (1 - Decimal("0.48") - Decimal("0.52"))
    assert run.mm_realized == 0  # nothing merged while quoting

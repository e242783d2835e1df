"""Merging YES+NO pairs into USDC: idempotent by key, and its P&L lands in the position once.

The liquidation merges the pairs it was handed before selling the net position; the simulator
models `mergePositions` on its ledger (burns a YES and a NO per pair, credits 1 USDC).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.liquidation import LiquidationActivities, MergeRequest
from dualmm.config import LiquidationConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, MarketInfo, Side, Token
from dualmm.exchange.base import InsufficientBalance, MergeJournal, MergeReport, VenueTimeout
from dualmm.replay import REPLAY_WALLET
from dualmm.scenario import parse_scenario
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from dualmm.temporal_replay import liquidation_worker
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationInput, LiquidationWorkflow

D = Decimal
FUND = D(10000)


def venue_and_market(
    path: list[tuple[int, str]], start: datetime = datetime(2026, 1, 21, 12, tzinfo=UTC)
) -> tuple[SimVenue, MarketInfo]:
    scenario = parse_scenario(
        {
            "name": "merge",
            "start": start.isoformat(),
            "markets": [
                {
                    "condition_id": f"0x{uuid.uuid4().hex}",
                    "tick_size": "0.01",
                    "min_order_size": "5",
                    "path": [[t, mid] for t, mid in path],
                }
            ],
        }
    )
    venue = SimVenue.from_scenario(scenario, fund=FUND)
    return venue, venue.markets()[0]


def holding(venue: SimVenue, info: MarketInfo, yes: str, no: str) -> None:
    venue.credit(REPLAY_WALLET, info.yes_token_id, D(yes))
    venue.credit(REPLAY_WALLET, info.no_token_id, D(no))


class LostMergeAnswer(SimExchange):
    """The venue merges, then the answer is lost (the first time only)."""

    lost = 0

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, journal: MergeJournal | None = None
    ) -> MergeReport:
        report = await super().merge(market, qty, key, journal)
        if not self.lost:
            self.lost += 1
            raise VenueTimeout("merge answer lost")
        return report


async def test_a_merge_asked_again_with_its_key_merges_once() -> None:
    venue, info = venue_and_market([(0, "0.50")])
    holding(venue, info, "30", "20")
    activities = LiquidationActivities(SimExchange(venue, REPLAY_WALLET))
    request = MergeRequest(market=info, qty=D(20), key="merge-1")
    first = await ActivityEnvironment().run(activities.merge_pairs, request)
    again = await ActivityEnvironment().run(activities.merge_pairs, request)
    assert first == again and first.qty == 20
    held = venue.balances(REPLAY_WALLET)
    assert held.collateral == FUND + 20
    assert (held.tokens[info.yes_token_id], held.tokens[info.no_token_id]) == (10, 0)
    with pytest.raises(Exception) as refused:  # no pairs left: refused, nothing moves
        await ActivityEnvironment().run(
            activities.merge_pairs, request.model_copy(update={"key": "merge-2"})
        )
    assert "InsufficientBalance" in repr(refused.value) or isinstance(
        refused.value, InsufficientBalance
    )
    assert venue.balances(REPLAY_WALLET).collateral == FUND + 20


async def test_the_liquidation_merges_its_pairs_once_then_sells_the_net(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    """Handed YES 30 @ 0.40 and NO 20 @ 0.50: it merges the 20 pairs (the answer is lost and
    the activity retried: still one merge), realizing 20 * (1 - 0.40 - 0.50) = 2.00, then
    sells the 10 YES at the midpoint 0.50 once the bid reaches it (+1.00)."""
    start = (await temporal_env.get_current_time()).replace(microsecond=0)
    venue, info = venue_and_market([(0, "0.50"), (60, "0.52"), (3600, "0.52")], start)
    holding(venue, info, "30", "20")
    exchange = LostMergeAnswer(venue, REPLAY_WALLET)
    position = PositionTracker.opening(Token.YES, D(30), D("0.40")).apply_fill(
        Fill(
            trade_id="no-buy",
            condition_id=info.condition_id,
            token=Token.NO,
            side=Side.BUY,
            price=D("0.50"),
            size=D(20),
            at=start,
            status="CONFIRMED",  # handed over settled (the venue never reports it again)
        )
    )
    async with liquidation_worker(temporal_env.client, venue, exchange, task_queue):
        result = await temporal_env.client.execute_workflow(
            LiquidationWorkflow.run,
            LiquidationInput(
                market=info,
                position=position,
                config=LiquidationConfig(price_check_interval_ms=30_000),
                started_at=start,
            ),
            id=liquidation_workflow_id(info.condition_id),
            task_queue=task_queue,
        )
    assert exchange.lost == 1
    assert result.status == "closed"
    assert result.realized_pnl == D("3.00")
    assert (result.position.yes_qty, result.position.no_qty) == (0, 0)
    held = venue.balances(REPLAY_WALLET)
    assert held.collateral == FUND + 20 + D("5.00")
    assert held.tokens[info.yes_token_id] == 0 and held.tokens[info.no_token_id] == 0

"""A CI-sized soak of the bot: many rounds on three markets (each revisited), the reward-market
list running dry twice, and the bot restarted (terminated, a new one started) while a
liquidation runs. At the end, after `liquidate_all`, the bot's books equal the simulator's
ledger for every market, to the cent: every token balance is what the liquidations left
(nothing), and the collateral moved by exactly the realized P&L the liquidations reported.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from test_active_market_workflow import (
    WAIT,
    WALLET,
    DryingUp,
    Venue,
    _config,
    _liquidating,
    _terminate,
    _until,
)

from dualmm.runtime import start_or_attach
from dualmm.sim.ledger import ZERO
from dualmm.worker import build_worker
from workflows.active_market import ActiveMarketStatus, ActiveMarketWorkflow
from workflows.contracts import liquidation_workflow_id
from workflows.liquidation import LiquidationResult

ROUNDS = 8
FUND = Decimal(10000)


def _active(status: ActiveMarketStatus) -> str | None:
    market = status.active_market
    return market.condition_id if market is not None and len(status.quotes) == 2 else None


async def _selling(venue: Venue, condition_id: str) -> None:
    """Wait for the liquidation's SELL to rest (priced at the floor while the mid is 0.45)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not any(
        o["side"] == "SELL" and o["condition_id"] == condition_id for o in venue.open_orders()
    ):
        assert asyncio.get_running_loop().time() < deadline, "no SELL rests"
        await asyncio.sleep(0.2)


async def _liquidation_results(client: Client, condition_ids: list[str]) -> list[LiquidationResult]:
    """Every completed liquidation run of these markets (the bot's books, across restarts)."""
    results = []
    for cid in condition_ids:
        workflow_id = liquidation_workflow_id(cid)
        async for run in client.list_workflows(
            f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Completed'"
        ):
            handle = client.get_workflow_handle(
                workflow_id, run_id=run.run_id, result_type=LiquidationResult
            )
            results.append(await handle.result(follow_runs=False))
    return results


async def test_many_rounds_on_few_markets_end_with_books_equal_to_the_venue(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    venue = Venue()
    exchange = DryingUp(venue.venue, WALLET)
    venue.exchange = exchange
    by_id = {m.condition_id: m for m in venue.markets}
    client = dev_env.client
    config = _config().model_copy(update={"idle_seconds": 1})
    visits: list[str] = []
    handle: WorkflowHandle[Any, Any] | None = None
    async with build_worker(client, task_queue, exchange):
        try:
            handle, _ = await start_or_attach(client, task_queue, config)
            for round_ in range(ROUNDS):
                status = await _until(handle, lambda s: _active(s) is not None)
                cid = _active(status)
                assert cid is not None
                visits.append(cid)
                market = by_id[cid]
                if round_ in (2, 5):
                    exchange.dry = True  # the next pick finds nothing: the bot idles
                venue.move(market, "0.45")  # BUY YES 10 @ 0.48 fills: the limit
                await _until(handle, _liquidating(market))
                if round_ == 3:  # restart the bot while the liquidation runs
                    await handle.terminate("soak: restart")
                    handle, started = await start_or_attach(client, task_queue, config)
                    assert started
                    await _until(handle, _liquidating(market))
                if exchange.dry:
                    idle = await _until(handle, lambda s: "no reward" in (s.idle_reason or ""))
                    assert idle.active_market is None
                    await asyncio.sleep(2)  # idle waits time out; the bot stays up
                    exchange.dry = False
                await _selling(venue, cid)
                venue.move(market, "0.50")  # the SELL @ 0.49 fills: the liquidation ends
                await _until(handle, lambda s: not s.liquidations)
            await handle.signal(ActiveMarketWorkflow.liquidate_all)
            await asyncio.wait_for(handle.result(), WAIT)
        finally:
            if handle is not None:
                await _terminate(client, handle.id)
            for market in venue.markets:
                await _terminate(client, liquidation_workflow_id(market.condition_id))

    assert len(set(visits)) >= 2 and len(visits) > len(set(visits))  # markets revisited
    results = await _liquidation_results(client, list(by_id))
    assert len(results) == ROUNDS and all(r.status == "closed" for r in results)
    ledger = venue.venue.ledger()
    wallet = ledger["wallets"][WALLET.lower()]
    for market in venue.markets:
        for token_id in (market.yes_token_id, market.no_token_id):
            books = sum(
                (r.remaining_qty for r in results if r.condition_id == market.condition_id),
                ZERO,
            )
            assert Decimal(wallet["tokens"].get(token_id, "0")) == books
    realized = sum((r.realized_pnl for r in results), ZERO)
    assert realized == Decimal("0.10") * ROUNDS
    assert Decimal(wallet["collateral"]) - FUND == realized
    assert [o for o in ledger["orders"] if o["status"] == "LIVE"] == []

"""The simulator's Polygon node over the simulator's ledger: ClobExchange (CLOB over HTTP to the
sim server) merges pairs through ChainMerger and the simulated chain, and the venue's ledger
changes once, however the merge is retried, resent or interrupted. Blocks are mined on a
manual clock: a transaction stays pending (receipt null) until the clock passes its block."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from eth_abi import encode
from eth_account import Account
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from test_chain_merge import heartbeats_of
from test_exchange_contract import contract_venue, sim_settings

from activities.liquidation import LiquidationActivities, MergeRequest
from dualmm.domain.types import MarketInfo, Side
from dualmm.exchange import chain as merger
from dualmm.exchange.base import MergeJournal, MergeReport
from dualmm.exchange.clob import ClobExchange
from dualmm.scenario import parse_scenario
from dualmm.sim.chain import BALANCE_OF, CTF, MERGE_CTF, USDC_E, SimChain
from dualmm.sim.chain_http import ChainServer
from dualmm.sim.chain_venue import VenueContracts
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
CTF_CHECKSUMMED = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
BLOCK = 2.0  # seconds from broadcast to mined, on the manual clock


@dataclass
class Setup:
    exchange: ClobExchange
    venue: SimVenue
    market: MarketInfo
    chain: SimChain
    node: ChainServer
    wallet: str
    key: str
    now: list[float]

    def held(self) -> tuple[Decimal, Decimal, Decimal]:
        balances = self.venue.balances(self.wallet)
        yes, no = (balances.tokens[t] for t in (self.market.yes_token_id, self.market.no_token_id))
        return yes, no, balances.collateral

    def tick(self, seconds: float = BLOCK) -> None:
        self.now[0] += seconds


@pytest.fixture(scope="module")
def clob() -> Iterator[SimServer]:
    with SimServer(contract_venue()) as server:
        yield server


@pytest_asyncio.fixture
async def setup(clob: SimServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    """An EOA whose venue wallet holds 30 YES and 20 NO (settled), merging on the sim chain."""
    monkeypatch.setattr(merger, "RECEIPT_POLL_SECONDS", 0.01)
    monkeypatch.setattr(merger, "RECEIPT_WAIT_SECONDS", 0.3)
    venue = contract_venue()
    clob.venue = venue
    market = venue.markets()[0]
    account = Account.create()
    key = "0x" + bytes(account.key).hex()
    venue.credit(account.address, market.yes_token_id, D(30))
    venue.credit(account.address, market.no_token_id, D(20))
    now = [0.0]
    chain = SimChain(VenueContracts(venue), block_time=(BLOCK, BLOCK), clock=lambda: now[0])
    with ChainServer(chain) as node:
        settings = sim_settings(clob.url, key, polygon_rpc_url=SecretStr(node.url))
        exchange = await ClobExchange.connect(settings)
        yield Setup(exchange, venue, market, chain, node, account.address, key, now)


def rpc(setup: Setup, method: str, *params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(
        setup.node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    ).json()
    return answer


async def mine_after(setup: Setup, seconds: float) -> None:
    """The next block: the clock jumps once the merger has broadcast and is polling."""
    while not setup.chain.sent:
        await asyncio.sleep(0.01)
    setup.tick(seconds)


async def test_a_merge_is_pending_until_its_block_then_burns_the_venues_pairs_once(
    setup: Setup,
) -> None:
    before = setup.held()
    merging = asyncio.create_task(setup.exchange.merge(setup.market, D(20), "m-1", MergeJournal()))
    await mine_after(setup, BLOCK / 2)
    await asyncio.sleep(0.1)
    assert not merging.done() and setup.held() == before  # half a block: still pending
    (tx,) = setup.chain.sent
    assert rpc(setup, "eth_getTransactionReceipt", tx.tx_hash)["result"] is None
    setup.tick(BLOCK / 2)
    report = await merging
    assert (report.key, report.qty) == ("m-1", 20)
    assert setup.held() == (D(10), D(0), before[2] + 20)
    assert (tx.to, tx.data[:4]) == (CTF, MERGE_CTF)
    # The identical bytes again: already known, nothing more merges.
    again = rpc(setup, "eth_sendRawTransaction", tx.raw)
    assert again["error"]["message"] == "already known"
    setup.tick(10 * BLOCK)
    assert rpc(setup, "eth_getTransactionReceipt", tx.tx_hash)["result"]["status"] == "0x1"
    assert setup.held() == (D(10), D(0), before[2] + 20)
    assert len(setup.chain.merges) == 1


def signed_merge(setup: Setup, units: int, nonce: int) -> str:
    condition = bytes.fromhex(setup.market.condition_id.removeprefix("0x"))
    args = encode(
        ["address", "bytes32", "bytes32", "uint256[]", "uint256"],
        [USDC_E, b"\0" * 32, condition, [1, 2], units],
    )
    tx = {
        "type": 2, "chainId": 137, "nonce": nonce, "to": CTF_CHECKSUMMED,
        "value": 0, "data": "0x" + (MERGE_CTF + args).hex(), "gas": 150_000,
        "maxPriorityFeePerGas": 30 * 10**9, "maxFeePerGas": 110 * 10**9,
    }  # fmt: skip
    return "0x" + bytes(Account.from_key(setup.key).sign_transaction(tx).raw_transaction).hex()


async def test_a_nonce_is_spent_once(setup: Setup) -> None:
    first, rival = signed_merge(setup, 5 * 10**6, 0), signed_merge(setup, 6 * 10**6, 0)
    assert "result" in rpc(setup, "eth_sendRawTransaction", first)
    refused = rpc(setup, "eth_sendRawTransaction", rival)["error"]["message"]
    assert refused == "replacement transaction underpriced"
    assert rpc(setup, "eth_getTransactionCount", setup.wallet, "pending")["result"] == "0x1"
    setup.tick()
    assert rpc(setup, "eth_getTransactionCount", setup.wallet, "latest")["result"] == "0x1"
    assert rpc(setup, "eth_sendRawTransaction", rival)["error"]["message"] == "nonce too low"
    assert setup.held()[:2] == (D(25), D(15))
    assert len(setup.chain.merges) == 1


async def test_a_merge_retried_after_its_heartbeat_merges_once(setup: Setup) -> None:
    """Attempt 1 signs, heartbeats and broadcasts, then times out waiting (the block is not
    mined yet). The retry, given the heartbeat, sends the same bytes and waits for them."""
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-retry")
    env = ActivityEnvironment()
    kept = heartbeats_of(env)
    with pytest.raises(Exception, match="not mined yet"):
        await env.run(activities.merge_pairs, request)
    (sent,) = setup.chain.sent
    assert kept[-1][0]["raw_tx"] == sent.raw and setup.held()[:2] == (D(30), D(20))

    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2, heartbeat_details=kept[-1])
    running = asyncio.create_task(retry.run(activities.merge_pairs, request))
    await asyncio.sleep(0.1)
    setup.tick()
    report = await running
    assert isinstance(report, MergeReport) and report.qty == 20
    assert {tx.raw for tx in setup.chain.sent} == {sent.raw}
    assert setup.held()[:2] == (D(10), D(0)) and len(setup.chain.merges) == 1


async def test_a_merge_killed_after_its_broadcast_merges_once(setup: Setup) -> None:
    """The worker dies mid-merge (the attempt is abandoned after its broadcast); the block is
    mined meanwhile; the next attempt, with the heartbeat, finds the receipt: one merge."""
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-killed")
    env = ActivityEnvironment()
    kept = heartbeats_of(env)
    attempt = asyncio.create_task(env.run(activities.merge_pairs, request))
    while not setup.chain.sent:
        await asyncio.sleep(0.01)
    attempt.cancel()
    with pytest.raises(BaseException):  # noqa: B017 - however it dies, it dies
        await attempt
    setup.tick()
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2, heartbeat_details=kept[-1])
    report = await retry.run(activities.merge_pairs, request)
    assert report.qty == 20 and len(setup.chain.merges) == 1
    assert setup.held()[:2] == (D(10), D(0))
    assert {tx.raw for tx in setup.chain.sent} == {kept[-1][0]["raw_tx"]}


def test_the_sim_server_command_serves_the_node_over_its_venue() -> None:
    """`dualmm sim-server --polygon-port 0` prints the node's URL in its export line; the node
    reads the venue: the scenario's test key holds its 20 YES on-chain too."""
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "skewed-exit.json"
    command = [sys.executable, "-m", "dualmm", "sim-server", "--port", "0", "--scenario"]
    process = subprocess.Popen(
        [*command, str(scenario), "--polygon-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(8)]
        address = next(line.split()[-1] for line in lines if "address:" in line)
        export = next(line for line in lines if "export" in line)
        url = export.split("DUALMM_POLYGON_RPC_URL=")[1].strip()
        (market,) = parse_scenario(json.loads(scenario.read_text())).markets
        token = int(market.info().yes_token_id)
        data = "0x" + (BALANCE_OF + encode(["address", "uint256"], [address, token])).hex()
        call = {"to": CTF_CHECKSUMMED, "data": data}
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]}
        answer = httpx.post(url, json=body, timeout=10).json()
        assert int(answer["result"], 16) == 20 * 10**6
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.strip().endswith("dualmm sim-server: stopped")


async def test_tokens_locked_by_an_open_order_are_not_merged(setup: Setup) -> None:
    """On-chain the wallet holds 20 pairs, but 15 of its 30 YES back a resting SELL: the
    venue's merge would refuse them, so the node reverts the gas estimate: nothing is signed,
    nothing sent."""
    setup.venue.place(setup.wallet, "0x" + "ee" * 32, setup.market.yes_token_id, Side.SELL,
                      D("0.90"), D(15))  # fmt: skip
    activities = LiquidationActivities(setup.exchange)
    env = ActivityEnvironment()
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-locked")
    with pytest.raises(ApplicationError, match="would revert") as refused:
        await env.run(activities.merge_pairs, request)
    assert refused.value.non_retryable
    assert setup.chain.sent == [] and setup.held()[:2] == (D(30), D(20))

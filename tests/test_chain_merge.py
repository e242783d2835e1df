"""Live merges for an EOA wallet: ClobExchange signs `mergePositions` once and a retry sends
the same bytes. The CLOB is the simulator over HTTP; Polygon is tests/polygon_fake.py, a local
JSON-RPC node that decodes every raw transaction it is sent (no internet)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from eth_account import Account
from polygon_fake import CTF, NEG_RISK_ADAPTER, USDC_E, PolygonFake, SentTransaction
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from test_exchange_contract import contract_venue, sim_settings

from activities.liquidation import LiquidationActivities, MergeRequest
from dualmm.domain.types import MarketInfo
from dualmm.exchange import chain
from dualmm.exchange.base import MergeJournal, MergeReport, NotSupported, SignedMerge
from dualmm.exchange.clob import ClobExchange
from dualmm.sim.server import SimServer

D = Decimal
UNIT = 10**6


@dataclass
class Setup:
    exchange: ClobExchange
    market: MarketInfo
    chain: PolygonFake
    rpc_url: str
    wallet: str
    key: str

    def condition(self) -> bytes:
        return bytes.fromhex(self.market.condition_id.removeprefix("0x"))

    def held(self) -> tuple[int, int]:
        return (
            self.chain.balance(self.wallet, self.market.yes_token_id),
            self.chain.balance(self.wallet, self.market.no_token_id),
        )


@pytest.fixture(scope="module")
def clob() -> Iterator[SimServer]:
    with SimServer(contract_venue()) as server:
        yield server


@pytest_asyncio.fixture
async def setup(clob: SimServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    """An EOA holding 30 YES and 20 NO on-chain, its exchange merging through the fake node."""
    monkeypatch.setattr(chain, "RECEIPT_POLL_SECONDS", 0.01)
    monkeypatch.setattr(chain, "RECEIPT_WAIT_SECONDS", 0.3)
    venue = contract_venue()
    clob.venue = venue
    market = venue.markets()[0]
    account = Account.create()
    key = "0x" + bytes(account.key).hex()
    fake = PolygonFake()
    condition = bytes.fromhex(market.condition_id.removeprefix("0x"))
    fake.tokens[condition] = (int(market.yes_token_id), int(market.no_token_id))
    fake.hold(account.address, market.yes_token_id, 30 * UNIT)
    fake.hold(account.address, market.no_token_id, 20 * UNIT)
    with fake.serve() as node:
        settings = sim_settings(clob.url, key, polygon_rpc_url=SecretStr(node.url))
        exchange = await ClobExchange.connect(settings)
        yield Setup(exchange, market, fake, node.url, account.address, key)


def assert_merge_of_20(setup: Setup, tx: SentTransaction) -> None:
    assert (tx.chain_id, tx.to, tx.sender) == (137, CTF, setup.wallet.lower())
    assert (
        tx.data[:4].hex() == "9e7212ad"
    )  # mergePositions(address,bytes32,bytes32,uint256[],uint256)
    collateral, parent, condition, partition, amount = tx.merge_args()
    assert collateral.lower() == USDC_E and parent == b"\0" * 32
    assert (condition, list(partition), amount) == (setup.condition(), [1, 2], 20 * UNIT)


async def test_an_eoa_merge_calls_merge_positions_on_the_ctf(setup: Setup) -> None:
    journal = MergeJournal()
    report = await setup.exchange.merge(setup.market, D(20), "merge-1", journal)
    assert report.qty == 20 and report.key == "merge-1"
    (tx,) = setup.chain.sent
    assert_merge_of_20(setup, tx)
    assert setup.held() == (10 * UNIT, 0)
    # Signed once, recorded before the broadcast: the journal holds exactly what was sent.
    assert journal.signed is not None
    assert (journal.signed.raw_tx, journal.signed.tx_hash) == (tx.raw, tx.tx_hash)
    assert (journal.signed.yes_before, journal.signed.no_before) == (30 * UNIT, 20 * UNIT)
    assert "eth_estimateGas" in setup.chain.methods


async def test_a_neg_risk_merge_goes_to_the_neg_risk_adapter(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def neg_risk(token_id: str) -> bool:
        return True

    monkeypatch.setattr(setup.exchange, "neg_risk", neg_risk)
    await setup.exchange.merge(setup.market, D("7.5"), "merge-nr", MergeJournal())
    (tx,) = setup.chain.sent
    assert (tx.chain_id, tx.to) == (137, NEG_RISK_ADAPTER)
    assert tx.data[:4].hex() == "b10c5c17"  # mergePositions(bytes32,uint256)
    assert tx.merge_args() == (setup.condition(), 7_500_000)
    assert setup.held() == (30 * UNIT - 7_500_000, 20 * UNIT - 7_500_000)


def heartbeats_of(env: ActivityEnvironment) -> list[Any]:
    """What the server keeps of the heartbeats: their JSON (a retry gets it back as dicts)."""
    kept: list[Any] = []
    env.on_heartbeat = lambda *details: kept.append(
        json.loads(
            json.dumps([SignedMerge.model_validate(d).model_dump(mode="json") for d in details])
        )
    )
    return kept


async def run_merge(
    activities: LiquidationActivities,
    request: MergeRequest,
    details: list[Any] | None = None,
    attempt: int = 1,
) -> tuple[MergeReport | BaseException, list[Any]]:
    env = ActivityEnvironment()
    kept = heartbeats_of(env)
    if details is not None:
        attempt = max(attempt, 2)
    env.info = dataclasses.replace(env.info, attempt=attempt, heartbeat_details=details or [])
    try:
        return await env.run(activities.merge_pairs, request), kept
    except Exception as exc:
        return exc, kept


async def test_a_retried_merge_sends_the_same_transaction_and_merges_once(setup: Setup) -> None:
    """The first attempt broadcasts and times out waiting for the receipt (the transaction is
    still pending). The retry, with the attempt's heartbeat details, rebroadcasts the very same
    raw transaction; it is mined once. A third run (the result lost) only reads the receipt."""
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-retry")
    setup.chain.mining = False
    first, kept = await run_merge(activities, request)
    assert "not mined yet" in str(first) and not getattr(first, "non_retryable", False)
    assert len(kept) == 1  # the signed transaction, heartbeated before it was sent
    (sent,) = setup.chain.sent
    assert kept[0][0]["raw_tx"] == sent.raw
    assert setup.key.removeprefix("0x") not in json.dumps(kept)

    setup.chain.pool.clear()  # the node dropped it from its mempool meanwhile
    setup.chain.mining = True
    second, again = await run_merge(activities, request, kept[-1])
    assert isinstance(second, MergeReport) and (second.key, second.qty) == (request.key, 20)
    assert again == []  # nothing new signed
    assert len(setup.chain.sent) == 2 and len(setup.chain.merges) == 1
    assert setup.held() == (10 * UNIT, 0)
    assert {tx.raw for tx in setup.chain.sent} == {sent.raw}

    third, _ = await run_merge(activities, request, kept[-1])
    assert isinstance(third, MergeReport) and (third.key, third.qty) == (request.key, 20)
    assert len(setup.chain.sent) == 2 and len(setup.chain.merges) == 1
    assert {tx.raw for tx in setup.chain.sent} == {sent.raw}
    assert_merge_of_20(setup, sent)


async def test_a_merge_whose_heartbeat_was_lost_is_not_signed_again(setup: Setup) -> None:
    """The worker dies after the broadcast, before the heartbeat that kept the signed
    transaction reached the server: the retry has no heartbeat. The transaction was signed by
    its own activity first, so the workflow's history holds it: the retry sends those bytes
    again, it is mined once, and the merge is recorded (before, the retry signed anew, was
    refused for the pairs already merged, and the position kept counting them)."""
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-lost-heartbeat")
    signed = await ActivityEnvironment().run(activities.sign_merge, request)
    assert isinstance(signed, SignedMerge) and setup.chain.sent == []  # nothing sent yet
    landing = request.model_copy(update={"signed": signed})
    setup.chain.mining = False
    first, _ = await run_merge(activities, landing)  # broadcast, then the worker is gone
    assert "not mined yet" in str(first)
    setup.chain.mining = True
    second, _ = await run_merge(activities, landing, attempt=2)  # no heartbeat details
    assert isinstance(second, MergeReport) and second.qty == 20
    assert len(setup.chain.merges) == 1 and setup.held() == (10 * UNIT, 0)
    assert {tx.raw for tx in setup.chain.sent} == {signed.raw_tx}


async def test_a_venue_that_merges_without_our_transaction_merges_at_signing(
    clob: SimServer,
) -> None:
    """The simulator (and paper) merge on their own ledger: `sign_merge` merges at once."""
    from dualmm.sim.exchange import SimExchange

    venue = contract_venue()
    market = venue.markets()[0]
    venue.ensure_wallet("0xw")
    for token in (market.yes_token_id, market.no_token_id):
        venue.credit("0xw", token, D(5))
    activities = LiquidationActivities(SimExchange(venue, "0xw"))
    request = MergeRequest(market=market, qty=D(5), key="merge-sim")
    merged = await ActivityEnvironment().run(activities.sign_merge, request)
    assert isinstance(merged, MergeReport) and merged.qty == 5


async def test_a_merge_that_landed_without_a_receipt_is_recognised(setup: Setup) -> None:
    """The node lags: it mined the merge (the nonce is spent) but has no receipt. The balances
    fell by the merge since it was signed: it happened, and nothing is sent again."""
    setup.chain.lose_receipts = True
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-lagging")
    report, _ = await run_merge(activities, request)
    assert isinstance(report, MergeReport) and report.qty == 20
    assert len(setup.chain.sent) == 1 and len(setup.chain.merges) == 1


async def test_a_merge_without_the_pairs_on_chain_is_refused_before_signing(setup: Setup) -> None:
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(25), key="merge-too-much")
    refused, kept = await run_merge(activities, request)
    assert isinstance(refused, ApplicationError) and refused.non_retryable
    assert refused.type == "InsufficientBalance" and "20 NO on-chain" in refused.message
    assert setup.chain.sent == [] and kept == []


async def test_a_proxy_wallet_is_told_to_use_an_eoa_or_polymarket(clob: SimServer) -> None:
    key = "0x" + bytes(Account.create().key).hex()
    settings = sim_settings(
        clob.url,
        key,
        signature_type=1,
        funder="0x" + "12" * 20,
        polygon_rpc_url=SecretStr("http://127.0.0.1:9/"),
    )
    exchange = await ClobExchange.connect(settings)
    market = clob.venue.markets()[0]
    with pytest.raises(NotSupported) as refused:
        await exchange.merge(market, D(5), "merge-proxy")
    assert "EOA" in str(refused.value) and "polymarket.com" in str(refused.value)
    activities = LiquidationActivities(exchange)
    failed, _ = await run_merge(activities, MergeRequest(market=market, qty=D(5), key="k"))
    assert isinstance(failed, ApplicationError) and failed.non_retryable
    assert failed.type == "NotSupported"


async def test_without_an_rpc_endpoint_the_merge_says_which_setting_to_set(
    clob: SimServer,
) -> None:
    key = "0x" + bytes(Account.create().key).hex()
    exchange = await ClobExchange.connect(sim_settings(clob.url, key))
    with pytest.raises(NotSupported, match="DUALMM_POLYGON_RPC_URL"):
        await exchange.merge(clob.venue.markets()[0], D(5), "merge-no-rpc")


async def test_an_unreachable_rpc_is_retryable_and_its_url_stays_secret(
    setup: Setup, clob: SimServer
) -> None:
    dead = "http://127.0.0.1:9/v2/rpc-secret-in-path"
    settings = sim_settings(clob.url, setup.key, polygon_rpc_url=SecretStr(dead))
    exchange = await ClobExchange.connect(settings)
    activities = LiquidationActivities(exchange)
    request = MergeRequest(market=setup.market, qty=D(5), key="k")
    failed, _ = await run_merge(activities, request)
    assert "Polygon RPC" in str(failed) and not getattr(failed, "non_retryable", False)
    assert "rpc-secret-in-path" not in str(failed)
    assert "rpc-secret-in-path" not in repr(exchange)
    # Nothing was ever sent: after a few attempts it gives up (the liquidation sells the net
    # position and tries the merge again later) instead of holding the liquidation up.
    given_up, _ = await run_merge(activities, request, attempt=5)
    assert isinstance(given_up, ApplicationError) and given_up.non_retryable
    assert "nothing sent" in given_up.message and "rpc-secret-in-path" not in given_up.message


async def test_a_wallet_without_gas_is_told_so_and_nothing_merges(setup: Setup) -> None:
    setup.chain.no_gas = True
    activities = LiquidationActivities(setup.exchange)
    request = MergeRequest(market=setup.market, qty=D(20), key="merge-no-gas")
    failed, _ = await run_merge(activities, request)
    assert isinstance(failed, ApplicationError) and failed.non_retryable
    assert "too little POL" in failed.message
    assert setup.chain.merges == [] and setup.held() == (30 * UNIT, 20 * UNIT)


def test_web3_is_imported_by_the_merge_path_only() -> None:
    """web3 is heavy: the worker and every workflow/activity module load without it."""
    code = (
        "import sys, dualmm.worker, dualmm.exchange.clob, workflows.liquidation, "
        "workflows.active_market, activities.liquidation; print('web3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

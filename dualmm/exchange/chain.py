"""Merging YES+NO pairs on Polygon for an EOA wallet: one signed transaction, at most once.

`mergePositions` is an on-chain call, not a CLOB endpoint. For a normal market it goes to the
Conditional Tokens contract, `mergePositions(USDC.e, 0x0, conditionId, [1, 2], amount)`; for a
neg-risk market to the NegRiskAdapter, `mergePositions(conditionId, amount)` (the contract
addresses are py-clob-client-v2's contract config; USDC.e is the collateral Polymarket's CTF
positions are minted with, per docs.polymarket.com/developers/CTF). web3.py talks to the RPC
and encodes the call; eth-account signs it in-process, with the worker's key.

Idempotency: the transaction is signed once, with an explicit nonce, and handed to
`MergeJournal.record` BEFORE it is broadcast (the liquidation signs in an activity of its
own, so the workflow's history keeps it; a lone merge heartbeats it). A retry gets it
back and rebroadcasts the same bytes and waits for their receipt: one nonce, one merge, however
often it is retried. A retry that finds no receipt also compares the on-chain YES/NO balances
(CTF `balanceOf`) with those recorded before signing, so a merge that landed is recognised.

web3 is imported here only, lazily: it is heavy, and workflow modules must stay light.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from eth_typing import HexStr

from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import (
    UNITS,
    InsufficientBalance,
    MergeJournal,
    MergeReport,
    NonRetryableError,
    SignedMerge,
    VenueTimeout,
    VenueUnavailable,
)

if TYPE_CHECKING:
    from web3 import AsyncWeb3

POLYGON_CHAIN_ID = 137
# The collateral of Polymarket's CTF positions (docs: developers/CTF/merge; deployment-resources).
USDC_E = "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174"
PARENT_COLLECTION = b"\x00" * 32
BINARY_PARTITION = [1, 2]
# Polygon refuses tips under 25 gwei; a little above it keeps the merge from waiting.
MIN_PRIORITY_FEE_WEI = 30 * 10**9
GAS_MARGIN = Decimal("1.25")
RECEIPT_WAIT_SECONDS = 40.0  # then the attempt fails (retryable) and a retry waits again
RECEIPT_POLL_SECONDS = 1.0

CTF_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "mergePositions",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "collateralToken", "type": "address"},
            {"name": "parentCollectionId", "type": "bytes32"},
            {"name": "conditionId", "type": "bytes32"},
            {"name": "partition", "type": "uint256[]"},
            {"name": "amount", "type": "uint256"},
        ],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "owner", "type": "address"}, {"name": "id", "type": "uint256"}],
        "outputs": [{"name": "", "type": "uint256"}],
    },
]
NEG_RISK_ADAPTER_ABI: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "mergePositions",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "_conditionId", "type": "bytes32"},
            {"name": "_amount", "type": "uint256"},
        ],
        "outputs": [],
    }
]


def to_units(qty: Decimal) -> int:
    units = qty * UNITS
    if units != units.to_integral_value() or units <= 0:
        raise NonRetryableError(f"merge of {qty} pairs: not a positive multiple of 0.000001")
    return int(units)


class ChainMerger:
    """Merges pairs for one EOA wallet through a Polygon JSON-RPC endpoint.

    The RPC URL may hold a provider's API key: it stays in this object, and errors name the
    failure, never the URL.
    """

    def __init__(
        self,
        account: LocalAccount,
        rpc_url: str,
        *,
        conditional_tokens: str,
        neg_risk_adapter: str,
        chain_id: int = POLYGON_CHAIN_ID,
    ) -> None:
        self._account = account
        self._rpc_url = rpc_url
        self._ctf = conditional_tokens
        self._neg_risk_adapter = neg_risk_adapter
        self._chain_id = chain_id
        self._w3: AsyncWeb3[Any] | None = None

    def __repr__(self) -> str:
        return f"ChainMerger(wallet={self._account.address}, chain_id={self._chain_id})"

    def _web3(self) -> AsyncWeb3[Any]:
        if self._w3 is None:
            from web3 import AsyncHTTPProvider, AsyncWeb3

            provider = AsyncHTTPProvider(self._rpc_url, exception_retry_configuration=None)
            self._w3 = AsyncWeb3(provider)
        return self._w3

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, neg_risk: bool, journal: MergeJournal
    ) -> MergeReport:
        amount = to_units(qty)
        try:
            signed = journal.signed
            if signed is None or signed.key != key:
                signed = await self._sign(market, qty, key, amount, neg_risk)
                journal.record(signed)  # before the broadcast: a retry must find it
            await self._land(market, amount, signed)
        except Exception as exc:
            if not _rpc_failure(exc):
                raise
            raise VenueUnavailable(f"Polygon RPC: {self._redacted(exc)}") from None
        finally:
            await self._disconnect()
        return MergeReport(key=key, condition_id=market.condition_id, qty=qty, at=datetime.now(UTC))

    async def _disconnect(self) -> None:
        """Merges are rare: each opens its own HTTP session and closes it."""
        w3, self._w3 = self._w3, None
        if w3 is not None:
            with contextlib.suppress(Exception):
                await w3.provider.disconnect()

    async def _sign(
        self, market: MarketInfo, qty: Decimal, key: str, amount: int, neg_risk: bool
    ) -> SignedMerge:
        from web3.exceptions import ContractLogicError

        w3 = self._web3()
        chain_id = await w3.eth.chain_id
        if chain_id != self._chain_id:
            raise NonRetryableError(
                f"the Polygon RPC serves chain {chain_id}, not {self._chain_id}: refusing to merge"
            )
        yes, no = await self._balances(market)
        if min(yes, no) < amount:
            raise InsufficientBalance(
                f"merge of {qty} pairs: the wallet holds {Decimal(yes) / UNITS} YES and "
                f"{Decimal(no) / UNITS} NO on-chain"
            )
        to, data = self._call(market, amount, neg_risk)
        sender = self._account.address
        nonce = await w3.eth.get_transaction_count(sender, "pending")
        try:
            gas = await w3.eth.estimate_gas({"from": sender, "to": to, "data": HexStr(data)})
        except ContractLogicError as exc:
            raise NonRetryableError(f"the merge would revert: {exc}") from None
        tip = max(await w3.eth.max_priority_fee, MIN_PRIORITY_FEE_WEI)
        history = await w3.eth.fee_history(1, "latest")
        base_fee = int(history["baseFeePerGas"][-1])
        transaction: dict[str, Any] = {
            "type": 2,
            "chainId": self._chain_id,
            "nonce": nonce,
            "to": to,
            "value": 0,
            "data": data,
            "gas": int(Decimal(gas) * GAS_MARGIN),
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base_fee + tip,
        }
        signed = self._account.sign_transaction(transaction)
        return SignedMerge(
            key=key,
            condition_id=market.condition_id,
            qty=qty,
            chain_id=self._chain_id,
            nonce=nonce,
            tx_hash="0x" + bytes(signed.hash).hex(),
            raw_tx="0x" + bytes(signed.raw_transaction).hex(),
            yes_before=yes,
            no_before=no,
        )

    def _call(self, market: MarketInfo, amount: int, neg_risk: bool) -> tuple[str, str]:
        """The merge's target contract and calldata."""
        w3 = self._web3()
        condition = bytes.fromhex(market.condition_id.removeprefix("0x"))
        if len(condition) != 32:
            raise NonRetryableError(f"condition id {market.condition_id} is not 32 bytes")
        if neg_risk:
            target = w3.to_checksum_address(self._neg_risk_adapter)
            adapter = w3.eth.contract(address=target, abi=NEG_RISK_ADAPTER_ABI)
            return target, adapter.encode_abi("mergePositions", args=[condition, amount])
        target = w3.to_checksum_address(self._ctf)
        ctf = w3.eth.contract(address=target, abi=CTF_ABI)
        args = [USDC_E, PARENT_COLLECTION, condition, BINARY_PARTITION, amount]
        return target, ctf.encode_abi("mergePositions", args=args)

    async def _balances(self, market: MarketInfo) -> tuple[int, int]:
        """The wallet's YES and NO on-chain (CTF ERC-1155 `balanceOf` on the token ids)."""
        w3 = self._web3()
        ctf = w3.eth.contract(address=w3.to_checksum_address(self._ctf), abi=CTF_ABI)
        owner = self._account.address
        yes = await ctf.functions.balanceOf(owner, int(market.yes_token_id)).call()
        no = await ctf.functions.balanceOf(owner, int(market.no_token_id)).call()
        return int(yes), int(no)

    async def _land(self, market: MarketInfo, amount: int, signed: SignedMerge) -> None:
        """Broadcast the signed merge (again) and wait for its receipt."""
        from web3.exceptions import Web3RPCError

        w3 = self._web3()
        if await self._receipt_status(signed) is None:
            try:
                await w3.eth.send_raw_transaction(HexStr(signed.raw_tx))
            except Web3RPCError as exc:
                if "insufficient funds" in str(exc).lower():
                    raise NonRetryableError(
                        f"the wallet {self._account.address} has too little POL for the "
                        "merge's gas: nothing was merged"
                    ) from None
                # "already known" (in the pool) or "nonce too low" (mined, ours or not):
                # the receipt, else the balances, tell which below.
                if not _known_rejection(str(exc)):
                    raise
        deadline = time.monotonic() + RECEIPT_WAIT_SECONDS
        while True:
            status = await self._receipt_status(signed)
            if status == 1:
                return
            if status == 0:
                raise NonRetryableError(f"the merge transaction {signed.tx_hash} reverted")
            if await w3.eth.get_transaction_count(self._account.address, "latest") > signed.nonce:
                # The nonce is spent but this node has no receipt for it.
                if await self._merged_meanwhile(market, amount, signed):
                    return
                raise NonRetryableError(
                    f"nonce {signed.nonce} went to another transaction: the pairs are not merged"
                )
            if time.monotonic() >= deadline:
                raise VenueTimeout(
                    f"merge transaction {signed.tx_hash} not mined yet (retried as signed)"
                )
            await asyncio.sleep(RECEIPT_POLL_SECONDS)

    async def _receipt_status(self, signed: SignedMerge) -> int | None:
        from web3.exceptions import TransactionNotFound

        try:
            receipt = await self._web3().eth.get_transaction_receipt(HexStr(signed.tx_hash))
        except TransactionNotFound:
            return None
        return int(receipt["status"])

    async def _merged_meanwhile(self, market: MarketInfo, amount: int, signed: SignedMerge) -> bool:
        """Both balances fell by the merge's amount since signing: the merge landed."""
        yes, no = await self._balances(market)
        return signed.yes_before - yes >= amount and signed.no_before - no >= amount

    def _redacted(self, exc: Exception) -> str:
        text = f"{type(exc).__name__}: {exc}"
        return text.replace(self._rpc_url, "<rpc>")[:300]


def _rpc_failure(exc: Exception) -> bool:
    """The RPC unreachable, slow or answering an error: a retry may succeed."""
    from aiohttp import ClientError
    from web3.exceptions import Web3Exception

    return isinstance(exc, Web3Exception | ClientError | OSError | TimeoutError)


def _known_rejection(message: str) -> bool:
    lowered = message.lower()
    return any(part in lowered for part in ("already known", "nonce too low", "known transaction"))

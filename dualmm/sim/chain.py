"""A simulated Polygon JSON-RPC node: what `dualmm.exchange.chain.ChainMerger` asks for a merge.

It answers eth_chainId, eth_getTransactionCount, eth_maxPriorityFeePerGas, eth_feeHistory,
eth_estimateGas, eth_call (CTF `balanceOf`), eth_sendRawTransaction and
eth_getTransactionReceipt. Every raw transaction sent is decoded (sender, chain id, nonce,
target, calldata) and kept in `sent`. The contracts behind it (`Contracts`: the ERC-1155
balances and the merge itself) are pluggable: the simulator's ledger (`chain_venue`) or a
test's table.

Like a chain: a transaction waits in the mempool for `block_time` seconds (a draw from the
range, seeded), then is mined in nonce order; its receipt is null until then. A nonce is
spent once (a second transaction with a pending nonce is refused, one with a mined nonce is
"nonce too low"), so a resent identical transaction is "already known" and never mined
twice. A merge the contracts refuse is mined as reverted (receipt status 0).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from py_clob_client_v2.config import get_contract_config

POLYGON = get_contract_config(137)
CTF = POLYGON.conditional_tokens.lower()
NEG_RISK_ADAPTER = POLYGON.neg_risk_adapter.lower()
USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"  # the collateral CTF positions hold
MERGE_CTF = keccak(text="mergePositions(address,bytes32,bytes32,uint256[],uint256)")[:4]
MERGE_NEG_RISK = keccak(text="mergePositions(bytes32,uint256)")[:4]
BALANCE_OF = keccak(text="balanceOf(address,uint256)")[:4]
BASE_FEE = 40 * 10**9
GAS_USED = 120_000


class RpcError(Exception):
    """A JSON-RPC error answer; code 3 is a revert."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Contracts(Protocol):
    """The Conditional Tokens state a merge reads and changes (amounts in 10^-6 units)."""

    def balance(self, owner: str, token_id: int) -> int: ...

    def check_merge(self, owner: str, condition: bytes, units: int) -> None:
        """Raise RpcError(3, ...) if this merge would revert."""

    def merge(self, owner: str, condition: bytes, units: int, tx_hash: str) -> None:
        """Burn `units` YES and NO of `condition`, credit the collateral; RpcError(3) reverts."""


@dataclass
class SentTransaction:
    raw: str
    tx_hash: str
    sender: str
    chain_id: int
    nonce: int
    to: str
    data: bytes

    @classmethod
    def decode(cls, raw: str) -> SentTransaction:
        body = bytes.fromhex(raw.removeprefix("0x"))
        fields = TypedTransaction.from_bytes(HexBytes(body)).as_dict()
        return cls(
            raw=raw,
            tx_hash="0x" + keccak(body).hex(),
            sender=Account.recover_transaction(body).lower(),
            chain_id=fields["chainId"],
            nonce=fields["nonce"],
            to="0x" + bytes(fields["to"]).hex(),
            data=bytes(fields["data"]),
        )

    def merge_args(self) -> tuple[Any, ...]:
        """The decoded arguments of a merge (CTF or NegRiskAdapter)."""
        selector, body = self.data[:4], self.data[4:]
        if selector == MERGE_CTF:
            return tuple(decode(["address", "bytes32", "bytes32", "uint256[]", "uint256"], body))
        if selector == MERGE_NEG_RISK:
            return tuple(decode(["bytes32", "uint256"], body))
        raise ValueError(f"not a merge: selector {selector.hex()}")


def merge_call(to: str, data: bytes) -> tuple[bytes, int]:
    """The condition and units of a `mergePositions` call, as either contract takes it."""
    if to == CTF and data[:4] == MERGE_CTF:
        collateral, parent, condition, partition, units = decode(
            ["address", "bytes32", "bytes32", "uint256[]", "uint256"], data[4:]
        )
        if collateral.lower() != USDC_E or parent != b"\0" * 32 or list(partition) != [1, 2]:
            raise RpcError(3, "execution reverted: not a binary USDC.e position")
        return condition, units
    if to == NEG_RISK_ADAPTER and data[:4] == MERGE_NEG_RISK:
        condition, units = decode(["bytes32", "uint256"], data[4:])
        return condition, units
    raise RpcError(3, "execution reverted: unknown call")


@dataclass
class SimChain:
    """The node's state; `chain_http.ChainServer` serves it over HTTP."""

    contracts: Contracts
    chain_id: int = 137
    block_time: tuple[float, float] = (0.0, 0.0)  # seconds in the mempool, drawn per tx
    seed: int = 0
    mining: bool = True  # False: nothing is mined until mine()
    lose_receipts: bool = False  # answers no receipt (a lagging node)
    no_gas: bool = False  # senders have no POL for gas
    clock: Callable[[], float] = time.monotonic
    nonces: dict[str, int] = field(default_factory=dict)  # next nonce per sender (mined)
    sent: list[SentTransaction] = field(default_factory=list)  # every broadcast, repeats too
    pool: dict[str, SentTransaction] = field(default_factory=dict)
    receipts: dict[str, int] = field(default_factory=dict)  # tx hash -> status
    merges: list[tuple[str, bytes, int]] = field(default_factory=list)  # (owner, condition, units)
    methods: list[str] = field(default_factory=list)
    _due: dict[str, float] = field(default_factory=dict)
    _mined: dict[str, SentTransaction] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def mine(self) -> None:
        """Mine every pending transaction now (in nonce order)."""
        with self._lock:
            self._mine_due(force=True)

    def answer(self, method: str, params: list[Any]) -> Any:
        with self._lock:
            self.methods.append(method)
            if self.mining:
                self._mine_due()
            handler = getattr(self, "_" + method, None)
            if handler is None:
                raise RpcError(-32601, f"method {method} not found")
            return handler(*params)

    # -- mining ------------------------------------------------------------------------------

    def _mine_due(self, force: bool = False) -> None:
        now = self.clock()
        for tx in sorted(self.pool.values(), key=lambda t: (t.sender, t.nonce)):
            expected = self.nonces.get(tx.sender, 0)
            if tx.nonce < expected:  # its nonce went to another transaction
                del self.pool[tx.tx_hash]
            elif tx.nonce == expected and (force or self._due[tx.tx_hash] <= now):
                del self.pool[tx.tx_hash]
                self._mine(tx)

    def _mine(self, tx: SentTransaction) -> None:
        self.nonces[tx.sender] = tx.nonce + 1
        self._mined[tx.tx_hash] = tx
        try:
            condition, units = merge_call(tx.to, tx.data)
            self.contracts.merge(tx.sender, condition, units, tx.tx_hash)
        except RpcError:
            self.receipts[tx.tx_hash] = 0
            return
        self.merges.append((tx.sender, condition, units))
        self.receipts[tx.tx_hash] = 1

    # -- JSON-RPC ----------------------------------------------------------------------------

    def _eth_chainId(self) -> str:
        return hex(self.chain_id)

    def _eth_getTransactionCount(self, address: str, block: str) -> str:
        count = self.nonces.get(address.lower(), 0)
        if block == "pending":
            count += sum(1 for tx in self.pool.values() if tx.sender == address.lower())
        return hex(count)

    def _eth_maxPriorityFeePerGas(self) -> str:
        return hex(2 * 10**9)  # under Polygon's floor: the merger raises it

    def _eth_gasPrice(self) -> str:
        return hex(BASE_FEE + 2 * 10**9)

    def _eth_feeHistory(self, count: Any, newest: str, percentiles: Any = None) -> dict[str, Any]:
        return {
            "oldestBlock": "0x10",
            "baseFeePerGas": [hex(BASE_FEE), hex(BASE_FEE)],
            "gasUsedRatio": [0.5],
            "reward": [[hex(2 * 10**9)]],
        }

    def _eth_blockNumber(self) -> str:
        return "0x10"

    def _eth_call(self, call: dict[str, Any], block: Any = None) -> str:
        data = bytes.fromhex(call["data"].removeprefix("0x"))
        if call["to"].lower() != CTF or data[:4] != BALANCE_OF:
            raise RpcError(3, "execution reverted: unknown call")
        owner, token_id = decode(["address", "uint256"], data[4:])
        return "0x" + encode(["uint256"], [self.contracts.balance(owner.lower(), token_id)]).hex()

    def _eth_estimateGas(self, call: dict[str, Any], block: Any = None) -> str:
        data = bytes.fromhex(call["data"].removeprefix("0x"))
        condition, units = merge_call(call["to"].lower(), data)
        self.contracts.check_merge(call["from"].lower(), condition, units)
        return hex(GAS_USED)

    def _eth_sendRawTransaction(self, raw: str) -> str:
        tx = SentTransaction.decode(raw)
        self.sent.append(tx)
        if tx.chain_id != self.chain_id:
            raise RpcError(-32000, "invalid chain id")
        if self.no_gas:
            raise RpcError(-32000, "insufficient funds for gas * price + value")
        if tx.tx_hash in self.pool or tx.tx_hash in self._mined:
            raise RpcError(-32000, "already known")
        if tx.nonce < self.nonces.get(tx.sender, 0):
            raise RpcError(-32000, "nonce too low")
        if any((p.sender, p.nonce) == (tx.sender, tx.nonce) for p in self.pool.values()):
            raise RpcError(-32000, "replacement transaction underpriced")
        self.pool[tx.tx_hash] = tx
        self._due[tx.tx_hash] = self.clock() + self._rng.uniform(*self.block_time)
        if self.mining:
            self._mine_due()
        return tx.tx_hash

    def _eth_getTransactionReceipt(self, tx_hash: str) -> dict[str, Any] | None:
        status = self.receipts.get(tx_hash)
        if status is None or self.lose_receipts:
            return None
        tx = self._mined[tx_hash]
        return {
            "transactionHash": tx_hash,
            "transactionIndex": "0x0",
            "blockHash": "0x" + "ab" * 32,
            "blockNumber": "0x11",
            "from": tx.sender,
            "to": tx.to,
            "cumulativeGasUsed": hex(GAS_USED),
            "gasUsed": hex(GAS_USED),
            "effectiveGasPrice": hex(BASE_FEE + 30 * 10**9),
            "contractAddress": None,
            "logs": [],
            "logsBloom": "0x" + "00" * 256,
            "status": hex(status),
            "type": "0x2",
        }

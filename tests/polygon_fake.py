"""A small Polygon JSON-RPC node for tests (no internet): the Conditional Tokens contract's
ERC-1155 balances and `mergePositions`, the NegRiskAdapter's `mergePositions`, and a mempool.

It answers what web3.py asks for a merge (eth_chainId, eth_getTransactionCount,
eth_maxPriorityFeePerGas, eth_feeHistory, eth_estimateGas, eth_call for balanceOf,
eth_sendRawTransaction, eth_getTransactionReceipt), decodes every raw transaction it is sent
(sender, chain id, nonce, target, calldata) and keeps them in `sent` for the tests to assert.
A transaction is mined when it arrives (`mining=False` keeps it pending until `mine()`); a
merge burns one YES and one NO per unit, once: its nonce cannot be used twice.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_abi import decode, encode
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak
from hexbytes import HexBytes

CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
NEG_RISK_ADAPTER = "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296"
USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
MERGE_CTF = keccak(text="mergePositions(address,bytes32,bytes32,uint256[],uint256)")[:4]
MERGE_NEG_RISK = keccak(text="mergePositions(bytes32,uint256)")[:4]
BALANCE_OF = keccak(text="balanceOf(address,uint256)")[:4]
BASE_FEE = 40 * 10**9
GAS_USED = 120_000


@dataclass
class SentTransaction:
    raw: str
    tx_hash: str
    sender: str
    chain_id: int
    nonce: int
    to: str
    data: bytes

    def merge_args(self) -> tuple[Any, ...]:
        """The decoded arguments of a merge (CTF or NegRiskAdapter)."""
        selector, body = self.data[:4], self.data[4:]
        if selector == MERGE_CTF:
            return tuple(decode(["address", "bytes32", "bytes32", "uint256[]", "uint256"], body))
        assert selector == MERGE_NEG_RISK, selector.hex()
        return tuple(decode(["bytes32", "uint256"], body))


@dataclass
class PolygonFake:
    """State of the fake chain; `serve()` runs it on a free loopback port."""

    chain_id: int = 137
    mining: bool = True
    lose_receipts: bool = False  # the node answers no receipt (a lagging node)
    balances: dict[tuple[str, int], int] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)  # mined transactions per sender
    sent: list[SentTransaction] = field(default_factory=list)  # every broadcast, repeats too
    pool: dict[str, SentTransaction] = field(default_factory=dict)
    receipts: dict[str, int] = field(default_factory=dict)  # tx hash -> status
    merges: list[tuple[str, bytes, int]] = field(default_factory=list)  # (owner, condition, units)
    methods: list[str] = field(default_factory=list)
    # Condition id -> (YES, NO) token ids, for the merges to burn.
    tokens: dict[bytes, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, owner: str, token_id: str, units: int) -> None:
        self.balances[(owner.lower(), int(token_id))] = units

    def balance(self, owner: str, token_id: str) -> int:
        return self.balances.get((owner.lower(), int(token_id)), 0)

    def mine(self) -> None:
        with self._lock:
            for tx_hash in list(self.pool):
                self._mine(self.pool.pop(tx_hash))

    # -- JSON-RPC --------------------------------------------------------------------------

    def answer(self, method: str, params: list[Any]) -> Any:
        with self._lock:
            self.methods.append(method)
            handler = getattr(self, "_" + method, None)
            if handler is None:
                raise RpcError(-32601, f"method {method} not found")
            return handler(*params)

    def _eth_chainId(self) -> str:
        return hex(self.chain_id)

    def _eth_getTransactionCount(self, address: str, block: str) -> str:
        mined = self.nonces.get(address.lower(), 0)
        if block == "pending":
            mined += sum(1 for tx in self.pool.values() if tx.sender == address.lower())
        return hex(mined)

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
        assert call["to"].lower() == CTF and data[:4] == BALANCE_OF, call
        owner, token_id = decode(["address", "uint256"], data[4:])
        return "0x" + encode(["uint256"], [self.balances.get((owner.lower(), token_id), 0)]).hex()

    def _eth_estimateGas(self, call: dict[str, Any], block: Any = None) -> str:
        data = bytes.fromhex(call["data"].removeprefix("0x"))
        self._check_merge(call["from"].lower(), call["to"].lower(), data)
        return hex(GAS_USED)

    def _eth_sendRawTransaction(self, raw: str) -> str:
        body = bytes.fromhex(raw.removeprefix("0x"))
        fields = TypedTransaction.from_bytes(HexBytes(body)).as_dict()
        tx = SentTransaction(
            raw=raw,
            tx_hash="0x" + keccak(body).hex(),
            sender=Account.recover_transaction(body).lower(),
            chain_id=fields["chainId"],
            nonce=fields["nonce"],
            to="0x" + bytes(fields["to"]).hex(),
            data=bytes(fields["data"]),
        )
        self.sent.append(tx)
        if tx.chain_id != self.chain_id:
            raise RpcError(-32000, "invalid chain id")
        if tx.tx_hash in self.pool or tx.tx_hash in self.receipts:
            raise RpcError(-32000, "already known")
        if tx.nonce < self.nonces.get(tx.sender, 0):
            raise RpcError(-32000, "nonce too low")
        self.pool[tx.tx_hash] = tx
        if self.mining:
            self._mine(self.pool.pop(tx.tx_hash))
        return tx.tx_hash

    def _eth_getTransactionReceipt(self, tx_hash: str) -> dict[str, Any] | None:
        status = self.receipts.get(tx_hash)
        if status is None or self.lose_receipts:
            return None
        tx = next(t for t in self.sent if t.tx_hash == tx_hash)
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

    # -- the contracts -----------------------------------------------------------------------

    def _check_merge(self, owner: str, to: str, data: bytes) -> tuple[bytes, int]:
        """The merge's condition and units; reverts (RpcError 3) as the contract would."""
        if to == CTF and data[:4] == MERGE_CTF:
            collateral, parent, condition, partition, units = decode(
                ["address", "bytes32", "bytes32", "uint256[]", "uint256"], data[4:]
            )
            if collateral.lower() != USDC_E or parent != b"\0" * 32 or list(partition) != [1, 2]:
                raise RpcError(3, "execution reverted")
        elif to == NEG_RISK_ADAPTER and data[:4] == MERGE_NEG_RISK:
            condition, units = decode(["bytes32", "uint256"], data[4:])
        else:
            raise RpcError(3, "execution reverted: unknown call")
        yes, no = self.tokens[condition]
        if min(self.balances.get((owner, yes), 0), self.balances.get((owner, no), 0)) < units:
            raise RpcError(3, "execution reverted: insufficient balance")
        return condition, units

    def _mine(self, tx: SentTransaction) -> None:
        self.nonces[tx.sender] = tx.nonce + 1
        try:
            condition, units = self._check_merge(tx.sender, tx.to, tx.data)
        except RpcError:
            self.receipts[tx.tx_hash] = 0
            return
        yes, no = self.tokens[condition]
        self.balances[(tx.sender, yes)] -= units
        self.balances[(tx.sender, no)] -= units
        self.merges.append((tx.sender, condition, units))
        self.receipts[tx.tx_hash] = 1

    # -- the server --------------------------------------------------------------------------

    def serve(self) -> _Running:
        return _Running(self)


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Running:
    """`with PolygonFake().serve() as url:` — the node on a free loopback port."""

    def __init__(self, fake: PolygonFake) -> None:
        self.fake = fake
        fake_ref = fake

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = body if isinstance(body, list) else [body]
                answers = [self._one(call) for call in calls]
                out = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def _one(self, call: dict[str, Any]) -> dict[str, Any]:
                base = {"jsonrpc": "2.0", "id": call.get("id")}
                try:
                    return {**base, "result": fake_ref.answer(call["method"], call["params"])}
                except RpcError as exc:
                    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
                    if exc.code == 3:
                        error["data"] = "0x"
                    return {**base, "error": error}

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v2/rpc-secret-in-path"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _Running:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

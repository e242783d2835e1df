"""The simulated Polygon node (dualmm.sim.chain) over a table of balances, for tests that
need no venue behind it: `fake.hold(...)` gives a wallet tokens, `fake.tokens` maps a
condition to its YES and NO token ids, and a merge burns one YES and one NO per unit."""

from __future__ import annotations

from dataclasses import dataclass, field

from dualmm.sim.chain import CTF, NEG_RISK_ADAPTER, USDC_E, RpcError, SentTransaction, SimChain
from dualmm.sim.chain_http import ChainServer

__all__ = ["CTF", "NEG_RISK_ADAPTER", "USDC_E", "PolygonFake", "SentTransaction"]


@dataclass
class BalanceTable:
    balances: dict[tuple[str, int], int] = field(default_factory=dict)
    tokens: dict[bytes, tuple[int, int]] = field(default_factory=dict)

    def balance(self, owner: str, token_id: int) -> int:
        return self.balances.get((owner, token_id), 0)

    def check_merge(self, owner: str, condition: bytes, units: int) -> None:
        yes, no = self.tokens[condition]
        if min(self.balance(owner, yes), self.balance(owner, no)) < units:
            raise RpcError(3, "execution reverted: insufficient balance")

    def merge(self, owner: str, condition: bytes, units: int, tx_hash: str) -> None:
        self.check_merge(owner, condition, units)
        for token_id in self.tokens[condition]:
            self.balances[(owner, token_id)] -= units


class PolygonFake(SimChain):
    def __init__(self) -> None:
        self.table = BalanceTable()
        super().__init__(contracts=self.table)

    @property
    def tokens(self) -> dict[bytes, tuple[int, int]]:
        return self.table.tokens

    def hold(self, owner: str, token_id: str, units: int) -> None:
        self.table.balances[(owner.lower(), int(token_id))] = units

    def balance(self, owner: str, token_id: str) -> int:
        return self.table.balance(owner.lower(), int(token_id))

    def serve(self) -> ChainServer:
        """`with fake.serve() as node:` the node on a free loopback port; its URL holds a
        'secret' path, as a provider's key would be."""
        return ChainServer(self, path="/v2/rpc-secret-in-path")

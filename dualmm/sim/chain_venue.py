"""The simulated chain's contracts, backed by the simulator's ledger: CTF `balanceOf` reads the
venue wallet's settled tokens and a mined `mergePositions` is the venue's own merge
(`SimVenue.merge`: burns YES and NO, credits USDC), keyed by the transaction's hash. So the
bot's positions and the venue's balances stay comparable after on-chain merges."""

from __future__ import annotations

from decimal import Decimal

from dualmm.exchange.base import NonRetryableError
from dualmm.sim.chain import RpcError
from dualmm.sim.venue import SimVenue

UNITS = Decimal(10**6)  # CTF outcome tokens and USDC.e have 6 decimals


class VenueContracts:
    def __init__(self, venue: SimVenue) -> None:
        self.venue = venue

    def balance(self, owner: str, token_id: int) -> int:
        """Tokens move at settlement: a matched trade's tokens are not on-chain yet."""
        held = self.venue.balances(owner).tokens.get(str(token_id), Decimal(0))
        return int(held * UNITS)

    def check_merge(self, owner: str, condition: bytes, units: int) -> None:
        """What the venue's merge will refuse: tokens locked by open orders or unsettled
        trades count as spent (the venue keeps its books consistent that way)."""
        condition_id = self._condition_id(condition)
        info = self.venue.market(condition_id)
        free = self.venue.available(owner).tokens
        qty = Decimal(units) / UNITS
        for token_id in (info.yes_token_id, info.no_token_id):
            if free.get(token_id, Decimal(0)) < qty:
                raise RpcError(3, "execution reverted: insufficient balance")

    def merge(self, owner: str, condition: bytes, units: int, tx_hash: str) -> None:
        condition_id = self._condition_id(condition)
        try:
            self.venue.merge(owner, condition_id, Decimal(units) / UNITS, key=f"tx:{tx_hash}")
        except NonRetryableError as exc:
            raise RpcError(3, f"execution reverted: {exc}") from None

    def _condition_id(self, condition: bytes) -> str:
        for info in self.venue.markets():
            if info.condition_id.lower() == "0x" + condition.hex():
                return info.condition_id
        raise RpcError(3, "execution reverted: unknown condition")

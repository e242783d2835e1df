"""Value types shared by the domain, the exchange layer and the workflows.

All money is Decimal. Prices are YES-book prices unless a name says otherwise.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Token(StrEnum):
    YES = "YES"
    NO = "NO"

    @property
    def other(self) -> Token:
        return Token.NO if self is Token.YES else Token.YES


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class Stage(StrEnum):
    """Liquidation stages, in escalation order."""

    PASSIVE = "PASSIVE"
    SKEWED = "SKEWED"
    AGGRESSIVE = "AGGRESSIVE"
    MARKET = "MARKET"

    @property
    def rank(self) -> int:
        return _STAGE_RANK[self]

    def escalate_to(self, other: Stage) -> Stage:
        """The later of the two stages: stages never step back."""
        return other if other.rank > self.rank else self


_STAGE_RANK = {Stage.PASSIVE: 0, Stage.SKEWED: 1, Stage.AGGRESSIVE: 2, Stage.MARKET: 3}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MarketInfo(Frozen):
    """Static-ish facts about a binary market (tick size can change while it is live)."""

    condition_id: str
    question: str = ""
    yes_token_id: str
    no_token_id: str
    tick_size: Decimal
    min_order_size: Decimal
    neg_risk: bool = False
    rewards_daily_rate: Decimal = Decimal(0)
    rewards_max_spread_cents: Decimal = Decimal(0)
    rewards_min_size: Decimal = Decimal(0)

    def token_id(self, token: Token) -> str:
        return self.yes_token_id if token is Token.YES else self.no_token_id

    def token_of(self, token_id: str) -> Token:
        if token_id == self.yes_token_id:
            return Token.YES
        if token_id == self.no_token_id:
            return Token.NO
        raise ValueError(f"token {token_id} is not in market {self.condition_id}")


class MarketSnapshot(Frozen):
    """What a decision needs to know about a market right now (YES book)."""

    condition_id: str
    tick_size: Decimal
    min_order_size: Decimal
    midpoint: Decimal
    best_bid: Decimal | None
    best_ask: Decimal | None
    at: datetime


class Fill(Frozen):
    """One trade of ours. `status` FAILED means a trade reported earlier must be reversed."""

    trade_id: str
    condition_id: str
    token: Token
    side: Side
    price: Decimal
    size: Decimal
    at: datetime
    order_id: str = ""
    status: str = "MATCHED"
    fee: Decimal = Decimal(0)  # USDC paid to the venue for this fill (a taker fee)


class OrderIntent(Frozen):
    """An order we want resting on the book."""

    token: Token
    side: Side
    price: Decimal
    size: Decimal

"""The market-making round's types: what the workflow sends the `make_market`, `pick_market`
and `withdraw_quotes` activities, what a round heartbeats (its Checkpoint) and reports, and
what it returns. Light on purpose: the workflows import them through the sandbox."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from dualmm.config import MarketMakerConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Frozen, MarketInfo, OrderIntent, Side, Token

# Where a round sees its market (Checkpoint.market_feed).
MARKET_CHANNEL = "MARKET_CHANNEL"
POLL = "POLL"


class Quote(Frozen):
    """One of our live BUY quotes; `size` is what remains unfilled."""

    order_id: str
    token: Token
    price: Decimal
    size: Decimal

    def intent(self) -> OrderIntent:
        return OrderIntent(token=self.token, side=Side.BUY, price=self.price, size=self.size)


class PickMarketInput(Frozen):
    exclude: tuple[str, ...] = ()
    config: MarketMakerConfig
    liquidity_budget: Decimal
    # The market being made, ranked with the others: it is kept unless the best earns over
    # `1 + switch_margin` times as much per USDC (`dualmm.domain.rotation.market_to_quote`).
    active: str | None = None
    switch_margin: Decimal = Decimal(0)


class MarketMakingInput(Frozen):
    parent_workflow_id: str
    market: MarketInfo
    config: MarketMakerConfig
    position: PositionTracker
    # Fill cursor to resume from; None: a fresh round, older fills belong to earlier rounds.
    cursor: str | None
    key_prefix: str
    quoted_seconds: Decimal = Decimal(0)
    progress_interval_seconds: Decimal = Decimal(2)


class Checkpoint(Frozen):
    """What an attempt heartbeats and what a retried attempt resumes from."""

    position: PositionTracker
    cursor: str
    quotes: tuple[Quote, ...] = ()
    sequence: int = 0
    quoted_mid: Decimal | None = None  # the YES midpoint the quotes were priced at
    # Time with at least one quote live, counted up to `quoting_since` (wall clock, UTC); that
    # is None when no quote is live. Steady quotes send no progress, so a reader adds the
    # time since (`quoted_seconds_at`).
    quoted_seconds: Decimal = Decimal(0)
    quoting_since: datetime | None = None
    # Liquidity rewards the venue reports for today (UTC), all markets; None: not read yet.
    venue_rewards_today: Decimal | None = None
    # The venue's clock when a withdrawal last read the fills: a paused round waits for its
    # trades to settle until SETTLE_WAIT by this clock.
    read_at: datetime | None = None
    # Where the round sees its market: MARKET_CHANNEL or POLL (no channel, or it is down).
    market_feed: str | None = None

    def quoted_seconds_at(self, now: datetime) -> Decimal:
        """The time with a quote live, up to `now`."""
        if self.quoting_since is None or now <= self.quoting_since:
            return self.quoted_seconds
        since = (now - self.quoting_since).total_seconds()
        return self.quoted_seconds + Decimal(str(round(since, 3)))

    def with_quotes(self, quotes: tuple[Quote, ...], now: datetime) -> Checkpoint:
        """The live quotes replaced at `now`, their time accounted up to it."""
        return self.model_copy(
            update={
                "quotes": quotes,
                "quoted_seconds": self.quoted_seconds_at(now),
                "quoting_since": now if quotes else None,
            }
        )


class Outcome(StrEnum):
    POSITION_LIMIT = "POSITION_LIMIT"  # quotes cancelled, the parent got `position_limit`
    STOPPED = "STOPPED"  # the workflow cancelled the round (pause, exit, continue-as-new)


class MarketProgress(Frozen):
    """The round's state, for the parent's `status` query and for a restart of the round."""

    market: MarketInfo
    checkpoint: Checkpoint


class MarketMakingResult(Frozen):
    outcome: Outcome
    market: MarketInfo
    checkpoint: Checkpoint


class PositionLimit(Frozen):
    """The `position_limit` signal: this market's position must be liquidated."""

    market: MarketInfo
    position: PositionTracker
    cursor: str | None


class WithdrawRequest(Frozen):
    """A round to take off the book; its fills since its last checkpoint are read too."""

    market: MarketInfo
    checkpoint: Checkpoint


class RunningLiquidation(Frozen):
    """A LiquidationWorkflow found running when a bot starts (one a terminated parent left)."""

    workflow_id: str
    started_at: datetime
    held: Token | None = None  # from its status query; None when it did not answer
    qty: Decimal = Decimal(0)
    stage: str | None = None

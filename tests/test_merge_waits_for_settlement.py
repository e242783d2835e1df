"""A liquidation merges its YES+NO pairs once the trades behind them have settled, and does not
end holding pairs it could still merge.

The venue moves balances only when a trade is CONFIRMED, so pairs a round bought a moment ago
are not on-chain yet and a merge of them is refused. Before, a liquidation handed such pairs
spent its three merge attempts while they settled (in one burst, when an order of its own
filled at once) and then ended "flat" holding them. Those pairs stayed in the wallet while the
bot's books gave them to a finished liquidation: a later liquidation on the same market could
then sell shares of them (its own buy having FAILED), which no owner's position can account for
(a 15-minute chaos run ended 40 NO short of the bot's books this way).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import Fill, MarketInfo, MarketSnapshot, Side, Token
from dualmm.exchange.base import Order, PlaceOrder
from dualmm.exchange.sync import PositionSync
from dualmm.liquidator import CheckFailed, Liquidation, LiquidationResult

D = Decimal
START = datetime(2026, 1, 21, 12, tzinfo=UTC)
MARKET = MarketInfo(
    condition_id="0xpairs",
    yes_token_id="yes",
    no_token_id="no",
    tick_size=D("0.01"),
    min_order_size=D(5),
)
CHECK = timedelta(seconds=30)


def bought(trade_id: str, token: Token, status: str) -> Fill:
    return Fill(
        trade_id=trade_id,
        condition_id=MARKET.condition_id,
        token=token,
        side=Side.BUY,
        price=D("0.45"),
        size=D(20),
        at=START,
        status=status,
    )


class SettlingVenue:
    """A liquidation port over a venue whose two buys confirm `settle_checks` checks after the
    start: until then a merge is refused, as the venue refuses to merge tokens it has not
    credited yet."""

    def __init__(self, settle_checks: int, horizon: datetime) -> None:
        self.settle_at = START + settle_checks * CHECK
        self.horizon = horizon
        self.merges: list[tuple[datetime, Decimal]] = []
        self.refused: list[datetime] = []
        self.now = START

    async def sleep_until(self, at: datetime) -> datetime | None:
        if at > self.horizon:
            return None
        self.now = max(self.now, at)
        return self.now

    def settled(self) -> bool:
        return self.now >= self.settle_at

    async def sync(
        self,
        cursor: str | None,
        resting_order_id: str | None,
        at: datetime,
        position: PositionTracker,
        fills: tuple[Fill, ...],
        order_ids: tuple[str, ...],
    ) -> PositionSync:
        status = "CONFIRMED" if self.settled() else "MATCHED"
        reports = [bought("yes-buy", Token.YES, status), bought("no-buy", Token.NO, status)]
        snapshot = MarketSnapshot(
            condition_id=MARKET.condition_id,
            tick_size=MARKET.tick_size,
            min_order_size=MARKET.min_order_size,
            midpoint=D("0.50"),
            best_bid=D("0.49"),
            best_ask=D("0.51"),
            at=at,
        )
        return PositionSync(
            snapshot=snapshot,
            position=position.apply_fills(reports),
            fills=fills,
            cursor="c",
            resting_remaining=None,
        )

    async def place(self, order: PlaceOrder) -> Order:
        raise AssertionError(f"nothing to sell: {order}")

    async def cancel(self, order_id: str) -> None:
        raise AssertionError(f"nothing to cancel: {order_id}")

    async def merge(self, qty: Decimal, key: str) -> Decimal:
        if not self.settled():
            self.refused.append(self.now)
            raise CheckFailed(f"InsufficientBalance: merge of {qty} pairs: 0 YES and 0 NO")
        self.merges.append((self.now, qty))
        return qty

    async def escalated(self, state: LiquidationState, reason: str, at: datetime) -> None:
        pass


def handed_pairs() -> PositionTracker:
    """What a round hands over: 20 YES and 20 NO just bought, not settled yet."""
    return PositionTracker().apply_fills(
        [bought("yes-buy", Token.YES, "MATCHED"), bought("no-buy", Token.NO, "MATCHED")]
    )


async def run(port: SettlingVenue) -> LiquidationResult:
    liquidation = Liquidation(
        port,
        MARKET,
        handed_pairs(),
        LiquidationConfig(price_check_interval_ms=int(CHECK.total_seconds() * 1000)),
        LiquidationState.start(MARKET.condition_id, START),
        merge_id="liquidation-0xpairs",
    )
    return await liquidation.run(START)


async def test_pairs_still_settling_are_merged_once_settled() -> None:
    port = SettlingVenue(settle_checks=5, horizon=START + timedelta(hours=1))
    result = await run(port)
    assert port.refused == [], "a merge of unsettled pairs is refused: it must wait"
    assert port.merges == [(START + 5 * CHECK, D(20))]
    assert result.status == "closed"
    position = result.position
    assert (position.yes_qty, position.no_qty) == (D(0), D(0))
    assert result.realized_pnl == D("2.00")  # 20 * (1 - 0.90)


class NoMerger(SettlingVenue):
    """A wallet the worker cannot merge for (no on-chain path): every merge is refused."""

    async def merge(self, qty: Decimal, key: str) -> Decimal:
        self.refused.append(self.now)
        raise CheckFailed("no on-chain merge for this wallet")


async def test_pairs_that_cannot_be_merged_are_kept_after_the_attempts() -> None:
    """Refusals of settled pairs are real: after its attempts, one check apart, the
    liquidation ends flat holding them (they redeem at the resolution)."""
    port = NoMerger(settle_checks=0, horizon=START + timedelta(hours=1))
    result = await run(port)
    assert port.refused == [START, START + CHECK, START + 2 * CHECK]
    assert result.status == "closed"
    position = result.position
    assert (position.yes_qty, position.no_qty) == (D(20), D(20))

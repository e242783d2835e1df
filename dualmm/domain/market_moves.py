"""When a change of the market calls for our quotes at once, rather than at the next poll.

The market channel reports every change of the book; most leave our quotes as they should be.
The quote loop acts at once when the reference midpoint (the book without our orders) moved
by the requote threshold since the quotes were priced, when the tick size changed, or when a
trade went off at or through one of our prices (a fill is likely: read it now). Everything
else waits for the poll.

A market that resolved (`reason_to_leave`) is left at once: the venue cancelled every order
in it and takes no more, so nothing quoted there can earn.

A liquidation waiting between its checks (`reason_to_recheck`) looks again at once when the
reference midpoint moved a tick from the one its PASSIVE or SKEWED order was priced at, or
crossed its stop-loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from dualmm.domain.book import Level, reference_midpoint, without_own
from dualmm.domain.prices import ONE
from dualmm.domain.quoting import needs_requote
from dualmm.domain.types import Frozen, MarketInfo, OrderIntent, Side, Token


class TradePrint(Frozen):
    """A trade the venue reported in one of the market's tokens."""

    token: Token
    price: Decimal


class MarketResolution(Frozen):
    """A market's resolution as the venue announced it (`market_resolved`)."""

    winning_asset_id: str
    winning_outcome: str


def reason_to_leave(market: MarketInfo, resolution: MarketResolution | None) -> str | None:
    """Why the quote loop must leave the market now, whatever its book says (None: stay)."""
    if resolution is None:
        return None
    why = f"market resolved: {resolution.winning_outcome} won"
    for token in Token:
        if market.token_id(token) == resolution.winning_asset_id:
            return f"{why} (the {token.value} token)"
    return why


def trade_reaches(trade: TradePrint, quote: OrderIntent) -> bool:
    """Whether a trade went off at or through a BUY quote's price, on its token or mirrored
    on the other one (a NO bid at p is a YES ask at 1 - p)."""
    if quote.side is not Side.BUY:
        return False
    if trade.token is quote.token:
        return trade.price <= quote.price
    return trade.price >= ONE - quote.price


def reason_to_requote(
    *,
    bids: Sequence[Level],
    asks: Sequence[Level],
    tick: Decimal,
    quoted_tick: Decimal,
    quoted_mid: Decimal | None,
    threshold: Decimal,
    quotes: Iterable[OrderIntent],
    trades: Iterable[TradePrint] = (),
) -> str | None:
    """Why the quote loop must look at the market now (None: the quotes stand). `bids` and
    `asks` are the YES book as it is now, our own `quotes` still in it."""
    quotes = tuple(quotes)
    if tick != quoted_tick:
        return f"tick size {quoted_tick} -> {tick}"
    for trade in trades:
        if any(trade_reaches(trade, quote) for quote in quotes):
            return f"trade at {trade.price} {trade.token} reaches our bid"
    others_bids, others_asks = without_own(bids, asks, quotes)
    mid = reference_midpoint(others_bids, others_asks, tick)
    if mid is None:
        return "nobody else quotes" if quotes else None
    if quoted_mid is not None and needs_requote(quoted_mid, mid, threshold):
        return f"midpoint {quoted_mid} -> {mid}"
    return None


class StopLossWatch(Frozen):
    """The position's totals (its unrealized P&L at a midpoint) and the stop-loss threshold."""

    yes_qty: Decimal
    yes_cost: Decimal
    no_qty: Decimal
    no_cost: Decimal
    threshold: Decimal

    def crossed(self, yes_mid: Decimal) -> bool:
        """The rule of the liquidation engine: unrealized P&L below the threshold."""
        unrealized = self.yes_qty * yes_mid - self.yes_cost + self.no_qty * (ONE - yes_mid)
        return unrealized - self.no_cost < self.threshold


class MoveWatch(Frozen):
    """What a liquidation watches the market for between checks (see move_watch in
    dualmm.domain.liquidation): the reference midpoint and tick its last check priced at,
    its resting order (taken out of the book), whether the order's price follows the
    midpoint, and the stop-loss if armed."""

    priced_mid: Decimal
    priced_tick: Decimal
    own: tuple[OrderIntent, ...]
    reprice: bool
    stop_loss: StopLossWatch | None = None


def reason_to_recheck(
    watch: MoveWatch, *, bids: Sequence[Level], asks: Sequence[Level], tick: Decimal
) -> str | None:
    """Why a waiting liquidation must check now (None: its next check stands). `bids` and
    `asks` are the YES book as it is now, our order still in it. Only a change since the last
    check counts, so the check that follows does not call for another."""
    if watch.reprice and tick != watch.priced_tick:
        return f"tick size {watch.priced_tick} -> {tick}"
    others_bids, others_asks = without_own(bids, asks, watch.own)
    mid = reference_midpoint(others_bids, others_asks, tick)
    if mid is None:
        return None  # nobody else quotes: nothing to price at before the check
    if watch.stop_loss is not None and watch.stop_loss.crossed(mid):
        return f"stop-loss crossed at midpoint {mid}"
    if watch.reprice and abs(mid - watch.priced_mid) >= watch.priced_tick:
        return f"midpoint {watch.priced_mid} -> {mid}"
    return None

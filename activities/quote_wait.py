"""The round's wait between looks: until a fill notice, a change of its market that calls
for the quotes (`reason_to_requote`, on the venue's market channel), or the poll. A layer of
the round (activities.quote_round), not a class of its own."""

from __future__ import annotations

import time
from decimal import Decimal

from temporalio import activity

from activities.attempt import Attempt
from activities.market_making_types import MARKET_CHANNEL, POLL, Checkpoint, MarketMakingInput
from dualmm.domain.market_moves import TradePrint, reason_to_leave, reason_to_requote
from dualmm.domain.types import MarketInfo, Token
from dualmm.exchange.base import Exchange, MarketFeed, Wake

# With the market channel live the REST poll is a safety net: fills wake the round (user
# channel, or a trade at our price on the market channel), and so does every move that counts.
LIVE_POLL_SECONDS = 30.0


class RoundWait:
    """The round's state the wait reads, its heartbeat, and the wait itself."""

    _exchange: Exchange
    _feed: MarketFeed | None
    _market: MarketInfo
    _request: MarketMakingInput
    _checkpoint: Checkpoint
    _quoted_tick: Decimal  # the tick size the quotes were priced on
    _trades_seen: dict[str, int]  # per token: the market channel's trade count at the last look
    attempt: Attempt | None  # heartbeats and lease (activities.attempt)

    async def _wait_for_news(self, fill_mark: int, market_mark: int, interval: float) -> None:
        """Until a fill notice, a change of the market that calls for the quotes, or the poll."""
        condition_id = self._market.condition_id
        feed = self._feed
        if feed is None:
            await self._exchange.wait_for_fill(condition_id, fill_mark, interval)
            return
        started = time.monotonic()
        while True:
            live = await feed.market_live(condition_id)
            self._set_feed(MARKET_CHANNEL if live else POLL)
            poll = max(interval, LIVE_POLL_SECONDS) if live else interval
            left = started + poll - time.monotonic()
            if left <= 0:
                return
            wake = await feed.wait_for_market(
                self._market, fill_mark, market_mark, min(left, interval)
            )
            if wake is Wake.FILL:
                return
            if wake is Wake.TIMEOUT:
                self._heartbeat()  # alive between polls (no venue request)
                continue
            market_mark = await feed.market_mark(condition_id)
            if not await feed.market_live(condition_id):
                if live:
                    return  # the channel just went down: look now, then poll
                continue
            reason = await self._market_calls()
            if reason is not None:
                activity.logger.info(
                    "market moved: %s", reason, extra={"market": self._market.condition_id}
                )
                return

    async def _resolved(self) -> str | None:
        """Why the market must be left whatever its book says (reason_to_leave)."""
        feed, condition_id = self._feed, self._market.condition_id
        resolution = await feed.market_resolution(condition_id) if feed else None
        return reason_to_leave(self._market, resolution)

    async def _market_calls(self) -> str | None:
        """Why the book as it is now calls for the quotes (reason_to_requote)."""
        assert self._feed is not None
        if (resolved := await self._resolved()) is not None:
            return resolved
        market = self._market
        book = await self._exchange.book(market.yes_token_id)  # the pushed book: no request
        trades = []
        for token in (Token.YES, Token.NO):
            token_id = market.token_id(token)
            count, price = await self._feed.trades_seen(token_id)
            if count != self._trades_seen.get(token_id, count) and price is not None:
                trades.append(TradePrint(token=token, price=price))
            self._trades_seen[token_id] = count
        return reason_to_requote(
            bids=[(x.price, x.size) for x in book.bids],
            asks=[(x.price, x.size) for x in book.asks],
            tick=book.tick_size,
            quoted_tick=self._quoted_tick,
            quoted_mid=self._checkpoint.quoted_mid,
            threshold=self._request.config.requote_threshold,
            quotes=[q.intent() for q in self._checkpoint.quotes],
            trades=trades,
        )

    def _set_feed(self, feed: str) -> None:
        if self._checkpoint.market_feed != feed:
            self._checkpoint = self._checkpoint.model_copy(update={"market_feed": feed})
            self._heartbeat()

    def _heartbeat(self) -> None:
        if self.attempt is None:
            activity.heartbeat(self._checkpoint)
        else:
            self.attempt.beat()

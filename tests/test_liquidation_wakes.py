"""A liquidation wakes on the market between its checks (issue 18): a move of the reference
midpoint re-prices its PASSIVE order within one pushed event, and a stop-loss crossing goes to
MARKET at once, not at the next 30 s check. Its timers still set the checks otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from liquidation_harness import WAIT_LIMIT_SECONDS, Liquidation, one_market, running_liquidation
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

import activities.liquidation as liquidation_activities
from activities.liquidation import LiquidationActivities, MarketMove, MoveWaitRequest
from dualmm.config import LiquidationConfig
from dualmm.domain.liquidation import LiquidationState, move_watch
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo, MarketSnapshot, Stage, Token
from dualmm.exchange.base import Wake
from dualmm.exchange.market_channel import market_key
from dualmm.exchange.wake import FillWaker
from dualmm.replay import REPLAY_WALLET, opening_position
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue
from dualmm.temporal_replay import scenario_venue

D = Decimal
CHECK_SECONDS = 30  # the default price check: a re-price before it is the market's doing


class PushedBooks(SimExchange):
    """The in-process venue with a market channel the test drives (`push`)."""

    def __init__(self, venue: SimVenue) -> None:
        super().__init__(venue, REPLAY_WALLET)
        self.waker = FillWaker()
        self.waits = 0

    def push(self, condition_id: str) -> None:
        self.waker.notify(market_key(condition_id))

    async def market_live(self, condition_id: str) -> bool:
        return True

    async def market_mark(self, condition_id: str) -> int:
        return self.waker.mark(market_key(condition_id))

    async def trades_seen(self, token_id: str) -> tuple[int, Decimal | None]:
        return 0, None

    async def market_resolution(self, condition_id: str) -> MarketResolution | None:
        return await self.listed_resolution(condition_id)  # announced as it happens

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        self.waits += 1
        condition_id = market.condition_id
        woke = await self.waker.wait_any(
            {condition_id: fill_mark, market_key(condition_id): market_mark}, timeout
        )
        if woke is None:
            return Wake.TIMEOUT
        return Wake.FILL if woke == condition_id else Wake.MARKET


async def move_after_first_check(run: Liquidation, feed: PushedBooks, priced: Decimal) -> None:
    """Once the first check has placed its order at `priced` and the watch waits on the
    channel, the venue moves to its path's next point (1 s on) and the channel says so."""
    await run.wait_status(lambda s: s.order is not None and s.order.price == priced)
    waits = feed.waits
    await run.wait_status(lambda s: feed.waits > waits)  # watching after the check
    run.venue.advance_to(run.start + timedelta(seconds=1))
    feed.push(run.handle.id.removeprefix("liquidation-"))


class OneFeed:
    """`running_liquidation`'s exchange: the venue behind a channel of `kind`, kept for the
    test to push on and count waits of."""

    def __init__(self, kind: Callable[[SimVenue], PushedBooks] = PushedBooks) -> None:
        self._kind = kind
        self._feed: PushedBooks | None = None

    def __call__(self, venue: SimVenue) -> PushedBooks:
        self._feed = self._kind(venue)
        return self._feed

    @property
    def feed(self) -> PushedBooks:
        assert self._feed is not None, "the liquidation has not started"
        return self._feed


async def test_a_passive_order_reprices_on_a_move_between_checks(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # 20 YES at 0.40 (floor 0.41): PASSIVE at the midpoint 0.60; the market falls to 0.55.
    scenario = one_market([(0, "0.60"), (1, "0.55")], qty="20", avg_cost="0.40")
    channel = OneFeed()

    async with running_liquidation(
        temporal_env, task_queue, scenario, exchange=channel, watch=True
    ) as run:
        await move_after_first_check(run, channel.feed, D("0.60"))
        status = await run.wait_status(lambda s: s.order is not None and s.order.price != D("0.60"))
        assert status.order is not None and status.order.price == D("0.55")
        assert status.stage is Stage.PASSIVE
        assert status.elapsed_seconds < CHECK_SECONDS
        assert [o.price for o in run.open_orders()] == [D("0.55")]


async def test_a_stop_loss_crossed_between_checks_goes_to_market_at_once(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # 20 YES at 0.55, stop-loss at -1: the fall from 0.60 to 0.45 makes it -2.
    scenario = one_market([(0, "0.60"), (1, "0.45")], qty="20", avg_cost="0.55")
    config = LiquidationConfig(stop_loss_threshold=D(-1))
    channel = OneFeed()

    async with running_liquidation(
        temporal_env, task_queue, scenario, config=config, exchange=channel, watch=True
    ) as run:
        await move_after_first_check(run, channel.feed, D("0.60"))
        status = await run.wait_status(lambda s: s.stage is Stage.MARKET)
        assert status.elapsed_seconds < CHECK_SECONDS


async def test_a_market_resolved_between_checks_ends_the_liquidation_at_once(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    scenario = one_market([(0, "0.60"), (1, "0.60")], qty="20", avg_cost="0.40")
    channel = OneFeed()

    async with running_liquidation(
        temporal_env, task_queue, scenario, exchange=channel, watch=True
    ) as run:
        feed = channel.feed
        resting = await run.wait_status(lambda s: s.order is not None)
        waits = feed.waits
        await run.wait_status(lambda s: feed.waits > waits)  # watching after the check
        run.venue.resolve(resting.condition_id, Token.YES)
        feed.push(resting.condition_id)
        async with asyncio.timeout(WAIT_LIMIT_SECONDS):
            result = await run.handle.result()
    assert result.status == "resolved"
    assert result.duration_seconds < CHECK_SECONDS
    assert result.realized_pnl == D("12.00")  # 20 * (1 - 0.40)


class DeadWatch(PushedBooks):
    """A watch whose worker is as good as dead: it never answers nor heartbeats again."""

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        self.waits += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_watch_lost_with_its_worker_delays_no_check(
    temporal_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Checks every 3 s; the watch hangs (its heartbeat timeout is 10 s). The market falls at
    # 2 s without a word on the channel: the 3 s timer's check re-prices all the same.
    scenario = one_market([(0, "0.60"), (2, "0.55")], qty="20", avg_cost="0.40")
    config = LiquidationConfig(price_check_interval_ms=3000)
    channel = OneFeed(DeadWatch)

    async with running_liquidation(
        temporal_env, task_queue, scenario, config=config, exchange=channel, watch=True
    ) as run:
        await run.wait_status(lambda s: s.order is not None and s.order.price == D("0.60"))
        await run.wait_status(lambda s: channel.feed.waits > 0)
        status = await run.wait_status(lambda s: s.order is not None and s.order.price != D("0.60"))
        assert status.order is not None and status.order.price == D("0.55")
        assert 3 <= status.elapsed_seconds < 10


class SilentChannel(PushedBooks):
    """A channel that is down: no push ever comes, the watch reads the book over REST."""

    async def market_live(self, condition_id: str) -> bool:
        return False

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        self.waits += 1
        await asyncio.sleep(timeout)
        return Wake.TIMEOUT


def watched_market() -> tuple[SimVenue, MoveWaitRequest]:
    """A venue at 0.60 (0.55 from 1 s on) and a PASSIVE order's watch priced at 0.60."""
    scenario = one_market([(0, "0.60"), (1, "0.55")], qty="20", avg_cost="0.40")
    venue = scenario_venue(scenario, scenario.markets[0])
    market = scenario.markets[0].info()
    snapshot = MarketSnapshot(
        condition_id=market.condition_id,
        tick_size=D("0.01"),
        min_order_size=D(5),
        midpoint=D("0.60"),
        best_bid=None,
        best_ask=None,
        at=venue.now(),
    )
    watch = move_watch(
        LiquidationState.start(market.condition_id, venue.now()),
        opening_position(scenario.markets[0]),
        None,
        snapshot,
        LiquidationConfig(),
    )
    assert watch is not None  # the stop-loss, with no order resting
    watch = watch.model_copy(update={"reprice": True})
    return venue, MoveWaitRequest(market=market, watch=watch, seconds=20)


async def test_a_watch_reads_the_book_over_rest_while_the_channel_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(liquidation_activities, "WATCH_POLL_SECONDS", 0.05)
    venue, request = watched_market()
    feed = SilentChannel(venue)
    watching = asyncio.create_task(
        ActivityEnvironment().run(LiquidationActivities(feed).wait_for_move, request)
    )
    await asyncio.sleep(0.3)
    assert not watching.done() and feed.waits > 1  # polling, nothing moved
    venue.advance(1)  # no push: only a REST read sees it
    move = await asyncio.wait_for(watching, 5)
    assert move == MarketMove(reason="midpoint 0.60 -> 0.55")


async def test_a_venue_without_pushed_books_is_not_watched() -> None:
    venue, request = watched_market()
    activities = LiquidationActivities(SimExchange(venue, REPLAY_WALLET))
    move = await ActivityEnvironment().run(activities.wait_for_move, request)
    assert move == MarketMove(watched=False)

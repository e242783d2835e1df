"""One `make_market` attempt among several workers (activities.attempt), without a server: a
stopping worker hands the round over with its quotes live and its checkpoint heartbeated; an
attempt that lost its place (its heartbeat refused) leaves the venue to the next one; the
heartbeats go on while the quote loop waits on the venue; an attempt whose heartbeats were late
stops before its next venue write; a retried attempt never heartbeats a placeholder over its
predecessor's checkpoint."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from decimal import Decimal
from typing import Any

import pytest
from sim_helpers import FakeParent, market_info, one_market_venue, reward_terms
from temporalio.activity import ActivityCancellationDetails
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.attempt import LEASE_LOST, LEASE_SECONDS, PULSE_SECONDS, WORKER_SHUTDOWN
from activities.market_making import Checkpoint, MarketMakingActivities, MarketMakingInput
from dualmm.config import MarketMakerConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import FillPage, Order, PlaceOrder
from dualmm.sim.exchange import SimExchange
from dualmm.sim.venue import SimVenue

WALLET = "0x" + "22" * 20
MARKET = market_info("0xhandover", "11", "12", **reward_terms("100"))


class Writes(SimExchange):
    """The simulator's exchange, counting its writes (placements and cancels)."""

    def __init__(self, venue: SimVenue) -> None:
        super().__init__(venue, WALLET)
        self.writes: list[str] = []

    async def place_order(self, request: PlaceOrder) -> Order:
        self.writes.append("place")
        return await super().place_order(request)

    async def cancel_order(self, order_id: str) -> None:
        self.writes.append("cancel")
        await super().cancel_order(order_id)


class Round:
    """`make_market` in an ActivityEnvironment; `beats` are its heartbeats' details."""

    def __init__(self, exchange: SimExchange, details: list[Any] | None = None) -> None:
        self.beats: list[tuple[Any, ...]] = []
        self.env = ActivityEnvironment()
        self.env.on_heartbeat = lambda *d: self.beats.append(d)
        if details is not None:
            self.env.info = dataclasses.replace(self.env.info, attempt=2, heartbeat_details=details)
        request = MarketMakingInput(
            parent_workflow_id="parent",
            market=MARKET,
            config=MarketMakerConfig(
                order_size=Decimal(10), position_limit=Decimal(100), quote_interval_ms=50
            ),
            position=PositionTracker(),
            cursor=None,
            key_prefix="handover",
        )
        activities = MarketMakingActivities(exchange, FakeParent())  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.env.run(activities.make_market, request))

    def last(self) -> Checkpoint:
        return Checkpoint.model_validate([d for d in self.beats if d][-1][0])

    async def until_quoted(self) -> None:
        async with asyncio.timeout(30):
            while not (self.beats and any(self.beats) and len(self.last().quotes) == 2):
                await asyncio.sleep(0.02)


def _venue() -> tuple[SimVenue, Writes]:
    venue = one_market_venue(MARKET, WALLET, "handover")
    return venue, Writes(venue)


def _live(venue: SimVenue) -> set[str]:
    return {o.order_id for o in venue.open_orders(WALLET)}


async def test_a_stopping_worker_hands_the_round_over_with_its_quotes_live() -> None:
    venue, exchange = _venue()
    running = Round(exchange)
    await running.until_quoted()
    quoted = _live(venue)
    writes = len(exchange.writes)

    running.env.worker_shutdown()  # SIGTERM: the worker stops polling and drains
    with pytest.raises(ApplicationError) as raised:
        await asyncio.wait_for(running.task, 10)
    assert raised.value.type == WORKER_SHUTDOWN and not raised.value.non_retryable
    assert _live(venue) == quoted and len(exchange.writes) == writes  # nothing withdrawn
    assert {q.order_id for q in running.last().quotes} == quoted  # the next attempt's start

    # The next attempt (another worker) adopts them: nothing placed, nothing cancelled.
    successor = Round(exchange, [running.last().model_dump(mode="json")])
    await successor.until_quoted()
    await asyncio.sleep(0.3)  # a few quote loops
    assert _live(venue) == quoted and len(exchange.writes) == writes
    successor.env.cancel()
    await successor.task


async def test_an_attempt_that_lost_its_place_leaves_the_venue_to_the_next_one() -> None:
    venue, exchange = _venue()
    running = Round(exchange)
    await running.until_quoted()
    quoted, writes = _live(venue), len(exchange.writes)
    # Its heartbeat was refused: the server gave the round to another attempt.
    running.env.cancel(ActivityCancellationDetails(not_found=True))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running.task, 10)
    assert _live(venue) == quoted and len(exchange.writes) == writes


async def test_the_workflows_cancel_still_withdraws_the_quotes() -> None:
    venue, exchange = _venue()
    running = Round(exchange)
    await running.until_quoted()
    running.env.cancel()  # cancel_requested: the workflow ends the round
    await asyncio.wait_for(running.task, 10)
    assert _live(venue) == set()


class Stuck(Writes):
    """Fills reads hang while `stuck` is set (a venue call that takes its time)."""

    stuck = False

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        while self.stuck:
            await asyncio.sleep(0.01)
        return await super().fills(market, cursor)


async def test_heartbeats_go_on_while_the_quote_loop_waits_on_the_venue() -> None:
    venue, exchange = _venue()
    exchange = Stuck(venue)
    running = Round(exchange)
    await running.until_quoted()
    exchange.stuck = True
    await asyncio.sleep(0.1)
    before = len(running.beats)
    await asyncio.sleep(PULSE_SECONDS * 4)
    assert len(running.beats) >= before + 2  # the worker is alive, whatever the loop does
    assert running.last().quotes  # the round's checkpoint, not a placeholder
    exchange.stuck = False
    running.env.cancel()
    await running.task


class Stalls(Writes):
    """The next fills read blocks the whole event loop (an overloaded worker) once."""

    stall = False

    async def fills(self, market: MarketInfo, cursor: str | None = None) -> FillPage:
        if self.stall:
            self.stall = False
            time.sleep(LEASE_SECONDS + 0.5)
        return await super().fills(market, cursor)


async def test_an_attempt_whose_heartbeats_were_late_stops_before_writing() -> None:
    venue, exchange = _venue()
    exchange = Stalls(venue)
    running = Round(exchange)
    await running.until_quoted()
    quoted = _live(venue)
    # The quotes are cancelled behind the bot's back: a healthy round would place them again.
    for order_id in quoted:
        await SimExchange.cancel_order(exchange, order_id)
    writes = len(exchange.writes)
    exchange.stall = True
    with pytest.raises(ApplicationError) as raised:
        await asyncio.wait_for(running.task, 10)
    assert raised.value.type == LEASE_LOST and not raised.value.non_retryable
    assert len(exchange.writes) == writes  # another attempt may own the round by now


class SlowStart(Writes):
    """The venue's first heartbeat (the first call of a resumed attempt) takes a while."""

    slow = True

    async def heartbeat(self) -> None:
        if self.slow:
            self.slow = False
            await asyncio.sleep(PULSE_SECONDS * 3)


async def test_a_resuming_attempt_heartbeats_its_predecessors_checkpoint_until_its_own() -> None:
    venue, exchange = _venue()
    first = Round(exchange)
    await first.until_quoted()
    first.env.worker_shutdown()
    with pytest.raises(ApplicationError):
        await first.task
    kept = first.last().model_dump(mode="json")

    slow = SlowStart(venue)
    second = Round(slow, [kept])
    await asyncio.sleep(PULSE_SECONDS * 2.5)  # still in its venue heartbeat
    assert second.beats and all(beat == (kept,) for beat in second.beats)
    async with asyncio.timeout(30):
        while second.beats[-1] == (kept,):  # until it has resumed: its own checkpoints
            await asyncio.sleep(0.02)
    second.env.cancel()
    await second.task

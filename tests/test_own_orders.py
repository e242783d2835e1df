"""Prices that exclude our own orders (issue 8).

The venue: our resting orders sit in the same book as the other makers', so /book, /midpoint and
/price move when ours become the touch. The bot: every decision reads the reference midpoint,
the book without our orders, so a PASSIVE ask at the midpoint does not walk itself down (or
trip its own stop-loss) and a one-sided BUY quote does not walk itself up.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sim_helpers import START, FakeParent, Flat, market_info, reward_terms
from temporalio.testing import ActivityEnvironment

from activities.market_making import Checkpoint, MarketMakingActivities, MarketMakingInput
from dualmm.config import LiquidationConfig, MarketMakerConfig
from dualmm.domain.book import best_prices, reference_midpoint, without_own
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketInfo, OrderIntent, Side, Stage, Token
from dualmm.exchange.sync import market_snapshot
from dualmm.replay import replay_market
from dualmm.sim.clock import ManualClock
from dualmm.sim.exchange import SimExchange
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.venue import SimVenue

D = Decimal
WALLET = "0x00000000000000000000000000000000000000aa"


def wide_market(mid: str = "0.50", half_spread: str = "0.10") -> SimMarket:
    """Other makers at mid -/+ half_spread (0.40/0.60 by default)."""
    info = market_info("0xabc", "101", "102", question="wide", **reward_terms("100"))
    return SimMarket(info, Flat(mid), START, book_seed="wide", half_spread=D(half_spread))


def harsh_venue(**rules: Any) -> tuple[SimVenue, MarketInfo]:
    market = wide_market()
    venue_rules = VenueRules(own_orders_move_prices=True, **rules)
    venue = SimVenue([market], ManualClock(START), rules=venue_rules)
    venue.ensure_wallet(WALLET)
    return venue, market.info


# --- the domain ---------------------------------------------------------------------------


def test_without_own_takes_our_remaining_sizes_out_of_the_yes_book() -> None:
    bids = [(D("0.48"), D(30)), (D("0.40"), D(100))]
    asks = [(D("0.50"), D(20)), (D("0.60"), D(100))]
    ours = [
        OrderIntent(token=Token.YES, side=Side.BUY, price=D("0.48"), size=D(10)),
        # A NO bid at 0.50 is a YES ask at 0.50: all of that level is ours.
        OrderIntent(token=Token.NO, side=Side.BUY, price=D("0.50"), size=D(20)),
    ]
    others_bids, others_asks = without_own(bids, asks, ours)
    assert others_bids == ((D("0.48"), D(20)), (D("0.40"), D(100)))
    assert others_asks == ((D("0.60"), D(100)),)
    assert best_prices(others_bids, others_asks) == (D("0.48"), D("0.60"))
    assert reference_midpoint(others_bids, others_asks, D("0.01")) == D("0.54")


def test_a_one_sided_book_is_never_completed_by_our_own_order() -> None:
    ours = [OrderIntent(token=Token.YES, side=Side.SELL, price=D("0.50"), size=D(20))]
    bids, asks = without_own([(D("0.40"), D(5))], [(D("0.50"), D(20))], ours)
    assert best_prices(bids, asks) == (D("0.40"), None)
    assert reference_midpoint(bids, asks, D("0.01")) == (D("0.40") + D("0.99")) / 2
    assert reference_midpoint((), (), D("0.01")) is None


# --- the venue ----------------------------------------------------------------------------


def test_our_ask_at_the_midpoint_becomes_the_touch_and_moves_the_midpoint() -> None:
    venue, info = harsh_venue()
    venue.credit(WALLET, info.yes_token_id, D(100))
    assert venue.midpoint(info.yes_token_id) == D("0.50")
    venue.place(WALLET, "ask", info.yes_token_id, Side.SELL, D("0.50"), D(100))
    assert venue.book(info.yes_token_id).best_ask == D("0.50")
    assert venue.midpoint(info.yes_token_id) == D("0.45")
    assert venue.touch(info.yes_token_id) == (D("0.40"), D("0.50"))
    assert venue.midpoint(info.no_token_id) == D("0.55")


def test_the_kind_venue_keeps_the_scripted_midpoint() -> None:
    venue = SimVenue([wide_market()], ManualClock(START))
    venue.ensure_wallet(WALLET)
    venue.credit(WALLET, "101", D(100))
    venue.place(WALLET, "ask", "101", Side.SELL, D("0.50"), D(100))
    assert venue.midpoint("101") == D("0.50")


async def test_the_snapshot_reads_the_book_without_our_orders() -> None:
    venue, info = harsh_venue()
    venue.credit(WALLET, info.yes_token_id, D(100))
    venue.place(WALLET, "ask", info.yes_token_id, Side.SELL, D("0.50"), D(100))
    snapshot = await market_snapshot(SimExchange(venue, WALLET), info, START)
    assert (snapshot.midpoint, snapshot.best_bid, snapshot.best_ask) == (
        D("0.50"),
        D("0.40"),
        D("0.60"),
    )


# --- the bot: a liquidation ---------------------------------------------------------------


async def _liquidate(qty: str, avg_cost: str, minutes: int) -> tuple[list[Decimal], list[Stage]]:
    venue, info = harsh_venue()
    venue.credit(WALLET, info.yes_token_id, D(qty))
    config = LiquidationConfig(skew_start_minutes=D(30), timeout_minutes=D(60))
    replay = await replay_market(
        venue,
        SimExchange(venue, WALLET),
        info,
        PositionTracker.opening(Token.YES, D(qty), D(avg_cost)),
        config,
        START,
        START + timedelta(minutes=minutes),
    )
    return [o.price for o in replay.orders], [s.stage for s in replay.stages]


async def test_a_passive_ask_does_not_walk_itself_down_the_book() -> None:
    """Others at 0.40/0.60: PASSIVE sells at 0.50 and stays there, check after check (it
    re-priced 0.50, 0.45, 0.43, ... down to the floor when it read the venue's midpoint)."""
    prices, stages = await _liquidate("100", "0.30", minutes=10)
    assert prices == [D("0.50")]
    assert stages == [Stage.PASSIVE]


async def test_our_own_ask_does_not_trip_our_stop_loss() -> None:
    """1000 shares at 0.50: the order rests at the floor 0.51, which made the venue's midpoint
    0.455 and the unrealized loss -45 USDC, past the -10 stop-loss: MARKET, by our own hand."""
    prices, stages = await _liquidate("1000", "0.50", minutes=10)
    assert stages == [Stage.PASSIVE]
    assert prices == [D("0.51")]


# --- the bot: market making ---------------------------------------------------------------


async def test_a_one_sided_bid_does_not_walk_itself_up_the_book() -> None:
    """Holding NO 60 with a limit of 100: BUY YES 50, and BUY NO only 40 (the room left to the
    limit). At 0.48 the YES bid becomes the best bid and the venue's midpoint rises to 0.54;
    re-quoting to that walked it up to the ask. Each quote is placed once and stays."""
    venue, info = harsh_venue()
    beats: list[Checkpoint] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.extend(details[:1])
    request = MarketMakingInput(
        parent_workflow_id="parent",
        market=info,
        config=MarketMakerConfig(order_size=D(50), position_limit=D(100), quote_interval_ms=10),
        position=PositionTracker.opening(Token.NO, D(60), D("0.50")),
        cursor=None,
        key_prefix="spiral",
    )
    activities = MarketMakingActivities(SimExchange(venue, WALLET), FakeParent())  # type: ignore[arg-type]
    running = asyncio.create_task(env.run(activities.make_market, request))
    for _ in range(300):
        if len(beats) > 30:
            break
        await asyncio.sleep(0.01)
    env.cancel()
    await running
    placed = venue.ledger()["orders"]
    yes = [(o["side"], o["price"], D(o["size"])) for o in placed if o["token"] == "YES"]
    assert yes == [("BUY", "0.48", 50)]
    assert [D(o["size"]) for o in placed if o["token"] == "NO"] == [40]


@pytest.mark.parametrize("token", [Token.YES, Token.NO])
async def test_the_snapshot_ignores_our_bids_on_either_token(token: Token) -> None:
    venue, info = harsh_venue()
    venue.place(WALLET, "bid", info.token_id(token), Side.BUY, D("0.48"), D(50))
    snapshot = await market_snapshot(SimExchange(venue, WALLET), info, START)
    assert snapshot.midpoint == D("0.50")


async def test_ranking_prices_markets_without_our_orders() -> None:
    from dualmm.discovery import Filters, discover

    venue, info = harsh_venue()
    venue.credit(WALLET, info.yes_token_id, D(100))
    venue.place(WALLET, "ask", info.yes_token_id, Side.SELL, D("0.50"), D(100))
    exchange = SimExchange(venue, WALLET)
    config = MarketMakerConfig(order_size=D(10))
    ranked = await discover(
        exchange, Filters(), config, None, START, own=await exchange.open_orders()
    )
    assert [e.yes_mid for e in ranked] == [D("0.50")]
    blind = await discover(exchange, Filters(), config, None, START)
    assert [e.yes_mid for e in blind] == [D("0.45")]  # what ranking saw before

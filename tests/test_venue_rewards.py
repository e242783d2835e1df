"""Liquidity rewards the venue pays (issue 8): sampled every minute, paid daily from 1 USDC,
an optional minimum order age; served at /rewards/user(/total), read by the bot's adapter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sim_helpers import (
    START,
    RunningRound,
    connect,
    market_info,
    one_market_venue,
    reward_terms,
    round_input,
)

from dualmm.config import MarketMakerConfig
from dualmm.domain.types import Side
from dualmm.sim.exchange import SimExchange
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
WALLET = "0x00000000000000000000000000000000000000cc"


def venue(daily_rate: str, start: datetime = START, **rules: object) -> SimVenue:
    """Other makers at 0.40/0.60, outside the 3-cent band: they score nothing."""
    info = market_info("0xpay", "601", "602", **reward_terms(daily_rate))
    venue_rules = VenueRules(venue_rewards=True, **rules)
    return one_market_venue(info, WALLET, "pay", venue_rules, start, half_spread=D("0.10"))


def quote_both_sides(sim: SimVenue) -> None:
    sim.place(WALLET, "yes", "601", Side.BUY, D("0.49"), D(100))
    sim.place(WALLET, "no", "602", Side.BUY, D("0.49"), D(100))


def test_alone_in_the_band_earns_the_whole_pool_each_minute_and_is_paid_next_day() -> None:
    sim = venue("1440")  # 1 USDC a minute
    quote_both_sides(sim)
    sim.advance(10 * 60)
    assert sim.reward_earnings(WALLET, START.date()) == {"0xpay": D(10)}
    assert sim.balances(WALLET).collateral == D(10000)  # nothing paid during the day
    sim.cancel_all(WALLET)
    sim.advance(13 * 3600)  # past midnight UTC
    assert sim.balances(WALLET).collateral == D(10010)


def test_a_day_below_the_minimum_payout_is_not_paid() -> None:
    sim = venue("144")  # 0.1 USDC a minute
    quote_both_sides(sim)
    sim.advance(5 * 60)
    sim.cancel_all(WALLET)
    sim.advance(13 * 3600)
    assert sim.balances(WALLET).collateral == D(10000)
    assert sim.reward_earnings(WALLET, START.date()) == {}


def test_young_orders_do_not_score() -> None:
    sim = venue("1440", reward_min_order_age_seconds=120)
    quote_both_sides(sim)
    sim.advance(5 * 60)
    # Samples at minutes 2 to 5 (two minutes old at the second one): four of five.
    assert sim.reward_earnings(WALLET, START.date()) == {"0xpay": D(4)}


async def test_the_bot_reads_what_the_venue_paid_over_http() -> None:
    sim = venue("1440")
    with SimServer(sim) as server:
        exchange = await connect(server)
        address = exchange._client.builder.funder
        sim.place(address, "yes", "601", Side.BUY, D("0.49"), D(100))
        sim.place(address, "no", "602", Side.BUY, D("0.49"), D(100))
        sim.advance(4 * 60)
        assert await exchange.reward_earnings(START.date()) == D(4)
        assert await exchange.reward_earnings(START.date() - timedelta(days=1)) == 0
    assert await SimExchange(sim, WALLET).reward_earnings(START.date()) == 0


async def test_the_round_reports_what_the_venue_paid_today() -> None:
    # The round asks for today's (UTC) earnings: a venue whose day is today.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sim = venue("1440", start=today)
    quote_both_sides(sim)
    sim.advance(3 * 60)
    sim.cancel_all(WALLET)
    config = MarketMakerConfig(order_size=D(20), quote_interval_ms=20)
    running = RunningRound(
        SimExchange(sim, WALLET), round_input(sim.market("0xpay"), "rewards", config)
    )
    async with asyncio.timeout(20):
        while not (running.beats and running.beats[-1].venue_rewards_today is not None):
            await asyncio.sleep(0.02)
    running.env.cancel()
    await running.task
    assert running.beats[-1].venue_rewards_today == D(3)

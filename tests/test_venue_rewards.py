"""Liquidity rewards the venue pays (issue 8): sampled every minute, paid daily from 1 USDC,
an optional minimum order age; served at /rewards/user(/total), read by the bot's adapter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from eth_account import Account
from pydantic import SecretStr

from dualmm.config import Settings
from dualmm.domain.types import MarketInfo, Side
from dualmm.exchange.clob import ClobExchange
from dualmm.sim.clock import ManualClock
from dualmm.sim.exchange import SimExchange
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

D = Decimal
START = datetime(2026, 3, 2, 12, tzinfo=UTC)
WALLET = "0x00000000000000000000000000000000000000cc"


class Flat:
    def mid_at(self, seconds: float) -> Decimal:
        return D("0.50")

    def change_times(self, after: float, until: float) -> Sequence[float]:
        return ()


def venue(daily_rate: str, start: datetime = START, **rules: object) -> SimVenue:
    """Other makers at 0.40/0.60, outside the 3-cent band: they score nothing."""
    info = MarketInfo(
        condition_id="0xpay",
        yes_token_id="601",
        no_token_id="602",
        tick_size=D("0.01"),
        min_order_size=D(5),
        rewards_daily_rate=D(daily_rate),
        rewards_max_spread_cents=D(3),
        rewards_min_size=D(10),
    )
    market = SimMarket(info, Flat(), start, book_seed="pay", half_spread=D("0.10"))
    sim = SimVenue([market], ManualClock(start), rules=VenueRules(venue_rewards=True, **rules))
    sim.ensure_wallet(WALLET)
    return sim


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
        settings = Settings(
            exchange="sim",
            clob_url=server.url,
            private_key=SecretStr("0x" + bytes(Account.create().key).hex()),
            clob_timeout_seconds=2.0,
        )  # type: ignore[call-arg]
        exchange = await ClobExchange.connect(settings)
        address = exchange._client.builder.funder
        sim.place(address, "yes", "601", Side.BUY, D("0.49"), D(100))
        sim.place(address, "no", "602", Side.BUY, D("0.49"), D(100))
        sim.advance(4 * 60)
        assert await exchange.reward_earnings(START.date()) == D(4)
        assert await exchange.reward_earnings(START.date() - timedelta(days=1)) == 0
    assert await SimExchange(sim, WALLET).reward_earnings(START.date()) == 0


async def test_the_round_reports_what_the_venue_paid_today() -> None:
    import asyncio
    from typing import Any

    from temporalio.testing import ActivityEnvironment

    from activities.market_making import Checkpoint, MarketMakingActivities, MarketMakingInput
    from dualmm.config import MarketMakerConfig
    from dualmm.domain.position import PositionTracker

    class NoParent:
        def get_workflow_handle(self, workflow_id: str) -> NoParent:
            return self

        async def signal(self, name: str, arg: Any) -> None:
            pass

    # The round asks for today's (UTC) earnings: a venue whose day is today.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sim = venue("1440", start=today)
    quote_both_sides(sim)
    sim.advance(3 * 60)
    sim.cancel_all(WALLET)
    beats: list[Checkpoint] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    request = MarketMakingInput(
        parent_workflow_id="parent",
        market=sim.market("0xpay"),
        config=MarketMakerConfig(order_size=D(20), quote_interval_ms=20),
        position=PositionTracker(),
        cursor=None,
        key_prefix="rewards",
    )
    activities = MarketMakingActivities(SimExchange(sim, WALLET), NoParent())  # type: ignore[arg-type]
    running = asyncio.create_task(env.run(activities.make_market, request))
    async with asyncio.timeout(20):
        while not (beats and beats[-1].venue_rewards_today is not None):
            await asyncio.sleep(0.02)
    env.cancel()
    await running
    assert beats[-1].venue_rewards_today == D(3)

"""Token buckets per CLOB endpoint (issue 18): the bot stays under Polymarket's documented
limits, a burst then the refill rate, every request counted toward the general limit too."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sim_helpers import market_info, one_market_venue

from dualmm.config import ProcessSettings
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.rate_limit import DOCUMENTED, GENERAL, RateLimiter
from dualmm.sim.server import SimServer


class FakeTime:
    """A clock that only the limiter's sleeps move."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def test_the_documented_limits() -> None:
    """docs.polymarket.com, api-reference/rate-limits (CLOB)."""
    assert DOCUMENTED["POST /order"] == ((3_500, 10.0), (36_000, 600.0))
    assert DOCUMENTED["DELETE /orders"] == ((1_000, 10.0), (15_000, 600.0))
    assert DOCUMENTED["GET /book"] == ((1_500, 10.0),)
    assert DOCUMENTED["GET /data/trades"] == ((500, 10.0),)
    assert DOCUMENTED[GENERAL] == ((9_000, 10.0),)


async def test_a_burst_goes_at_once_then_the_refill_rate(fake_time: FakeTime) -> None:
    limiter = RateLimiter(clock=fake_time, sleep=fake_time.sleep)
    for _ in range(500):
        await limiter.acquire("GET /data/trades")
    assert fake_time.now == 0  # the whole burst without a wait
    for _ in range(50):
        await limiter.acquire("GET /data/trades")
    # 50 more at 50 a second: one second, never faster than documented.
    assert fake_time.now == pytest.approx(1.0)


async def test_the_sustained_limit_holds_after_the_burst(fake_time: FakeTime) -> None:
    """DELETE /cancel-market-orders: 1,000 per 10 s but only 1,500 per 10 minutes."""
    limiter = RateLimiter(
        {"DELETE /cancel-market-orders": DOCUMENTED["DELETE /cancel-market-orders"]},
        clock=fake_time,
        sleep=fake_time.sleep,
    )
    for _ in range(1_000):
        await limiter.acquire("DELETE /cancel-market-orders")
    assert fake_time.now == 0
    for _ in range(1_000):
        await limiter.acquire("DELETE /cancel-market-orders")
    # The burst bucket alone would take 10 s; the sustained one (2.5 a second once its 1,500
    # are spent) takes 200 s for the last 500.
    assert fake_time.now == pytest.approx(200.0, rel=0.01)


async def test_endpoints_have_their_own_buckets_and_share_the_general_one(
    fake_time: FakeTime,
) -> None:
    limits = {GENERAL: ((10, 10.0),), "GET /book": ((5, 10.0),), "GET /midpoint": ((5, 10.0),)}
    limiter = RateLimiter(limits, clock=fake_time, sleep=fake_time.sleep)
    for _ in range(5):
        await limiter.acquire("GET /book")
    for _ in range(5):
        await limiter.acquire("GET /midpoint")  # /book's use takes nothing from /midpoint
    assert fake_time.now == 0
    await limiter.acquire("GET /unlisted")  # only the general limit: spent by the other two
    assert fake_time.now == pytest.approx(1.0)


async def test_a_batch_costs_one_token_per_order(fake_time: FakeTime) -> None:
    limiter = RateLimiter({"POST /orders": ((10, 10.0),)}, clock=fake_time, sleep=fake_time.sleep)
    await limiter.acquire("POST /orders", cost=8)
    await limiter.acquire("POST /orders", cost=2)
    assert fake_time.now == 0
    await limiter.acquire("POST /orders", cost=4)
    assert fake_time.now == pytest.approx(4.0)
    await limiter.acquire("POST /orders", cost=50)  # over the burst: waits for a full bucket
    assert fake_time.now == pytest.approx(14.0)


async def test_waiters_keep_their_order(fake_time: FakeTime) -> None:
    limiter = RateLimiter({"GET /book": ((1, 1.0),)}, clock=fake_time, sleep=fake_time.sleep)
    done: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire("GET /book")
        done.append(i)

    await asyncio.gather(*(one(i) for i in range(5)))
    assert done == [0, 1, 2, 3, 4]
    assert fake_time.now == pytest.approx(4.0)


async def test_the_adapter_takes_a_token_for_every_request() -> None:
    """Against the simulator: reads wait for the buckets (here tiny) instead of going over."""
    info = market_info("0xlimits", "601", "602")
    venue = one_market_venue(info, "0x" + "00" * 20, "limits")
    limiter = RateLimiter({"GET /book": ((2, 1.0),), GENERAL: ((1_000, 10.0),)})
    with SimServer(venue) as server:
        settings = ProcessSettings(
            exchange="sim", clob_url=server.url, private_key=SecretStr("0x" + "41" * 32)
        )
        connected = await ClobExchange.connect(settings)
        exchange = ClobExchange(connected._client, rate_limiter=limiter)
        for _ in range(4):
            await exchange.book(info.yes_token_id)
        await exchange.close()
        await connected.close()
    # Two at once, then two a second: about a second of waiting for the other two.
    assert 0.5 <= limiter.waited <= 2.0


async def test_every_page_of_a_list_takes_a_token() -> None:
    from eth_account import Account

    from dualmm.domain.types import Side
    from dualmm.exchange.base import PlaceOrder

    key = "0x" + "42" * 32
    info = market_info("0xpages", "611", "612", **{"rewards_min_size": Decimal(5)})
    venue = one_market_venue(info, Account.from_key(key).address, "pages")
    with SimServer(venue, page_size=1) as server:
        settings = ProcessSettings(exchange="sim", clob_url=server.url, private_key=SecretStr(key))
        connected = await ClobExchange.connect(settings)
        for i in range(3):
            await connected.place_order(
                PlaceOrder(
                    key=f"page-{i}",
                    market=info,
                    token_id=info.yes_token_id,
                    side=Side.BUY,
                    price=Decimal("0.3") + Decimal(i) / 100,
                    size=Decimal(10),
                )
            )
        limiter = RateLimiter({"GET /data/orders": ((1, 0.5),), GENERAL: ((1_000, 10.0),)})
        exchange = ClobExchange(connected._client, rate_limiter=limiter)
        assert len(await exchange.open_orders(info.condition_id)) == 3  # three pages
        await exchange.close()
        await connected.close()
    # One token at once, then two a second: the second and third pages waited.
    assert 0.8 <= limiter.waited <= 2.0

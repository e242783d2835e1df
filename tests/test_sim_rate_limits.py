"""The simulator enforces Polymarket's documented per-endpoint rate limits (issue 18): sliding
windows, burst and sustained limits on trading endpoints, the general limit over all, and a
429 with Retry-After beyond them, on the harsh venue only."""

from __future__ import annotations

import httpx
from sim_helpers import START, Flat

from dualmm.domain.types import MarketInfo
from dualmm.sim.rate_limits import RateLimiter
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_window_refuses_past_its_limit_and_frees_as_it_slides() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    for _ in range(100):
        assert limiter.admit("GET", "/ok") is None
    clock.now = 4.0
    assert limiter.admit("GET", "/ok") == 6  # the first request leaves the window at 10 s
    assert limiter.admit("GET", "/book") is None  # another endpoint has its own limit
    clock.now = 10.0
    assert limiter.admit("GET", "/ok") is None


def test_trading_has_a_burst_and_a_sustained_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    admitted = 0
    for second in range(0, 600, 10):  # 10 minutes, a burst's worth every 10 s
        clock.now = float(second)
        admitted += sum(limiter.admit("DELETE", "/cancel-all") is None for _ in range(300))
    # 250 per 10 s would allow 15,000 in 10 min; the sustained limit stops it at 6,000.
    assert admitted == 6000


def test_the_api_key_endpoints_share_one_limit_and_everything_counts_in_general() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    for _ in range(50):
        assert limiter.admit("POST", "/auth/api-key") is None
        assert limiter.admit("GET", "/auth/derive-api-key") is None
    assert limiter.admit("GET", "/auth/api-keys") is not None
    for _ in range(9000 - 100):
        assert limiter.admit("GET", "/markets") is None
    assert limiter.admit("GET", "/markets") is not None  # the general 9,000 per 10 s


def _venue(rules: VenueRules) -> SimVenue:
    info = MarketInfo(
        condition_id="0xrl",
        yes_token_id="11",
        no_token_id="12",
        tick_size="0.01",
        min_order_size="5",
    )
    return SimVenue(
        [SimMarket(info, Flat(), START, book_seed="rl")], ManualClock(START), rules=rules
    )


def test_the_harsh_venue_answers_429_with_retry_after_and_the_kind_one_does_not() -> None:
    for rules, limited in ((VenueRules.harsh(), True), (VenueRules(), False)):
        with SimServer(_venue(rules)) as server, httpx.Client(base_url=server.url) as http:
            answers = [http.get("/ok") for _ in range(101)]
            assert all(a.status_code == 200 for a in answers[:100])
            last = answers[-1]
            if limited:
                assert last.status_code == 429 and last.json() == {"error": "Too Many Requests"}
                assert 1 <= int(last.headers["Retry-After"]) <= 10
            else:
                assert last.status_code == 200

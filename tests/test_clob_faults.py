"""Injected faults: placements retried like an activity would never leave two orders per intent.

Every intent has its own key and a size no other intent has, so the venue's ledger (read over
HTTP from `/_sim/ledger`) says exactly which intent each accepted order belongs to.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from py_clob_client_v2.clob_types import ApiCreds
from py_clob_client_v2.exceptions import PolyApiException
from test_exchange_contract import contract_venue, fresh_key, sim_settings

from dualmm.config import ProcessSettings
from dualmm.domain.types import MarketInfo, Side
from dualmm.exchange import clob, clob_core
from dualmm.exchange.base import (
    AuthError,
    Exchange,
    Order,
    OrderStatus,
    PlaceOrder,
    RetryableError,
    VenueTimeout,
    VenueUnavailable,
)
from dualmm.exchange.clob import ClobExchange
from dualmm.sim.server import Faults, SimServer

MAX_ATTEMPTS = 60
SIGNED_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def intent(market: MarketInfo, i: int) -> PlaceOrder:
    """Intent i: a resting YES bid of 5 + i/100 shares; even intents carry `signed_at` (the
    workflow's time), odd ones rely on the adapter's in-memory journal."""
    return PlaceOrder(
        key=f"intent-{i}",
        market=market,
        token_id=market.yes_token_id,
        side=Side.BUY,
        price=Decimal("0.30") + Decimal(i % 10) / 100,
        size=Decimal(5) + Decimal(i) / 100,
        signed_at=SIGNED_AT + timedelta(seconds=i) if i % 2 == 0 else None,
    )


async def place_like_an_activity(
    exchange: Exchange, request: PlaceOrder, seen: Counter[str]
) -> Order:
    """Retry retryable errors (a non-retryable one fails the test by propagating)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            return await exchange.place_order(request)
        except RetryableError as exc:
            seen[type(exc).__name__] += 1
    raise AssertionError(f"{request.key}: still failing after {MAX_ATTEMPTS} attempts")


def ledger_orders(server: SimServer) -> list[dict[str, str]]:
    answer = httpx.get(f"{server.url}/_sim/ledger", timeout=5)
    answer.raise_for_status()
    orders: list[dict[str, str]] = answer.json()["orders"]
    return orders


def one_live_order_per_intent(orders: list[dict[str, str]], intents: list[PlaceOrder]) -> None:
    by_size = Counter(Decimal(o["size"]) for o in orders)
    assert by_size == Counter(i.size for i in intents), "an intent has no order, or two"
    assert all(o["status"] == OrderStatus.LIVE for o in orders)


async def test_200_placements_with_5xx_and_lost_answers_leave_one_order_each() -> None:
    venue = contract_venue()
    market = venue.markets()[0]
    # 20% 500s on every request, and 20% of accepted placements answered by a dropped
    # connection (the client hears nothing, like a timeout, though the order rests).
    faults = Faults(error_rate=0.2, accept_timeout_rate=0.2, seed=3)
    with SimServer(venue, admin=True, faults=faults) as server:
        key = fresh_key()
        settings = sim_settings(server.url, key, clob_timeout_seconds=1.0)
        exchange = await connect_through_faults(settings)
        intents = [intent(market, i) for i in range(200)]
        seen: Counter[str] = Counter()
        placed = [await place_like_an_activity(exchange, i, seen) for i in intents]

        assert seen[VenueTimeout.__name__] >= 10 and seen[VenueUnavailable.__name__] >= 10
        assert len({o.order_id for o in placed}) == 200
        orders = ledger_orders(server)
        one_live_order_per_intent(orders, intents)
        assert {o["order_id"] for o in orders} == {o.order_id for o in placed}

        # A restarted worker (empty journal) retrying the intents that carry `signed_at` finds
        # their orders instead of placing new ones.
        restarted = await connect_through_faults(settings)
        crash_safe = [i for i in intents if i.signed_at is not None]
        again = [await place_like_an_activity(restarted, i, seen) for i in crash_safe[:40]]
        assert [o.order_id for o in again] == [o.order_id for o in placed[::2][:40]]
        one_live_order_per_intent(ledger_orders(server), intents)


async def test_answers_slower_than_the_client_timeout_are_reconciled() -> None:
    venue = contract_venue()
    market = venue.markets()[0]
    faults = Faults(accept_timeout_rate=0.3, accept_timeout_hang_s=0.5, seed=5)
    with SimServer(venue, admin=True, faults=faults) as server:
        settings = sim_settings(server.url, fresh_key(), clob_timeout_seconds=0.2)
        exchange = await connect_through_faults(settings)
        intents = [intent(market, i) for i in range(20)]
        seen: Counter[str] = Counter()
        for request in intents:
            await place_like_an_activity(exchange, request, seen)
        assert seen[VenueTimeout.__name__] > 0
        one_live_order_per_intent(ledger_orders(server), intents)


async def connect_through_faults(settings: ProcessSettings) -> ClobExchange:
    """Connecting (API key creation) may meet an injected 500 too: retry it."""
    for _ in range(MAX_ATTEMPTS):
        try:
            return await ClobExchange.connect(settings)
        except RetryableError:
            continue
    raise AssertionError("could not connect")


async def test_two_processes_starting_with_one_key_both_get_its_credentials() -> None:
    """Two workers start at once with one private key: both find no API key (derive: 400),
    both create one, and the venue refuses the second create (400, as documented: one key per
    address and nonce). The loser derives the key the winner made instead of giving up."""
    key = fresh_key()
    # The latency holds both derives in flight together, so both creates race.
    with SimServer(contract_venue(), faults=Faults(latency_ms=300)) as server:
        settings = sim_settings(server.url, key)
        first, second = await asyncio.gather(
            ClobExchange.connect(settings), ClobExchange.connect(settings)
        )
        assert first._client.creds == second._client.creds
        assert await first.open_orders() == await second.open_orders() == []


class _KeyVenue:
    """py-clob-client-v2's key calls against a venue that shows a key created by another
    process only `lag` derives later (a replica behind); records the calls."""

    def __init__(self, lag: int, created_elsewhere: bool = True) -> None:
        self.calls: list[str] = []
        self.lag = lag
        self.exists = created_elsewhere

    @staticmethod
    def _refusal(message: str) -> PolyApiException:
        refusal = PolyApiException(error_msg={"error": message})
        refusal.status_code = 400
        return refusal

    def derive_api_key(self) -> ApiCreds:
        self.calls.append("derive")
        if not self.exists or self.lag > 0:
            self.lag -= 1
            raise self._refusal("Could not derive api key!")
        return ApiCreds(api_key="k", api_secret="c2VjcmV0", api_passphrase="p")

    def create_api_key(self) -> ApiCreds:
        self.calls.append("create")
        raise self._refusal("Could not create api key")


async def test_a_refused_create_is_followed_by_derives_with_backoff_then_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clob, "CREDENTIAL_BACKOFF_SECONDS", 0.001)
    venue = _KeyVenue(lag=2)
    creds = await ClobExchange._api_creds(venue)  # type: ignore[arg-type]
    assert creds.api_key == "k"
    assert venue.calls == ["derive", "create", "derive", "create", "derive"]
    # No key ever shows up: after a few attempts, one clear non-retryable error.
    never = _KeyVenue(lag=0, created_elsewhere=False)
    with pytest.raises(AuthError, match="Could not create api key"):
        await ClobExchange._api_creds(never)  # type: ignore[arg-type]
    assert never.calls.count("create") == clob.CREDENTIAL_ATTEMPTS


async def _read_everything(exchange: ClobExchange, market: MarketInfo) -> None:
    for _ in range(10):
        await exchange.book(market.yes_token_id)
        await exchange.market(market.condition_id)
    await exchange.reward_markets()


async def test_reads_ride_out_5xx_and_429_instead_of_failing_the_activity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One bad answer in five failed every read at once: a market pick (~15 reads) then
    failed most attempts and the bot sat idle on Temporal's backoff (the chaos run: 23
    orders in 15 minutes). Reads are asked again; the same faults without that fail."""
    venue = contract_venue()
    market = venue.markets()[0]
    with SimServer(venue, admin=True) as server:
        exchange = await connect_through_faults(sim_settings(server.url, fresh_key()))
        faults = Faults(error_rate=0.15, rate_limit_rate=0.05, retry_after_s=0, seed=21)
        server.set_faults(faults)
        await _read_everything(exchange, market)

        monkeypatch.setattr(clob_core, "_READ_RETRY_PAUSES", ())
        server.set_faults(Faults(seed=0))
        server.set_faults(faults)  # the same faults from the start
        with pytest.raises(RetryableError):
            await _read_everything(exchange, market)

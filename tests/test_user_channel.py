"""Polymarket's user websocket channel (issue 11, switch latency): the simulator serves it at
/ws/user (auth, trade and order events, PING, bounds against hostile input, faults), and the
bot's listener wakes the market-making loop on a fill long before its next poll, with the
poll as the fallback when the socket is refused."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sim_helpers import START, FakeParent, Steered, raw_socket, registered_key
from sim_helpers import WsClient as Client
from temporalio.testing import ActivityEnvironment

from activities.market_making import (
    Checkpoint,
    MarketMakingActivities,
    MarketMakingInput,
    Outcome,
)
from dualmm import websocket as ws
from dualmm.config import MarketMakerConfig, ProcessSettings
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketInfo, Side
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.clob_urls import user_channel_url
from dualmm.exchange.user_channel import wakes
from dualmm.exchange.wake import FillWaker
from dualmm.sim import ws_server
from dualmm.sim.auth import ApiKey
from dualmm.sim.server import SimServer
from dualmm.sim.venue import ManualClock, SimMarket, SimVenue

WAIT = 60.0  # seconds a condition may take on a busy shared machine


class Market:
    """One reward market at 0.50 on a manual clock; `move` changes its midpoint."""

    def __init__(self, condition_id: str = "0xws") -> None:
        self.info = MarketInfo(
            condition_id=condition_id,
            yes_token_id="401",
            no_token_id="402",
            tick_size=Decimal("0.01"),
            min_order_size=Decimal(5),
            rewards_daily_rate=Decimal(100),
            rewards_max_spread_cents=Decimal(3),
            rewards_min_size=Decimal(10),
        )
        self.path = Steered()
        self.clock = ManualClock(START)
        self.venue = SimVenue([SimMarket(self.info, self.path, START, book_seed="ws")], self.clock)

    def move(self, mid: str) -> None:
        at = (self.clock.now() - START).total_seconds() + 1
        self.path.points.append((at, Decimal(mid)))
        self.venue.advance(1)


def _auth(creds: ApiKey) -> dict[str, Any]:
    return {"apiKey": creds.key, "secret": creds.secret, "passphrase": creds.passphrase}


@pytest.fixture
def market() -> Market:
    return Market()


@pytest.fixture
def server(market: Market) -> Iterator[SimServer]:
    with SimServer(market.venue, admin=True, read_timeout_s=2.0) as running:
        yield running


def _wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


# --- the simulator's channel ----------------------------------------------------------------


def test_a_match_pushes_order_and_trade_events_to_the_owner_only(
    server: SimServer, market: Market
) -> None:
    owner = Account.create().address
    creds = registered_key(server, owner)
    other = registered_key(server, Account.create().address)
    mine, theirs = Client(server), Client(server)
    mine.text({"auth": _auth(creds), "markets": [market.info.condition_id], "type": "user"})
    theirs.text({"auth": _auth(other), "markets": [], "type": "user"})
    _wait_until(
        lambda: all(s.creds is not None for s in server.user_channel._sessions), "subscribed"
    )
    order = market.venue.place(owner, "0xo1", "401", Side.BUY, Decimal("0.48"), Decimal(10))

    placement = mine.message()
    assert placement["event_type"] == "order" and placement["type"] == "PLACEMENT"
    assert (placement["id"], placement["status"], placement["size_matched"]) == (
        order.order_id,
        "LIVE",
        "0",
    )
    assert placement["market"] == market.info.condition_id and placement["owner"] == creds.key

    market.move("0.45")  # the YES ask reaches 0.48: our bid fills as a maker
    trade = mine.message()
    assert trade["event_type"] == "trade" and trade["type"] == "TRADE"
    # Settled at once by default (MATCHED first when the rules give settlement a lag).
    assert trade["status"] == "CONFIRMED" and trade["market"] == market.info.condition_id
    ours = [m for m in trade["maker_orders"] if m["order_id"] == order.order_id]
    assert len(ours) == 1 and ours[0]["matched_amount"] == "10" and ours[0]["price"] == "0.48"
    assert trade["match_time"] == trade["matchtime"]  # both spellings of the docs
    update = mine.message()
    assert (update["event_type"], update["type"], update["size_matched"]) == (
        "order",
        "UPDATE",
        "10",
    )
    assert update["associate_trades"] == [trade["id"]]

    theirs.text("PING")
    assert theirs.message() == "PONG"  # nothing of the owner's came before it
    mine.close()
    theirs.close()


def test_a_cancellation_is_an_order_event(server: SimServer, market: Market) -> None:
    owner = Account.create().address
    client = Client(server)
    client.text({"auth": _auth(registered_key(server, owner)), "type": "user"})
    _wait_until(lambda: next(iter(server.user_channel._sessions)).creds is not None, "subscribed")
    market.venue.place(owner, "0xo2", "402", Side.BUY, Decimal("0.40"), Decimal(10))
    assert client.message()["type"] == "PLACEMENT"
    market.venue.cancel(owner, "0xo2")
    cancelled = client.message()
    assert (cancelled["type"], cancelled["status"]) == ("CANCELLATION", "CANCELED")
    client.close()


@pytest.mark.parametrize(
    "auth",
    [
        None,
        {},
        {"apiKey": "no-such-key", "secret": "x", "passphrase": "y"},
        "wrong-secret",
        "wrong-passphrase",
        {"apiKey": ["not", "a", "string"], "secret": 1, "passphrase": None},
    ],
)
def test_bad_credentials_get_an_error_and_a_close(server: SimServer, auth: Any) -> None:
    creds = registered_key(server, Account.create().address)
    if auth == "wrong-secret":
        auth = {**_auth(creds), "secret": creds.secret[:-1] + "x"}
    elif auth == "wrong-passphrase":
        auth = {**_auth(creds), "passphrase": "0" * len(creds.passphrase)}
    client = Client(server)
    client.text({"auth": auth, "markets": [], "type": "user"})
    error = client.message()
    assert "invalid api key" in error["error"]
    assert client.close_code() == ws.POLICY_VIOLATION
    client.close()
    _wait_until(lambda: server.user_channel.connections == 0, "the slot is given back")


def test_ping_is_answered_before_and_after_subscribing(server: SimServer) -> None:
    client = Client(server)
    client.text("PING")
    assert client.message() == "PONG"
    client.text({"auth": _auth(registered_key(server, Account.create().address)), "type": "user"})
    client.send(ws.PING, b"are you there")
    assert client.frame() == (ws.PONG, b"are you there")
    client.text("PING")
    assert client.message() == "PONG"
    client.send(ws.CLOSE, ws.close_payload(ws.NORMAL))
    assert client.close_code() == ws.NORMAL
    client.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (ws.encode_frame(ws.TEXT, b"PING", mask=False), ws.PROTOCOL_ERROR),  # not masked
        (b"\x81\xff" + struct.pack("!Q", 2**62) + b"\0\0\0\0", ws.TOO_BIG),  # 4 EiB announced
        (b"\xc1\x84\0\0\0\0PING", ws.PROTOCOL_ERROR),  # a reserved bit
        (b"\x83\x80\0\0\0\0", ws.PROTOCOL_ERROR),  # an unknown opcode
        (ws.encode_frame(ws.PING, b"x" * 126, mask=True), ws.PROTOCOL_ERROR),  # long control
        (ws.encode_frame(ws.TEXT, b"\xff\xfe", mask=True), ws.INVALID_DATA),  # not UTF-8
        (ws.encode_frame(ws.TEXT, b"[" * 100_000, mask=True), ws.TOO_BIG),
        (ws.encode_frame(ws.TEXT, b"[" * 1000, mask=True), ws.POLICY_VIOLATION),  # deep
        (ws.encode_frame(ws.CONTINUATION, b"x", mask=True), ws.PROTOCOL_ERROR),
        (ws.encode_frame(ws.BINARY, b"x", mask=True), ws.UNSUPPORTED),
        (ws.encode_frame(ws.TEXT, b"{not json", mask=True), ws.INVALID_DATA),
        (ws.encode_frame(ws.TEXT, b'{"type": "market"}', mask=True), ws.POLICY_VIOLATION),
    ],
)
def test_hostile_frames_close_the_socket_and_the_server_lives_on(
    server: SimServer, frame: bytes, code: int
) -> None:
    client = Client(server)
    client.sock.sendall(frame)
    assert client.close_code() == code
    client.close()
    again = Client(server)  # the server still serves
    again.text("PING")
    assert again.message() == "PONG"
    again.close()


def test_a_silent_socket_is_closed_and_an_unfinished_frame_times_out(server: SimServer) -> None:
    silent = Client(server)  # never subscribes
    assert silent.close_code() == ws.POLICY_VIOLATION
    silent.close()
    stalled = Client(server)
    stalled.sock.sendall(b"\x81\x85\0\0\0\0PI")  # 5 bytes announced, 2 sent
    assert stalled.close_code() == ws.POLICY_VIOLATION
    stalled.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400),
        (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            426,
        ),
        (
            "Upgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            400,
        ),
    ],
)
def test_a_bad_handshake_is_a_4xx(server: SimServer, headers: str, status: int) -> None:
    with raw_socket(server) as sock:
        sock.sendall(f"GET /ws/user HTTP/1.1\r\nHost: sim\r\n{headers}\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):  # the server closes after its answer
            answer += chunk
    assert int(answer.split(b" ")[1]) == status
    assert b'"error"' in answer


def test_unknown_paths_and_too_many_connections_are_refused(
    server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Client(server, path="/ws/market-nope").status == 404
    monkeypatch.setattr(ws_server, "MAX_CONNECTIONS", 2)
    first, second = Client(server), Client(server)
    assert (first.status, second.status) == (101, 101)
    third = Client(server)
    assert third.status == 503
    first.close()
    _wait_until(lambda: server.user_channel.connections == 1, "a slot frees")
    assert Client(server).status == 101


def test_a_restart_window_drops_the_sockets_and_refuses_upgrades(server: SimServer) -> None:
    client = Client(server)
    client.text({"auth": _auth(registered_key(server, Account.create().address)), "type": "user"})
    _wait_until(lambda: next(iter(server.user_channel._sessions)).creds is not None, "subscribed")
    server.restart(down_seconds=3600, post_only_seconds=0)
    assert client.close_code() == ws.RESTARTING
    assert Client(server).status == 425
    server.restart(down_seconds=0, post_only_seconds=0)
    assert Client(server).status == 101


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=300))
def test_fuzz_bytes_after_the_handshake_never_kill_the_server(data: bytes) -> None:
    market = Market()
    with SimServer(market.venue, read_timeout_s=0.3) as running:
        client = Client(running)
        client.sock.sendall(data)
        client.close_code()
        client.close()
        check = Client(running)
        check.text("PING")
        assert check.message() == "PONG"
        check.close()


_header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=126, exclude_characters=":"), max_size=40
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(["/ws/user", "/ws/market", "/ws/user?x=1", "/ws/"]),
    method=st.sampled_from(["GET", "POST", "PUT"]),
    key=st.one_of(st.just("dGhlIHNhbXBsZSBub25jZQ=="), _header_text),
    version=st.one_of(st.just("13"), _header_text),
    connection=st.one_of(st.just("Upgrade"), _header_text),
)
def test_fuzz_upgrades_get_a_101_or_a_4xx(
    path: str, method: str, key: str, version: str, connection: str
) -> None:
    market = Market()
    with SimServer(market.venue, read_timeout_s=0.3) as running:
        with raw_socket(running) as sock:
            sock.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\n"
                f"Connection: {connection}\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: {version}\r\nContent-Length: 0\r\n\r\n".encode()
            )
            status = int(sock.recv(4096).split(b" ")[1])
        assert status == 101 or 400 <= status < 500, status


# --- the bot's listener ---------------------------------------------------------------------


def test_only_fills_wake_the_loop() -> None:
    trade = {"event_type": "trade", "market": "0xa", "status": "MATCHED"}
    update = {"event_type": "order", "type": "UPDATE", "market": "0xb"}
    placement = {"event_type": "order", "type": "PLACEMENT", "market": "0xc"}
    assert wakes(trade) == ["0xa"]
    assert wakes([trade, update, placement, "junk", {"market": 3}]) == ["0xa", "0xb"]
    assert wakes({"error": "x"}) == []


async def test_a_notice_during_the_read_is_not_lost() -> None:
    waker = FillWaker()
    mark = waker.mark("0xa")
    waker.notify("0xb")  # another market
    assert not await waker.wait("0xa", mark, 0.01)
    waker.notify("0xa")  # came while the loop was reading its fills
    assert await waker.wait("0xa", mark, 3600)
    mark = waker.mark("0xa")
    waker.notify(None)  # a reconnect: every market looks again
    assert await waker.wait("0xa", mark, 3600)


def test_the_channel_url_follows_the_venue() -> None:
    base = {"private_key": None}
    assert user_channel_url(ProcessSettings(**base, clob_url="http://127.0.0.1:9")) == (
        "ws://127.0.0.1:9/ws/user"
    )
    assert user_channel_url(ProcessSettings(**base, clob_url="https://clob.polymarket.com")) == (
        "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    )
    assert user_channel_url(ProcessSettings(**base, user_channel=False)) is None
    with pytest.raises(ValueError, match="not a ws:// or wss:// URL"):
        ProcessSettings(**base, user_channel_url="http://x")


def _round(info: MarketInfo, interval_ms: int) -> MarketMakingInput:
    return MarketMakingInput(
        parent_workflow_id="parent",
        market=info,
        config=MarketMakerConfig(
            order_size=Decimal(10), position_limit=Decimal(10), quote_interval_ms=interval_ms
        ),
        position=PositionTracker(),
        cursor=None,
        key_prefix="ws-test",
    )


async def _quoted_then_filled(
    market: Market, exchange: ClobExchange, interval_ms: int
) -> tuple[Any, FakeParent]:
    parent, beats = FakeParent(), []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.extend(map(Checkpoint.model_validate, details[:1]))
    activities = MarketMakingActivities(exchange, parent)  # type: ignore[arg-type]
    running = asyncio.create_task(env.run(activities.make_market, _round(market.info, interval_ms)))
    deadline = time.monotonic() + WAIT
    while not (beats and len(beats[-1].quotes) == 2):
        assert time.monotonic() < deadline and not running.done(), "never quoted"
        await asyncio.sleep(0.01)
    market.move("0.45")  # BUY YES 10 @ 0.48 fills: the position limit
    return await asyncio.wait_for(running, WAIT), parent


async def test_a_fill_wakes_the_loop_and_hands_over_long_before_the_next_poll(
    market: Market,
) -> None:
    """The poll is 10 minutes away, the test gives up after WAIT: only the user channel can
    hand the round over in time (ordering, not a timing assertion)."""
    key = "0x" + "31" * 32
    with SimServer(market.venue) as server:
        exchange = await ClobExchange.connect(
            ProcessSettings(exchange="sim", clob_url=server.url, private_key=SecretStr(key))
        )
        result, parent = await _quoted_then_filled(market, exchange, interval_ms=600_000)
        assert exchange.user_channel is not None and exchange.user_channel.subscriptions >= 1
        await exchange.user_channel.close()
    assert result.outcome is Outcome.POSITION_LIMIT
    assert result.checkpoint.position.yes_qty == Decimal(10)  # counted once
    limits = [arg for name, arg in parent.signals if name == "position_limit"]
    assert len(limits) == 1 and limits[0].position.yes_qty == Decimal(10)


async def test_a_refused_socket_leaves_the_poll_working_and_logs_no_secret(
    market: Market, caplog: pytest.LogCaptureFixture
) -> None:
    key = "0x" + "32" * 32
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws/user"
    caplog.set_level(logging.INFO)
    with SimServer(market.venue) as server:
        settings = ProcessSettings(
            exchange="sim", clob_url=server.url, private_key=SecretStr(key), user_channel_url=dead
        )
        exchange = await ClobExchange.connect(settings)
        result, _ = await _quoted_then_filled(market, exchange, interval_ms=100)
        assert exchange.user_channel is not None
        assert not exchange.user_channel.connected and exchange.user_channel.subscriptions == 0
        await exchange.user_channel.close()
        secrets = exchange._channel_creds()
    assert result.outcome is Outcome.POSITION_LIMIT
    assert result.checkpoint.position.yes_qty == Decimal(10)
    assert "user channel" in caplog.text  # the refusal is reported...
    for secret in (secrets.secret, secrets.passphrase, key[2:]):
        assert secret not in caplog.text  # ...without a credential


async def test_the_listener_comes_back_after_the_venue_drops_it(market: Market) -> None:
    key = "0x" + "33" * 32
    with SimServer(market.venue) as server:
        exchange = await ClobExchange.connect(
            ProcessSettings(exchange="sim", clob_url=server.url, private_key=SecretStr(key))
        )
        listener = exchange.user_channel
        assert listener is not None
        listener.ensure_started()
        deadline = time.monotonic() + WAIT
        while listener.subscriptions < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        mark = await exchange.fill_mark(market.info.condition_id)
        server.user_channel.close_all(ws.GOING_AWAY, "test")
        # Subscribed again: every market is told to look (fills may have been missed).
        assert await exchange.wait_for_fill(market.info.condition_id, mark, WAIT)
        while listener.subscriptions < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await listener.close()


def test_a_venue_served_with_a_user_channel_still_saves_and_loads(
    server: SimServer, market: Market, tmp_path: Any
) -> None:
    """The demo pickles its venue on exit: the server's listener is not the venue's state."""
    from dualmm.sim.snapshot import load_venue, save_venue

    owner = Account.create().address
    market.venue.ensure_wallet(owner)
    market.venue.place(owner, "0xo3", "401", Side.BUY, Decimal("0.40"), Decimal(10))
    save_venue(market.venue, tmp_path / "venue.pickle")
    loaded = load_venue(tmp_path / "venue.pickle", speed=1.0)
    assert loaded._listeners == [] and len(loaded.ledger()["orders"]) == 1

"""What the one-market simulator tests share: a midpoint that never moves, a market's terms, a
venue with one market and a funded wallet, an adapter on a fresh throwaway key, an API key put
straight into a server, a raw socket to a server, and a market-making round run without a
workflow."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio.testing import ActivityEnvironment
from test_exchange_contract import fresh_key, sim_settings

from activities.market_making import Checkpoint, MarketMakingActivities, MarketMakingInput
from dualmm import websocket as ws
from dualmm.config import MarketMakerConfig
from dualmm.domain.position import PositionTracker
from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import Exchange
from dualmm.exchange.clob import ClobExchange
from dualmm.sim.auth import ApiKey
from dualmm.sim.clock import ManualClock
from dualmm.sim.market import SimMarket
from dualmm.sim.rules import VenueRules
from dualmm.sim.server import SimServer
from dualmm.sim.venue import SimVenue

START = datetime(2026, 3, 2, 12, tzinfo=UTC)


class Flat:
    """A midpoint that never moves (the venue's MidProcess protocol)."""

    def __init__(self, mid: str = "0.50") -> None:
        self.mid = Decimal(mid)

    def mid_at(self, seconds: float) -> Decimal:
        return self.mid

    def change_times(self, after: float, until: float) -> Sequence[float]:
        return ()


class Steered:
    """A midpoint path the test extends as it goes (no fixed future: the venue asks it on
    every request)."""

    def __init__(self, mid: str | Decimal = "0.50") -> None:
        self.points: list[tuple[float, Decimal]] = [(0.0, Decimal(mid))]

    def mid_at(self, seconds: float) -> Decimal:
        return [mid for at, mid in self.points if at <= seconds][-1]

    def change_times(self, after: float, until: float) -> list[float]:
        return [at for at, _ in self.points if after < at <= until]


def market_info(condition_id: str, yes: str, no: str, **terms: Any) -> MarketInfo:
    """A market on 1-cent ticks with a minimum order of 5; `terms` add or override fields."""
    fields: dict[str, Any] = {"tick_size": Decimal("0.01"), "min_order_size": Decimal(5)}
    return MarketInfo(
        condition_id=condition_id, yes_token_id=yes, no_token_id=no, **{**fields, **terms}
    )


def reward_terms(daily_rate: str) -> dict[str, Decimal]:
    """A reward market's terms: `daily_rate` USDC a day within 3 cents, from 10 shares."""
    return {
        "rewards_daily_rate": Decimal(daily_rate),
        "rewards_max_spread_cents": Decimal(3),
        "rewards_min_size": Decimal(10),
    }


def one_market_venue(
    info: MarketInfo,
    wallet: str,
    book_seed: str,
    rules: VenueRules | None = None,
    start: datetime = START,
    **market: Any,
) -> SimVenue:
    """A venue on a manual clock at `start` with one market at a flat 0.50 and `wallet`
    funded; `market` adds SimMarket fields (e.g. half_spread)."""
    sim = SimVenue(
        [SimMarket(info, Flat(), start, book_seed=book_seed, **market)],
        ManualClock(start),
        rules=rules,
    )
    sim.ensure_wallet(wallet)
    return sim


def registered_key(server: SimServer, address: str) -> ApiKey:
    """`address`'s API key, put straight into the server's key store (no signed L1 request),
    and its wallet funded."""
    creds = server.keys._credentials(address, 0)
    with server.keys._lock:
        server.keys._keys[creds.key] = creds
    server.venue.ensure_wallet(address)
    return creds


def raw_socket(server: SimServer, timeout: float = 10.0) -> socket.socket:
    """A plain TCP connection to the server, for bytes no HTTP client would send."""
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


async def connect(server: SimServer) -> ClobExchange:
    """The adapter on the simulator over HTTP, as a new wallet (its own API key)."""
    return await ClobExchange.connect(sim_settings(server.url, fresh_key()))


class FakeParent:
    """Stands in for the Temporal client of a market-making round: keeps the signals sent to
    the parent workflow."""

    def __init__(self) -> None:
        self.signals: list[tuple[str, Any]] = []

    def get_workflow_handle(self, workflow_id: str) -> FakeParent:
        return self

    async def signal(self, name: str, arg: Any) -> None:
        self.signals.append((name, arg))


class RunningRound:
    """A market-making round (the `make_market` activity) running in an ActivityEnvironment
    with no parent; `beats` are its heartbeat checkpoints."""

    def __init__(self, exchange: Exchange, request: MarketMakingInput) -> None:
        self.beats: list[Checkpoint] = []
        self.env = ActivityEnvironment()
        self.env.on_heartbeat = lambda *details: self.beats.extend(details[:1])
        activities = MarketMakingActivities(exchange, FakeParent())  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.env.run(activities.make_market, request))

    async def until_quoted(self, seconds: float = 30) -> None:
        """Until its last checkpoint holds a quote on each token."""
        async with asyncio.timeout(seconds):
            while not (self.beats and len(self.beats[-1].quotes) == 2):
                await asyncio.sleep(0.05)


def round_input(
    market: MarketInfo, key_prefix: str, config: MarketMakerConfig
) -> MarketMakingInput:
    """A fresh round on `market` from a flat position."""
    return MarketMakingInput(
        parent_workflow_id="parent",
        market=market,
        config=config,
        position=PositionTracker(),
        cursor=None,
        key_prefix=key_prefix,
    )


class WsClient:
    """A blocking websocket client built from the frames codec, to see what the server says."""

    def __init__(self, server: SimServer, path: str = "/ws/user", timeout: float = 10.0) -> None:
        self.sock = raw_socket(server, timeout)
        key = ws.new_client_key()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self._buf = b""
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self._buf += chunk
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.head = head.decode()
        if self.status == 101:
            assert f"Sec-WebSocket-Accept: {ws.accept_key(key)}" in self.head

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(ws.encode_frame(opcode, payload, mask=True))

    def text(self, message: Any) -> None:
        self.send(ws.TEXT, (message if isinstance(message, str) else json.dumps(message)).encode())

    def _exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def frame(self) -> tuple[int, bytes]:
        header = ws.parse_header(self._exactly(2), expect_masked=False)
        length = ws.payload_length(header, self._exactly(header.extra), 1 << 20)
        return header.opcode, self._exactly(length)

    def message(self) -> Any:
        opcode, payload = self.frame()
        assert opcode == ws.TEXT, (opcode, payload)
        text = payload.decode()
        return text if text == "PONG" else json.loads(text)

    def close_code(self) -> int | None:
        """Read until the server's close frame; its code (None: dropped without one)."""
        try:
            while True:
                opcode, payload = self.frame()
                if opcode == ws.CLOSE:
                    return ws.parse_close(payload)[0]
        except (ConnectionError, OSError):
            return None

    def close(self) -> None:
        self.sock.close()

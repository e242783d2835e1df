"""Polymarket's user channel (`/ws/user`), served on the simulator's HTTP port.

As documented (docs.polymarket.com, market-data/websocket/user-channel): the client opens
`wss://ws-subscriptions-clob.polymarket.com/ws/user` and sends
`{"auth": {"apiKey", "secret", "passphrase"}, "markets": [condition ids], "type": "user"}`;
it then receives, for the API key's orders and trades in those markets (all markets when the
list is empty), `order` events (`type` PLACEMENT, UPDATE when it fills, CANCELLATION) and
`trade` events (`type` TRADE, `status` MATCHED, then MINED / CONFIRMED or RETRYING / FAILED).
`{"operation": "subscribe" | "unsubscribe", "markets": [...]}` changes the markets later.
Clients send the text `PING` about every 10 s and get `PONG` (RFC 6455 ping frames are
answered too). The docs spell the trade's match time `match_time` and `matchtime` on two
pages: both are sent.

Bad credentials: an `{"error": ...}` message, then a close (1008). The socket's bounds are
those of every simulated channel (dualmm.sim.ws_server). Faults: the upgrade takes the
server's latency, 500s and 429s like any request, and during a matching-engine restart's
down window every socket is closed (1012) and upgrades get 425.

A pump thread drives the venue to the present every `PUMP_SECONDS` while anyone listens (a
wall-clock venue otherwise only moves when a request reads it) and pushes the changes the
venue reported (SimVenue.add_listener) to the sockets that subscribed to them.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from dualmm import websocket as ws
from dualmm.sim.auth import ApiKey
from dualmm.sim.ledger import VenueEvent, wallet_address
from dualmm.sim.wire import unix
from dualmm.sim.ws_server import Channel, Session

if TYPE_CHECKING:
    from dualmm.sim.server_view import ChannelHost
    from dualmm.sim.venue import SimVenue

logger = logging.getLogger(__name__)

PATH = "/ws/user"
MAX_MARKETS = 1000
PUMP_SECONDS = 0.02
_PENDING_EVENTS = 100_000  # changes not yet pushed, at most (the oldest are dropped)


class UserSession(Session):
    """One user-channel connection: its API key once subscribed, and its markets."""

    def __init__(self, channel: UserChannel) -> None:
        super().__init__(channel)
        self._user_channel = channel
        self.creds: ApiKey | None = None
        self.markets: frozenset[str] = frozenset()

    @property
    def subscribed(self) -> bool:
        return self.creds is not None

    def wants(self, event: VenueEvent) -> bool:
        creds = self.creds
        return (
            creds is not None
            and self.open
            and wallet_address(creds.address) == event.address
            and (not self.markets or event.condition_id in self.markets)
        )

    def on_message(self, payload: Any) -> None:
        if self.creds is None:
            self._subscribe(payload)
        elif isinstance(payload, dict) and "operation" in payload:
            self._update(payload)
        else:
            self.error('expected PING or {"operation": "subscribe"|"unsubscribe", ...}')

    def _subscribe(self, payload: Any) -> None:
        if not isinstance(payload, dict) or str(payload.get("type", "")).lower() != "user":
            self.refuse('the first message must subscribe: {"auth": {...}, "type": "user"}')
        auth = payload.get("auth")
        creds = self._user_channel.authenticate(auth) if isinstance(auth, dict) else None
        if creds is None:
            self.refuse("invalid api key, secret or passphrase")
        self.markets = self._markets(payload.get("markets"))
        self.creds = creds

    def _update(self, payload: dict[str, Any]) -> None:
        operation = str(payload.get("operation", "")).lower()
        markets = self._markets(payload.get("markets"))
        if operation == "subscribe":  # an empty set is every market: it stays so
            self.markets = self.markets | markets if self.markets else frozenset()
        elif operation == "unsubscribe":
            self.markets = self.markets - markets
        else:
            self.error(f"unknown operation {operation[:40]!r}")

    def _markets(self, raw: Any) -> frozenset[str]:
        if raw is None:
            return frozenset()
        if not isinstance(raw, list) or len(raw) > MAX_MARKETS:
            self.refuse(f"markets must be a list of at most {MAX_MARKETS} condition ids")
        return frozenset(str(m)[:100] for m in raw if isinstance(m, str))


class UserChannel(Channel["ChannelHost"]):
    """The user channel of one SimServer (see the module docstring)."""

    path = PATH

    def __init__(self, server: ChannelHost, read_timeout: float) -> None:
        super().__init__(server, read_timeout)
        self._pending: deque[VenueEvent] = deque(maxlen=_PENDING_EVENTS)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._venue: SimVenue | None = None

    def new_session(self) -> UserSession:
        return UserSession(self)

    # --- lifecycle ---

    def attach(self, venue: SimVenue) -> None:
        """Listen to `venue` (the server's; again after a swap)."""
        if self._venue is not None:
            self._venue.remove_listener(self._on_event)
        self._venue = venue
        venue.add_listener(self._on_event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._pump, name="dualmm-sim-ws-pump", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.close_all(ws.GOING_AWAY, "server stopping")
        if self._thread is not None:
            self._thread.join(timeout=5)

    def authenticate(self, auth: dict[str, Any]) -> ApiKey | None:
        """The API key whose key, secret and passphrase these are (as the venue checks them)."""
        key, secret, passphrase = (auth.get(k) for k in ("apiKey", "secret", "passphrase"))
        if not all(isinstance(v, str) and v.isascii() for v in (key, secret, passphrase)):
            return None
        creds = self._server.keys.lookup(str(key))
        if creds is None:
            return None
        ok = hmac.compare_digest(str(secret), creds.secret) & hmac.compare_digest(
            str(passphrase), creds.passphrase
        )
        return creds if ok else None

    # --- events ---

    def _on_event(self, event: VenueEvent) -> None:
        """Called under the venue's lock: only queue it."""
        if self._sessions and event.kind in ("order", "trade"):
            self._pending.append(event)

    def _pump(self) -> None:
        while not self._stop.wait(PUMP_SECONDS):
            sessions = [s for s in self.subscribed_sessions() if isinstance(s, UserSession)]
            if not sessions:
                self._pending.clear()
                continue
            if self._server.websocket_refusal(faults=False) is not None:  # the engine restarts
                self.close_all(ws.RESTARTING, "the matching engine is restarting")
                continue
            venue = self._venue
            try:
                if venue is not None:
                    venue.advance_to(venue.now())  # a wall clock: fill what the prices reached
                self._push(sessions)
            except Exception:  # the pump must outlive any bad event
                logger.exception("sim user channel: pushing events failed")

    def _push(self, sessions: list[UserSession]) -> None:
        while self._pending:
            event = self._pending.popleft()
            for session in sessions:
                if session.wants(event):
                    assert session.creds is not None
                    session.send_json(self._message(event, session.creds))

    def _message(self, event: VenueEvent, creds: ApiKey) -> dict[str, Any]:
        trading = self._server.trading
        now = str(int(time.time()))
        if event.trade is not None:
            body = trading.trade_json(event.trade, creds)
            return {
                **body,
                "event_type": "trade",
                "type": "TRADE",
                "matchtime": body["match_time"],
                "trade_owner": creds.key,
                "timestamp": now,
            }
        assert event.order is not None
        order = event.order
        trade_ids = [event.trade_id] if event.trade_id else []
        body = trading.order_json(order, creds, trade_ids)
        return {
            **body,
            "event_type": "order",
            "type": event.type,
            "order_owner": body["owner"],
            "created_at": str(unix(order.created_at)),
            "timestamp": now,
        }

"""A listener on Polymarket's user channel that turns its events into fill notices.

It connects to `wss://ws-subscriptions-clob.polymarket.com/ws/user` (or the simulator's
`ws://host:port/ws/user`), subscribes with the API key, secret and passphrase as the docs
show (`{"auth": {"apiKey", "secret", "passphrase"}, "markets": [...], "type": "user"}`, the
markets waited on so far; a market waited on later is added with `{"operation": "subscribe",
"markets": [...]}`), sends `PING` every PING_SECONDS, and on every `trade` event and every
order `UPDATE` (a fill) notifies the FillWaker of that market. Nothing in a message is
trusted for money: the market-making loop only wakes and reads its fills over the
authenticated REST API.

The socket is kept up by `dualmm.exchange.ws_client` (reconnects with backoff; the loop's
poll is the fallback meanwhile). Each new subscription notifies every market once, since
fills may have happened while it was away.
The credentials are read when subscribing and never logged (errors name the URL only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dualmm.exchange.wake import FillWaker
from dualmm.exchange.ws_client import ChannelClient, Connection

logger = logging.getLogger(__name__)

POLYMARKET_USER_CHANNEL = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
PING_SECONDS = 10.0


@dataclass(frozen=True)
class ChannelCreds:
    """The L2 API credentials the subscription carries; `repr` shows none of them."""

    api_key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return "ChannelCreds(<hidden>)"


def wakes(message: Any) -> list[str]:
    """The markets a user-channel message says our fills changed in: every `trade` event
    (a match or a later status) and every order `UPDATE`; placements and cancellations are
    our own doing. A message may be one event or a list of them."""
    events = message if isinstance(message, list) else [message]
    markets = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("market"), str):
            continue
        kind = str(event.get("event_type", "")).lower()
        if kind == "trade" or (kind == "order" and str(event.get("type", "")).upper() == "UPDATE"):
            markets.append(event["market"])
    return markets


class UserChannelListener(ChannelClient):
    """Listens while the process lives, once `ensure_started` ran in its event loop."""

    name = "user channel"

    def __init__(
        self,
        url: str,
        creds: Callable[[], ChannelCreds],
        waker: FillWaker,
        *,
        ping_seconds: float = PING_SECONDS,
    ) -> None:
        # The venue answers our PINGs: silence for three of them is a dead socket.
        super().__init__(url, ping_seconds=ping_seconds, silence_seconds=3 * ping_seconds)
        self._creds = creds
        self._waker = waker
        self._markets: set[str] = set()

    def watch(self, condition_id: str) -> None:
        """Listen to this market too (and connect, if not yet)."""
        if condition_id not in self._markets:
            self._markets.add(condition_id)
            self.send_soon({"operation": "subscribe", "markets": [condition_id]})
        self.ensure_started()

    async def on_open(self, connection: Connection) -> None:
        creds = self._creds()
        await connection.send_json(
            {
                "auth": {
                    "apiKey": creds.api_key,
                    "secret": creds.secret,
                    "passphrase": creds.passphrase,
                },
                "markets": sorted(self._markets),
                "type": "user",
            }
        )
        self._waker.notify(None)  # fills may have come while we were away

    def redacted(self, text: str) -> str:
        """`text` without our credentials, should a venue's error ever echo them."""
        try:
            creds = self._creds()
        except Exception:
            return text
        for secret in (creds.secret, creds.passphrase, creds.api_key):
            if secret:
                text = text.replace(secret, "***")
        return text

    def on_text(self, text: str) -> None:
        if text.strip().upper() == "PONG":
            return
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return  # not an event
        if isinstance(message, dict) and "error" in message:
            said = self.redacted(str(message)[:200])
            logger.warning("user channel %s: the venue says %s", self.url, said)
            return
        for market in wakes(message):
            self._waker.notify(market)

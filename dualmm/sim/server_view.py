"""What the admin routes and the user channel see of the server that owns them: typed here so
that neither imports `dualmm.sim.server`, which builds them."""

from __future__ import annotations

from typing import Protocol

from dualmm.sim.auth import KeyRing
from dualmm.sim.faults import Faults, Restart
from dualmm.sim.routes_trading import Trading
from dualmm.sim.venue import SimVenue
from dualmm.sim.wire import Reply


class MarketChannelFaults(Protocol):
    """The market channel's on-demand faults (cut connections, silence, missed events) and
    announcements (a market resolved)."""

    def fault(self, *, drop: bool = False, silence_seconds: float = 0.0, miss: int = 0) -> int: ...

    def announce_resolution(self, condition_id: str) -> int: ...


class AdminControls(Protocol):
    """The server's faults and matching-engine restarts, and its venue."""

    @property
    def venue(self) -> SimVenue: ...

    @property
    def faults(self) -> Faults: ...

    def set_faults(self, faults: Faults) -> None: ...

    def restart(self, down_seconds: float = 90, post_only_seconds: float = 120) -> Restart: ...

    @property
    def market_channel(self) -> MarketChannelFaults: ...


class WebsocketHost(Protocol):
    """What a websocket upgrade gets instead of a socket now (faults, engine restarts)."""

    def websocket_refusal(self, faults: bool = True) -> Reply | None: ...


class ChannelHost(WebsocketHost, Protocol):
    """The user channel's view: API keys and the trade/order JSON, besides refusals."""

    @property
    def keys(self) -> KeyRing: ...

    @property
    def trading(self) -> Trading: ...


class MarketChannelHost(WebsocketHost, Protocol):
    """The market channel's view: the venue whose books it publishes, besides refusals."""

    @property
    def venue(self) -> SimVenue: ...

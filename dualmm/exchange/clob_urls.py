"""Where the venue is: the CLOB's host and the URLs of its user and market channels."""

from __future__ import annotations

from urllib.parse import urlsplit

from dualmm.config import ProcessSettings
from dualmm.exchange.market_channel import POLYMARKET_MARKET_CHANNEL
from dualmm.exchange.user_channel import POLYMARKET_USER_CHANNEL

POLYMARKET_HOST = "https://clob.polymarket.com"


def user_channel_url(settings: ProcessSettings) -> str | None:
    """Where the user channel of `settings`' venue is: DUALMM_USER_CHANNEL_URL, Polymarket's,
    or `/ws/user` on the CLOB URL's host (the simulator's); None when switched off."""
    if not settings.user_channel:
        return None
    return _channel_url(settings, settings.user_channel_url, POLYMARKET_USER_CHANNEL, "user")


def market_channel_url(settings: ProcessSettings) -> str | None:
    """Where the market channel of `settings`' venue is: DUALMM_MARKET_CHANNEL_URL,
    Polymarket's, or `/ws/market` on the CLOB URL's host (the simulator's); None when off."""
    if not settings.market_channel:
        return None
    return _channel_url(settings, settings.market_channel_url, POLYMARKET_MARKET_CHANNEL, "market")


def _channel_url(settings: ProcessSettings, chosen: str | None, polymarket: str, name: str) -> str:
    if chosen:
        return chosen
    if settings.clob_url.rstrip("/") == POLYMARKET_HOST:
        return polymarket
    parts = urlsplit(settings.clob_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws/{name}"

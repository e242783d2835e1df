"""Build the Exchange a process trades on, from its Settings.

- `sim`: py-clob-client-v2 against the simulator at `clob_url` (a test key from `dualmm
  sim-server`).
- `polymarket`: py-clob-client-v2 against Polymarket (`clob_url` when set explicitly).
- `paper`, or any exchange with `dry_run`: PaperExchange over a key-less, read-only client of
  that venue (`paper` reads Polymarket unless `clob_url` is set).
"""

from __future__ import annotations

from dualmm.config import Settings
from dualmm.exchange.base import Exchange
from dualmm.exchange.clob import POLYMARKET_HOST, ClobExchange
from dualmm.exchange.paper import PaperExchange


def venue_settings(settings: Settings) -> Settings:
    """`settings` with the real Polymarket host unless a CLOB URL was given (the default URL
    is the local simulator's)."""
    if settings.exchange == "sim" or "clob_url" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"clob_url": POLYMARKET_HOST})


async def build_exchange(settings: Settings, *, dry_run: bool = False) -> Exchange:
    settings = venue_settings(settings)
    if dry_run or settings.exchange == "paper":
        return PaperExchange(await ClobExchange.connect(settings, read_only=True))
    return await ClobExchange.connect(settings)

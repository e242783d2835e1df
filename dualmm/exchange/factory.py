"""The one place a process decides what it trades on, and builds that Exchange.

- `sim`: py-clob-client-v2 against the simulator at `clob_url` (a test key from `dualmm
  sim-server`); never with `--live`, the simulator has no real orders.
- `paper`: real data, simulated fills: PaperExchange over a key-less, read-only client of the
  venue (Polymarket unless `clob_url` is set). What `DUALMM_EXCHANGE=polymarket` gets without
  `--live`, and what `DUALMM_EXCHANGE=paper` always gets.
- `live`: real orders on Polymarket, only ever with `--live`.
"""

from __future__ import annotations

from typing import Literal

from dualmm.config import ProcessSettings
from dualmm.errors import UsageError
from dualmm.exchange.base import Exchange
from dualmm.exchange.clob import ClobExchange
from dualmm.exchange.clob_urls import POLYMARKET_HOST
from dualmm.exchange.paper import PaperExchange

TradingMode = Literal["sim", "paper", "live"]


def trading_mode(settings: ProcessSettings, *, live: bool, dry_run: bool = False) -> TradingMode:
    """sim, paper or live for these settings and flags; a contradiction is a UsageError."""
    if live and dry_run:
        raise UsageError("--live and --dry-run contradict each other: choose one")
    if settings.exchange == "sim":
        if live:
            raise UsageError("--live: DUALMM_EXCHANGE is sim (the simulator has no real orders)")
        return "sim"
    if live:
        if settings.exchange != "polymarket":
            raise UsageError(f"--live needs DUALMM_EXCHANGE=polymarket (it is {settings.exchange})")
        return "live"
    return "paper"


def venue_settings(settings: ProcessSettings) -> ProcessSettings:
    """`settings` with the real Polymarket host unless a CLOB URL was given (the default URL
    is the local simulator's)."""
    if settings.exchange == "sim" or "clob_url" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"clob_url": POLYMARKET_HOST})


async def open_exchange(settings: ProcessSettings, mode: TradingMode) -> Exchange:
    """The Exchange for `mode` (from `trading_mode`): paper wraps a read-only client, which
    holds no key and so could not sign an order."""
    settings = venue_settings(settings)
    if mode == "paper":
        return PaperExchange(await ClobExchange.connect(settings, read_only=True))
    return await ClobExchange.connect(settings)

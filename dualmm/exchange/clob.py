"""ClobExchange: the Exchange protocol on py-clob-client-v2 (Polymarket CLOB V2, or the simulator).

Built in layers, one concern a module: clob_core (state and requests), clob_reads (market
data and account reads), clob_orders (idempotent placement and cancels), and here start-up,
the venue heartbeat, the channels' fill and market waits, and on-chain merges. Venue URLs are
in clob_urls, the SDK's HTTP settings in clob_http, its answers parsed in clob_wire.
Secrets stay inside the SDK client: never in a log line, an error text or this repr.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
from decimal import Decimal

from eth_account import Account
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import ApiCreds
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2

from dualmm.config import ProcessSettings
from dualmm.domain.market_moves import MarketResolution
from dualmm.domain.types import MarketInfo
from dualmm.exchange.base import (
    AuthError,
    ExchangeError,
    InvalidOrder,
    MergeJournal,
    MergeReport,
    NotFound,
    NotSupported,
    Wake,
)
from dualmm.exchange.chain import ChainMerger
from dualmm.exchange.clob_http import configure_http_timeout, in_thread
from dualmm.exchange.clob_orders import ClobOrders
from dualmm.exchange.clob_urls import market_channel_url, user_channel_url
from dualmm.exchange.market_channel import market_key
from dualmm.logs import redact

# Start-up: attempts to derive-or-create the API key, the first retry this long after a
# refused create (doubling, jittered): two workers starting together race to create it.
CREDENTIAL_ATTEMPTS = 5
CREDENTIAL_BACKOFF_SECONDS = 0.5
logger = logging.getLogger(__name__)


class ClobExchange(ClobOrders):
    """The Exchange protocol over py-clob-client-v2 (see the module docstring)."""

    @classmethod
    async def connect(cls, settings: ProcessSettings, *, read_only: bool = False) -> ClobExchange:
        """An adapter for `settings`. Trading: the L1 private key, plus L2 API credentials from
        settings or created/derived from the key. `read_only`: no key at all (public data)."""
        configure_http_timeout(settings.clob_timeout_seconds)
        host = settings.clob_url
        if read_only:
            return cls(ClobClient(host, settings.chain_id))
        if settings.private_key is None:
            raise AuthError("no private key configured (DUALMM_PRIVATE_KEY)")
        try:
            client = ClobClient(
                host,
                settings.chain_id,
                key=settings.private_key.get_secret_value(),
                signature_type=settings.signature_type,
                funder=settings.funder,
            )
        except (ValueError, TypeError):
            raise AuthError("the configured private key is not a valid key") from None
        given = (settings.api_key, settings.api_secret, settings.api_passphrase)
        if all(part is not None for part in given):
            api_key, secret, passphrase = (p.get_secret_value() for p in given if p is not None)
            creds = ApiCreds(api_key=api_key, api_secret=secret, api_passphrase=passphrase)
        else:
            creds = await cls._api_creds(client)
            redact(creds.api_key, creds.api_secret, creds.api_passphrase)  # never in a log line
        client.set_api_creds(creds)
        exchange = cls(
            client,
            user_channel_url=user_channel_url(settings),
            market_channel_url=market_channel_url(settings),
        )
        exchange._set_up_merges(settings)
        return exchange

    def _set_up_merges(self, settings: ProcessSettings) -> None:
        """On-chain merges for an EOA wallet with a Polygon RPC endpoint; else why not."""
        if settings.signature_type != SignatureTypeV2.EOA:
            self._cannot_merge = (
                f"merging pairs on-chain needs an EOA wallet (signature type 0), not signature "
                f"type {settings.signature_type} (a proxy or Safe wallet): use an EOA, or merge "
                "the pairs on polymarket.com"
            )
            return
        if settings.polygon_rpc_url is None or settings.private_key is None:
            self._cannot_merge = (
                "merging pairs on-chain needs a Polygon RPC endpoint: set DUALMM_POLYGON_RPC_URL"
            )
            return
        contracts = get_contract_config(settings.chain_id)
        self._merger = ChainMerger(
            Account.from_key(settings.private_key.get_secret_value()),
            settings.polygon_rpc_url.get_secret_value(),
            conditional_tokens=contracts.conditional_tokens,
            neg_risk_adapter=contracts.neg_risk_adapter,
            chain_id=settings.chain_id,
        )

    @classmethod
    async def _api_creds(cls, client: ClobClient) -> ApiCreds:
        """Derive the key (an idempotent GET); create it only when there is none yet. (The
        SDK's create_or_derive swallows the create's error: a 5xx or 429 on the create then
        surfaced as a non-retryable 400 from the derive, and the worker gave up.)

        Two processes starting at once with one key both find none and both create it; the
        venue refuses the second create (400: one key per address and nonce). That refusal
        is transient: derive again, with backoff (a venue may show a new key a moment late).
        Transport errors, 5xx and 429 propagate as retryable; a 401 as AuthError."""
        refused: ExchangeError | None = None
        for attempt in range(CREDENTIAL_ATTEMPTS):
            if attempt:
                delay = CREDENTIAL_BACKOFF_SECONDS * 2 ** (attempt - 1)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            try:
                derived: ApiCreds = await in_thread(client.derive_api_key)
                return derived
            except (InvalidOrder, NotFound):  # no key for this address yet
                pass
            try:
                created: ApiCreds = await in_thread(client.create_api_key)
                return created
            except (InvalidOrder, NotFound) as exc:  # another process created it meanwhile
                refused = exc
                logger.info("API key not created (%s): deriving it again", exc)
        raise AuthError(
            f"no API key for this private key after {CREDENTIAL_ATTEMPTS} attempts "
            f"to derive or create one: {refused}"
        )

    async def heartbeat(self) -> None:
        """Send a heartbeat, and from then on keep sending them every HEARTBEAT_SECONDS for as
        long as this process lives: the venue cancels our orders ~10 s after they stop, so a
        dead worker leaves nothing resting, while a live one between rounds keeps its orders.

        While that loop runs and its last beat got through within HEARTBEAT_SECONDS, a call
        sends nothing more: every liquidation check calls this, and a beat per check would be
        one more request per check to say what the loop already says."""
        beating = self._keep_alive is not None and not self._keep_alive.done()
        if beating and self._clock() - self._last_beat < self.heartbeat_seconds:
            return
        await self._beat()
        if not beating:
            # In a context of its own: it outlives the activity that started it, whose ids
            # its log lines must not carry.
            self._keep_alive = asyncio.create_task(
                self._beat_forever(), context=contextvars.Context()
            )

    async def _beat(self) -> None:
        await self._sdk(self._client.post_heartbeat)
        self._last_beat = self._clock()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._beat()
            except ExchangeError as exc:  # the next beat may get through; orders may not
                logger.warning("heartbeat not delivered: %s", exc)

    async def fill_mark(self, condition_id: str) -> int:
        return self._waker.mark(condition_id)

    async def wait_for_fill(self, condition_id: str, mark: int, timeout: float) -> bool:
        """Wait for the user channel to report a fill in the market (it connects on the first
        wait); the caller's poll interval is the fallback while it is down."""
        if self.user_channel is not None:
            self.user_channel.watch(condition_id)
        return await self._waker.wait(condition_id, mark, timeout)

    # --- the market channel (MarketFeed) ------------------------------------------------------

    async def market_live(self, condition_id: str) -> bool:
        return self.market_channel is not None and self.market_channel.live(condition_id)

    async def market_mark(self, condition_id: str) -> int:
        return self._waker.mark(market_key(condition_id))

    async def trades_seen(self, token_id: str) -> tuple[int, Decimal | None]:
        seen = self.market_channel.last_trade(token_id) if self.market_channel else None
        return (0, None) if seen is None else (seen.count, seen.price)

    async def market_resolution(self, condition_id: str) -> MarketResolution | None:
        return self.market_channel.resolution(condition_id) if self.market_channel else None

    async def wait_for_market(
        self, market: MarketInfo, fill_mark: int, market_mark: int, timeout: float
    ) -> Wake:
        condition_id = market.condition_id
        if self.market_channel is not None:
            self.market_channel.want(condition_id, (market.yes_token_id, market.no_token_id))
        if self.user_channel is not None:
            self.user_channel.watch(condition_id)
        woke = await self._waker.wait_any(
            {condition_id: fill_mark, market_key(condition_id): market_mark}, timeout
        )
        if woke is None:
            return Wake.TIMEOUT
        return Wake.FILL if woke == condition_id else Wake.MARKET

    async def merge(
        self, market: MarketInfo, qty: Decimal, key: str, journal: MergeJournal | None = None
    ) -> MergeReport:
        """`mergePositions` on Polygon for an EOA wallet (dualmm.exchange.chain), signed once
        and kept in `journal` for a retry. Without a way to merge (a proxy or Safe wallet, no
        RPC endpoint) NotSupported: the liquidation sells the net position and leaves the
        pairs for polymarket.com or resolution."""
        if self._merger is None:
            raise NotSupported(self._cannot_merge)
        neg_risk = await self.neg_risk(market.yes_token_id)
        return await self._merger.merge(market, qty, key, neg_risk, journal or MergeJournal())

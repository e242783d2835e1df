"""Configuration: trading parameters (validated pydantic models) and process settings (env).

Trading configs travel through workflow histories, so they never hold a secret. Secrets live
only in `ProcessSettings`, which workers read from their own environment.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from dualmm.domain.types import Stage
from dualmm.logs import FORMATS, LEVELS
from workflows.contracts import TASK_QUEUE

# Bounds, checked once here. A duration becomes a Temporal timer (and a Python timedelta and
# the replay's clock); a year is far beyond any sensible stage boundary and safe everywhere.
MAX_TIMER_MINUTES = Decimal(365 * 24 * 60)
MAX_INTERVAL_MS = 24 * 60 * 60 * 1000  # a check or quote loop at most once a day
MAX_SHARES = Decimal(10**9)  # far above any Polymarket market's depth
MAX_USDC = Decimal(10**12)


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a validation error in one line: `field.path: message`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def describe_settings_error(error: ValidationError) -> str:
    """The first problem of a ProcessSettings error, named by its environment variable."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = first["msg"].removeprefix("Value error, ")
    return f"{ProcessSettings.env_name(field)}: {message}" if field else message


@dataclass(frozen=True)
class Flag:
    """How an operator sets a config field: its command-line flag (`off`: a switch's other
    flag), which also names its environment variable, and its help. The field itself keeps
    the type, bounds and default; `dualmm.cli.options` makes the options from both."""

    name: str
    help: str
    off: str | None = None

    @property
    def env(self) -> str:
        """`--liq-timeout` is DUALMM_LIQ_TIMEOUT."""
        return "DUALMM_" + self.name.removeprefix("--").upper().replace("-", "_")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class LiquidationConfig(_Config):
    """The seed's liquidation parameters (defaults are the seed's) plus the stage offsets."""

    min_profit_margin: Annotated[
        Decimal, Flag("--liq-profit-margin", "Minimum profit per token (USDC).")
    ] = Field(Decimal("0.01"), ge=0, lt=1)
    block_losing_quotes: Annotated[
        bool,
        Flag(
            "--liq-block-losing",
            "Never quote PASSIVE/SKEWED below cost plus margin.",
            off="--no-liq-block-losing",
        ),
    ] = True
    skew_start_minutes: Annotated[
        Decimal, Flag("--liq-skew-start", "Minutes before skewing starts.")
    ] = Field(Decimal(5), ge=0, le=MAX_TIMER_MINUTES)
    skew_per_minute: Annotated[
        Decimal, Flag("--liq-skew-rate", "Skew added per minute (price).")
    ] = Field(Decimal("0.002"), ge=0, lt=1)
    max_skew: Annotated[Decimal, Flag("--liq-skew-max", "Maximum skew (price).")] = Field(
        Decimal("0.02"), ge=0, lt=1
    )
    stop_loss_enabled: Annotated[
        bool, Flag("--liq-stop-loss", "Enable the stop-loss.", off="--no-liq-stop-loss")
    ] = True
    stop_loss_threshold: Annotated[
        Decimal, Flag("--liq-stop-loss-threshold", "Stop-loss at this unrealized P&L (USDC).")
    ] = Field(Decimal(-10), le=0, ge=-MAX_USDC)
    stop_loss_stage: Stage = Stage.MARKET
    timeout_minutes: Annotated[
        Decimal, Flag("--liq-timeout", "Minutes before the timeout stage.")
    ] = Field(Decimal(30), gt=0, le=MAX_TIMER_MINUTES)
    timeout_stage: Stage = Stage.AGGRESSIVE
    price_check_interval_ms: Annotated[
        int, Flag("--liq-check-interval", "Price check interval (ms).")
    ] = Field(30_000, gt=0, le=MAX_INTERVAL_MS)
    aggressive_offset: Decimal = Field(Decimal("0.02"), ge=0, lt=1)
    market_offset: Decimal = Field(Decimal("0.05"), ge=0, lt=1)

    @model_validator(mode="after")
    def _stages_escalate(self) -> LiquidationConfig:
        if self.stop_loss_stage.rank < self.timeout_stage.rank:
            raise ValueError(
                f"stop_loss_stage: {self.stop_loss_stage} is earlier than "
                f"timeout_stage {self.timeout_stage}"
            )
        if self.timeout_stage.rank < Stage.AGGRESSIVE.rank:
            raise ValueError("timeout_stage: must be AGGRESSIVE or MARKET")
        return self


class MarketMakerConfig(_Config):
    """Active-market quoting parameters."""

    order_size: Annotated[Decimal, Flag("--order-size", "Shares per quote.")] = Field(
        Decimal(50), gt=0, le=MAX_SHARES
    )
    # Quote this fraction of the reward band away from the midpoint (closer earns more).
    spread_fraction: Annotated[
        Decimal, Flag("--spread-fraction", "Quote this fraction of the reward band out.")
    ] = Field(Decimal("0.5"), gt=0, le=1)
    requote_threshold: Annotated[
        Decimal, Flag("--requote-threshold", "Midpoint move that requotes.")
    ] = Field(Decimal("0.005"), gt=0, lt=1)
    position_limit: Annotated[
        Decimal, Flag("--position-limit", "|net| shares before liquidating.")
    ] = Field(Decimal(100), gt=0, le=MAX_SHARES)
    quote_interval_ms: Annotated[int, Flag("--quote-interval", "Quote loop interval (ms).")] = (
        Field(5_000, gt=0, le=MAX_INTERVAL_MS)
    )
    # Holding one token, lean the bids: the pairing one closer by up to this share of the
    # offset, the adding one further (`dualmm.domain.inventory`); 0: no skew.
    inventory_skew: Annotated[
        Decimal, Flag("--inventory-skew", "Lean the bids toward pairing a held token (0: off).")
    ] = Field(Decimal(0), ge=0, le=1)
    # Withhold the adding bid once |net| reaches this share of the position limit (1: never).
    stop_adding_at: Annotated[
        Decimal, Flag("--stop-adding-at", "Withhold the adding bid from this share of the limit.")
    ] = Field(Decimal(1), gt=0, le=1)
    # Rank markets by rewards less this weight x the expected adverse selection of jumps
    # through our quotes (`dualmm.domain.adverse`); 0: by rewards alone.
    adverse_selection_weight: Annotated[
        Decimal, Flag("--adverse-weight", "Rank by rewards less this x expected adverse selection.")
    ] = Field(Decimal(0), ge=0, le=10)
    # The position limit bounds only |YES - NO|: pairs held would pile up until the round ends.
    merge_pairs_at: Annotated[
        Decimal,
        Flag(
            "--merge-pairs-at",
            "Hand the round to a liquidation (which merges the pairs) once it holds this many "
            "YES+NO pairs (0: only when the round ends).",
        ),
    ] = Field(Decimal(0), ge=0, le=MAX_SHARES)


BOT_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"


class OrchestratorConfig(_Config):
    bot_id: Annotated[str, Flag("--bot-id", "Which bot (workflow active-market-<id>).")] = Field(
        "dualmm", min_length=1, max_length=100, pattern=BOT_ID_PATTERN
    )
    dual_market_mode: Annotated[
        bool,
        Flag(
            "--dual-market-mode",
            "Quote the next market while liquidating (dual) or wait (single).",
            off="--single-market-mode",
        ),
    ] = True
    liquidity_budget: Annotated[
        Decimal, Flag("--liquidity-budget", "Capital for quotes (USDC).")
    ] = Field(Decimal(1000), gt=0, le=MAX_USDC)
    market_maker: MarketMakerConfig = MarketMakerConfig()
    liquidation: LiquidationConfig = LiquidationConfig()
    # How long the bot waits before looking again when no market qualifies or discovery
    # failed, and how long a market whose round failed for good is left out of the picks.
    idle_seconds: int = Field(30, gt=0, le=86_400)
    failed_market_cooldown_seconds: int = Field(600, gt=0, le=7 * 86_400)
    # Re-rank the markets, the active one included, whenever a liquidation finishes (and
    # every `rerank_minutes` if > 0); move when the best earns over `1 + switch_margin` times
    # the active one per USDC and the active position is below the minimum order size
    # (`dualmm.domain.rotation`). Off: a round ends only at the limit. The defaults are the
    # backtest's best (README, "Backtest"): a periodic re-rank moved more and lost more.
    rerank: Annotated[
        bool,
        Flag(
            "--rerank",
            "Re-rank the markets, the active one included, when a liquidation finishes and "
            "move to a better one (--no-rerank: a round ends only at the limit).",
            off="--no-rerank",
        ),
    ] = True
    rerank_minutes: Annotated[
        int,
        Flag("--rerank-minutes", "Also re-rank this often (0: only when a liquidation finishes)."),
    ] = Field(0, ge=0, le=7 * 1440)
    switch_margin: Annotated[
        Decimal,
        Flag(
            "--switch-margin",
            "Leave the active market for one earning over 1 + this times as much per USDC.",
        ),
    ] = Field(Decimal("0.2"), ge=0, le=100)
    # A market whose liquidation lost is left out of the picks this long (0: never).
    loss_cooldown_minutes: Annotated[
        int,
        Flag(
            "--loss-cooldown",
            "Minutes a market whose liquidation lost stays out of the picks (0: none).",
        ),
    ] = Field(0, ge=0, le=7 * 1440)


class ProcessSettings(BaseSettings):
    """Process settings from the environment (prefix DUALMM_) or a secrets directory.

    Only workers and CLI processes read these; they never enter a workflow or activity argument.
    """

    model_config = SettingsConfigDict(env_prefix="DUALMM_", extra="ignore")

    exchange: Literal["sim", "polymarket", "paper"] = "sim"
    clob_url: str = "http://127.0.0.1:8765"
    # HTTP timeout of py-clob-client-v2 (one httpx client per process); a timed-out POST may
    # still have been accepted, so placements reconcile before trying again.
    clob_timeout_seconds: float = Field(5.0, gt=0, le=600, allow_inf_nan=False)
    chain_id: int = Field(137, gt=0, le=2**32)
    private_key: SecretStr | None = None
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_passphrase: SecretStr | None = None
    signature_type: int = Field(0, ge=0, le=3)
    funder: str | None = None
    # Polymarket's user websocket channel: fills wake the quote loop as they happen (the poll
    # stays the fallback). The URL defaults to Polymarket's, or the simulator's /ws/user.
    user_channel: bool = True
    user_channel_url: str | None = None
    # Its market channel: books kept from pushed events, the quote loop woken by the market.
    market_channel: bool = True
    market_channel_url: str | None = None
    # A Polygon JSON-RPC endpoint: merges YES+NO pairs on-chain (EOA wallets, signature type 0).
    # A secret: providers' URLs carry their API key.
    polygon_rpc_url: SecretStr | None = None

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = Field("default", min_length=1, max_length=255)
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False
    # mTLS (Temporal Cloud, or a cluster that asks for client certificates): PEM files of the
    # client certificate and its key, both or neither; they imply TLS.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    task_queue: str = Field(TASK_QUEUE, min_length=1, max_length=255)
    # Worker Versioning (docs/versioning.md): the worker deployment this worker belongs to, and
    # its build id (default: the installed package's version). No name: an unversioned worker.
    deployment_name: str | None = Field(None, min_length=1, max_length=255)
    build_id: str | None = Field(None, min_length=1, max_length=255)
    # Worker metrics (dualmm.metrics): a Prometheus endpoint to bind (e.g. 0.0.0.0:9464), or
    # an OpenTelemetry collector's OTLP URL (e.g. http://otel-collector:4317); neither: none.
    metrics_prometheus: str | None = None
    metrics_otlp_url: str | None = None
    # Worker capacity (bench/capacity.py): threads for the blocking exchange client, and
    # workflows kept in the sticky cache (a workflow evicted from it replays its whole history
    # on its next task). A check's reads run on the event loop (exchange/clob_http.py); the
    # threads carry placements, cancels, heartbeats and start-up reads: a few are busy at
    # once, and each busy one competes with the event loop for the GIL.
    worker_threads: int = Field(16, ge=1, le=512)
    worker_cache: int = Field(5000, ge=0, le=100_000)
    # Logs (dualmm.logs): one line per event, logfmt (text) or JSON; the level of the worker
    # and the simulator (the CLI's default is WARNING). DEBUG adds per-request lines.
    log_format: str = "text"
    log_level: str = "INFO"

    # The optional payload codec (dualmm.codec): every payload Temporal stores is AES-GCM
    # encrypted with this 32-byte key (64 hex digits or base64). Workers and CLIs must agree.
    # Previous keys (comma-separated) still decrypt histories written before a rotation.
    codec_key: SecretStr | None = None
    codec_previous_keys: SecretStr | None = None
    # `dualmm codec-server`: a bearer token every request must carry (optional on loopback).
    codec_token: SecretStr | None = None

    # A directory of secret files named after the fields (private_key, api_secret, ...), e.g.
    # systemd's $CREDENTIALS_DIRECTORY: read by `dualmm.process.load_settings` when the
    # variable itself is not set.
    secrets_dir: Path | None = None

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = (
        "private_key",
        "api_key",
        "api_secret",
        "api_passphrase",
        "polygon_rpc_url",
        "temporal_api_key",
        "codec_key",
        "codec_previous_keys",
        "codec_token",
    )

    @staticmethod
    def env_name(field: str) -> str:
        return f"DUALMM_{field.upper()}"

    @model_validator(mode="after")
    def _cert_and_key(self) -> ProcessSettings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "DUALMM_TEMPORAL_TLS_CERT and DUALMM_TEMPORAL_TLS_KEY go together (mTLS)"
            )
        return self

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, address: str) -> str:
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})", address)
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            raise ValueError(f"{address!r} is not host:port (port 1-65535), e.g. 127.0.0.1:7233")
        return address

    @field_validator("log_format", "log_level")
    @classmethod
    def _log_setting(cls, value: str, info: ValidationInfo) -> str:
        choices = FORMATS if info.field_name == "log_format" else LEVELS
        normal = value.strip().lower() if choices is FORMATS else value.strip().upper()
        if normal not in choices:
            raise ValueError(f"{value[:40]!r} is not one of {', '.join(choices)}")
        return normal

    @field_validator("clob_url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_http_url(url)

    @field_validator("user_channel_url", "market_channel_url")
    @classmethod
    def _ws_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        parts = urlsplit(url.strip())
        try:
            parts.port  # noqa: B018 -- raises on a bad port
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"{url!r} is not a ws:// or wss:// URL")
        return url.strip()

    @field_validator("funder")
    @classmethod
    def _address(cls, funder: str | None) -> str | None:
        if funder is not None and re.fullmatch(r"0x[0-9A-Fa-f]{40}", funder) is None:
            raise ValueError("not a 0x-prefixed 20-byte hex address")
        return funder

    @field_validator("private_key")
    @classmethod
    def _key(cls, key: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value.
        if (
            key is not None
            and re.fullmatch(r"(0x)?[0-9A-Fa-f]{64}", key.get_secret_value().strip()) is None
        ):
            raise ValueError("not a 32-byte hex private key")
        return key

    @field_validator("codec_key", "codec_previous_keys")
    @classmethod
    def _codec_keys(cls, keys: SecretStr | None) -> SecretStr | None:
        if keys is not None and not keys.get_secret_value().strip():
            return None  # an empty variable is an unset one
        if keys is not None:
            for key in keys.get_secret_value().split(","):
                parse_codec_key(key)
        return keys

    @field_validator("codec_token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        value = None if token is None else token.get_secret_value()
        if value is not None and (len(value) < 16 or not value.isprintable() or " " in value):
            raise ValueError("at least 16 printable characters without spaces")
        return token

    def codec_keys(self) -> list[bytes]:
        """The codec's keys, the one that encrypts first; empty when the codec is off."""
        if self.codec_key is None:
            return []
        texts = [self.codec_key.get_secret_value()]
        if self.codec_previous_keys is not None:
            texts += self.codec_previous_keys.get_secret_value().split(",")
        return [parse_codec_key(text) for text in texts]


def parse_codec_key(text: str) -> bytes:
    """A 32-byte AES key from 64 hex digits or base64; the error never repeats the value."""
    text = text.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{64}", text):
        return bytes.fromhex(text)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(
            "not a 32-byte key (64 hex digits or base64; make one with `openssl rand -base64 32`)"
        )
    return key


def check_http_url(url: str) -> str:
    """An http(s) URL with a host (and a valid port), or ValueError saying what is wrong."""
    if not url or any(ch.isspace() for ch in url):
        raise ValueError(f"{url!r} is not a URL")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port out of range
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s)://host[:port] URL")
    del port
    return url

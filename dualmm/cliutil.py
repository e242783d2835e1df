"""Shared CLI plumbing: one-line errors with exit code 2, and a clean process exit."""

from __future__ import annotations

import os
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError

from dualmm.config import (
    BOT_ID_PATTERN,
    LiquidationConfig,
    OrchestratorConfig,
    ProcessSettings,
    describe_settings_error,
    describe_validation_error,
)

# UsageError and fail live in dualmm.errors; re-exported for the modules that import them here.
from dualmm.errors import UsageError as UsageError
from dualmm.errors import fail as fail
from dualmm.logs import redact_settings


def hard_exit(code: int = 0) -> NoReturn:
    """Flush and leave without interpreter teardown (Temporal client abort, sdk-python #300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def load_settings(flags: dict[str, str] | None = None, **overrides: Any) -> ProcessSettings:
    """The process settings from the environment (plus `overrides` from flags) and the secret
    files in DUALMM_SECRETS_DIR; a bad one is a UsageError naming its variable, or the flag in
    `flags` (field -> flag) that set it."""
    overrides = {**secret_files(), **overrides}
    try:
        settings = ProcessSettings(**overrides)
    except ValidationError as exc:
        message = describe_settings_error(exc)
        field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        if flags and field in flags and field in overrides:
            message = message.replace(ProcessSettings.env_name(field), flags[field], 1)
        raise UsageError(message) from None
    redact_settings(settings)  # no log line of this process shows them
    return settings


def secret_files() -> dict[str, str]:
    """The secrets in DUALMM_SECRETS_DIR (one file per field) that the environment lacks."""
    directory = os.environ.get("DUALMM_SECRETS_DIR")
    if not directory:
        return {}
    found: dict[str, str] = {}
    for field in ProcessSettings.SECRET_FIELDS:
        path = Path(directory) / field
        if ProcessSettings.env_name(field) in os.environ or not path.is_file():
            continue
        try:
            found[field] = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"DUALMM_SECRETS_DIR: cannot read {path}: {exc}") from None
    return found


def check_secret_files_private() -> None:
    """Refuse (for --live) secret files that other users can read."""
    directory = os.environ.get("DUALMM_SECRETS_DIR")
    if not directory:
        return
    for field in ProcessSettings.SECRET_FIELDS:
        path = Path(directory) / field
        if path.is_file() and path.stat().st_mode & 0o004:
            raise UsageError(
                f"DUALMM_SECRETS_DIR: {path} is readable by every user; "
                f"refusing --live (chmod 600 {path})"
            )


def check_bot_id(bot_id: str) -> str:
    if not 0 < len(bot_id) <= 100 or re.fullmatch(BOT_ID_PATTERN, bot_id) is None:
        raise UsageError(f"--bot-id: {bot_id[:40]!r} is not 1-100 of A-Z a-z 0-9 _ . -")
    return bot_id


def default_help(model: type[BaseModel], field: str) -> str:
    """A flag's help suffix naming the config model's default (one source for every command)."""
    return f"[default: {model.model_fields[field].default}]"


# The seed's liquidation flags, shared by `dualmm replay` and `dualmm orchestrate`.
def _seed(field: str) -> str:
    return " " + default_help(LiquidationConfig, field)


LiqProfitMargin = Annotated[
    str | None,
    typer.Option(
        "--liq-profit-margin", help="Minimum profit per token (USDC)." + _seed("min_profit_margin")
    ),
]
LiqSkewStart = Annotated[
    str | None,
    typer.Option(
        "--liq-skew-start", help="Minutes before skewing starts." + _seed("skew_start_minutes")
    ),
]
LiqSkewRate = Annotated[
    str | None,
    typer.Option(
        "--liq-skew-rate", help="Skew added per minute (price)." + _seed("skew_per_minute")
    ),
]
LiqSkewMax = Annotated[
    str | None, typer.Option("--liq-skew-max", help="Maximum skew (price)." + _seed("max_skew"))
]
LiqStopLossThreshold = Annotated[
    str | None,
    typer.Option(
        "--liq-stop-loss-threshold",
        help="Stop-loss at this unrealized P&L (USDC)." + _seed("stop_loss_threshold"),
    ),
]
LiqStopLoss = Annotated[
    bool, typer.Option("--liq-stop-loss/--no-liq-stop-loss", help="Enable the stop-loss.")
]
LiqTimeout = Annotated[
    str | None,
    typer.Option(
        "--liq-timeout", help="Minutes before the timeout stage." + _seed("timeout_minutes")
    ),
]
LiqCheckInterval = Annotated[
    int | None,
    typer.Option(
        "--liq-check-interval", help="Price check interval (ms)." + _seed("price_check_interval_ms")
    ),
]
LiqBlockLosing = Annotated[
    bool,
    typer.Option(
        "--liq-block-losing/--no-liq-block-losing",
        help="Never quote PASSIVE/SKEWED below cost plus margin.",
    ),
]

Rerank = Annotated[
    bool,
    typer.Option(
        "--rerank/--no-rerank",
        help="Re-rank the markets, the active one included, when a liquidation finishes and "
        "move to a better one (--no-rerank: a round ends only at the limit).",
        envvar="DUALMM_RERANK",
    ),
]
RerankMinutes = Annotated[
    int | None,
    typer.Option(
        "--rerank-minutes",
        help="Also re-rank this often (0: only when a liquidation finishes). [default: "
        f"{OrchestratorConfig.model_fields['rerank_minutes'].default}]",
        envvar="DUALMM_RERANK_MINUTES",
        min=0,
    ),
]
LossCooldown = Annotated[
    int | None,
    typer.Option(
        "--loss-cooldown",
        help="Minutes a market whose liquidation lost stays out of the picks (0: none). "
        f"[default: {OrchestratorConfig.model_fields['loss_cooldown_minutes'].default}]",
        envvar="DUALMM_LOSS_COOLDOWN",
        min=0,
    ),
]
SwitchMargin = Annotated[
    str | None,
    typer.Option(
        "--switch-margin",
        help="Leave the active market for one earning over 1 + this times as much per USDC. "
        f"[default: {OrchestratorConfig.model_fields['switch_margin'].default}]",
        envvar="DUALMM_SWITCH_MARGIN",
    ),
]


def decimal_flag(name: str, value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise UsageError(f"{name}: {value!r} is not a number") from None
    if not parsed.is_finite():
        raise UsageError(f"{name}: {value!r} is not a finite number")
    return parsed


# The config field each seed flag sets, so an error names the flag the operator typed.
LIQUIDATION_FLAGS = {
    "min_profit_margin": "--liq-profit-margin",
    "skew_start_minutes": "--liq-skew-start",
    "skew_per_minute": "--liq-skew-rate",
    "max_skew": "--liq-skew-max",
    "stop_loss_threshold": "--liq-stop-loss-threshold",
    "timeout_minutes": "--liq-timeout",
    "price_check_interval_ms": "--liq-check-interval",
}


def liquidation_values(
    *,
    profit_margin: str | None = None,
    skew_start: str | None = None,
    skew_rate: str | None = None,
    skew_max: str | None = None,
    stop_loss_threshold: str | None = None,
    stop_loss: bool | None = None,
    timeout: str | None = None,
    check_interval: int | None = None,
    block_losing: bool | None = None,
) -> dict[str, object]:
    """The LiquidationConfig fields the seed's flags set (only those given), parsed and checked
    against each other; the model validates them where they are used, once."""
    flags = LIQUIDATION_FLAGS
    # Contradictions: a value for a rule that the same command line switches off.
    if stop_loss is False and stop_loss_threshold is not None:
        raise UsageError("--liq-stop-loss-threshold: given with --no-liq-stop-loss")
    if block_losing is False and profit_margin is not None:
        raise UsageError(
            "--liq-profit-margin: given with --no-liq-block-losing (the margin is only the floor)"
        )
    values: dict[str, object | None] = {
        "min_profit_margin": decimal_flag(flags["min_profit_margin"], profit_margin),
        "skew_start_minutes": decimal_flag(flags["skew_start_minutes"], skew_start),
        "skew_per_minute": decimal_flag(flags["skew_per_minute"], skew_rate),
        "max_skew": decimal_flag(flags["max_skew"], skew_max),
        "stop_loss_threshold": decimal_flag(flags["stop_loss_threshold"], stop_loss_threshold),
        "timeout_minutes": decimal_flag(flags["timeout_minutes"], timeout),
        "price_check_interval_ms": check_interval,
        "stop_loss_enabled": stop_loss,
        "block_losing_quotes": block_losing,
    }
    return {key: value for key, value in values.items() if value is not None}


def flag_named_error(exc: ValidationError, flags: dict[str, str], where: str) -> UsageError:
    """A config validation error in one line, naming the flag that set the field (if any)."""
    message = describe_validation_error(exc)
    field, _, reason = message.partition(": ")
    if field in flags:
        message = f"{flags[field]} ({field}): {reason}"
    return UsageError(f"{where}: {message}")


def liquidation_config(**flags: Any) -> LiquidationConfig:
    """A LiquidationConfig from the seed's flags (`liquidation_values`); anything unset keeps
    the seed's default."""
    try:
        return LiquidationConfig.model_validate(liquidation_values(**flags))
    except ValidationError as exc:
        raise flag_named_error(exc, LIQUIDATION_FLAGS, "liquidation config") from None

"""Shared CLI plumbing: one-line errors with exit code 2, and a clean process exit."""

from __future__ import annotations

import os
import sys
from decimal import Decimal, InvalidOperation
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from dualmm.config import LiquidationConfig, OrchestratorConfig, describe_validation_error


class UsageError(Exception):
    """Bad input from the operator: reported in one line, exit code 2, never a traceback."""


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def hard_exit(code: int = 0) -> NoReturn:
    """Flush and leave without interpreter teardown (Temporal client abort, sdk-python #300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# The seed's liquidation flags, shared by `dualmm replay` and `dualmm orchestrate`.
def _seed(field: str) -> str:
    return f" [default: {LiquidationConfig.model_fields[field].default}]"


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

RerankMinutes = Annotated[
    int | None,
    typer.Option(
        "--rerank-minutes",
        help="Re-rank the markets, the active one included, this often (and when a "
        "liquidation finishes); 0: a round ends only at the limit. [default: "
        f"{OrchestratorConfig.model_fields['rerank_minutes'].default}]",
        envvar="DUALMM_RERANK_MINUTES",
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
_LIQUIDATION_FLAGS = {
    "min_profit_margin": "--liq-profit-margin",
    "skew_start_minutes": "--liq-skew-start",
    "skew_per_minute": "--liq-skew-rate",
    "max_skew": "--liq-skew-max",
    "stop_loss_threshold": "--liq-stop-loss-threshold",
    "timeout_minutes": "--liq-timeout",
    "price_check_interval_ms": "--liq-check-interval",
}


def liquidation_config(
    *,
    profit_margin: str | None = None,
    skew_start: str | None = None,
    skew_rate: str | None = None,
    skew_max: str | None = None,
    stop_loss_threshold: str | None = None,
    stop_loss: bool = True,
    timeout: str | None = None,
    check_interval: int | None = None,
    block_losing: bool = True,
) -> LiquidationConfig:
    """A LiquidationConfig from the seed's flags; anything unset keeps the seed's default."""
    flags = _LIQUIDATION_FLAGS
    values: dict[str, object] = {
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
    try:
        return LiquidationConfig.model_validate(
            {key: value for key, value in values.items() if value is not None}
        )
    except ValidationError as exc:
        message = describe_validation_error(exc)
        field, _, reason = message.partition(": ")
        if field in flags:
            message = f"{flags[field]} ({field}): {reason}"
        raise UsageError(f"liquidation config: {message}") from None

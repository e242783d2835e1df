"""The options more than one command takes, and the bot's settings as flags (declared once)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from dualmm.config import (
    BOT_ID_PATTERN,
    LiquidationConfig,
    OrchestratorConfig,
    describe_validation_error,
)
from dualmm.errors import UsageError


def check_bot_id(bot_id: str) -> str:
    if not 0 < len(bot_id) <= 100 or re.fullmatch(BOT_ID_PATTERN, bot_id) is None:
        raise UsageError(f"--bot-id: {bot_id[:40]!r} is not 1-100 of A-Z a-z 0-9 _ . -")
    return bot_id


# Options more than one command takes.
BotId = Annotated[
    str,
    typer.Option(
        "--bot-id",
        help="Which bot (workflow active-market-<id>).",
        envvar="DUALMM_BOT_ID",
        callback=check_bot_id,
    ),
]
Live = Annotated[
    bool,
    typer.Option(
        "--live",
        help="Allow real Polymarket orders. Without it DUALMM_EXCHANGE=polymarket runs paper.",
    ),
]


def default_help(model: type[BaseModel], field: str) -> str:
    """A flag's help suffix naming the config model's default (one source for every command)."""
    return f"[default: {model.model_fields[field].default}]"


# --- the bot's settings as flags --------------------------------------------------------------
# Each OrchestratorConfig setting an operator may set is declared once, here: its flag (which
# names its DUALMM_* variable) and its help; its type, bounds and default are the model field's.
# The commands' options, the flag an error names and the bad-input table come from this.


@dataclass(frozen=True)
class ConfigFlag:
    param: str  # the command's parameter (and `orchestrator_config`'s keyword)
    path: str  # the OrchestratorConfig field, dotted
    decl: str  # "--flag", or "--on/--off" for a switch
    help: str

    @property
    def flag(self) -> str:
        return self.decl.split("/")[0]

    @property
    def env(self) -> str:
        """The flag's DUALMM_* variable: `--liq-timeout` is DUALMM_LIQ_TIMEOUT."""
        return "DUALMM_" + self.flag.removeprefix("--").upper().replace("-", "_")

    @property
    def field(self) -> FieldInfo:
        model: type[BaseModel] = OrchestratorConfig
        *parents, name = self.path.split(".")
        for parent in parents:
            model = model.model_fields[parent].annotation  # type: ignore[assignment]
        return model.model_fields[name]

    def option(self) -> Any:
        suffix = "" if "/" in self.decl else f" [default: {self.field.default}]"
        return typer.Option(self.decl, help=self.help + suffix, envvar=self.env)


CONFIG_FLAGS = (
    ConfigFlag(
        "dual_market_mode",
        "dual_market_mode",
        "--dual-market-mode/--single-market-mode",
        "Quote the next market while liquidating (dual) or wait (single).",
    ),
    ConfigFlag(
        "liquidity_budget",
        "liquidity_budget",
        "--liquidity-budget",
        "Capital for quotes (USDC).",
    ),
    ConfigFlag(
        "position_limit",
        "market_maker.position_limit",
        "--position-limit",
        "|net| shares before liquidating.",
    ),
    ConfigFlag(
        "order_size",
        "market_maker.order_size",
        "--order-size",
        "Shares per quote.",
    ),
    ConfigFlag(
        "spread_fraction",
        "market_maker.spread_fraction",
        "--spread-fraction",
        "Quote this fraction of the reward band out.",
    ),
    ConfigFlag(
        "requote_threshold",
        "market_maker.requote_threshold",
        "--requote-threshold",
        "Midpoint move that requotes.",
    ),
    ConfigFlag(
        "quote_interval",
        "market_maker.quote_interval_ms",
        "--quote-interval",
        "Quote loop interval (ms).",
    ),
    ConfigFlag(
        "profit_margin",
        "liquidation.min_profit_margin",
        "--liq-profit-margin",
        "Minimum profit per token (USDC).",
    ),
    ConfigFlag(
        "skew_start",
        "liquidation.skew_start_minutes",
        "--liq-skew-start",
        "Minutes before skewing starts.",
    ),
    ConfigFlag(
        "skew_rate",
        "liquidation.skew_per_minute",
        "--liq-skew-rate",
        "Skew added per minute (price).",
    ),
    ConfigFlag("skew_max", "liquidation.max_skew", "--liq-skew-max", "Maximum skew (price)."),
    ConfigFlag(
        "stop_loss_threshold",
        "liquidation.stop_loss_threshold",
        "--liq-stop-loss-threshold",
        "Stop-loss at this unrealized P&L (USDC).",
    ),
    ConfigFlag(
        "stop_loss",
        "liquidation.stop_loss_enabled",
        "--liq-stop-loss/--no-liq-stop-loss",
        "Enable the stop-loss.",
    ),
    ConfigFlag(
        "timeout",
        "liquidation.timeout_minutes",
        "--liq-timeout",
        "Minutes before the timeout stage.",
    ),
    ConfigFlag(
        "check_interval",
        "liquidation.price_check_interval_ms",
        "--liq-check-interval",
        "Price check interval (ms).",
    ),
    ConfigFlag(
        "block_losing",
        "liquidation.block_losing_quotes",
        "--liq-block-losing/--no-liq-block-losing",
        "Never quote PASSIVE/SKEWED below cost plus margin.",
    ),
    ConfigFlag(
        "rerank",
        "rerank",
        "--rerank/--no-rerank",
        "Re-rank the markets, the active one included, when a liquidation finishes and move "
        "to a better one (--no-rerank: a round ends only at the limit).",
    ),
    ConfigFlag(
        "rerank_minutes",
        "rerank_minutes",
        "--rerank-minutes",
        "Also re-rank this often (0: only when a liquidation finishes).",
    ),
    ConfigFlag(
        "switch_margin",
        "switch_margin",
        "--switch-margin",
        "Leave the active market for one earning over 1 + this times as much per USDC.",
    ),
    ConfigFlag(
        "loss_cooldown",
        "loss_cooldown_minutes",
        "--loss-cooldown",
        "Minutes a market whose liquidation lost stays out of the picks (0: none).",
    ),
)
_BY_PARAM = {spec.param: spec for spec in CONFIG_FLAGS}
# OrchestratorConfig field -> the flag that sets it, so an error names what the operator typed.
FIELD_FLAGS = {spec.path: spec.flag for spec in CONFIG_FLAGS}
LIQUIDATION_FLAGS = {
    path.removeprefix("liquidation."): flag
    for path, flag in FIELD_FLAGS.items()
    if path.startswith("liquidation.")
}


def _option(param: str) -> Any:
    return _BY_PARAM[param].option()


# The options, for every command that takes them (decimals as typed, for exact errors).
DualMarketMode = Annotated[bool, _option("dual_market_mode")]
LiquidityBudget = Annotated[str | None, _option("liquidity_budget")]
PositionLimit = Annotated[str | None, _option("position_limit")]
OrderSize = Annotated[str | None, _option("order_size")]
SpreadFraction = Annotated[str | None, _option("spread_fraction")]
RequoteThreshold = Annotated[str | None, _option("requote_threshold")]
QuoteInterval = Annotated[int | None, _option("quote_interval")]
LiqProfitMargin = Annotated[str | None, _option("profit_margin")]
LiqSkewStart = Annotated[str | None, _option("skew_start")]
LiqSkewRate = Annotated[str | None, _option("skew_rate")]
LiqSkewMax = Annotated[str | None, _option("skew_max")]
LiqStopLossThreshold = Annotated[str | None, _option("stop_loss_threshold")]
LiqStopLoss = Annotated[bool, _option("stop_loss")]
LiqTimeout = Annotated[str | None, _option("timeout")]
LiqCheckInterval = Annotated[int | None, _option("check_interval")]
LiqBlockLosing = Annotated[bool, _option("block_losing")]
Rerank = Annotated[bool, _option("rerank")]
RerankMinutes = Annotated[int | None, _option("rerank_minutes")]
SwitchMargin = Annotated[str | None, _option("switch_margin")]
LossCooldown = Annotated[int | None, _option("loss_cooldown")]


def config_values(given: dict[str, Any]) -> dict[str, Any]:
    """OrchestratorConfig values (nested as the model is) from the flags the operator set
    (`param -> value`; decimals as typed), checked against each other; the model validates
    them where they are used, once."""
    # Contradictions: a value for a rule that the same command line switches off.
    if given.get("stop_loss") is False and given.get("stop_loss_threshold") is not None:
        raise UsageError("--liq-stop-loss-threshold: given with --no-liq-stop-loss")
    if given.get("block_losing") is False and given.get("profit_margin") is not None:
        raise UsageError(
            "--liq-profit-margin: given with --no-liq-block-losing (the margin is only the floor)"
        )
    values: dict[str, Any] = {}
    for param, value in given.items():
        if value is None:
            continue
        spec = _BY_PARAM[param]
        if spec.field.annotation is Decimal and isinstance(value, str):
            value = decimal_flag(spec.flag, value)
        *parents, name = spec.path.split(".")
        table = values
        for parent in parents:
            table = table.setdefault(parent, {})
        table[name] = value
    return values


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


def flag_named_error(exc: ValidationError, flags: dict[str, str], where: str) -> UsageError:
    """A config validation error in one line, naming the flag that set the field (if any)."""
    message = describe_validation_error(exc)
    field, _, reason = message.partition(": ")
    if field in flags:
        message = f"{flags[field]} ({field}): {reason}"
    return UsageError(f"{where}: {message}")


def liquidation_config(**flags: Any) -> LiquidationConfig:
    """A LiquidationConfig from the seed's flags (`param -> value`, as `config_values` takes
    them); anything unset keeps the seed's default."""
    try:
        return LiquidationConfig.model_validate(config_values(flags).get("liquidation", {}))
    except ValidationError as exc:
        raise flag_named_error(exc, LIQUIDATION_FLAGS, "liquidation config") from None

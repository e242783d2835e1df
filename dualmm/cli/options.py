"""The bot's settings as command-line options, made from their one declaration: each config
field an operator may set carries a `dualmm.config.Flag` (flag, help; the flag names its
DUALMM_* variable) and keeps its type, bounds and default. `config_options` adds them to a
command; the flag an error names and the bad-input table come from the same list.
`model_options` does the same for another model's flagged fields (the simulator's faults)."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar

import annotated_types
import typer
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from dualmm.cli.config_file import read_config_file
from dualmm.config import (
    BOT_ID_PATTERN,
    Flag,
    LiquidationConfig,
    OrchestratorConfig,
    describe_validation_error,
)
from dualmm.errors import UsageError

# flag -> the value the operator set for it (on the command line or in its DUALMM_* variable;
# decimals as typed, switches as bools); what `config_options` hands a command.
ConfigFlags = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Setting:
    """One config field an operator may set (of OrchestratorConfig, or the simulator's Faults),
    and how."""

    path: str  # the field, dotted: "market_maker.position_limit"
    field: FieldInfo
    flag: Flag

    @property
    def name(self) -> str:
        return self.flag.name

    @property
    def env(self) -> str:
        return self.flag.env

    @property
    def switch(self) -> bool:
        return self.flag.off is not None

    @property
    def decl(self) -> str:
        """The option's declaration: "--flag", or "--on/--off" for a switch."""
        return f"{self.name}/{self.flag.off}" if self.switch else self.name

    @property
    def param(self) -> str:
        """The generated command parameter: `--liq-timeout` is `liq_timeout`."""
        return self.name.removeprefix("--").replace("-", "_")

    def annotation(self, toml: bool = False, env: bool = True, ranges: bool = False) -> Any:
        """The parameter's type and typer option; decimals stay text until `parse`, so an
        error can quote what was typed. `ranges`: the help shows a number's bounds."""
        kind = self.field.annotation
        typed: Any = bool if self.switch else kind if kind in (int, float) else str
        where = f" [toml: {self.path}]" if toml else ""
        metavar = "<decimal>" if kind is Decimal else None
        bounds = _bounds(self.field) if ranges and typed in (int, float) else {}
        option = typer.Option(
            self.decl,
            help=self.flag.help + where,
            envvar=self.env if env else None,
            metavar=metavar,
            **bounds,
        )
        return Annotated[typed, option]

    def parse(self, value: Any) -> Any:
        """The field's value from what was typed (the model checks the bounds)."""
        if not isinstance(value, str):
            return value
        if self.field.annotation is Decimal:
            return decimal_flag(self.name, value)
        if self.field.annotation is int:
            try:
                return int(value)
            except ValueError:
                raise UsageError(f"{self.name}: {value!r} is not a whole number") from None
        return value


def model_settings(model: type[BaseModel], prefix: str = "") -> Iterator[Setting]:
    """The fields of `model` (and of the models it nests) that carry a Flag, in order."""
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from model_settings(field.annotation, f"{prefix}{name}.")
        for mark in field.metadata:
            if isinstance(mark, Flag):
                yield Setting(prefix + name, field, mark)


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """A field's inclusive bounds as typer's `min`/`max`, for the help."""
    bounds: dict[str, Any] = {}
    for mark in field.metadata:
        if isinstance(mark, annotated_types.Ge):
            bounds["min"] = mark.ge
        elif isinstance(mark, annotated_types.Le):
            bounds["max"] = mark.le
    return bounds


# Every setting, in the model's order; `--bot-id` is also the other commands' `BotId`.
CONFIG_FLAGS = tuple(model_settings(OrchestratorConfig))
_BY_FLAG = {setting.name: setting for setting in CONFIG_FLAGS}
_BY_PATH = {setting.path: setting for setting in CONFIG_FLAGS}


def check_bot_id(bot_id: str) -> str:
    if not 0 < len(bot_id) <= 100 or re.fullmatch(BOT_ID_PATTERN, bot_id) is None:
        raise UsageError(f"--bot-id: {bot_id[:40]!r} is not 1-100 of A-Z a-z 0-9 _ . -")
    return bot_id


# Options more than one command takes.
_BOT_ID = _BY_PATH["bot_id"]
BotId = Annotated[
    str,
    typer.Option(_BOT_ID.name, help=_BOT_ID.flag.help, envvar=_BOT_ID.env, callback=check_bot_id),
]
Live = Annotated[
    bool,
    typer.Option(
        "--live",
        help="Allow real Polymarket orders. Without it DUALMM_EXCHANGE=polymarket runs paper.",
    ),
]


def config_options(
    *, only: Collection[str] = (), skip: Collection[str] = (), toml: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the settings' options (those at or under the paths in `only`, e.g. "liquidation";
    all without; less the flags in `skip`) to a typer command, where its `config_flags:
    ConfigFlags` parameter stands; the command receives the flags the operator set. `toml`:
    the help names each file key."""
    chosen = [
        s
        for s in CONFIG_FLAGS
        if (not only or any(s.path == p or s.path.startswith(f"{p}.") for p in only))
        and s.name not in skip
    ]

    def handed(values: Mapping[str, Any]) -> ConfigFlags:
        from typer._click.core import ParameterSource
        from typer._click.globals import get_current_context

        ctx = get_current_context()
        given: ConfigFlags = {}
        for s in chosen:
            if ctx.get_parameter_source(s.param) not in (None, ParameterSource.DEFAULT):
                given[s.name] = values[s.param]
        return given

    return _options(chosen, "config_flags", lambda s: s.annotation(toml), handed)


def model_options(
    model: type[BaseModel], param: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add an option for each field of `model` that carries a Flag (no DUALMM_* variable;
    the help shows its bounds) to a typer command, where its `param` parameter stands; the
    command receives `field -> value` for each, to validate with `model_from_flags`."""
    chosen = list(model_settings(model))

    def handed(values: Mapping[str, Any]) -> dict[str, Any]:
        return {s.path: values[s.param] for s in chosen}

    return _options(chosen, param, lambda s: s.annotation(env=False, ranges=True), handed)


def _options(
    chosen: list[Setting],
    param: str,
    annotate: Callable[[Setting], Any],
    handed: Callable[[Mapping[str, Any]], Any],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator that puts the `chosen` options where a command's `param` stands and hands
    it `handed(values of those options)` there."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        params: list[inspect.Parameter] = []
        for existing in inspect.signature(command, eval_str=True).parameters.values():
            if existing.name != param:
                params.append(existing.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                continue
            for s in chosen:
                params.append(
                    inspect.Parameter(
                        s.param,
                        inspect.Parameter.KEYWORD_ONLY,
                        default=s.field.default,
                        annotation=annotate(s),
                    )
                )

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {s.param: kwargs.pop(s.param) for s in chosen}
            return command(**kwargs, **{param: handed(values)})

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


def model_from_flags(model: type[M], values: Mapping[str, Any]) -> M:
    """`model` from `field -> value` (as `model_options` hands them), a bad value named by
    its flag in one line."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        settings = {s.path: s for s in model_settings(model)}
        raise flag_named_error(exc, model.__name__, settings=settings) from None


def config_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """OrchestratorConfig values (nested as the model is) from the flags the operator set
    (`flag -> value`), checked against each other; the model checks each value, once."""
    # Contradictions: a value for a rule that the same command line switches off.
    if given.get("--liq-stop-loss") is False and given.get("--liq-stop-loss-threshold") is not None:
        raise UsageError("--liq-stop-loss-threshold: given with --no-liq-stop-loss")
    if given.get("--liq-block-losing") is False and given.get("--liq-profit-margin") is not None:
        raise UsageError(
            "--liq-profit-margin: given with --no-liq-block-losing (the margin is only the floor)"
        )
    values: dict[str, Any] = {}
    for flag, value in given.items():
        if value is None:
            continue
        setting = _BY_FLAG[flag]
        *parents, name = setting.path.split(".")
        table = values
        for parent in parents:
            table = table.setdefault(parent, {})
        table[name] = setting.parse(value)
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


def flag_named_error(
    exc: ValidationError,
    where: str,
    prefix: str = "",
    settings: Mapping[str, Setting] = _BY_PATH,
) -> UsageError:
    """A config validation error in one line, naming the flag that sets the field (if any);
    `prefix`: where the validated model sits in `settings` ("liquidation." in the bot's)."""
    message = describe_validation_error(exc)
    field, _, reason = message.partition(": ")
    setting = settings.get(prefix + field)
    if setting is not None:
        message = f"{setting.name} ({field}): {reason}"
    return UsageError(f"{where}: {message}")


def orchestrator_config(
    given: Mapping[str, Any], config_file: Path | None = None
) -> OrchestratorConfig:
    """An OrchestratorConfig from a TOML file (if any; laid out as the model) and the flags
    the operator set: flags win, and anything given by neither keeps its default."""
    values = config_values(given)
    where = "orchestrator config"
    if config_file is not None:
        values = _merged(read_config_file(config_file), values)
        where = f"orchestrator config ({config_file} and flags)"
    try:
        return OrchestratorConfig.model_validate(values)
    except ValidationError as exc:
        raise flag_named_error(exc, where) from None


def liquidation_config(given: Mapping[str, Any]) -> LiquidationConfig:
    """A LiquidationConfig from the flags the operator set; anything unset keeps the seed's
    default."""
    try:
        return LiquidationConfig.model_validate(config_values(given).get("liquidation", {}))
    except ValidationError as exc:
        raise flag_named_error(exc, "liquidation config", "liquidation.") from None


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged

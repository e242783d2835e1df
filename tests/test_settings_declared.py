"""Every bot setting is declared once, on its config field, and reaches the bot by one name per
way in: its flag, its DUALMM_* variable and its TOML key each set the same field, and `--help`
shows all three with the default."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from dualmm.cli.options import (
    CONFIG_FLAGS,
    ConfigFlags,
    Setting,
    config_options,
    orchestrator_config,
)
from dualmm.config import OrchestratorConfig, ProcessSettings


def _field_value(config: OrchestratorConfig, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _other_value(setting: Setting) -> Any:
    """A valid value other than the default (the field's bounds allow half of it, or 1)."""
    default = setting.field.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, str):
        return default + "-2"
    if isinstance(default, int):
        return default // 2 if default else 1
    assert isinstance(default, Decimal)
    return default / 2 if default else Decimal(1)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _probe(args: list[str], env: dict[str, str]) -> OrchestratorConfig:
    """The config a command taking every setting (and --config) builds from this line."""
    app = typer.Typer()
    seen: dict[str, OrchestratorConfig] = {}

    @app.command()
    @config_options(toml=True)
    def probe(
        config_file: Annotated[Path | None, typer.Option("--config")] = None,
        *,
        config_flags: ConfigFlags,
    ) -> None:
        seen["config"] = orchestrator_config(config_flags, config_file)

    clean = {name: None for name in os.environ if name.startswith("DUALMM_")}
    result = CliRunner().invoke(app, args, env={**clean, **env})
    assert result.exit_code == 0, result.output
    return seen["config"]


@pytest.mark.parametrize("setting", CONFIG_FLAGS, ids=lambda s: s.name)
def test_flag_variable_and_toml_key_set_the_same_field(setting: Setting, tmp_path: Path) -> None:
    value = _other_value(setting)
    assert _field_value(_probe([], {}), setting.path) == setting.field.default
    if setting.switch:
        flag = setting.name if value else str(setting.flag.off)
        by_flag = _probe([flag], {})
    else:
        by_flag = _probe([setting.name, _text(value)], {})
    by_env = _probe([], {setting.env: _text(value)})
    *tables, key = setting.path.split(".")
    toml = "".join(f"[{table}]\n" for table in tables)
    literal = f'"{value}"' if isinstance(value, str | Decimal) else _text(value)
    (tmp_path / "bot.toml").write_text(f"{toml}{key} = {literal}\n")
    by_file = _probe(["--config", str(tmp_path / "bot.toml")], {})
    for config in (by_flag, by_env, by_file):
        assert _field_value(config, setting.path) == value


def test_precedence_flag_over_environment_over_file(tmp_path: Path) -> None:
    (tmp_path / "bot.toml").write_text("[market_maker]\nposition_limit = 30\norder_size = 10\n")
    env = {"DUALMM_POSITION_LIMIT": "40", "DUALMM_LIQUIDITY_BUDGET": "700"}
    args = ["--config", str(tmp_path / "bot.toml"), "--position-limit", "50"]
    config = _probe(args, env)
    assert config.market_maker.position_limit == Decimal(50)  # flag over variable and file
    assert config.liquidity_budget == Decimal(700)  # variable
    assert config.market_maker.order_size == Decimal(10)  # file
    assert config.market_maker.requote_threshold == Decimal("0.005")  # default


def test_each_setting_has_its_own_variable_apart_from_the_process_settings() -> None:
    names = [s.env for s in CONFIG_FLAGS]
    assert len(set(names)) == len(names)
    process = {ProcessSettings.env_name(field) for field in ProcessSettings.model_fields}
    assert not process & set(names)


def test_help_shows_each_settings_flag_variable_toml_key_and_default() -> None:
    from dualmm.cli import _register_all, app

    _register_all()
    result = CliRunner().invoke(app, ["orchestrate", "--help"])
    assert result.exit_code == 0
    lines: dict[str, str] = {}  # option -> its help, wrapped lines joined
    option = ""
    for line in result.output.splitlines():
        if line.startswith("  --"):
            option = line.split()[0]
        if option:
            lines[option] = " ".join([lines.get(option, ""), *line.split()])
    for setting in CONFIG_FLAGS:
        line = lines[setting.name]
        assert setting.flag.help.split()[-1] in line
        assert f"[toml: {setting.path}]" in line and setting.env in line
        default = setting.field.default
        shown = setting.name.removeprefix("--") if default is True else default
        assert f"default:{shown}" in line.replace(" ", ""), line  # wrapped at hyphens


def _faults_probe(args: list[str]) -> Any:
    """The Faults a command taking the simulator's fault options builds from this line."""
    from dualmm.cli.options import model_from_flags, model_options
    from dualmm.sim.faults import Faults

    app = typer.Typer()
    seen: dict[str, Faults] = {}

    @app.command()
    @model_options(Faults, "faults")
    def probe(*, faults: dict[str, object]) -> None:
        seen["faults"] = model_from_flags(Faults, faults)

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return seen["faults"]


def test_the_simulators_fault_options_are_its_faults_fields() -> None:
    from dualmm.cli import _register_all, app
    from dualmm.cli.options import model_settings
    from dualmm.sim.faults import Faults

    settings = list(model_settings(Faults))
    assert {s.path for s in settings} >= {"latency_ms", "error_rate", "restart_every_s"}
    assert _faults_probe([]) == Faults()
    for setting in settings:
        value = setting.field.default / 2 if setting.field.default else 1
        faults = _faults_probe([setting.name, str(value)])
        assert getattr(faults, setting.path) == value
        assert faults.model_dump(exclude={setting.path}) == Faults().model_dump(
            exclude={setting.path}
        )
    _register_all()
    help_text = " ".join(CliRunner().invoke(app, ["sim-server", "--help"]).output.split())
    for setting in settings:
        assert setting.name in help_text and setting.flag.help.split()[-1] in help_text
    assert "[default: 0.0; 0.0<=x<=1.0]" in help_text  # the rates' bounds, from the fields


def test_a_bad_fault_value_is_refused_naming_its_flag() -> None:
    from dualmm.cli.options import model_from_flags
    from dualmm.errors import UsageError
    from dualmm.sim.faults import Faults

    with pytest.raises(UsageError, match=r"^Faults: --error-rate \(error_rate\): .*less than"):
        model_from_flags(Faults, {"error_rate": 2.0})

"""`dualmm replay`: the command over the pure replay (dualmm.replay) and, with --temporal, the
real LiquidationWorkflow (dualmm.temporal_replay)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from dualmm.cli.options import ConfigFlags, config_options, liquidation_config
from dualmm.errors import UsageError
from dualmm.process import hard_exit
from dualmm.replay import render_timeline, run_replay
from dualmm.scenario import ScenarioError, load_scenario


def register(app: typer.Typer) -> None:
    @app.command()
    @config_options(only=("liquidation",))
    def replay(
        scenario_file: Annotated[Path, typer.Argument(help="Scenario JSON file.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        temporal: Annotated[
            bool,
            typer.Option(
                "--temporal",
                help="Run the real LiquidationWorkflow on Temporal's time-skipping server.",
            ),
        ] = False,
        *,
        config_flags: ConfigFlags,
    ) -> None:
        """Replay the liquidation of every market in a scenario that starts with a position."""
        config = liquidation_config(config_flags)
        try:
            scenario = load_scenario(scenario_file)
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
        if temporal:
            from dualmm.temporal_replay import run_temporal_replay

            result = asyncio.run(run_temporal_replay(scenario, config))
        else:
            result = asyncio.run(run_replay(scenario, config))
        print(result.to_json() if as_json else render_timeline(scenario, result))
        if temporal:
            hard_exit(0)  # the Temporal runtime can abort at interpreter exit (sdk-python #300)

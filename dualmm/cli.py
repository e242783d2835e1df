"""The `dualmm` command. Each area registers its commands; heavy imports stay inside them."""

from __future__ import annotations

import importlib

import typer

from dualmm.cliutil import UsageError, fail

app = typer.Typer(
    name="dualmm",
    help="Crash-safe Polymarket liquidity-rewards market maker on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules with a `register(app)` function; each keeps its heavy imports inside its commands.
_COMMAND_MODULES = (
    "dualmm.backtest",
    "dualmm.sim.cli",
    "dualmm.discovery",
    "dualmm.runtime",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # area not built yet
        module.register(app)


def main() -> None:
    _register_all()
    try:
        app()
    except UsageError as exc:
        fail(str(exc))

"""The `dualmm` command. Each area registers its commands; heavy imports stay inside them."""

from __future__ import annotations

import importlib

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from dualmm.errors import UsageError, fail

app = typer.Typer(
    name="dualmm",
    help="Crash-safe Polymarket liquidity-rewards market maker on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Crash-safe Polymarket liquidity-rewards market maker on Temporal."""


# Modules with a `register(app)` function; each keeps its heavy imports inside its commands.
_COMMAND_MODULES = (
    "dualmm.replay",
    "dualmm.backtest.cli",
    "dualmm.sim.cli",
    "dualmm.markets_cli",
    "dualmm.worker",
    "dualmm.commands",
    "dualmm.localstack",
    "dualmm.codec_server",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    from dualmm.logs import configure

    _register_all()
    try:
        configure("cli", default_level="WARNING")  # the worker and sim-server say INFO
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        code = 0
    except ClickException as exc:
        # the parser's own errors (unknown flag, bad value) in one line, exit code 2
        fail(" ".join(exc.format_message().split()), exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        fail("aborted", 130)
    except UsageError as exc:
        fail(str(exc))
    raise SystemExit(code if isinstance(code, int) else 0)

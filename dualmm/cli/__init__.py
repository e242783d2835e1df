"""The `dualmm` command. Each area registers its commands; heavy imports stay inside them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError

from dualmm.errors import UsageError, print_error

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
    "dualmm.cli.replay",
    "dualmm.cli.backtest",
    "dualmm.cli.sim",
    "dualmm.cli.markets",
    "dualmm.cli.worker",
    "dualmm.cli.bot",
    "dualmm.cli.demo",
    "dualmm.cli.codec_server",
    "dualmm.cli.record",
)


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    _register_all()
    raise SystemExit(run())


def run(args: list[str] | None = None, command: Callable[..., Any] | None = None) -> int:
    """Run one command line (default: `sys.argv[1:]`) on the registered commands and return
    its exit code. Bad input prints one line, `error: ...`, and returns 2. `command`: the
    app's parser, built once by a caller that runs many lines (`typer.main.get_command`)."""
    from dualmm.logs import configure

    try:
        configure("cli", default_level="WARNING")  # the worker and sim-server say INFO
        command = command or typer.main.get_command(app)
        code = command(args=args, standalone_mode=False)
    except NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else exc.format_message())
        return 0
    except ClickException as exc:
        # the parser's own errors (unknown flag, bad value) in one line, exit code 2
        return _error(" ".join(exc.format_message().split()), exc.exit_code)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return _error("aborted", 130)
    except UsageError as exc:
        return _error(str(exc), 2)
    except SystemExit as exc:  # a command that ended itself (`fail`)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code if isinstance(code, int) else 0


def _error(message: str, code: int) -> int:
    print_error(message)
    return code

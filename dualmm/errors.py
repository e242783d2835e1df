"""Operator errors: the lowest layer, importing nothing of the project, so that settings,
logging and every command can raise them without importing one another."""

from __future__ import annotations

import sys
from typing import NoReturn


class UsageError(Exception):
    """Bad input from the operator: reported in one line, exit code 2, never a traceback."""


def print_error(message: str) -> None:
    """The one line an operator error gets: `error: message` on stderr."""
    print(f"error: {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print the error line and exit with `code` (2: bad input)."""
    print_error(message)
    raise SystemExit(code)

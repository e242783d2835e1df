"""Shared CLI plumbing: one-line errors with exit code 2, and a clean process exit."""

from __future__ import annotations

import os
import sys
from typing import NoReturn


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

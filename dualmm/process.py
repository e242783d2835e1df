"""The process's settings (the environment plus the secret files) and its clean exit; used by
the commands and the engines alike, so it imports no CLI library."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from dualmm.config import ProcessSettings, describe_settings_error
from dualmm.errors import UsageError
from dualmm.logs import redact_settings


def hard_exit(code: int = 0) -> NoReturn:
    """Flush and leave without interpreter teardown (Temporal client abort, sdk-python #300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def load_settings(flags: dict[str, str] | None = None, **overrides: Any) -> ProcessSettings:
    """The process settings from the environment (plus `overrides` from flags) and the secret
    files in DUALMM_SECRETS_DIR; a bad one is a UsageError naming its variable, or the flag in
    `flags` (field -> flag) that set it."""
    overrides = {**secret_files(), **overrides}
    try:
        settings = ProcessSettings(**overrides)
    except ValidationError as exc:
        message = describe_settings_error(exc)
        field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        if flags and field in flags and field in overrides:
            message = message.replace(ProcessSettings.env_name(field), flags[field], 1)
        raise UsageError(message) from None
    redact_settings(settings)  # no log line of this process shows them
    return settings


def secret_files() -> dict[str, str]:
    """The secrets in DUALMM_SECRETS_DIR (one file per field) that the environment lacks."""
    directory = os.environ.get("DUALMM_SECRETS_DIR")
    if not directory:
        return {}
    found: dict[str, str] = {}
    for field in ProcessSettings.SECRET_FIELDS:
        path = Path(directory) / field
        if ProcessSettings.env_name(field) in os.environ or not path.is_file():
            continue
        try:
            found[field] = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"DUALMM_SECRETS_DIR: cannot read {path}: {exc}") from None
    return found


def check_secret_files_private() -> None:
    """Refuse (for --live) secret files that other users can read."""
    directory = os.environ.get("DUALMM_SECRETS_DIR")
    if not directory:
        return
    for field in ProcessSettings.SECRET_FIELDS:
        path = Path(directory) / field
        if path.is_file() and path.stat().st_mode & 0o004:
            raise UsageError(
                f"DUALMM_SECRETS_DIR: {path} is readable by every user; "
                f"refusing --live (chmod 600 {path})"
            )

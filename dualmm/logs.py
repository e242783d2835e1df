"""Logging for the worker, the simulator and the CLI: one structured line per event.

`configure(process)` installs one stderr handler on the root logger. Each record becomes one
line, logfmt (`DUALMM_LOG_FORMAT=text`, the default) or JSON (`json`), with the ids that exist
for it: `workflow_id`, `run_id`, `workflow_type` and `activity` from the `temporal_workflow` /
`temporal_activity` extras that Temporal's `workflow.logger` and `activity.logger` attach
(workflow.logger stays silent while a workflow replays), and `market` (a short condition id),
`order_id` and any other `extra=` a call passes. An exception's traceback is one escaped field.

Quiet by default: httpx/httpcore/urllib3 request lines and the simulator's access log only at
DEBUG (`DUALMM_LOG_LEVEL=DEBUG`, or `sim-server --access-log`); py-clob-client-v2's own
"request error" line for every non-200 answer is DEBUG too (the adapter turns each answer into
a typed error that is reported where it matters, and a routine "order not found" is no error).

Never a secret: every line is redacted last, against the secret values of the settings
(`redact_settings`) and the API credentials a worker derives (`redact`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from dualmm.errors import UsageError

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
REDACTED = "[redacted]"
# Shorter values are not redacted: they would blank ordinary words (no real key is this short).
MIN_SECRET_LENGTH = 8
_NOISY = ("httpx", "httpcore", "urllib3", "dualmm.sim.http", "hpack")
SDK_HTTP_LOGGER = "py_clob_client_v2.http_helpers.helpers"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "temporal_workflow", "temporal_activity", "temporal_log"}
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def redact(*values: str | None) -> None:
    """Never write these values (API credentials derived at start-up, keys)."""
    with _secrets_lock:
        for value in values:
            if value and len(value.strip()) >= MIN_SECRET_LENGTH:
                _secrets.add(value.strip())
                if value.strip().startswith("0x"):  # a hex key also appears without 0x
                    _secrets.add(value.strip()[2:])


def redact_settings(settings: Any) -> None:
    """Redact every secret field of a `dualmm.config.ProcessSettings` (comma lists item by item)."""
    for field in settings.SECRET_FIELDS:
        secret = getattr(settings, field, None)
        if secret is not None:
            value = secret.get_secret_value()
            redact(value, *value.split(","))


def scrub(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a longer one may contain another
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def short_market(condition_id: object) -> str:
    """A condition id short enough to read (0x + 8 hex digits), long enough to grep."""
    text = str(condition_id)
    return text[:10] if text.startswith("0x") and len(text) > 14 else text


def log_fill(logger: logging.Logger | logging.LoggerAdapter[Any], fill: Any) -> None:
    """The event line of a new fill of ours (on the workflow's or the activity's logger,
    which adds its ids): side, size, token and price, with its market and order."""
    logger.info(
        "fill: %s %s %s @ %s",
        fill.side,
        fill.size,
        fill.token,
        fill.price,
        extra={"market": fill.condition_id, "order_id": fill.order_id},
    )


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's event as ordered fields: time, level, logger, message, then its ids."""
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "msg": record.getMessage(),
    }
    workflow = getattr(record, "temporal_workflow", None)
    if isinstance(workflow, dict):
        out["workflow_id"] = workflow.get("workflow_id")
        out["run_id"] = workflow.get("run_id")
        out["workflow_type"] = workflow.get("workflow_type")
    act = getattr(record, "temporal_activity", None)
    if isinstance(act, dict):
        out["workflow_id"] = act.get("workflow_id")
        out["run_id"] = act.get("workflow_run_id")
        out["workflow_type"] = act.get("workflow_type")
        out["activity"] = act.get("activity_type")
        out["attempt"] = act.get("attempt")
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            out[key] = short_market(value) if key == "market" else value
    if record.exc_info and record.exc_info[0] is not None:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        out["exc"] = record.exc_text
    return {key: value for key, value in out.items() if value is not None}


def _logfmt(value: Any) -> str:
    text = str(value)
    if text and not any(ch in text for ch in ' ="\\') and text.isprintable():
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


class EventFormatter(logging.Formatter):
    """One line per record (logfmt or JSON), redacted last."""

    def __init__(self, fmt: str = "text") -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        event = fields(record)
        if self.fmt == "json":
            line = json.dumps(event, default=str, separators=(",", ":"))
        else:
            line = " ".join(f"{key}={_logfmt(value)}" for key, value in event.items())
        return scrub(line)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a test's capture, then the real one)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


class _SdkRequestErrors(logging.Filter):
    """py-clob-client-v2 logs every non-200 answer at ERROR before raising; the adapter maps
    the answer to a typed error (an unknown order is a routine answer): keep it at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _setting(name: str, default: str, allowed: Iterable[str]) -> str:
    value = (os.environ.get(name) or default).strip()
    choices = tuple(allowed)
    if value.lower() in choices:
        return value.lower()
    if value.upper() in choices:
        return value.upper()
    raise UsageError(f"{name}: {value[:40]!r} is not one of {', '.join(choices)}")


def configure(
    process: str,
    *,
    level: str | None = None,
    fmt: str | None = None,
    stream: IO[str] | None = None,
    default_level: str = "INFO",
) -> logging.Handler:
    """Install the one-line-per-event handler on the root logger (replacing any earlier one);
    `level`/`fmt` default to DUALMM_LOG_LEVEL (else `default_level`) and DUALMM_LOG_FORMAT
    (text). A bad setting is a UsageError naming its variable."""
    level = level or _setting("DUALMM_LOG_LEVEL", default_level, LEVELS)
    fmt = fmt or _setting("DUALMM_LOG_FORMAT", "text", FORMATS)
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.setFormatter(EventFormatter(fmt))
    handler.set_name(f"dualmm-{process}")
    root = logging.getLogger()
    for old in list(root.handlers):
        if (old.get_name() or "").startswith("dualmm-"):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in _NOISY:
        logging.getLogger(name).setLevel(quiet)
    sdk = logging.getLogger(SDK_HTTP_LOGGER)
    if not any(isinstance(f, _SdkRequestErrors) for f in sdk.filters):
        sdk.addFilter(_SdkRequestErrors())
    if process == "worker" or "temporalio" in sys.modules:  # the CLI stays light
        _structured_temporal_loggers()
    return handler


def _structured_temporal_loggers() -> None:
    """Temporal's loggers put their info in `extra` (our fields), not also in the message."""
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False

"""py-clob-client-v2 errors -> the Exchange protocol's typed errors.

The client raises `PolyApiException(status_code, error_msg)` for HTTP answers other than 200 and
for transport failures (status None: timeout, refused connection); it raises `PolyException`
for its own checks. Order rejections can also come back as a 200 with `success: false`.
Messages here are the venue's own answer (never a request header), cut to a sane length.
"""

from __future__ import annotations

import json
from typing import Any

from py_clob_client_v2.constants import L1_AUTH_UNAVAILABLE, L2_AUTH_UNAVAILABLE
from py_clob_client_v2.exceptions import PolyApiException, PolyException

from dualmm.exchange.base import (
    AuthError,
    ExchangeError,
    InsufficientBalance,
    InvalidOrder,
    NotFound,
    RateLimited,
    VenueTimeout,
    VenueUnavailable,
    WouldCross,
)

_MAX_MESSAGE = 300

# Lower-case fragments of Polymarket's answers that mean "try again later".
_NOT_READY = (
    "not ready",
    "not yet ready",
    "trading is currently disabled",
    "could not insert order",
    "could not run the execution",
    "order_version_mismatch",
)


def venue_message(answer: Any) -> str:
    """The human part of a venue answer (`{"error": ...}`, `{"errorMsg": ...}` or text)."""
    if isinstance(answer, dict):
        for field in ("error", "errorMsg", "message"):
            if answer.get(field):
                return str(answer[field])[:_MAX_MESSAGE]
        return json.dumps(answer, separators=(",", ":"))[:_MAX_MESSAGE]
    return str(answer)[:_MAX_MESSAGE]


def is_duplicate(message: str) -> bool:
    """The venue already has this exact signed order."""
    return "duplicated" in message.lower()


def is_tick_error(message: str) -> bool:
    """The price breaks the market's (possibly just changed) tick size."""
    return "tick size" in message.lower()


def classify(status: int | None, message: str, retry_after: float | None = None) -> ExchangeError:
    """The typed error for a venue answer with this HTTP status (None: no answer at all);
    `retry_after` is the wait the venue asked for, if it did."""
    text = message.lower()
    where = f"HTTP {status}: {message}" if status is not None else message
    if status is None:
        return VenueTimeout(f"no answer from the venue ({message})")
    if status == 429:
        return RateLimited(where, retry_after)
    if status in (401, 403):
        return AuthError(where)
    if status >= 500 or status == 425 or any(fragment in text for fragment in _NOT_READY):
        return VenueUnavailable(where, retry_after)
    if "crosses book" in text or "post-only" in text or "post only" in text:
        return WouldCross(where)
    if "balance" in text or "allowance" in text:
        return InsufficientBalance(where)
    if status == 404:
        return NotFound(where)
    return InvalidOrder(where)


MAX_RETRY_AFTER_SECONDS = 300.0


def retry_after(answer: Any, header: str | None) -> float | None:
    """The wait a refusal asks for: 503 post_only_mode's `retry_after_seconds`, or a 429's
    Retry-After header (seconds; an HTTP date is not honoured). Capped, never negative."""
    raw: Any = answer.get("retry_after_seconds") if isinstance(answer, dict) else None
    if raw is None:
        raw = header
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def from_sdk(exc: PolyException, retry_after_header: str | None = None) -> ExchangeError:
    """Map an exception raised by py-clob-client-v2 (with the answer's Retry-After header)."""
    if isinstance(exc, PolyApiException):
        wait = retry_after(exc.error_msg, retry_after_header)
        return classify(exc.status_code, venue_message(exc.error_msg), wait)
    message = str(exc.msg)[:_MAX_MESSAGE]
    if message in (L1_AUTH_UNAVAILABLE, L2_AUTH_UNAVAILABLE):
        return AuthError(message)
    return InvalidOrder(message)

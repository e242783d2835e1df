"""The CLOB's wire format as the simulator speaks it: requests and replies, number and cursor
encodings, query parameters, and venue errors mapped to the CLOB's answers."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from dualmm.domain.types import Token
from dualmm.exchange.base import ExchangeError, NotFound
from dualmm.sim.auth import ApiError, ApiKey

if TYPE_CHECKING:
    from dualmm.sim.rules import VenueRules
    from dualmm.sim.venue import SimVenue

JSON = Any
END_CURSOR = "LTE="
NO_ORDERBOOK = "No orderbook exists for the requested token id"
UNITS = Decimal(10) ** 6  # collateral and outcome tokens have 6 decimals on chain
ZERO = Decimal(0)
# JSON nesting the simulator parses at most. Checked before parsing: a dependency raises the
# recursion limit, and a deep enough document then overflows the C stack inside json.loads.
MAX_JSON_DEPTH = 32


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (brackets inside strings ignored)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str

    def json(self) -> JSON:
        """The body as JSON (None when empty); 400 for anything else, deep nesting and the
        non-standard NaN/Infinity included."""
        if not self.body:
            return None
        if json_depth(self.body) > MAX_JSON_DEPTH:
            raise ApiError(400, f"Invalid payload: nested deeper than {MAX_JSON_DEPTH}")
        try:
            return json.loads(self.body, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise ApiError(400, "Invalid payload") from None


@dataclass
class Reply:
    status: int
    body: JSON
    # Accepted, then the answer is held this many seconds (0: the connection is dropped).
    lost_for_s: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], JSON]
KeyedHandler = Callable[[Request, ApiKey], JSON]
PrefixHandler = Callable[[Request, str], JSON]
KeyedPrefixHandler = Callable[[Request, ApiKey, str], JSON]


@dataclass
class Routes:
    """A group of endpoints: exact paths, path prefixes (the rest of the path is an argument),
    and the same two kinds behind L2 authentication (`keyed`)."""

    exact: dict[tuple[str, str], Handler]
    prefix: list[tuple[str, str, PrefixHandler]]
    keyed: dict[tuple[str, str], KeyedHandler]
    keyed_prefix: list[tuple[str, str, KeyedPrefixHandler]]


class RouteGroup(Protocol):
    venue: SimVenue

    def routes(self) -> Routes: ...


def dec(value: Decimal) -> str:
    """A decimal string without exponent or trailing zeros ("0.5", "100")."""
    return format(value.normalize(), "f") if value else "0"


def num(value: Decimal) -> float:
    """Fields the CLOB sends as JSON numbers (market metadata, price history); the one float
    boundary."""
    return float(value)


def units(value: Decimal) -> str:
    return str(int((value * UNITS).to_integral_value()))


def unix(at: datetime) -> int:
    return int(at.timestamp())


def tx_hash(trade_id: str) -> str:
    return "0x" + hashlib.sha256(f"tx:{trade_id}".encode()).hexdigest()


def outcome(token: Token) -> str:
    return "Yes" if token is Token.YES else "No"


def cursor_offset(cursor: str | None) -> int:
    """The offset a `next_cursor` encodes (base64 of a decimal; URL-encoding tolerated)."""
    text = cursor or "MA=="
    if len(text) > 64:  # no offset needs more; a 5000-digit cursor is not one
        raise ApiError(400, "invalid next_cursor: too long")
    for _ in range(2):  # the v2 client URL-encodes cursors; tolerate a second layer
        if "%" in text:
            text = unquote(text)
    try:
        return int(base64.b64decode(text, validate=True).decode())
    except ValueError:
        raise ApiError(400, f"invalid next_cursor {text[:40]!r}") from None


def page(
    items: list[JSON], cursor: str | None, size: int, last: str = END_CURSOR
) -> dict[str, JSON]:
    """One page of `items` from `cursor`; the last page's `next_cursor` is `last` ("LTE=", or
    the empty cursor the docs also allow)."""
    offset = cursor_offset(cursor)
    if offset < 0:
        return {"limit": size, "count": 0, "next_cursor": last, "data": []}
    data = items[offset : offset + size]
    end = offset + size
    next_cursor = base64.b64encode(str(end).encode()).decode() if end < len(items) else last
    return {"limit": size, "count": len(data), "next_cursor": next_cursor, "data": data}


def order_status(status: str, rules: VenueRules) -> str:
    """An order status as the SDK shows it (LIVE) or as the docs spell it (ORDER_STATUS_LIVE)."""
    return f"ORDER_STATUS_{status}" if rules.status_spelling == "docs" else status


def trade_status(status: str, rules: VenueRules) -> str:
    return f"TRADE_STATUS_{status}" if rules.status_spelling == "docs" else status


def size(value: Decimal, rules: VenueRules) -> str:
    """A share quantity: decimal ("12.5") or 6-decimal fixed math ("12500000")."""
    return units(value) if rules.fixed_math_sizes else dec(value)


@contextmanager
def venue_errors(not_found: int = 404, message: str | None = None) -> Iterator[None]:
    """Venue errors as CLOB answers: unknown things 404 (or `not_found`, with `message` if
    given), rejections 400."""
    try:
        yield
    except NotFound as exc:
        raise ApiError(not_found, message or str(exc)) from None
    except ExchangeError as exc:
        raise ApiError(400, str(exc)) from None


def unix_param(query: dict[str, str], name: str) -> int | None:
    text = query.get(name)
    if not text:
        return None
    if not is_digits(text, 12):
        raise ApiError(400, f"invalid {name}: expected unix seconds")
    return int(text)


def is_digits(text: str, max_len: int = 78) -> bool:
    """ASCII digits only, 1 to `max_len` of them (78 fit any uint256); `str.isdigit` also
    accepts superscripts and other scripts' digits that `int` refuses."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


def token_param(request: Request) -> str:
    token_id = request.query.get("token_id", "")
    if not is_digits(token_id):
        raise ApiError(400, "Invalid token id")
    return token_id


def token_list(request: Request) -> list[str]:
    payload = request.json()
    if not isinstance(payload, list) or not all(
        isinstance(item, dict) and is_digits(str(item.get("token_id", ""))) for item in payload
    ):
        raise ApiError(400, "Invalid payload")
    if len(payload) > 500:
        raise ApiError(400, "Payload exceeds the limit")
    return [str(item["token_id"]) for item in payload]

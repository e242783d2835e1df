"""Reading untrusted JSON safely: bounded size and nesting, and errors in one line.

`json.loads` recurses once per nesting level; one dependency (py_ecc) raises the interpreter's
recursion limit to 100,000, so a deeply nested document overflows the C stack and kills the
process (SIGSEGV) instead of raising. The depth is therefore checked before parsing.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

MAX_DEPTH = 64
MAX_FILE_BYTES = 64 * 1024 * 1024

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


class JsonInputError(ValueError):
    """Input that is not acceptable JSON; the message says why, in one line."""


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in `data` (strings do not count)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON with decimals as Decimal, refusing deep nesting before parsing."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not UTF-8 (byte {exc.start})") from None
    depth = nesting_depth(raw)
    if depth > max_depth:
        raise JsonInputError(f"nested {depth} levels deep (at most {max_depth})")
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (RecursionError, ValueError) as exc:  # e.g. an integer of too many digits
        raise JsonInputError(f"not valid JSON ({exc})") from None


def read_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """At most `max_bytes` of a file (a device such as /dev/zero never ends)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise JsonInputError(f"cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise JsonInputError(f"too large (more than {max_bytes // (1024 * 1024)} MB)")
    return data

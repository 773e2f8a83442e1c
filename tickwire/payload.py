"""Reading what a device sends, before it becomes rows (`tickwire.contract`): the payload's JSON
object, and the numbers in it. Pure; whatever cannot be read is `Rejected`, with a stable reason.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any, Final

import orjson

_isfinite: Final = math.isfinite

#: Largest magnitude of a price, volume or metric (`out_of_range` beyond). Rollups sum values
#: per bucket in float8 (max ≈ 1.8e308), and one overflow would fail the refresh of its whole
#: window, for every device: below this bound a 1-minute bucket never overflows (at most 6e7
#: distinct microsecond timestamps per series), a day's only past 1.8e8 such readings.
MAX_MAGNITUDE: Final = 1e300


class Rejected(Exception):
    """A payload that cannot be accepted; `reason` is a stable code stored with the dead letter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def load_object(payload: bytes) -> dict[str, Any]:
    """The payload's JSON object (what orjson refuses is read again, leniently)."""
    try:
        body = orjson.loads(payload)  # not recursive; refuses nesting beyond 1024 levels
    except orjson.JSONDecodeError:
        body = _load_lenient(payload)
    if not isinstance(body, dict):
        raise Rejected("not_object", f"payload is a JSON {type(body).__name__}, not an object")
    return body


#: Nesting the lenient (recursive) parser may read: far below Python's recursion limit.
MAX_LENIENT_DEPTH: Final = 256
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*+\\?(?:"|\Z)', re.DOTALL)
"""A JSON string, or an unterminated one up to the end: each byte is looked at once."""
_BRACKETS: Final = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS: Final = bytes(c for c in range(256) if c not in b"[{]}")


def _load_lenient(payload: bytes) -> Any:
    """What orjson refused, read by the standard parser: NaN/Infinity get through to be named
    non_finite, integers beyond 64 bits become floats (too large: non_finite), and what it
    refuses too is not JSON at all. Its parser recurses, so the depth is measured first."""
    depth = nesting_depth(payload)
    if depth > MAX_LENIENT_DEPTH:
        raise Rejected("not_json", f"nested {depth} levels deep (at most {MAX_LENIENT_DEPTH})")
    try:
        return json.loads(payload, parse_int=_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Rejected("not_json", str(exc)[:200]) from None


def nesting_depth(payload: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, brackets in strings ignored
    (linear time whatever the text; an upper bound of what a parser would reach)."""
    brackets = _STRING.sub(b"", payload).translate(_BRACKETS, _NOT_BRACKETS)
    # Opening brackets are now +1, closing ones -1 (signed bytes): the depth is the largest
    # running sum.
    return max(itertools.accumulate(memoryview(brackets).cast("b")), default=0)


def _int(text: str) -> int | float:
    # Beyond 18 digits an integer may not fit in 64 bits; as a float it stays a number (or
    # becomes inf), where int() of more than 4300 digits would be refused as not JSON.
    return int(text) if len(text) <= 18 else float(text)


def number(value: Any, name: str) -> float:
    """`value` (the field `name`) as a finite float within ±MAX_MAGNITUDE; bools refused."""
    kind = type(value)
    if kind is not float and (kind is not int and (kind is bool or not isinstance(value, int))):
        raise Rejected("bad_type", f"{name} must be a number, got {kind.__name__}")
    result = float(value)
    if not _isfinite(result):
        raise Rejected("non_finite", f"{name} is {value}")
    if abs(result) > MAX_MAGNITUDE:
        raise Rejected("out_of_range", f"{name} is {value} (at most ±{MAX_MAGNITUDE:g})")
    return result


def optional_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    return None if value is None else number(value, name)

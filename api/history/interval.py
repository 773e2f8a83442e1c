"""Bucket widths: parsing `1s`/`5m`/`1h`… and the grid every bucket lies on.

Buckets are `date_bin(width, time, timegrid.ORIGIN)`, the same grid as the rollups and
TimescaleDB's `time_bucket`, so a rollup bucket nests in every bucket whose width it divides.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

from api.error_codes import ErrorCode
from api.errors import Invalid
from tickwire.timegrid import floor

MAX_WIDTH: Final = timedelta(days=3650)
UNITS: Final = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_LABEL_UNITS: Final = ("d", "h", "m", "s", "ms")
_SYNTAX: Final = re.compile(r"([0-9]{1,9})(ms|s|m|h|d|w)")
INTERVAL_DOC: Final = (
    "a positive whole number and a unit: ms, s, m, h, d or w (e.g. 250ms, 10s, 5m, 1h, 1d)"
)


def parse_interval(text: str) -> timedelta:
    """A bucket width from e.g. `10s`, `5m`, `1h`; `Invalid` (422 `invalid_interval`) otherwise."""
    match = _SYNTAX.fullmatch(text.strip())
    if match is None:
        raise Invalid(f"interval must be {INTERVAL_DOC}", code=ErrorCode.INVALID_INTERVAL)
    width = int(match.group(1)) * UNITS[match.group(2)]
    if not timedelta(0) < width <= MAX_WIDTH:
        raise Invalid(
            f"interval must be positive and at most {label(MAX_WIDTH)}",
            code=ErrorCode.INVALID_INTERVAL,
        )
    return width


def label(width: timedelta) -> str:
    """`5m` for five minutes: the largest unit that divides the width exactly."""
    for unit in _LABEL_UNITS:
        step = UNITS[unit]
        if width % step == timedelta(0):
            return f"{width // step}{unit}"
    return f"{width // timedelta(microseconds=1)}us"


def bucket_count(start: datetime, end: datetime, width: timedelta) -> int:
    """How many buckets of `width` overlap the half-open range [start, end)."""
    last = floor(end - timedelta(microseconds=1), width)
    return (last - floor(start, width)) // width + 1


#: Widths chosen automatically for `points`: the finest that keeps the bucket count in bounds.
_LADDER_TEXT: Final = "1s 2s 5s 10s 15s 30s 1m 2m 5m 10m 15m 30m 1h 2h 3h 6h 12h 1d 2d 7d"
LADDER: Final = tuple(parse_interval(text) for text in _LADDER_TEXT.split(" "))


def auto_width(start: datetime, end: datetime, points: int) -> timedelta:
    """The finest width of the ladder with at most `points` buckets over [start, end)
    (`points` ≥ 2); past the ladder, whole days: ceil(span / W) ≤ points − 1 guarantees it."""
    for width in LADDER:
        if bucket_count(start, end, width) <= points:
            return width
    day = timedelta(days=1)
    days = -(-(end - start) // ((points - 1) * day))
    return max(days, 1) * day

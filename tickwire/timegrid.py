"""The rollup time grid, defined once for ingest, the API and the dashboard.

Every bucket, rolled up or computed on the fly, is `date_bin(width, time, ORIGIN)`: the same
grid as TimescaleDB's `time_bucket` (its default origin is a Monday, 2000-01-03), so a bucket of
one level nests in every bucket whose width it divides. The dashboard's JS receives these
values from Python rather than retyping them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

ORIGIN: Final = datetime(2000, 1, 3, tzinfo=UTC)
ORIGIN_SQL: Final = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
ORIGIN_MS: Final = int(ORIGIN.timestamp() * 1000)

#: Rollup levels, finest first: (suffix of the relation, bucket width).
LEVELS: Final = (
    ("1m", timedelta(minutes=1)),
    ("1h", timedelta(hours=1)),
    ("1d", timedelta(days=1)),
)
WIDTHS: Final = dict(LEVELS)
FINEST: Final = LEVELS[0][1]


def floor(instant: datetime, width: timedelta) -> datetime:
    """Start of the bucket holding `instant`."""
    return ORIGIN + ((instant - ORIGIN) // width) * width


def ceil(instant: datetime, width: timedelta) -> datetime:
    """The first bucket boundary at or after `instant`."""
    return ORIGIN - ((ORIGIN - instant) // width) * width


def sql_interval(width: timedelta) -> str:
    """`1 minute`, `1 hour`, `1 day`: a level's width as PostgreSQL interval text."""
    for unit, step in (("day", timedelta(days=1)), ("hour", timedelta(hours=1))):
        if width % step == timedelta(0):
            return f"{width // step} {unit}"
    return f"{width // timedelta(minutes=1)} minute"

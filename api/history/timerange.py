"""Time-range query parameters shared by history, stats and export routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query

from api.error_codes import ErrorCode
from api.errors import Invalid

DEFAULT_SPAN = timedelta(hours=1)
#: Earliest and latest instants accepted (PostgreSQL timestamptz covers far more).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_TIME_DOC = "ISO-8601 (naive means UTC) or epoch milliseconds"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def parse_instant(value: str, name: str) -> datetime:
    """An instant from ISO-8601 or epoch milliseconds; `Invalid` (422) otherwise."""
    text = value.strip()
    try:
        if text.lstrip("-").replace(".", "", 1).isdigit():
            instant = datetime.fromtimestamp(float(text) / 1000, UTC)
        else:
            instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise Invalid(f"{name} must be {_TIME_DOC}", code=ErrorCode.INVALID_TIME) from None
    if not EARLIEST <= instant <= LATEST:
        raise Invalid(f"{name} is out of range", code=ErrorCode.INVALID_TIME)
    return instant.astimezone(UTC)


def time_range(
    start: Annotated[
        str | None, Query(description=f"range start, {_TIME_DOC}; default end − 1 h")
    ] = None,
    end: Annotated[str | None, Query(description=f"range end, {_TIME_DOC}; default now")] = None,
) -> TimeRange:
    """Dependency: `start`/`end` with defaults; start must be before end."""
    stop = parse_instant(end, "end") if end else datetime.now(UTC)
    begin = parse_instant(start, "start") if start else stop - DEFAULT_SPAN
    if begin >= stop:
        raise Invalid("start must be before end", code=ErrorCode.INVALID_RANGE)
    return TimeRange(begin, stop)

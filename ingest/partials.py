"""A batch's 1-minute telemetry partials computed in Python, for the writer's direct COPY.

When every row of a batch is new, the writer COPYs them straight into `telemetry` and has no
staged copy for SQL to aggregate; these are the partials `ingest.rollup`'s `part` would have
computed from it (bucket, device_id, metric, min, max, count, sum, last, last_time), one list
per column, ready for `rollup.partials_statement`. The rows must hold no key twice
(`ingest.rows.first_of_each`): `last` is the value at the newest time.

PostgreSQL refuses a float8 sum that overflows (22003) where Python's is infinite: rows whose
sum would not be finite get None, and the writer takes the SQL path, which refuses them as
before (the contract's ±1e300 never gets there; backfill could).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tickwire import timegrid
from tickwire.contract import TelemetryRow

# A partial being built: [min, max, count, sum, last, last_time].
_Part = list[Any]


def telemetry(rows: Sequence[TelemetryRow]) -> list[list[Any]] | None:
    """The partials of `rows`, one list per column of `rollup_delta_telemetry`; None if a
    sum overflows."""
    parts: dict[tuple[datetime, str, str], _Part] = {}
    # Readings of a series mostly come in time order: the bucket a series was last in is
    # tried first (comparing datetimes is cheap, flooring one is not).
    current: dict[tuple[str, str], tuple[datetime, datetime, _Part]] = {}
    for time, device, metric, value in rows:
        now_in = current.get((device, metric))
        if now_in is not None and now_in[0] <= time < now_in[1]:
            _add(now_in[2], time, value)
            continue
        bucket = _minute(time)
        part = parts.get((bucket, device, metric))
        if part is None:
            parts[bucket, device, metric] = part = [value, value, 1, value, value, time]
        else:
            _add(part, time, value)
        current[device, metric] = (bucket, bucket + timegrid.FINEST, part)
    columns: list[list[Any]] = [[] for _ in range(9)]
    for (bucket, device, metric), part in parts.items():
        if not math.isfinite(part[3]):
            return None
        for column, item in zip(columns, (bucket, device, metric, *part), strict=True):
            column.append(item)
    return columns


def _add(part: _Part, time: datetime, value: float) -> None:
    if value < part[0]:
        part[0] = value
    elif value > part[1]:
        part[1] = value
    part[2] += 1
    part[3] += value
    if time > part[5]:
        part[4], part[5] = value, time


def _minute(time: datetime) -> datetime:
    """`date_bin('1 minute', time, ORIGIN)`: the origin is on a whole UTC minute."""
    if time.tzinfo is not UTC:
        time = time.astimezone(UTC)  # naive: local time, as asyncpg encodes it
    return time.replace(second=0, microsecond=0)

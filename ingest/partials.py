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
from typing import Any, Final

from tickwire import timegrid
from tickwire.contract import TelemetryRow

# A partial being built: [min, max, count, sum, last, last_time].
_Part = list[Any]
_NEVER: Final = datetime.min.replace(tzinfo=UTC)


def telemetry(rows: Sequence[TelemetryRow]) -> list[list[Any]] | None:
    """The partials of `rows`, one list per column of `rollup_delta_telemetry`; None if a
    sum overflows."""
    parts: dict[tuple[datetime, str, str], _Part] = {}
    # One pass, cheap for rows as the contract makes them: a reading's metrics share one time
    # object (its minute is found once), a message's rows one device (its series looked up
    # once), and a series mostly stays in one minute from row to row (its partial is at hand:
    # `series[device][metric]` holds the minute it was last in, by identity, and its partial).
    series: dict[str, dict[str, tuple[datetime, _Part]]] = {}
    minute, end = _NEVER, _NEVER
    last_time: datetime | None = None
    last_device: str | None = None
    of_device: dict[str, tuple[datetime, _Part]] = {}
    for time, device, metric, value in rows:
        if time is not last_time:
            last_time = time
            if not minute <= time < end:
                minute = _minute(time)
                end = minute + timegrid.FINEST
        if device is not last_device:
            last_device = device
            of_device = series.setdefault(device, {})
        at = of_device.get(metric)
        if at is not None and at[0] is minute:
            part = at[1]
        else:
            found = parts.get((minute, device, metric))
            if found is None:
                part = parts[minute, device, metric] = [value, value, 1, value, value, time]
                of_device[metric] = (minute, part)
                continue
            part = found
            of_device[metric] = (minute, part)
        if value < part[0]:
            part[0] = value
        elif value > part[1]:
            part[1] = value
        part[2] += 1
        part[3] += value
        if time > part[5]:
            part[4], part[5] = value, time
    return _columns(parts)


def _columns(parts: dict[tuple[datetime, str, str], _Part]) -> list[list[Any]] | None:
    columns: list[list[Any]] = [[] for _ in range(9)]
    for (bucket, device, metric), part in parts.items():
        if not math.isfinite(part[3]):
            return None
        for column, item in zip(columns, (bucket, device, metric, *part), strict=True):
            column.append(item)
    return columns


def _minute(time: datetime) -> datetime:
    """`date_bin('1 minute', time, ORIGIN)`: the origin is on a whole UTC minute."""
    if time.tzinfo is not UTC:
        time = time.astimezone(UTC)  # naive: local time, as asyncpg encodes it
    return time.replace(second=0, microsecond=0)

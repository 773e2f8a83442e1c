"""A batch's 1-minute telemetry partials computed in Python, for the writer's direct COPY.

When every row of a batch is new, the writer COPYs them straight into `telemetry` and has no
staged copy for SQL to aggregate; these are the partials `ingest.rollup`'s `part` would have
computed from it (bucket, device_id, metric, min, max, count, sum, last, last_time), one list
per column, ready for `rollup.partials_statement`. The rows must hold no key twice
(`ingest.rows.first_of_each`): `last` is the value at the newest time.

PostgreSQL refuses a float8 sum that overflows (22003) where Python's is infinite: rows whose
sum would not be finite get None, and the writer takes the SQL path, which refuses them as
before (the contract's ±1e300 never gets there; backfill could).

A big fleet's partials (about one per row) are binary-COPYed into `rollup_delta_telemetry`:
`encode` writes them as asyncpg would (its generic encoding of the nine columns cost ~6 µs a
partial, a tenth of the ingester's CPU per message at 10 000 devices).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from ingest import telemetry_copy
from tickwire import timegrid
from tickwire.contract import TelemetryRow

#: `rollup_delta_telemetry`'s columns, in the order of a partial's fields.
COLUMNS: Final = (
    "bucket",
    "device_id",
    "metric",
    "min",
    "max",
    "count",
    "sum",
    "last",
    "last_time",
)

# A partial being built: its row of `rollup_delta_telemetry` (bucket, device_id, metric, min,
# max, count, sum, last, last_time), then the end of its bucket.
_Part = list[Any]
_MIN, _MAX, _COUNT, _SUM, _LAST, _LAST_TIME, _END = 3, 4, 5, 6, 7, 8, 9
_WIDTH: Final = timegrid.FINEST


def telemetry(rows: Sequence[TelemetryRow]) -> list[list[Any]] | None:
    """The partials of `rows`, one list per column of `rollup_delta_telemetry`; None if a
    sum overflows."""
    found = parts(rows)
    return None if found is None else columns(found)


def columns(found: list[_Part]) -> list[list[Any]]:
    """Partials (`parts`) as one list per column of `rollup_delta_telemetry`."""
    if not found:
        return [[] for _ in COLUMNS]
    return [list(column) for column in list(zip(*found, strict=True))[:_END]]


def parts(rows: Sequence[TelemetryRow]) -> list[_Part] | None:
    """The partials of `rows`, each its row of `rollup_delta_telemetry` (then the end of its
    bucket); None if a sum overflows."""
    found: list[_Part] = []
    # Readings of a series mostly come in time order: the partial a series was last in is
    # tried first (comparing datetimes is cheap, flooring one is not). A series not seen yet
    # (a big fleet: most of them) has no partial to look up, so nothing is keyed by a bucket
    # (hashing a new datetime is not cheap) but the partials of a series that left its first
    # bucket (`spans`).
    current: dict[tuple[str, str], _Part] = {}
    spans: dict[tuple[str, str], dict[datetime, _Part]] = {}
    for time, device, metric, value in rows:
        part = current.get((device, metric))
        if part is None:
            bucket = time.replace(second=0, microsecond=0) if time.tzinfo is UTC else _minute(time)
            # `_new`, inlined: at a big fleet, every row
            part = [bucket, device, metric, value, value, 1, value, value, time, bucket + _WIDTH]
            current[device, metric] = part
            found.append(part)
            continue
        if part[0] <= time < part[_END]:
            _add(part, time, value)
            continue
        bucket = _minute(time)
        series = spans.get((device, metric))
        if series is None:
            series = spans[device, metric] = {part[0]: part}
        other = series.get(bucket)
        if other is None:
            series[bucket] = other = _new(bucket, device, metric, time, value)
            found.append(other)
        else:
            _add(other, time, value)
        current[device, metric] = other
    if not all(math.isfinite(part[_SUM]) for part in found):
        return None
    return found


def encode(found: Sequence[_Part]) -> bytearray:
    """The binary COPY data of partials (`parts`) in `COLUMNS` order; raises
    `telemetry_copy.Unencodable` for one it does not take (the caller lets asyncpg encode
    them): a time asyncpg sends as ±infinity, text or numbers of another type."""
    try:
        return _encode(found)
    except (TypeError, AttributeError, ValueError, OverflowError, struct.error) as exc:
        raise telemetry_copy.Unencodable(str(exc)) from exc


#: A partial's bucket: 9 fields, then the bucket's length (8) and microseconds since 2000.
_part_start: Final = struct.Struct(">hiq").pack
#: min, max, count, sum, last, last_time, each after its length (8).
_part_end: Final = struct.Struct(">ididiqididiq").pack
_MINUTE_US: Final = 60_000_000
_EPOCH: Final = telemetry_copy.PG_EPOCH
_MICROSECOND: Final = telemetry_copy.MICROSECOND


def _encode(found: Sequence[_Part]) -> bytearray:
    out = bytearray(telemetry_copy.HEADER)
    metrics: dict[str, bytes] = {}
    text = telemetry_copy.text
    for bucket, device, metric, low, high, count, total, last, last_time, _end in found:
        if last_time.tzinfo is None or bucket.tzinfo is None:
            raise TypeError("a naive time")
        micros = (last_time - _EPOCH) // _MICROSECOND
        if micros in telemetry_copy.EDGES:
            raise ValueError("a time asyncpg sends as infinity")
        # The bucket is the UTC minute of its last time, and 2000-01-01 a whole UTC minute.
        out += _part_start(9, 8, micros - micros % _MINUTE_US)
        out += text(device)
        name = metrics.get(metric)
        if name is None:
            name = metrics[metric] = text(metric)
        out += name
        out += _part_end(8, low, 8, high, 8, count, 8, total, 8, last, 8, micros)
    out += telemetry_copy.TRAILER
    return out


def _new(bucket: datetime, device: str, metric: str, time: datetime, value: float) -> _Part:
    return [bucket, device, metric, value, value, 1, value, value, time, bucket + _WIDTH]


def _add(part: _Part, time: datetime, value: float) -> None:
    if value < part[_MIN]:
        part[_MIN] = value
    elif value > part[_MAX]:
        part[_MAX] = value
    part[_COUNT] += 1
    part[_SUM] += value
    if time > part[_LAST_TIME]:
        part[_LAST], part[_LAST_TIME] = value, time


def _minute(time: datetime) -> datetime:
    """`date_bin('1 minute', time, ORIGIN)`: the origin is on a whole UTC minute."""
    if time.tzinfo is not UTC:
        time = time.astimezone(UTC)  # naive: local time, as asyncpg encodes it
    return time.replace(second=0, microsecond=0)

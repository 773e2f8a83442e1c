"""Telemetry rows as PostgreSQL binary COPY data, encoded for the rows the contract makes.

asyncpg's `copy_records_to_table` encodes any record through its generic codecs (~0.8 µs per
telemetry row on the development machine, a quarter of the ingester's CPU per row under batch
payloads). These rows have a shape it cannot know: a reading's metrics share one time object
and a message's rows one device, so each time is converted once per reading and each
(device, metric) pair's bytes once per batch (~0.3 µs per row). The bytes are what asyncpg
sends for the same rows (`tests/test_telemetry_copy.py` compares the stored rows bit for bit).

`encode` raises `Unencodable` for a row outside that shape — a naive time (asyncpg takes it
as local time), a value or text of another type — and the writer then lets asyncpg encode the
whole batch, as before.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from tickwire.contract import TelemetryRow

COLUMNS: Final = ("time", "device_id", "metric", "value")
PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)
#: asyncpg sends the instants of `datetime.max` and `datetime.min` as ±infinity: so do we.
_LATEST: Final = (datetime.max.replace(tzinfo=UTC) - PG_EPOCH) // MICROSECOND
_EARLIEST: Final = (datetime.min.replace(tzinfo=UTC) - PG_EPOCH) // MICROSECOND
_INFINITY: Final = 2**63 - 1
EDGES: Final = (_LATEST, _EARLIEST)
HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
TRAILER: Final = b"\xff\xff"
#: A row's start: 4 fields, then the time's length (8) and microseconds since 2000 UTC.
_row_start: Final = struct.Struct(">hiq").pack
_float: Final = struct.Struct(">d").pack
_length: Final = struct.Struct(">i").pack


class Unencodable(Exception):
    """A row this encoder does not take (the writer lets asyncpg encode the batch)."""


def encode(rows: Sequence[TelemetryRow]) -> bytearray:
    """The binary COPY data of `rows` in `COLUMNS` order (a bytearray: asyncpg takes bytes
    as a path)."""
    try:
        return _encode(rows)
    except (TypeError, AttributeError, ValueError, OverflowError, struct.error) as exc:
        raise Unencodable(str(exc)) from exc


def _encode(rows: Sequence[TelemetryRow]) -> bytearray:
    out = bytearray(HEADER)
    devices: dict[str, dict[str, bytes]] = {}
    metrics: dict[str, bytes] = {}  # metric → its bytes and the value's length
    last_time: datetime | None = None
    last_device: str | None = None
    start = b""
    # metric → the row's bytes from the device's length to the value's length
    of_device: dict[str, bytes] = {}
    device_bytes = b""
    for time, device, metric, value in rows:
        if time is not last_time:
            last_time = time
            if time.tzinfo is None:
                raise TypeError("a naive time")
            micros = (time - PG_EPOCH) // MICROSECOND
            if micros in EDGES:
                micros = _INFINITY if micros == _LATEST else -_INFINITY - 1
            start = _row_start(4, 8, micros)
        if device is not last_device:
            last_device = device
            known = devices.get(device)
            if known is None:  # a big fleet: most devices once a batch
                known = devices[device] = {}
                device_bytes = text(device)
            else:
                device_bytes = b""  # unused: its rows' bytes are in `known`
            of_device = known
        middle = of_device.get(metric)
        if middle is None:
            if not device_bytes:
                device_bytes = text(device)
            tail = metrics.get(metric)
            if tail is None:
                tail = metrics[metric] = text(metric) + b"\x00\x00\x00\x08"
            middle = of_device[metric] = device_bytes + tail
        out += start
        out += middle
        out += _float(value)
    out += TRAILER
    return out


def text(value: str) -> bytes:
    if type(value) is not str:
        raise TypeError(f"text expected, got {type(value).__name__}")
    data = value.encode()
    return _length(len(data)) + data

"""The MQTT contract (docs/architecture.md), defined once: topics, and payloads parsed into rows.

`parse()` is the single place where a device message becomes rows or a `Rejected` reason
(its JSON and the numbers in it are read by `tickwire.payload`). It is pure (no I/O) so the
ingester, the benchmarks and the tests share it.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from tickwire.payload import MAX_MAGNITUDE as MAX_MAGNITUDE
from tickwire.payload import Rejected as Rejected
from tickwire.payload import load_object, number, optional_number

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_isfinite: Final = math.isfinite
_fromtimestamp: Final = datetime.fromtimestamp

#: Subscriptions of the ingester (device → server topics).
SUBSCRIPTIONS: Final = (
    "stocks/+",
    "devices/+/stocks/+",
    "devices/+/telemetry",
    "devices/+/heartbeat",
    "devices/+/acks",
)

#: Top-level telemetry keys that are not metrics.
RESERVED_TELEMETRY_KEYS: Final = frozenset({"deviceId", "device_id", "ts", "seq", "readings"})

ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}")
TICKER_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-^=]{0,31}")
METRIC_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")

PriceRow = tuple[datetime, str, float, float | None, str]
"""(time, ticker, price, volume, source) — `source` is a device that may publish the ticker
(the one whose topic it came through, or one named on stocks/{T} once the ingester checked
it monitors the ticker) or ''."""
TelemetryRow = tuple[datetime, str, str, float]
"""(time, device_id, metric, value)."""


def stock_topic(ticker: str) -> str:
    return f"stocks/{ticker}"


def device_stock_topic(device_id: str, ticker: str) -> str:
    """A device's own price topic: the tick's source is that device (the broker binds the id
    to its credentials), and it counts as the device's activity like its telemetry."""
    return f"devices/{device_id}/stocks/{ticker}"


def telemetry_topic(device_id: str) -> str:
    return f"devices/{device_id}/telemetry"


def heartbeat_topic(device_id: str) -> str:
    return f"devices/{device_id}/heartbeat"


def commands_topic(device_id: str) -> str:
    return f"devices/{device_id}/commands"


def acks_topic(device_id: str) -> str:
    return f"devices/{device_id}/acks"


@dataclass(frozen=True, slots=True)
class Limits:
    """What the ingester accepts: payload size, readings per batch, and the ts window."""

    max_payload_bytes: int = 256 * 1024
    max_readings: int = 10_000
    max_age: timedelta = timedelta(days=3652)
    max_future: timedelta = timedelta(minutes=5)


@dataclass(slots=True)
class CommandAck:
    command_id: str
    status: str
    detail: str | None


@dataclass(slots=True)
class Parsed:
    """What one message carries. `rejected` lists parts refused inside an accepted message."""

    kind: str
    device_id: str | None = None
    """The device whose topic the message came through: its activity (status, last_seen)."""
    ticker: str | None = None
    prices: list[PriceRow] = field(default_factory=list)
    telemetry: list[TelemetryRow] = field(default_factory=list)
    ack: CommandAck | None = None
    rejected: list[Rejected] = field(default_factory=list)


def parse(topic: str, payload: bytes, received_at: datetime, limits: Limits) -> Parsed:
    """Parse one MQTT message per the contract; raise `Rejected` when none of it can be kept."""
    if len(payload) > limits.max_payload_bytes:
        raise Rejected("oversized", f"{len(payload)} bytes > {limits.max_payload_bytes}")
    kind, device_id, ticker = _route(topic)
    if kind == "price":
        return _parse_price(device_id, ticker, load_object(payload), received_at, limits)
    if kind == "telemetry":
        return _parse_telemetry(device_id, load_object(payload), received_at, limits)
    if kind == "heartbeat":
        body = load_object(payload)
        _ts(body.get("ts"), received_at, limits)
        optional_number(body, "uptime_s")
        return Parsed("heartbeat", device_id=device_id)
    return Parsed("ack", device_id=device_id, ack=_parse_ack(load_object(payload)))


Route = tuple[str, str, str]
"""(kind, device id, ticker) of a topic: the id is '' on stocks/{T}, the ticker '' off prices."""

_ROUTES: dict[str, Route] = {}
_ROUTES_MAX: Final = 100_000
_DEVICE_KINDS: Final = {"telemetry": "telemetry", "heartbeat": "heartbeat", "acks": "ack"}


def _route(topic: str) -> Route:
    """The route of a valid topic; remembered, topics repeat."""
    route = _ROUTES.get(topic)
    if route is not None:
        return route
    levels = topic.split("/")
    if len(levels) == 2 and levels[0] == "stocks":
        route = ("price", "", _checked(levels[1], TICKER_RE, "ticker"))
    elif len(levels) == 3 and levels[0] == "devices" and levels[2] in _DEVICE_KINDS:
        route = (_DEVICE_KINDS[levels[2]], _checked(levels[1], ID_RE, "device id"), "")
    elif len(levels) == 4 and levels[0] == "devices" and levels[2] == "stocks":
        device_id = _checked(levels[1], ID_RE, "device id")
        route = ("price", device_id, _checked(levels[3], TICKER_RE, "ticker"))
    else:
        raise Rejected("bad_topic", f"not a device-to-server topic: {topic[:200]!r}")
    if len(_ROUTES) >= _ROUTES_MAX:
        _ROUTES.clear()
    _ROUTES[topic] = route
    return route


def _checked(value: str, pattern: re.Pattern[str], what: str) -> str:
    if pattern.fullmatch(value) is None:
        raise Rejected("bad_topic", f"invalid {what} {value[:80]!r}")
    return value


def _ts(value: Any, received_at: datetime, limits: Limits) -> datetime:
    """`ts` as epoch milliseconds or ISO-8601 (naive means UTC); missing → receive time."""
    if value is None:
        return received_at
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise Rejected("bad_ts", f"ts {value[:40]!r} is not ISO-8601") from None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
    else:
        millis = number(value, "ts")
        try:
            # Exact to the microsecond for any ms value of this era (float error < 0.25 µs).
            ts = datetime.fromtimestamp(millis / 1000, UTC)
        except (OverflowError, ValueError, OSError):
            raise Rejected("ts_out_of_window", f"ts {value} is not a representable time") from None
    if not received_at - limits.max_age <= ts <= received_at + limits.max_future:
        raise Rejected("ts_out_of_window", f"ts {ts.isoformat()} outside the accepted window")
    return ts


def _parse_price(
    device_id: str, ticker: str, body: dict[str, Any], received_at: datetime, limits: Limits
) -> Parsed:
    """On `devices/{id}/stocks/{T}` the source is that device (the payload's `device_id` is
    ignored, as the topic's id is authoritative) and the message is its activity. On
    `stocks/{T}` the payload's `device_id` is only a claim, left for the ingester to check
    against the devices monitoring T; the message is nobody's activity."""
    if "price" not in body:
        raise Rejected("missing_field", "price is required")
    price = number(body["price"], "price")
    volume = optional_number(body, "volume")
    if volume is not None and volume < 0:
        raise Rejected("bad_type", f"volume {volume} is negative")
    source = device_id or body.get("device_id")
    if source is None:
        source = ""
    elif not isinstance(source, str) or ID_RE.fullmatch(source) is None:
        raise Rejected("bad_type", "device_id must be a device id string")
    ts = _ts(body.get("ts"), received_at, limits)
    row: PriceRow = (ts, ticker, price, volume, source)
    return Parsed("price", device_id=device_id or None, ticker=ticker, prices=[row])


def _parse_telemetry(
    device_id: str, body: dict[str, Any], received_at: datetime, limits: Limits
) -> Parsed:
    readings = body.get("readings")
    if readings is None:
        rows = _reading_rows(device_id, body, _ts(body.get("ts"), received_at, limits))
        if not rows:
            raise Rejected("no_metrics", "no numeric or boolean metric in the payload")
        return Parsed("telemetry", device_id=device_id, telemetry=rows)
    if not isinstance(readings, list) or not readings:
        raise Rejected("bad_type", "readings must be a non-empty array")
    if len(readings) > limits.max_readings:
        raise Rejected("oversized", f"{len(readings)} readings > {limits.max_readings}")
    parsed = Parsed("telemetry", device_id=device_id)
    _batch_readings(parsed, device_id, readings, received_at, limits)
    if not parsed.telemetry:
        first = parsed.rejected[0]
        raise Rejected(first.reason, f"no reading accepted; {first.detail}")
    return parsed


def _batch_readings(
    parsed: Parsed, device_id: str, readings: list[Any], received_at: datetime, limits: Limits
) -> None:
    """Each reading's rows into `parsed.telemetry`, or its refusal into `parsed.rejected`.

    The hot loop of batch payloads, one pass: the usual reading (`ts` an integer of ms in the
    window, finite floats under known metric names) is read inline; anything else goes through
    `_metric_row`, the same rules as `_reading_rows`, with the same refusals in the same order.
    """
    rows = parsed.telemetry
    append = rows.append
    known, reserved, biggest = _METRICS, RESERVED_TELEMETRY_KEYS, MAX_MAGNITUDE
    fromtimestamp = _fromtimestamp
    # The accepted window in integer milliseconds, for the usual `ts` (an integer of ms):
    # compared and converted without the general path's datetime arithmetic; the same result
    # (ms / 1000 is within 0.25 µs of the exact time for any ms of this era, and rounds to it).
    lowest = -((EPOCH - (received_at - limits.max_age)) // _MS)
    highest = (received_at + limits.max_future - EPOCH) // _MS
    for index, reading in enumerate(readings):
        start = len(rows)
        try:
            if not isinstance(reading, dict):
                raise Rejected("bad_type", "a reading must be an object")
            ts = reading.get("ts")
            if type(ts) is int and lowest <= ts <= highest:
                at = fromtimestamp(ts / 1000, UTC)
            else:
                at = _reading_ts(ts, received_at, limits)
            for key, value in reading.items():
                if key in known:
                    if type(value) is float and -biggest <= value <= biggest:
                        append((at, device_id, key, value))
                        continue
                elif key in reserved:
                    continue
                _metric_row(append, at, device_id, key, value)
            if len(rows) == start:
                raise Rejected("no_metrics", "no numeric or boolean metric in the reading")
        except Rejected as exc:
            del rows[start:]
            parsed.rejected.append(Rejected(exc.reason, f"readings[{index}]: {exc.detail}"))


def _reading_rows(device_id: str, body: dict[str, Any], ts: datetime) -> list[TelemetryRow]:
    """Every top-level finite number is a metric, and so is a boolean (`true` → 1.0, `false` →
    0.0: a door open, a relay on); other non-reserved values are ignored."""
    rows: list[TelemetryRow] = []
    for key, value in body.items():
        _metric_row(rows.append, ts, device_id, key, value)
    return rows


def _metric_row(
    append: Callable[[TelemetryRow], None], ts: datetime, device_id: str, key: str, value: Any
) -> None:
    """The row of one top-level `key`, appended if it is a metric; `Rejected` when it cannot
    be one (an invalid name, a number out of range)."""
    kind = type(value)
    if key in RESERVED_TELEMETRY_KEYS:
        return
    if kind is bool:
        if key not in _METRICS:
            _check_metric(key)
        append((ts, device_id, key, 1.0 if value else 0.0))
    elif kind is float or kind is int:
        if key not in _METRICS:
            _check_metric(key)
        if kind is float and not _isfinite(value):
            raise Rejected("non_finite", f"{key} is {value}")
        if abs(value) > MAX_MAGNITUDE:
            raise Rejected("out_of_range", f"{key} is {value} (at most ±{MAX_MAGNITUDE:g})")
        append((ts, device_id, key, float(value)))


def _reading_ts(value: Any, received_at: datetime, limits: Limits) -> datetime:
    """A batch reading's `ts` other than an integer of ms in the window: required (a replayed
    reading without its own time could never be told apart), else as `_ts` reads it."""
    if value is None:
        raise Rejected("missing_field", "ts is required in a batch reading")
    return _ts(value, received_at, limits)


_METRICS: set[str] = set()


def _check_metric(key: str) -> None:
    if key in RESERVED_TELEMETRY_KEYS or METRIC_RE.fullmatch(key) is None:
        raise Rejected("bad_type", f"invalid metric name {key[:80]!r}")
    if len(_METRICS) < _ROUTES_MAX:
        _METRICS.add(key)


def _parse_ack(body: dict[str, Any]) -> CommandAck:
    command_id, status, detail = body.get("id"), body.get("status"), body.get("detail")
    if not isinstance(command_id, str):
        raise Rejected("bad_type", "id must be the command's UUID string")
    try:
        command_id = str(uuid.UUID(command_id))
    except ValueError:
        raise Rejected("bad_type", f"id {command_id[:60]!r} is not a UUID") from None
    if status not in ("ok", "error"):
        raise Rejected("bad_type", "status must be 'ok' or 'error'")
    if detail is not None and not isinstance(detail, str):
        try:
            detail = orjson.dumps(detail).decode()[:2000]
        except orjson.JSONEncodeError:  # nested beyond orjson's 255 levels
            raise Rejected("bad_type", "detail is nested too deep") from None
    return CommandAck(command_id, status, detail)

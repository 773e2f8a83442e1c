"""The JSON of each stream event kind, built in one place for every producer.

A committed batch gives one event per subject, carrying all of that subject's new points in time
order (a store-and-forward replay of 1 000 readings is one event, not 1 000):
- `price`: `{"ticker", "ticks": [{"time", "price", "volume", "source"}, …]}`
- `telemetry`: `{"device_id", "readings": [{"time", "values": {metric: value, …}}, …]}` —
  every metric of one reading together
- `device_status`: `{"device_id", "status", "last_seen"}` — on a change only
- `alert`: the alert as `GET /api/alerts` returns it (`alert_json`)
- `portfolio`: `{"portfolio_id", "time", "market_value", "unrealized_pnl", "day_change"}` —
  not journaled: the API computes it per stream (`api/stream/portfolios.py`)

Times are ISO 8601 UTC with a `Z`, as everywhere in the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from tickwire.contract import PriceRow, TelemetryRow
from tickwire.journal import KINDS, Event

STREAM_KINDS = (*KINDS, "portfolio")
"""Every kind `GET /api/stream` sends: the journal's, and `portfolio` (computed by the API)."""

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
_dumps = orjson.dumps

ALERT_FIELDS = (
    "id",
    "rule_id",
    "kind",
    "subject",
    "device_id",
    "ticker",
    "owner_id",
    "severity",
    "state",
    "message",
    "value",
    "raised_at",
    "acked_at",
    "acked_by",
    "cleared_at",
    "updated_at",
)


def price_events(rows: Iterable[PriceRow]) -> list[Event]:
    """One event per ticker: its new ticks in time order."""
    ticks: dict[str, list[dict[str, Any]]] = {}
    for time, ticker, price, volume, source in rows:
        tick = {"time": time, "price": price, "volume": volume, "source": source}
        points = ticks.get(ticker)
        if points is None:
            ticks[ticker] = [tick]
        else:
            points.append(tick)
    return [
        Event("price", ticker, _json({"ticker": ticker, "ticks": _by_time(points)}))
        for ticker, points in ticks.items()
    ]


def telemetry_events(rows: Iterable[TelemetryRow]) -> list[Event]:
    """One event per device: its new readings (every metric of one ts together) in time order."""
    devices: dict[str, dict[datetime, dict[str, float]]] = {}
    # A reading's rows come together, sharing its device and time objects: looked up once.
    last_device: str | None = None
    last_time: datetime | None = None
    readings: dict[datetime, dict[str, float]] = {}
    values: dict[str, float] = {}
    for time, device_id, metric, value in rows:
        if time is not last_time or device_id is not last_device:
            if device_id is not last_device:
                last_device = device_id
                readings = devices.setdefault(device_id, {})
            last_time = time
            values = readings.setdefault(time, {})
        values[metric] = value
    return [
        Event("telemetry", device_id, _json({"device_id": device_id, "readings": _in_order(of)}))
        for device_id, of in devices.items()
    ]


def _in_order(readings: dict[datetime, dict[str, float]]) -> list[dict[str, Any]]:
    """A device's readings by time (its times are distinct: their values are never compared)."""
    return [{"time": t, "values": v} for t, v in sorted(readings.items())]


def _by_time(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points.sort(key=_time)
    return points


def _time(point: dict[str, Any]) -> datetime:
    return point["time"]  # type: ignore[no-any-return]


def _json(value: Any) -> str:
    return _dumps(value, option=_OPTS).decode()


def portfolio_data(portfolio_id: int, time: datetime, totals: Mapping[str, Any]) -> str:
    """A `portfolio` event's JSON: the holdings route's totals at `time`."""
    fields = ("market_value", "unrealized_pnl", "day_change")
    return _json({"portfolio_id": portfolio_id, "time": time} | {k: totals[k] for k in fields})


def device_status_event(device_id: str, status: str, last_seen: datetime | None) -> Event:
    return Event(
        "device_status",
        device_id,
        _json({"device_id": device_id, "status": status, "last_seen": last_seen}),
    )


def alert_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `alerts` row (an asyncpg record will do) as the API and the stream show it."""
    return {name: _plain(row[name]) for name in ALERT_FIELDS}


def _plain(value: Any) -> Any:
    # asyncpg's UUID is a subclass orjson does not serialize; the standard one it does.
    return uuid.UUID(int=value.int) if isinstance(value, uuid.UUID) else value


def alert_event(row: Mapping[str, Any]) -> Event:
    fields = alert_json(row)
    return Event("alert", row["subject"], _json(fields), fields["owner_id"])

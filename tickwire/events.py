"""The JSON of each stream event kind, built in one place for every producer.

- `price`: `{"ticker", "time", "price", "volume", "source"}`
- `telemetry`: `{"device_id", "time", "values": {metric: value, …}}` — one event per device
  and timestamp, every metric of that reading together
- `device_status`: `{"device_id", "status", "last_seen"}` — on a change only
- `alert`: the alert as `GET /api/alerts` returns it (`alert_json`)

Times are ISO 8601 UTC with a `Z`, as everywhere in the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from tickwire.contract import PriceRow, TelemetryRow
from tickwire.journal import Event

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC

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


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=_OPTS).decode()


def price_events(rows: Iterable[PriceRow]) -> list[Event]:
    return [
        Event(
            "price",
            ticker,
            dumps(
                {"ticker": ticker, "time": time, "price": price, "volume": volume, "source": source}
            ),
        )
        for time, ticker, price, volume, source in sorted(rows)
    ]


def telemetry_events(rows: Iterable[TelemetryRow]) -> list[Event]:
    readings: dict[tuple[str, datetime], dict[str, float]] = {}
    for time, device_id, metric, value in rows:
        readings.setdefault((device_id, time), {})[metric] = value
    return [
        Event("telemetry", device_id, dumps({"device_id": device_id, "time": time, "values": v}))
        for (device_id, time), v in sorted(readings.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]


def device_status_event(device_id: str, status: str, last_seen: datetime | None) -> Event:
    return Event(
        "device_status",
        device_id,
        dumps({"device_id": device_id, "status": status, "last_seen": last_seen}),
    )


def alert_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An `alerts` row as the API and the stream show it."""
    return {name: row[name] for name in ALERT_FIELDS}


def alert_event(row: Mapping[str, Any]) -> Event:
    subject = row["subject"]
    return Event("alert", subject, dumps(alert_json(row)), row["owner_id"])

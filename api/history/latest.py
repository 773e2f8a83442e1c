"""The newest telemetry of devices, in plain SQL (asyncpg): the fleet's latest values and a
device's latest readings.

Both walk the raw rows' key index `(device_id, metric, time)` instead of scanning a device's
rows: a device's metrics are found by a skip scan (the next metric after the last one, one
index probe each), then each metric's newest rows are read backwards from the end of its
range. The cost grows with the number of metrics and rows returned, not with the history kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import asyncpg

from api.access import DEVICE, visible_sql

#: The metrics of device `d.device_id`, one index probe each (a loose index scan).
_METRICS: Final = """
    WITH RECURSIVE m(metric) AS (
        SELECT (SELECT min(metric) FROM telemetry WHERE device_id = d.device_id)
        UNION ALL
        SELECT (SELECT min(metric) FROM telemetry
                WHERE device_id = d.device_id AND metric > m.metric)
        FROM m WHERE m.metric IS NOT NULL
    )
    SELECT metric FROM m WHERE metric IS NOT NULL"""

_LATEST: Final = f"""
SELECT d.device_id, d.status, d.last_seen, v.metric, v.time, v.value
FROM devices d
LEFT JOIN LATERAL (
    SELECT m.metric, r.time, r.value
    FROM ({_METRICS}) m
    CROSS JOIN LATERAL (
        SELECT time, value FROM telemetry
        WHERE device_id = d.device_id AND metric = m.metric
        ORDER BY time DESC LIMIT 1
    ) r
) v ON true
WHERE ($1::text[] IS NULL OR d.device_id = ANY($1))
  AND ($2::uuid IS NULL OR {visible_sql(DEVICE, "d.device_id", "$2")})
ORDER BY d.device_id, v.metric"""

#: Each metric's newest `$2` rows; the newest `$2` instants among them are the device's newest
#: `$2` instants (a metric's row at one of those has fewer than `$2` newer rows), so every
#: value at each of those instants is there too.
_READINGS: Final = f"""
WITH d(device_id) AS (SELECT $1::text),
newest AS (
    SELECT m.metric, r.time, r.value
    FROM d CROSS JOIN LATERAL ({_METRICS}) m
    CROSS JOIN LATERAL (
        SELECT time, value FROM telemetry
        WHERE device_id = $1 AND metric = m.metric
        ORDER BY time DESC LIMIT $2
    ) r
),
kept AS (SELECT DISTINCT time FROM newest ORDER BY time DESC LIMIT $2)
SELECT n.time, n.metric, n.value FROM newest n JOIN kept USING (time)
ORDER BY n.time DESC, n.metric"""

#: One metric: no skip scan, its newest rows straight from the index.
_ONE_METRIC: Final = """
SELECT time, $3::text AS metric, value FROM telemetry
WHERE device_id = $1 AND metric = $3
ORDER BY time DESC LIMIT $2"""


@dataclass(slots=True)
class Latest:
    """A device's status and the newest reading of each of its metrics."""

    device_id: str
    status: str
    last_seen: datetime | None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    """metric → {"time", "value"}"""


async def latest(
    conn: asyncpg.Connection, device_ids: list[str] | None, owner: Any | None
) -> list[Latest]:
    """Every device among `device_ids` (None: all) that the user `owner` may read (None: an
    admin, `access.owner_filter`), in id order, with the newest value of each metric."""
    found: dict[str, Latest] = {}
    for row in await conn.fetch(_LATEST, device_ids, owner):
        device = found.get(row["device_id"])
        if device is None:
            device = found[row["device_id"]] = Latest(
                row["device_id"], row["status"], row["last_seen"]
            )
        if row["metric"] is not None:
            device.values[row["metric"]] = {"time": row["time"], "value": row["value"]}
    return list(found.values())


async def readings(
    conn: asyncpg.Connection, device_id: str, limit: int, metric: str | None
) -> list[dict[str, Any]]:
    """The device's newest `limit` instants, newest first, each `{"device_id", "ts", <metric>:
    value…}` (only `metric` when given)."""
    if metric is None:
        rows = await conn.fetch(_READINGS, device_id, limit)
    else:
        rows = await conn.fetch(_ONE_METRIC, device_id, limit, metric)
    out: list[dict[str, Any]] = []
    for row in rows:
        if not out or out[-1]["ts"] != row["time"]:
            out.append({"device_id": device_id, "ts": row["time"]})
        out[-1][row["metric"]] = row["value"]
    return out

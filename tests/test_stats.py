"""/api/stats/avg over real HTTP: rollups plus raw edges equal the mean of the raw rows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ingest.writer import Writer
from tests.api_support import Api

DEVICE = "dev-stats"
#: A window end off every bucket boundary, and one exactly on a day boundary.
END = datetime(2024, 5, 6, 12, 34, 56, 789_000, tzinfo=UTC)
MIDNIGHT = datetime(2024, 5, 7, tzinfo=UTC)
WINDOWS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "24h": timedelta(hours=24)}

Row = tuple[datetime, str, str, float]


def readings(first: datetime, last: datetime, seed: int) -> list[Row]:
    """Two metrics at irregular intervals (3–40 s), some rows exactly on minute boundaries."""
    rng = random.Random(seed)
    minute = timedelta(minutes=1)
    rows: list[Row] = []
    for metric in ("humidity", "temperature"):
        at = first
        while at < last:
            rows.append((at, DEVICE, metric, round(rng.uniform(-50, 50), 4)))
            if rng.random() < 0.1:  # the next minute boundary
                at = at.replace(second=0, microsecond=0) + minute
            else:
                at += timedelta(seconds=rng.uniform(3, 40))
    return rows


async def seed(db: asyncpg.Connection, rows: list[Row]) -> None:
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    await db.execute(
        "INSERT INTO devices (device_id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING", DEVICE
    )
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    for part in range(3):
        await writer.backfill([], shuffled[part::3])


def expected(rows: list[Row], start: datetime, end: datetime) -> dict[str, Any]:
    values: dict[str, list[float]] = {}
    for at, _, metric, value in rows:
        if start <= at < end:
            values.setdefault(metric, []).append(value)
    return {
        metric: (math.fsum(got) / len(got), len(got), min(got), max(got))
        for metric, got in values.items()
    }


def assert_stats(body: dict[str, Any], want: dict[str, Any]) -> None:
    assert [m["metric"] for m in body["metrics"]] == sorted(want)
    for entry in body["metrics"]:
        mean, count, low, high = want[entry["metric"]]
        assert (entry["count"], entry["min"], entry["max"]) == (count, low, high), entry
        assert math.isclose(entry["avg"], mean, rel_tol=1e-9, abs_tol=1e-12), entry


async def test_avg_equals_the_raw_mean_for_each_window(api: Api, db: asyncpg.Connection) -> None:
    rows = readings(END - timedelta(hours=26), MIDNIGHT + timedelta(hours=1), seed=9)
    await seed(db, rows)
    sources = {
        (END, "5m"): ["telemetry_1m", "raw"],
        (END, "1h"): ["telemetry_1m", "raw"],
        (END, "24h"): ["telemetry_1h", "telemetry_1m", "raw"],
        (MIDNIGHT, "5m"): ["telemetry_1m"],
        (MIDNIGHT, "1h"): ["telemetry_1h"],
        (MIDNIGHT, "24h"): ["telemetry_1d"],
    }
    async with api.client(api.admin) as client:
        for (end, window), used in sources.items():
            response = await client.get(
                "/api/stats/avg",
                params={"device_id": DEVICE, "window": window, "end": end.isoformat()},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            start = end - WINDOWS[window]
            assert (body["window"], body["sources"]) == (window, used)
            assert [datetime.fromisoformat(body[k]) for k in ("start", "end")] == [start, end]
            assert_stats(body, expected(rows, start, end))


#: Outside `\d+(s|m|h|d)` or outside 1 s … 366 d.
BAD_WINDOWS = (
    "",
    "0s",
    "0000d",
    "367d",
    "31622401s",
    "8785h",
    "527041m",
    "9" * 5000 + "d",
    "1w",
    "1y",
    "100ms",
    "1.5h",
    "-1h",
    "+1h",
    "1 h",
    " 1h",
    "1H",
    "h",
    "1h\n",
    "\u0665m",  # ARABIC-INDIC DIGIT FIVE: a digit to Python, not to the contract
    "1h\x00",
)


async def test_any_window_from_a_second_to_366_days(api: Api, db: asyncpg.Connection) -> None:
    r"""Any `\d+(s|m|h|d)` from 1 s to 366 d: the statistics of exactly [end − window, end),
    whichever rollups it spans (DESIGN.md, "Fleet and latest values")."""
    first = END - timedelta(days=367)
    rows = readings(END - timedelta(hours=50), END, seed=3)
    # Sparse old rows: one a day back to 367 days, and one just inside / outside a second.
    rows += [(first + timedelta(days=d, hours=5), DEVICE, "humidity", float(d)) for d in range(367)]
    rows += [(END - timedelta(milliseconds=500), DEVICE, "flag", 1.0)]
    rows += [(END - timedelta(seconds=1, milliseconds=1), DEVICE, "flag", 0.0)]
    await seed(db, rows)
    windows = {
        "1s": timedelta(seconds=1),
        "90s": timedelta(seconds=90),
        "7m": timedelta(minutes=7),
        "0005m": timedelta(minutes=5),
        "36h": timedelta(hours=36),
        "3d": timedelta(days=3),
        "30d": timedelta(days=30),
        "366d": timedelta(days=366),
        "8784h": timedelta(days=366),
        "31622400s": timedelta(days=366),
    }
    async with api.client(api.admin) as client:
        for window, span in windows.items():
            params = {"device_id": DEVICE, "window": window, "end": END.isoformat()}
            response = await client.get("/api/stats/avg", params=params)
            assert response.status_code == 200, (window, response.text)
            body = response.json()
            assert body["window"] == window
            start = datetime.fromisoformat(body["start"])
            assert start == END - span
            assert_stats(body, expected(rows, start, END))
        one_second = {"device_id": DEVICE, "window": "1s", "end": END.isoformat()}
        body = (await client.get("/api/stats/avg", params=one_second)).json()
        assert [(m["metric"], m["count"], m["avg"]) for m in body["metrics"]] == [("flag", 1, 1.0)]


async def test_default_end_is_now(api: Api, db: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    recent = [(now - timedelta(seconds=s), DEVICE, "temperature", float(s)) for s in (1, 30, 200)]
    old = [(now - timedelta(minutes=6), DEVICE, "temperature", 1e6)]
    await seed(db, recent + old)
    async with api.client(api.admin) as client:
        body = (
            await client.get("/api/stats/avg", params={"device_id": DEVICE, "window": "5m"})
        ).json()
    (entry,) = body["metrics"]
    assert (entry["count"], entry["min"], entry["max"]) == (3, 1.0, 200.0)
    assert math.isclose(entry["avg"], 231 / 3)
    end = datetime.fromisoformat(body["end"])
    assert now <= end <= datetime.now(UTC)


async def test_access_and_bad_parameters(api: Api, db: asyncpg.Connection) -> None:
    await seed(db, [(END - timedelta(minutes=1), DEVICE, "temperature", 1.0)])
    alice, bob = await api.register("alice"), await api.register("bob")
    await db.execute(
        "UPDATE devices SET owner_id = $1::uuid WHERE device_id = $2", alice.id, DEVICE
    )
    ok = {"device_id": DEVICE, "window": "1h", "end": END.isoformat()}
    for account, status in ((alice, 200), (api.admin, 200), (bob, 404)):
        async with api.client(account) as client:
            response = await client.get("/api/stats/avg", params=ok)
        assert response.status_code == status, response.text
        if status == 200:
            assert response.json()["metrics"][0]["count"] == 1
        else:
            assert response.json()["error"]["code"] == "device_not_found"
    cases = [
        *(({**ok, "window": w}, 422, "invalid_window") for w in BAD_WINDOWS),
        ({"window": "1h"}, 422, "validation_error"),
        ({**ok, "end": "not a time"}, 422, "invalid_time"),
        ({**ok, "device_id": "nope"}, 404, "device_not_found"),
        ({**ok, "device_id": "no\x00such"}, 404, "device_not_found"),
    ]
    async with api.client(alice) as client:
        for params, status, code in cases:
            response = await client.get("/api/stats/avg", params=params)
            assert response.status_code == status, (params, response.text)
            assert response.json()["error"]["code"] == code, (params, response.text)
    async with api.client() as anonymous:
        assert (await anonymous.get("/api/stats/avg", params=ok)).status_code == 401

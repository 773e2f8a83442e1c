"""GET /api/telemetry/history: many devices' history in one call, each item exactly what
GET /api/devices/{id}/telemetry answers; all or nothing (404) when one device is not readable.
Real HTTP, a real database, rows written as the ingester writes them (`Writer.backfill`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from dash.backends._fastapi import reset_current_request, set_current_request
from starlette.requests import Request

from dashboard import client
from dashboard.boards import data
from ingest.writer import Writer
from tests.api_support import Account, Api, expect

T0 = datetime(2024, 3, 4, tzinfo=UTC)
BATCH = "/api/telemetry/history"
Row = tuple[datetime, str, str, float]


def rows_of(device_id: str, seed: int, every_s: float) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for metric in ("temperature", "humidity"):
        at = T0 - timedelta(hours=6)
        while at < T0 + timedelta(hours=6):
            rows.append((at, device_id, metric, round(rng.gauss(20, 5), 3)))
            at += timedelta(seconds=rng.uniform(every_s / 2, every_s * 1.5))
    return rows


async def fleet(api: Api, db: asyncpg.Connection, alice: Account, bob: Account) -> None:
    """alice: a1 (dense), a2 (sparse), a3 (no telemetry); bob: b1."""
    rows = rows_of("a1", 1, 5) + rows_of("a2", 2, 120) + rows_of("b1", 3, 30)
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    owners = {"a1": alice, "a2": alice, "a3": alice, "b1": bob}
    for device_id, owner in owners.items():
        await db.execute(
            "INSERT INTO devices (device_id, name, owner_id) VALUES ($1, $1, $2::uuid)",
            device_id,
            owner.id,
        )
    random.Random(4).shuffle(rows)
    for part in range(3):
        await writer.backfill([], rows[part::3])


def span(hours: float, **extra: object) -> dict[str, Any]:
    end = T0 + timedelta(hours=hours / 2)
    start = T0 - timedelta(hours=hours / 2)
    return {"start": start.isoformat(), "end": end.isoformat(), **extra}


async def one_by_one(client: httpx.AsyncClient, devices: list[str], params: Any) -> list[Any]:
    return [
        expect(await client.get(f"/api/devices/{d}/telemetry", params=params), 200) for d in devices
    ]


async def test_each_item_is_the_single_device_answer(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await fleet(api, db, alice, bob)
    asks = [
        span(0.5, points=200),  # raw rows, MinMaxLTTB on a1 past 200 rows
        span(0.5, points=1000),  # every raw row
        span(10, points=100),  # buckets from the rollups
        span(10, interval="15m"),
        span(10, points=60, metric="humidity"),
        span(3, metric="temperature"),
        span(10, points=100, source="raw"),
    ]
    async with api.client(alice) as client:
        methods = set()
        for params in asks:
            got = expect(
                await client.get(BATCH, params={**params, "device_id": ["a3", "a1", "a2"]}), 200
            )
            want = await one_by_one(client, ["a1", "a2", "a3"], params)
            assert got == {"items": want}, params
            methods |= {s["method"] for item in want for s in item["series"]}
        assert methods == {"raw", "minmaxlttb", "bucket"}  # every kind of answer was compared
        assert want[2]["series"] == []  # a3: a device without telemetry is an item too
        # A repeated id is answered once.
        twice = {**asks[2], "device_id": ["a2", "a1", "a2", "a1"]}
        got = expect(await client.get(BATCH, params=twice), 200)
        assert [i["device_id"] for i in got["items"]] == ["a1", "a2"]
        # The cap counts the ids given: 100 is fine (even the same one), 101 is not.
        hundred = {**asks[2], "device_id": ["a1"] * 100}
        assert len(expect(await client.get(BATCH, params=hundred), 200)["items"]) == 1
    async with api.client(api.admin) as client:
        every = expect(await client.get(BATCH, params={**asks[2], "device_id": ["b1", "a1"]}), 200)
        assert every == {"items": await one_by_one(client, ["a1", "b1"], asks[2])}


async def test_one_unreadable_device_refuses_all(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await fleet(api, db, alice, bob)
    day = span(10, points=100)
    cases: list[tuple[Any, int, str]] = [
        (["a1", "b1"], 404, "device_not_found"),  # bob's: as if it did not exist
        (["a1", "nope"], 404, "device_not_found"),
        (["b1"], 404, "device_not_found"),
        ([""], 404, "device_not_found"),
        (["a1", ""], 404, "device_not_found"),
        (["a1\x00"], 404, "device_not_found"),
        (["x" * 5000], 404, "device_not_found"),
        ([f"d{k}" for k in range(100)], 404, "device_not_found"),
        ([f"d{k}" for k in range(101)], 422, "too_many_subjects"),
        (["a1"] * 101, 422, "too_many_subjects"),
    ]
    async with api.client(alice) as client:
        for ids, status, code in cases:
            body = expect(await client.get(BATCH, params={**day, "device_id": ids}), status, code)
            assert set(body) == {"error"}, (ids, body)  # nothing of the readable ones
        # The same answer whether bob's device exists or not: nothing tells them apart.
        hidden = await client.get(BATCH, params={**day, "device_id": ["a1", "b1"]})
        absent = await client.get(BATCH, params={**day, "device_id": ["a1", "b2"]})
        assert hidden.json()["error"]["code"] == absent.json()["error"]["code"]
        bad: list[tuple[dict[str, Any], str]] = [
            (day, "validation_error"),  # no device at all
            ({**day, "device_id": "a1", "interval": "1m"}, "points_and_interval"),
            ({**day, "device_id": "a1", "points": 1}, "validation_error"),
            ({**day, "device_id": "a1", "points": 10_001}, "validation_error"),
            ({**day, "device_id": "a1", "metric": "temp\x00"}, "validation_error"),
            ({**day, "device_id": "a1", "metric": ""}, "validation_error"),
            ({**span(10), "device_id": "a1", "interval": "1s"}, "too_many_points"),
            ({**day, "device_id": "a1", "deviceId": "a2"}, "unknown_parameter"),
            ({"device_id": "a1", "start": "yesterday"}, "invalid_time"),
        ]
        for params, code in bad:
            expect(await client.get(BATCH, params=params), 422, code)
    async with api.client() as anonymous:
        assert (await anonymous.get(BATCH, params={**day, "device_id": "a1"})).status_code == 401


async def test_a_panel_of_many_devices_names_the_one_refused(
    api: Api, db: asyncpg.Connection
) -> None:
    """The dashboard's side (`boards.data.many`), as alice's render: a1 and a2 in one call; bob's
    b1 among them makes that call 404, so each is asked alone and b1 is the error series."""
    alice, bob = await api.register("alice"), await api.register("bob")
    await fleet(api, db, alice, bob)
    client.configure(api.url)
    scope = {
        "type": "http",
        "headers": [(b"cookie", f"{client.COOKIE_NAME}={alice.token}".encode())],
    }
    token = set_current_request(Request(scope))  # type: ignore[no-untyped-call]  # Dash untyped
    try:
        window = span(10)
        targets = [{"device_id": d, "metric": "temperature"} for d in ("a1", "a2")]
        both = await data.many(targets, window["start"], window["end"], 100, UTC)
        assert [s["name"] for s in both] == ["a1 temperature", "a2 temperature"]
        assert all(s["y"] and not s.get("error") for s in both)
        hostile = [*targets, {"device_id": "b1", "metric": "temperature"}]
        mixed = await data.many(hostile, window["start"], window["end"], 100, UTC)
        assert [s["name"] for s in mixed] == ["a1 temperature", "a2 temperature", "b1"]
        assert [s["y"] for s in mixed[:2]] == [s["y"] for s in both]
        assert "b1" in mixed[2]["error"] and not mixed[2]["y"]
    finally:
        reset_current_request(token)  # type: ignore[no-untyped-call]

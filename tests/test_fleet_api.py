"""GET /api/devices/latest and GET /api/telemetry (DESIGN.md, "Fleet and latest values") over
real HTTP, a real database and, end to end, the real ingester on Mosquitto."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from devstack.broker import Mosquitto
from tests.api_support import Account, Api, expect
from tests.ingest_support import RunningIngester
from tests.support import publish, wait_until

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Row = tuple[datetime, str, str, float]


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def own(api: Api, account: Account, *device_ids: str) -> None:
    async with api.client(account) as client:
        for device_id in device_ids:
            expect(await client.post("/api/devices", json={"device_id": device_id}), 201)


async def insert(db: asyncpg.Connection, rows: list[Row]) -> None:
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)", rows
    )


def readings(rows: list[Row], device_id: str, limit: int, metric: str | None) -> list[Any]:
    """The oracle: the device's newest `limit` instants, newest first, as the API shows them."""
    by_time: dict[datetime, dict[str, Any]] = {}
    for at, device, name, value in rows:
        if device == device_id and (metric is None or name == metric):
            by_time.setdefault(at, {"device_id": device_id, "ts": iso(at)})[name] = value
    return [by_time[at] for at in sorted(by_time, reverse=True)[:limit]]


async def test_readings_are_the_newest_instants_with_every_metric(
    api: Api, db: asyncpg.Connection
) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await own(api, alice, "a1", "quiet")
    await own(api, bob, "b1")
    rng = random.Random(14)
    rows: list[Row] = []
    for metric, every in (("temperature", 1), ("humidity", 3), ("door", 7), ("rare", 200)):
        for k in range(0, 400, every):
            at = T0 + timedelta(seconds=k, milliseconds=rng.choice((0, 0, 250)))
            rows.append((at, "a1", metric, round(rng.uniform(-5, 5), 3)))
    rows += [(T0 + timedelta(hours=1), "b1", "temperature", 99.0)]
    await insert(db, rows)
    async with api.client(alice) as client:
        asked: list[tuple[int, str | None]] = [(1, None), (3, None), (100, None), (10_000, None)]
        for limit, only in [*asked, (5, "rare"), (2, "door")]:
            params: dict[str, Any] = {"device_id": "a1", "limit": limit}
            if only:
                params["metric"] = only
            got = expect(await client.get("/api/telemetry", params=params), 200)
            assert got == readings(rows, "a1", limit, only), (limit, only)
        default = expect(await client.get("/api/telemetry", params={"device_id": "a1"}), 200)
        assert default == readings(rows, "a1", 100, None)
        assert len(default) == 100 and default[0]["ts"] > default[-1]["ts"]
        quiet = {"device_id": "quiet"}
        assert expect(await client.get("/api/telemetry", params=quiet), 200) == []
        nothing = {"device_id": "a1", "metric": "absent"}
        assert expect(await client.get("/api/telemetry", params=nothing), 200) == []
        await _bad_reading_queries(client)


async def _bad_reading_queries(client: httpx.AsyncClient) -> None:
    """Each hostile value of each parameter: a 4xx with its code, never a 500."""
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"device_id": "b1"}, 404, "device_not_found"),
        ({"device_id": "nope"}, 404, "device_not_found"),
        ({"device_id": "a1\x00"}, 404, "device_not_found"),
        ({"device_id": "x" * 5000}, 404, "device_not_found"),
        ({"device_id": ""}, 404, "device_not_found"),
        ({}, 422, "validation_error"),
        ({"device_id": "a1", "limit": 0}, 422, "validation_error"),
        ({"device_id": "a1", "limit": -1}, 422, "validation_error"),
        ({"device_id": "a1", "limit": 10_001}, 422, "validation_error"),
        ({"device_id": "a1", "limit": "9" * 400}, 422, "validation_error"),
        ({"device_id": "a1", "limit": "ten"}, 422, "validation_error"),
        ({"device_id": "a1", "limit": "1.5"}, 422, "validation_error"),
        ({"device_id": "a1", "metric": "bad name"}, 422, "validation_error"),
        ({"device_id": "a1", "metric": "m\x00"}, 422, "validation_error"),
        ({"device_id": "a1", "metric": "m" * 65}, 422, "validation_error"),
        ({"device_id": "a1", "metric": ""}, 422, "validation_error"),
    ]
    for params, status, code in cases:
        expect(await client.get("/api/telemetry", params=params), status, code)


async def test_latest_holds_every_metrics_newest_value_of_each_device(
    api: Api, db: asyncpg.Connection
) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await own(api, alice, "a1", "a2", "latest-ish")
    await own(api, bob, "b1")
    rows: list[Row] = [
        (T0, "a1", "temperature", 20.0),
        (T0 + timedelta(seconds=5), "a1", "temperature", 21.5),
        (T0 - timedelta(days=40), "a1", "humidity", 40.0),  # old, still its newest
        (T0 + timedelta(seconds=1), "a1", "door", 1.0),
        (T0 + timedelta(seconds=2), "a1", "door", 0.0),
        (T0, "b1", "temperature", 30.0),
    ]
    await insert(db, rows)
    await db.execute(
        "UPDATE devices SET status = 'ONLINE', last_seen = $1 WHERE device_id = 'a1'",
        T0 + timedelta(seconds=5),
    )
    a1 = {
        "device_id": "a1",
        "status": "ONLINE",
        "last_seen": iso(T0 + timedelta(seconds=5)),
        "values": {
            "door": {"time": iso(T0 + timedelta(seconds=2)), "value": 0.0},
            "humidity": {"time": iso(T0 - timedelta(days=40)), "value": 40.0},
            "temperature": {"time": iso(T0 + timedelta(seconds=5)), "value": 21.5},
        },
    }
    a2: dict[str, Any] = {"device_id": "a2", "status": "UNKNOWN", "last_seen": None, "values": {}}
    async with api.client(alice) as client:
        everything = expect(await client.get("/api/devices/latest"), 200)
        assert [d["device_id"] for d in everything["items"]] == ["a1", "a2", "latest-ish"]
        assert everything["items"][:2] == [a1, a2]
        some = {"device_id": ["a2", "a1", "a2"]}
        assert expect(await client.get("/api/devices/latest", params=some), 200) == {
            "items": [a1, a2]
        }
        # /devices/latest is this route, /devices/{id} still the device.
        one = expect(await client.get("/api/devices/latest-ish"), 200)
        assert one["device_id"] == "latest-ish"
        await _bad_latest_queries(client)
    async with api.client(bob) as client:
        mine = expect(await client.get("/api/devices/latest"), 200)["items"]
        assert [(d["device_id"], d["values"]["temperature"]["value"]) for d in mine] == [
            ("b1", 30.0)
        ]
    async with api.client(api.admin) as client:
        every = expect(await client.get("/api/devices/latest"), 200)["items"]
        assert [d["device_id"] for d in every] == ["a1", "a2", "b1", "latest-ish"]
    async with api.client() as anonymous:
        assert (await anonymous.get("/api/devices/latest")).status_code == 401
        assert (
            await anonymous.get("/api/telemetry", params={"device_id": "a1"})
        ).status_code == 401


async def _bad_latest_queries(client: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"device_id": "b1"}, 404, "device_not_found"),
        ({"device_id": ["a1", "b1"]}, 404, "device_not_found"),
        ({"device_id": ["a1", "nope"]}, 404, "device_not_found"),
        ({"device_id": "a1\x00"}, 404, "device_not_found"),
        ({"device_id": ""}, 404, "device_not_found"),
        ({"device_id": "x" * 5000}, 404, "device_not_found"),
        ({"device_id": [f"d{i}" for i in range(1001)]}, 422, "too_many_subjects"),
    ]
    for params, status, code in cases:
        expect(await client.get("/api/devices/latest", params=params), status, code)


async def test_a_device_publishes_booleans_and_the_fleet_reads_them(
    api: Api, ingester: RunningIngester, broker: Mosquitto
) -> None:
    """End to end: telemetry with booleans through Mosquitto and the ingester; `true` is 1.0
    and `false` 0.0 in both routes, next to the numbers of the same reading."""
    alice = await api.register("alice")
    await own(api, alice, "door-1")
    ms = int(T0.timestamp() * 1000)
    publish(
        broker.url,
        [
            ("devices/door-1/telemetry", {"ts": ms, "open": True, "temperature": 20.5}),
            ("devices/door-1/telemetry", {"ts": ms + 1000, "open": False, "locked": True}),
        ],
    )
    async with api.client(alice) as client:

        async def stored() -> bool:
            response = await client.get("/api/telemetry", params={"device_id": "door-1"})
            return len(response.json()) == 2

        await wait_until("both readings stored", stored)
        got = expect(await client.get("/api/telemetry", params={"device_id": "door-1"}), 200)
        assert got == [
            {
                "device_id": "door-1",
                "ts": iso(T0 + timedelta(seconds=1)),
                "locked": 1.0,
                "open": 0.0,
            },
            {"device_id": "door-1", "ts": iso(T0), "open": 1.0, "temperature": 20.5},
        ]
        latest = expect(await client.get("/api/devices/latest"), 200)["items"]
        assert {k: v["value"] for k, v in latest[0]["values"].items()} == {
            "locked": 1.0,
            "open": 0.0,
            "temperature": 20.5,
        }
        assert latest[0]["status"] == "ONLINE"

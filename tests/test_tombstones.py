"""A deleted device id is retired (`device_tombstones`): its history never goes to whoever
creates the id next. Only its last owner or an admin may re-create it, and gets the history
back; the ingester (and the simulator's registry) never register it. Real HTTP, a real
database, the real ingester."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from devstack.broker import Mosquitto
from simulator.fleet import build_fleet
from simulator.registry import register
from simulator.settings import SimulatorSettings
from sql.migrate import upgrade
from tests.alerts_support import add_device
from tests.api_support import Account, Api, expect
from tests.ingest_support import RunningIngester
from tests.support import backfill_telemetry, fresh_database, publish, wait_until

DEVICE = "reused-1"
READINGS = 5


async def seen_by(api: Api, account: Account) -> dict[str, Any]:
    """What `account` reads of DEVICE through history, export, stats, alerts and the stream:
    readings per route, or the error code."""
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    seen: dict[str, Any] = {}
    async with api.client(account) as client:
        history = await client.get(
            f"/api/devices/{DEVICE}/telemetry", params={"metric": "temperature", "start": start}
        )
        seen["history"] = _count(history, lambda b: len(b["series"][0]["points"]))
        export = await client.get(
            "/api/export/telemetry", params={"device_id": DEVICE, "format": "ndjson"}
        )
        seen["export"] = _count(export, None)
        everything = await client.get("/api/export/telemetry", params={"format": "ndjson"})
        seen["export_all"] = len([line for line in everything.text.splitlines() if DEVICE in line])
        stats = await client.get("/api/stats/avg", params={"device_id": DEVICE, "window": "24h"})
        seen["stats"] = _count(stats, lambda b: sum(m["count"] for m in b["metrics"]))
        listed = await client.get("/api/alerts", params={"device_id": DEVICE})
        seen["alerts"] = _count(listed, lambda b: b["total"])
        async with client.stream("GET", "/api/stream", params={"devices": DEVICE}) as live:
            seen["stream"] = live.status_code
    return seen


def _count(response: httpx.Response, count: Any) -> Any:
    if response.status_code != 200:
        return response.json()["error"]["code"]
    if count is None:
        return len(response.text.splitlines())
    return count(response.json())


async def create(api: Api, account: Account, status: int = 201, **body: Any) -> Any:
    """POST DEVICE as `account`; the answer, which must have `status`."""
    code = "device_id_retired" if status == 409 else None
    async with api.client(account) as client:
        return expect(
            await client.post("/api/devices", json={"device_id": DEVICE, **body}), status, code
        )


async def delete(api: Api, account: Account) -> None:
    async with api.client(account) as client:
        expect(await client.delete(f"/api/devices/{DEVICE}"), 204)


async def test_a_retired_id_keeps_its_history_from_anyone_else(
    api: Api, db: asyncpg.Connection
) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await create(api, alice)
    await backfill_telemetry(db, DEVICE, READINGS)
    await db.execute(
        "INSERT INTO alerts (kind, subject, device_id, severity, message)"
        " VALUES ('OFFLINE', $1, $1, 'warning', 'no message for 10 s')",
        DEVICE,
    )
    mine = {
        "history": READINGS,
        "export": READINGS,
        "export_all": READINGS,
        "stats": READINGS,
        "alerts": 1,
        "stream": 200,
    }
    assert await seen_by(api, alice) == mine
    await delete(api, alice)
    tombstone = await db.fetchrow("SELECT * FROM device_tombstones WHERE device_id = $1", DEVICE)
    assert str(tombstone["owner_id"]) == alice.id

    error = await create(api, bob, 409, name="mine now")
    assert DEVICE in error["error"]["message"]
    hidden = {
        "history": "device_not_found",
        "export": "device_not_found",
        "export_all": 0,
        "stats": "device_not_found",
        "alerts": 0,
        "stream": 404,
    }
    assert await seen_by(api, bob) == hidden

    # Its last owner takes it back, with its history; the id is no longer retired.
    assert (await create(api, alice))["owner_id"] == alice.id
    assert await seen_by(api, alice) == mine
    assert await seen_by(api, bob) == hidden
    assert await db.fetchval("SELECT count(*) FROM device_tombstones") == 0

    # An admin may re-create a retired id too (and give it to whom they choose).
    await delete(api, alice)
    assert (await create(api, api.admin, owner_id=alice.id))["owner_id"] == alice.id
    assert await seen_by(api, alice) == mine


async def test_an_id_whose_owner_was_deleted_is_the_admins_to_give(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await create(api, alice)
    await delete(api, alice)
    async with api.client(api.admin) as client:
        expect(await client.delete(f"/users/{alice.id}"), 204)
    await create(api, bob, 409)
    await create(api, api.admin)


async def test_the_ingester_never_registers_a_retired_id(
    api: Api, db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    alice = await api.register("alice")
    await create(api, alice)
    await delete(api, alice)
    await add_device(db, "alive")
    publish(
        broker.url,
        [
            (f"devices/{DEVICE}/telemetry", {"temperature": 20.0}),
            (f"devices/{DEVICE}/heartbeat", {"uptime_s": 1}),
            (f"devices/{DEVICE}/stocks/T", {"price": 1.0}),
            ("stocks/T", {"price": 2.0, "device_id": DEVICE}),
            ("devices/alive/telemetry", {"temperature": 21.0}),
        ],
    )

    async def handled() -> bool:
        return bool(await db.fetchval("SELECT coalesce(sum(received), 0) FROM ingest_status") >= 5)

    await wait_until("5 messages received by the ingester", handled)
    reasons = await db.fetch("SELECT topic, reason FROM dead_letters ORDER BY id")
    assert [(r["topic"], r["reason"]) for r in reasons] == [
        (f"devices/{DEVICE}/telemetry", "device_deleted"),
        (f"devices/{DEVICE}/heartbeat", "device_deleted"),
        (f"devices/{DEVICE}/stocks/T", "device_deleted"),
        ("stocks/T", "source_not_allowed"),
    ]
    assert await db.fetchval("SELECT count(*) FROM devices WHERE device_id = $1", DEVICE) == 0
    assert await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = $1", DEVICE) == 0
    assert await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = 'alive'") == 1


async def test_the_migration_retires_ids_deleted_before_tombstones(server_url: str) -> None:
    """Devices deleted before revision 0003 left telemetry under ids anyone could register:
    the revision retires them (owner unknown: an admin's to give)."""
    with fresh_database(server_url, "0002") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("INSERT INTO devices (device_id, name) VALUES ('kept', 'kept')")
            backend = await conn.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
            at = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            for device_id in ("kept", "orphan"):
                await conn.execute(
                    "INSERT INTO telemetry VALUES ($1, $2, 'temperature', 20.0)", at, device_id
                )
                if backend == "postgres":  # rollups are tables there, kept by the ingester
                    await conn.execute(
                        "INSERT INTO telemetry_1d (bucket, device_id, metric, min, max, count,"
                        " sum, last, last_time) VALUES ($1, $2, 'temperature', 20, 20, 1, 20,"
                        " 20, $1)",
                        at,
                        device_id,
                    )
            await asyncio.to_thread(upgrade, url)
            retired = await conn.fetch("SELECT device_id, owner_id FROM device_tombstones")
            assert [tuple(r) for r in retired] == [("orphan", None)]
        finally:
            await conn.close()


async def test_the_simulators_registry_leaves_a_retired_id_deleted(
    db: asyncpg.Connection, database_url: str
) -> None:
    fleet = build_fleet(SimulatorSettings(sim_devices=1, sim_tickers=2, sim_prefix="r"), 1, 0)
    await db.execute("INSERT INTO device_tombstones (device_id) VALUES ('r-feed-1')")
    assert await register(database_url, fleet, 10.0)
    assert [r[0] for r in await db.fetch("SELECT device_id FROM devices")] == ["r-sensor-1"]
    assert await db.fetchval("SELECT count(*) FROM device_tickers") == 0

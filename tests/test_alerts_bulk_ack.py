"""POST /api/alerts/ack: many alerts at once, by ids or a filter, only those the caller may
see and only ACTIVE ones; every hostile body is a 422 and changes nothing."""

from __future__ import annotations

import asyncpg

from tests.alerts_support import streamed_states
from tests.api_support import Api, expect
from tests.test_alerts_api import setup


async def states(db: asyncpg.Connection) -> dict[int, str]:
    rows = await db.fetch("SELECT id, state FROM alerts")
    return {row["id"]: row["state"] for row in rows}


async def test_by_ids_only_what_the_caller_may_see(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    a = await setup(api, db, alice, bob)
    before = await states(db)
    async with api.client(bob) as client:  # alice's device alert and level: not bob's
        body = {"ids": [a["alice_device"], a["alice_level"], 999_999]}
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 0}
    assert await states(db) == before
    async with api.client(alice) as client:
        body = {"ids": [a["alice_device"], a["bob_level"], a["alice_cleared"], a["shared"]]}
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 2}
        again = expect(await client.post("/api/alerts/ack", json=body), 200)
        assert again == {"acked": 0}  # ACKED already: left as it is, not counted
    after = await states(db)
    changed = {i for i in after if after[i] != before[i]}
    assert changed == {a["alice_device"], a["shared"]}
    assert after[a["alice_device"]] == "ACKED" and after[a["bob_level"]] == "ACTIVE"
    row = await db.fetchrow("SELECT acked_by FROM alerts WHERE id = $1", a["shared"])
    assert str(row["acked_by"]) == alice.id
    assert await streamed_states(db, a["alice_device"]) == ["ACKED"]  # stored and streamed
    history = await db.fetch("SELECT state FROM alert_events WHERE alert_id = $1", a["shared"])
    assert [h["state"] for h in history] == ["ACKED"]


async def test_by_filter(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    a = await setup(api, db, alice, bob)
    async with api.client(bob) as client:
        body = {"device_id": "a-dev"}  # a device bob cannot read: matches nothing
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 0}
        body = {"kind": "PRICE_ABOVE", "ticker": "AAPL"}  # only bob's own level
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 1}
    after = await states(db)
    assert after[a["bob_level"]] == "ACKED" and after[a["alice_level"]] == "ACTIVE"
    async with api.client(alice) as client:
        body = {"state": "open", "ticker": "AAPL"}
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 2}
        body = {"state": "CLEARED"}  # a CLEARED alert is never acknowledged
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 0}
    after = await states(db)
    assert after[a["alice_level"]] == after[a["shared"]] == "ACKED"
    assert after[a["any_stock"]] == after[a["alice_device"]] == "ACTIVE"
    assert after[a["alice_cleared"]] == "CLEARED"


async def test_hostile_bodies(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await setup(api, db, alice, bob)
    before = await states(db)
    hostile: list[object] = [
        {},  # never "everything"
        {"ids": None, "kind": None},
        {"ids": []},
        {"ids": [0]},
        {"ids": [-1]},
        {"ids": [2**63]},
        {"ids": ["1"]},
        {"ids": [1.5]},
        {"ids": list(range(1, 10_002))},
        {"ids": 1},
        {"state": "everything"},
        {"kind": "NOPE"},
        {"device_id": "x" * 1000},
        {"device_id": "a\x00b"},
        {"ticker": "'; DROP TABLE alerts; --"},
        {"extra": 1, "kind": "OFFLINE"},
        [1, 2],
        "ids",
    ]
    async with api.client(alice) as client:
        for body in hostile:
            expect(await client.post("/api/alerts/ack", json=body), 422)
        response = await client.post("/api/alerts/ack", content=b"{not json")
        assert response.status_code == 422
    assert await states(db) == before


async def test_a_thousand_in_one_call(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    for owner, prefix in ((alice, "fa"), (bob, "fb")):
        await db.execute(
            """INSERT INTO devices (device_id, name, owner_id)
               SELECT $2 || n, $2 || n, $1::uuid FROM generate_series(1, 1000) n""",
            owner.id,
            prefix,
        )
    await db.execute(
        """INSERT INTO alerts (kind, subject, device_id, message)
           SELECT 'OFFLINE', device_id, device_id, 'test' FROM devices"""
    )
    async with api.client(alice) as client:
        body = {"kind": "OFFLINE", "state": "ACTIVE"}
        assert expect(await client.post("/api/alerts/ack", json=body), 200) == {"acked": 1000}
    rows = await db.fetch("SELECT device_id, state FROM alerts")
    acked = {r["device_id"] for r in rows if r["state"] == "ACKED"}
    assert acked == {f"fa{n}" for n in range(1, 1001)}  # bob's 1 000 untouched
    events = await db.fetchval("SELECT count(*) FROM stream_events WHERE kind = 'alert'")
    assert events == 1000

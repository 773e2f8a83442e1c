"""/api/alerts over real HTTP: visibility, filters, pages, acknowledging, and the engine's
alerts end to end (raised → acked through the API → cleared by the engine)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from devstack.broker import Mosquitto
from tests.alerts_support import history, reading, streamed_states, wait_alert
from tests.api_support import Account, Api, expect
from tests.ingest_support import RunningIngester
from tests.support import publish

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def insert_alert(
    db: asyncpg.Connection,
    kind: str,
    subject: str,
    *,
    device: bool,
    owner: str | None = None,
    state: str = "ACTIVE",
    minutes: int = 0,
) -> int:
    alert_id: int = await db.fetchval(
        """INSERT INTO alerts (kind, subject, device_id, ticker, owner_id, state, raised_at,
               message, cleared_at)
           VALUES ($1, $2, $3, $4, $5::uuid, $6, $7, 'test',
                   CASE WHEN $6 = 'CLEARED' THEN $7::timestamptz END) RETURNING id""",
        kind,
        subject,
        subject if device else None,
        None if device else subject,
        owner,
        state,
        T0 + timedelta(minutes=minutes),
    )
    return alert_id


async def setup(api: Api, db: asyncpg.Connection, alice: Account, bob: Account) -> dict[str, int]:
    """Alice owns device a-dev; stocks AAPL and ALC are market data, read by all. Alerts named
    by who sees them."""
    async with api.client(api.admin) as admin:
        expect(await admin.post("/api/stocks", json={"ticker": "AAPL"}), 201)
        expect(await admin.post("/api/stocks", json={"ticker": "ALC"}), 201)
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)
    return {
        "alice_device": await insert_alert(db, "HIGH_TEMP", "a-dev", device=True, minutes=1),
        "alice_level": await insert_alert(
            db, "PRICE_ABOVE", "AAPL", device=False, owner=alice.id, minutes=2
        ),
        "shared": await insert_alert(db, "PRICE_MOVE", "AAPL", device=False, minutes=3),
        "bob_level": await insert_alert(
            db, "PRICE_ABOVE", "AAPL", device=False, owner=bob.id, minutes=4
        ),
        "any_stock": await insert_alert(db, "PRICE_MOVE", "ALC", device=False, minutes=5),
        "alice_cleared": await insert_alert(
            db, "OFFLINE", "a-dev", device=True, state="CLEARED", minutes=6
        ),
    }


async def ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    page = expect(await client.get("/api/alerts", params=params), 200)
    assert page["total"] >= len(page["items"])
    return [item["id"] for item in page["items"]]


async def test_visibility_filters_and_pages(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    a = await setup(api, db, alice, bob)
    newest_first = sorted(a.values(), reverse=True)  # raised_at grows with the id here
    async with api.client(api.admin) as client:
        assert await ids(client) == newest_first
    async with api.client(alice) as client:
        seen = [a[k] for k in ("alice_cleared", "any_stock", "shared", "alice_level")]
        assert await ids(client) == [*seen, a["alice_device"]]
        assert await ids(client, state="open") == [*seen[1:], a["alice_device"]]
        assert await ids(client, state="CLEARED") == [a["alice_cleared"]]
        assert await ids(client, kind="PRICE_ABOVE") == [a["alice_level"]]
        assert await ids(client, device_id="a-dev") == [a["alice_cleared"], a["alice_device"]]
        assert await ids(client, ticker="AAPL") == [a["shared"], a["alice_level"]]
        window = {"since": (T0 + timedelta(minutes=2)).isoformat(), "until": "2026-03-01T12:05:00"}
        assert await ids(client, **window) == [a["shared"], a["alice_level"]]
        page = expect(await client.get("/api/alerts", params={"limit": 2, "offset": 1}), 200)
        assert [i["id"] for i in page["items"]] == seen[1:3] and page["total"] == 5
        one = expect(await client.get(f"/api/alerts/{a['alice_device']}"), 200)
        assert one["device_id"] == "a-dev" and one["state"] == "ACTIVE" and one["owner_id"] is None
        expect(await client.get(f"/api/alerts/{a['bob_level']}"), 404, "alert_not_found")
        expect(await client.get("/api/alerts", params={"state": "nope"}), 422)
        expect(await client.get("/api/alerts", params={"since": "yesterday"}), 422, "invalid_time")
    async with api.client(bob) as client:
        assert await ids(client) == [a["any_stock"], a["bob_level"], a["shared"]]
        expect(await client.get(f"/api/alerts/{a['alice_device']}"), 404, "alert_not_found")
        assert await ids(client, device_id="a-dev") == []


async def test_ack(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    a = await setup(api, db, alice, bob)
    alert_id = a["alice_device"]
    async with api.client(bob) as client:
        expect(await client.post(f"/api/alerts/{alert_id}/ack"), 404, "alert_not_found")
    async with api.client(alice) as client:
        acked = expect(await client.post(f"/api/alerts/{alert_id}/ack"), 200)
        assert acked["state"] == "ACKED" and acked["acked_by"] == alice.id
        assert acked["acked_at"] is not None and acked["cleared_at"] is None
        again = expect(await client.post(f"/api/alerts/{alert_id}/ack"), 200)  # idempotent
        assert again == acked
        assert expect(await client.get(f"/api/alerts/{alert_id}"), 200) == acked
        events = expect(await client.get(f"/api/alerts/{alert_id}/events"), 200)
        assert [e["state"] for e in events] == ["ACKED"]
        assert alice.email in events[0]["detail"]
        cleared = a["alice_cleared"]
        expect(await client.post(f"/api/alerts/{cleared}/ack"), 409, "alert_cleared")
        expect(await client.post("/api/alerts/999999/ack"), 404, "alert_not_found")
        expect(await client.get(f"/api/alerts/{cleared}/events"), 200)
    row = await db.fetchrow("SELECT state, acked_by FROM alerts WHERE id = $1", alert_id)
    assert (row["state"], row["acked_by"]) == ("ACKED", uuid.UUID(alice.id))
    assert await streamed_states(db, alert_id) == ["ACKED"]  # once, in the journal
    event = await db.fetchrow("SELECT subject, audience FROM stream_events WHERE kind = 'alert'")
    assert (event["subject"], event["audience"]) == ("a-dev", None)


async def test_engine_alert_acked_then_cleared(
    api: Api, db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester
) -> None:
    alice = await api.register("alice")
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "oven"}), 201)
        publish(broker.url, [reading("oven", temperature=45.0)])
        raised = await wait_alert(db, "oven", "HIGH_TEMP")
        listed = expect(await client.get("/api/alerts", params={"state": "ACTIVE"}), 200)
        assert [i["id"] for i in listed["items"]] == [raised["id"]]
        expect(await client.post(f"/api/alerts/{raised['id']}/ack"), 200)
        publish(broker.url, [reading("oven", temperature=21.0)])
        await wait_alert(db, "oven", "HIGH_TEMP", "CLEARED")
        final = expect(await client.get(f"/api/alerts/{raised['id']}"), 200)
    assert final["state"] == "CLEARED" and final["acked_by"] == alice.id
    assert await history(db, raised["id"]) == ["ACTIVE", "ACKED", "CLEARED"]
    assert await streamed_states(db, raised["id"]) == ["ACTIVE", "ACKED", "CLEARED"]


async def test_deleting_a_rule_device_or_stock_clears_its_open_alerts(
    api: Api, db: asyncpg.Connection
) -> None:
    alice = await api.register("alice")
    async with api.client(api.admin) as admin:
        expect(await admin.post("/api/stocks", json={"ticker": "ALC"}), 201)
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)
        rule = expect(
            await client.post(
                "/api/alert-rules",
                json={"name": "up", "kind": "PRICE_ABOVE", "ticker": "ALC", "threshold": 5},
            ),
            201,
        )
        # The rule's open alert and the watchlist level's: once the rule is gone, its alert's
        # rule_id is null and it would be the level's twin (one open alert per key).
        by_rule = await insert_alert(db, "PRICE_ABOVE", "ALC", device=False, owner=alice.id)
        await db.execute("UPDATE alerts SET rule_id = $1 WHERE id = $2", rule["id"], by_rule)
        by_level = await insert_alert(db, "PRICE_ABOVE", "ALC", device=False, owner=alice.id)
        on_device = await insert_alert(db, "HIGH_TEMP", "a-dev", device=True)
        last_id = await db.fetchval("SELECT last_id FROM stream_state")

        assert (await client.delete(f"/api/alert-rules/{rule['id']}")).status_code == 204
        states = {r["id"]: r["state"] for r in await db.fetch("SELECT id, state FROM alerts")}
        assert states == {by_rule: "CLEARED", by_level: "ACTIVE", on_device: "ACTIVE"}

        assert (await client.delete("/api/devices/a-dev")).status_code == 204
        async with api.client(api.admin) as admin:
            assert (await admin.delete("/api/stocks/ALC")).status_code == 204
        states = {r["id"]: r["state"] for r in await db.fetch("SELECT id, state FROM alerts")}
        assert set(states.values()) == {"CLEARED"}
    streamed = await db.fetch(
        "SELECT data FROM stream_events WHERE kind = 'alert' AND id > $1 ORDER BY id", last_id
    )
    assert [(json.loads(r["data"])["id"], json.loads(r["data"])["state"]) for r in streamed] == [
        (by_rule, "CLEARED"),
        (on_device, "CLEARED"),
        (by_level, "CLEARED"),
    ]
    details = await db.fetch(
        "SELECT alert_id, detail FROM alert_events WHERE state = 'CLEARED' ORDER BY id"
    )
    assert [d["detail"] for d in details] == [
        "its rule was deleted",
        "the device was deleted",
        "the stock was deleted",
    ]

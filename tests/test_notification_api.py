"""/api/notification-channels and /api/silences: owner-scoped CRUD, secrets never shown, and
every hostile value a 422 (or a 404 for another user's) that changes nothing."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.api_support import Api, expect

HOOK = {
    "name": "ops",
    "kind": "webhook",
    "url": "https://hooks.example.com/tickwire",
    "secret": "0123456789abcdef",
}
PATH = "/api/notification-channels"


async def channels(db: asyncpg.Connection) -> list[Any]:
    return [dict(r) for r in await db.fetch("SELECT * FROM notification_channels ORDER BY id")]


async def test_channel_crud_is_owner_scoped(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    async with api.client(alice) as client:
        created = expect(await client.post(PATH, json=HOOK), 201)
        assert created["filter"] == {"kinds": None, "min_severity": None, "events": None}
        assert created["owner_id"] == alice.id and created["url"] == HOOK["url"]
        assert HOOK["secret"] not in str(created)
        path = f"{PATH}/{created['id']}"
        body = {"name": "renamed", "filter": {"events": ["raised"], "min_severity": "warning"}}
        patched = expect(await client.patch(path, json=body), 200)
        assert patched["name"] == "renamed" and patched["filter"]["events"] == ["raised"]
        patched = expect(await client.patch(path, json={"secret": "another-secret-16"}), 200)
        assert "another-secret-16" not in str(patched)
        listed = expect(await client.get(PATH), 200)
        assert listed["total"] == 1 and HOOK["secret"] not in str(listed)
        assert expect(await client.get(path), 200)["name"] == "renamed"
    before = await channels(db)
    async with api.client(bob) as client:
        assert expect(await client.get(PATH), 200)["items"] == []
        for response in (
            await client.get(path),
            await client.patch(path, json={"name": "mine"}),
            await client.delete(path),
            await client.get(f"{path}/deliveries"),
        ):
            expect(response, 404, "notification_channel_not_found")
    assert await channels(db) == before
    async with api.client(api.admin) as client:
        assert expect(await client.get(PATH), 200)["total"] == 1  # an admin sees all
    async with api.client(alice) as client:
        assert expect(await client.get(f"{path}/deliveries"), 200)["items"] == []
        expect(await client.delete(path), 204)
        expect(await client.get(path), 404, "notification_channel_not_found")


async def test_hostile_channels(api: Api, db: asyncpg.Connection) -> None:
    alice = await api.register("alice")
    refused_urls = [
        "ftp://hooks.example.com/x",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://127.0.0.1:8000/api/alerts",
        "http://localhost/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://0x7f.1/",
        "http://user:pass@hooks.example.com/",
        "http://hooks.example.com:99999/",
        "http:///nohost",
    ]
    hostile: list[tuple[object, str | None]] = [
        *[({**HOOK, "url": url}, "invalid_webhook_url") for url in refused_urls],
        ({**HOOK, "url": "http://a b.example.com/"}, None),
        ({**HOOK, "url": "https://x.example.com/" + "a" * 3000}, None),
        ({**HOOK, "secret": "short"}, None),
        ({**HOOK, "secret": None}, None),
        ({**HOOK, "kind": "sms"}, None),
        ({**HOOK, "name": ""}, None),
        ({**HOOK, "name": "x" * 201}, None),
        ({**HOOK, "name": "a\x00b"}, None),
        ({**HOOK, "to": "ops@example.com"}, None),
        ({**HOOK, "filter": {"kinds": ["NOPE"]}}, None),
        ({**HOOK, "filter": {"min_severity": "apocalyptic"}}, None),
        ({**HOOK, "filter": {"events": ["exploded"]}}, None),
        ({**HOOK, "filter": {"other": 1}}, None),
        ({**HOOK, "filter": "all"}, None),
        ({"name": "mail", "kind": "email", "to": "ops@example.com"}, "email_not_configured"),
        ([HOOK], None),
        ("webhook", None),
    ]
    async with api.client(alice) as client:
        for body, code in hostile:
            expect(await client.post(PATH, json=body), 422, code)
        for to in ("not-an-address", "a@b\r\nBcc: victim@example.com", "a@", "@example.com"):
            body = {"name": "mail", "kind": "email", "to": to}
            expect(await client.post(PATH, json=body), 422)
        assert await channels(db) == []
        created = expect(await client.post(PATH, json=HOOK), 201)
        path = f"{PATH}/{created['id']}"
        before = await channels(db)
        expect(await client.patch(path, json={"to": "x@example.com"}), 422, "invalid_channel")
        expect(await client.patch(path, json={"url": "http://127.0.0.1/"}), 422)
        expect(await client.patch(path, json={"name": None}), 422)
        expect(await client.patch(path, json={"kind": "email"}), 422)
        for bad_id in ("0", "-1", "x", str(2**63)):
            expect(await client.get(f"{PATH}/{bad_id}"), 422)
        assert await channels(db) == before


SILENCE = {
    "matchers": {"device_id": "a-dev"},
    "starts_at": "2026-01-01T00:00:00Z",
    "ends_at": "2099-01-01T00:00:00+02:00",
    "comment": "maintenance",
}


async def test_silences(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    async with api.client(alice) as client:
        created = expect(await client.post("/api/silences", json=SILENCE), 201)
        assert created["matchers"] == {"kind": None, "device_id": "a-dev", "ticker": None}
        past = {**SILENCE, "ends_at": "2026-01-02T00:00:00Z"}
        over = expect(await client.post("/api/silences", json=past), 201)
        active = expect(await client.get("/api/silences", params={"active": "true"}), 200)
        assert [s["id"] for s in active["items"]] == [created["id"]] and active["total"] == 1
        inactive = expect(await client.get("/api/silences", params={"active": "false"}), 200)
        assert [s["id"] for s in inactive["items"]] == [over["id"]]
        assert expect(await client.get("/api/silences"), 200)["total"] == 2
    async with api.client(bob) as client:
        assert expect(await client.get("/api/silences"), 200)["items"] == []
        expect(await client.delete(f"/api/silences/{created['id']}"), 404, "silence_not_found")
    assert await db.fetchval("SELECT count(*) FROM silences") == 2
    hostile: list[object] = [
        {**SILENCE, "ends_at": SILENCE["starts_at"]},  # empty window
        {**SILENCE, "starts_at": "2099-01-01T00:00:00Z", "ends_at": "2026-01-01T00:00:00Z"},
        {**SILENCE, "starts_at": "2026-01-01T00:00:00"},  # no time zone
        {**SILENCE, "starts_at": "yesterday"},
        {**SILENCE, "starts_at": "0001-01-01T00:00:00+14:00"},  # before year 1 in UTC
        {**SILENCE, "ends_at": "9999-12-31T23:59:59-14:00"},  # after year 9999 in UTC
        {**SILENCE, "starts_at": -1e18},
        {**SILENCE, "matchers": {}},
        {**SILENCE, "matchers": {"device_id": None}},
        {**SILENCE, "matchers": {"kind": "NOPE"}},
        {**SILENCE, "matchers": {"device_id": "a\x00b"}},
        {**SILENCE, "matchers": {"ticker": "x" * 100}},
        {**SILENCE, "matchers": {"owner_id": alice.id}},
        {**SILENCE, "comment": "x" * 501},
        {**SILENCE, "comment": "a\x00b"},
        {**SILENCE, "extra": True},
        {k: v for k, v in SILENCE.items() if k != "ends_at"},
        [SILENCE],
    ]
    async with api.client(alice) as client:
        for body in hostile:
            expect(await client.post("/api/silences", json=body), 422)
        expect(await client.get("/api/silences", params={"active": "maybe"}), 422)
        expect(await client.delete("/api/silences/0"), 422)
        expect(await client.delete("/api/silences/999999"), 404, "silence_not_found")
        assert await db.fetchval("SELECT count(*) FROM silences") == 2
        expect(await client.delete(f"/api/silences/{created['id']}"), 204)
    assert await db.fetchval("SELECT count(*) FROM silences") == 1

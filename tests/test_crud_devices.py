"""/api/devices over real HTTP and a real database: ownership, tickers, validation, pages."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.api_support import Api, expect
from tests.support import backfill_telemetry


async def make_stock(api: Api, ticker: str) -> None:
    async with api.client(api.admin) as client:
        expect(await client.post("/api/stocks", json={"ticker": ticker}), 201)


async def test_device_lifecycle_tickers_round_trip(api: Api, db: asyncpg.Connection) -> None:
    alice = await api.register("alice")
    await make_stock(api, "AAPL")
    await make_stock(api, "MSFT")
    await make_stock(api, "ALC")
    async with api.client(alice) as client:
        body: dict[str, Any] = {"device_id": "feed-1.a:b", "name": "Feed", "kind": "feed"}
        body["tickers"] = ["MSFT", "ALC", "AAPL", "MSFT"]
        created = expect(await client.post("/api/devices", json=body), 201)
        assert created["tickers"] == ["AAPL", "ALC", "MSFT"]
        assert created["owner_id"] == alice.id and created["name"] == "Feed"
        assert created["status"] == "UNKNOWN" and created["last_seen"] is None
        assert created["offline_timeout_s"] == 10.0 and created["created_at"].endswith("Z")
        assert created.pop("credentials") is None  # no broker credential management here
        assert expect(await client.get("/api/devices/feed-1.a:b"), 200) == created

        patch = {"tickers": ["ALC", "MSFT"], "name": "Renamed", "offline_timeout_s": 3}
        changed = expect(await client.patch("/api/devices/feed-1.a:b", json=patch), 200)
        assert changed["tickers"] == ["ALC", "MSFT"] and changed["name"] == "Renamed"
        assert changed["offline_timeout_s"] == 3.0 and changed["kind"] == "feed"
        assert changed["updated_at"] > created["updated_at"]
        again = expect(await client.patch("/api/devices/feed-1.a:b", json={"tickers": []}), 200)
        assert again["tickers"] == [] and again["name"] == "Renamed"

        minimal = expect(await client.post("/api/devices", json={"device_id": "d2"}), 201)
        assert (minimal["name"], minimal["kind"], minimal["tickers"]) == ("d2", "sensor", [])

        # Deleting keeps the time series (documented): only the device row goes.
        await backfill_telemetry(db, "d2", 5)
        expect(await client.delete("/api/devices/d2"), 204)
        expect(await client.get("/api/devices/d2"), 404, "device_not_found")
        expect(await client.delete("/api/devices/d2"), 404, "device_not_found")
        count = "SELECT count(*) FROM telemetry WHERE device_id = 'd2'"
        assert await db.fetchval(count) == 5


async def test_devices_are_private_admin_sees_all(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await make_stock(api, "ALC")
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a1", "tickers": ["ALC"]}), 201)
    async with api.client(bob) as client:
        for method, payload in (("GET", None), ("PATCH", {"name": "mine"}), ("DELETE", None)):
            response = await client.request(method, "/api/devices/a1", json=payload)
            expect(response, 404, "device_not_found")
        assert expect(await client.get("/api/devices"), 200)["total"] == 0
        # Ids are global: taken is taken, whoever owns it.
        expect(await client.post("/api/devices", json={"device_id": "a1"}), 409, "device_exists")
        # Every stock is market data, Bob's to monitor too; an absent one is nobody's.
        body: dict[str, Any] = {"device_id": "b1", "tickers": ["ALC", "NOPE"]}
        error = expect(await client.post("/api/devices", json=body), 422, "unknown_ticker")
        assert error["error"]["details"] == {"tickers": ["NOPE"]}
        body = {"device_id": "b1", "owner_id": alice.id}
        expect(await client.post("/api/devices", json=body), 403, "owner_admin_only")
        expect(await client.post("/api/devices", json={"device_id": "b1"}), 201)
        expect(await client.patch("/api/devices/b1", json={"owner_id": alice.id}), 403)

    async with api.client(api.admin) as client:
        listed = expect(await client.get("/api/devices"), 200)
        assert [d["device_id"] for d in listed["items"]] == ["a1", "b1"]
        expect(await client.patch("/api/devices/a1", json={"name": "by admin"}), 200)
        body = {"device_id": "for-bob", "owner_id": bob.id}
        assert expect(await client.post("/api/devices", json=body), 201)["owner_id"] == bob.id
        moved = expect(await client.patch("/api/devices/b1", json={"owner_id": alice.id}), 200)
        assert moved["owner_id"] == alice.id
        body = {"device_id": "x", "owner_id": "00000000-0000-0000-0000-000000000001"}
        expect(await client.post("/api/devices", json=body), 422, "unknown_owner")
    async with api.client(bob) as client:
        listed = expect(await client.get("/api/devices"), 200)
        assert [d["device_id"] for d in listed["items"]] == ["for-bob"]
    async with api.client(alice) as client:
        listed = expect(await client.get("/api/devices"), 200)
        assert [d["device_id"] for d in listed["items"]] == ["a1", "b1"]
        assert listed["items"][0]["name"] == "by admin"
    async with api.client() as anonymous:
        expect(await anonymous.get("/api/devices"), 401, "unauthorized")


async def test_device_bad_bodies_are_422(api: Api) -> None:
    async with api.client(api.admin) as client:
        expect(await client.post("/api/devices", json={"device_id": "ok"}), 201)
        bad_posts: list[Any] = [
            {},
            {"device_id": "-starts-with-dash"},
            {"device_id": "has space"},
            {"device_id": "x" * 65},
            {"device_id": "d", "unknown": 1},
            {"device_id": "d", "status": "ONLINE"},
            {"device_id": "d", "name": 5},
            {"device_id": "d", "name": "x" * 201},
            {"device_id": "d", "name": "nul\x00byte"},
            {"device_id": "d", "name": "   "},
            {"device_id": "d", "kind": "two words"},
            {"device_id": "d", "tickers": "AAPL"},
            {"device_id": "d", "tickers": ["bad ticker"]},
            {"device_id": "d", "offline_timeout_s": "10"},
            {"device_id": "d", "offline_timeout_s": 0},
            {"device_id": "d", "owner_id": "not-a-uuid"},
            [{"device_id": "d"}],
        ]
        for body in bad_posts:
            expect(await client.post("/api/devices", json=body), 422, "validation_error")
        raw = [
            b'{"device_id": "d", "offline_timeout_s": NaN}',
            b'{"device_id": "d", "offline_timeout_s": Infinity}',
            b'{"device_id": "d", "offline_timeout_s": 1e999}',
            b"{not json",
            b"",
        ]
        for content in raw:
            response = await client.post(
                "/api/devices", content=content, headers={"content-type": "application/json"}
            )
            expect(response, 422, "validation_error")
        bad_patches: list[Any] = [
            {"status": "ONLINE"},
            {"last_seen": "2024-01-01T00:00:00Z"},
            {"device_id": "renamed"},
            {"name": None},
            {"tickers": None},
            {"offline_timeout_s": -1},
        ]
        for body in bad_patches:
            expect(await client.patch("/api/devices/ok", json=body), 422, "validation_error")
        for path in ("/api/devices/%00", "/api/devices/" + "x" * 5000):
            expect(await client.get(path), 404, "device_not_found")
        assert expect(await client.get("/api/devices/ok"), 200)["name"] == "ok"


async def test_device_pages_and_filters(api: Api, db: asyncpg.Connection) -> None:
    await make_stock(api, "AAPL")
    async with api.client(api.admin) as client:
        for i in range(5):
            body: dict[str, Any] = {"device_id": f"dev-{i}", "kind": "feed" if i % 2 else "sensor"}
            body["tickers"] = ["AAPL"] if i >= 3 else []
            expect(await client.post("/api/devices", json=body), 201)
        await db.execute(
            "UPDATE devices SET status = 'ONLINE' WHERE device_id IN ('dev-1', 'dev-4')"
        )

        async def ids(**params: Any) -> tuple[list[str], int]:
            page = expect(await client.get("/api/devices", params=params), 200)
            assert (page["limit"], page["offset"]) == (
                params.get("limit", 100),
                params.get("offset", 0),
            )
            return [d["device_id"] for d in page["items"]], page["total"]

        assert await ids(limit=2) == (["dev-0", "dev-1"], 5)
        assert await ids(limit=2, offset=2) == (["dev-2", "dev-3"], 5)
        assert await ids(limit=2, offset=4) == (["dev-4"], 5)
        assert await ids(offset=9) == ([], 5)
        assert await ids(kind="feed") == (["dev-1", "dev-3"], 2)
        assert await ids(status="ONLINE") == (["dev-1", "dev-4"], 2)
        assert await ids(ticker="AAPL") == (["dev-3", "dev-4"], 2)
        assert await ids(kind="sensor", status="ONLINE", ticker="AAPL") == (["dev-4"], 1)
        online = expect(await client.get("/api/devices/dev-1"), 200)
        assert online["status"] == "ONLINE"
        for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "ON"}):
            expect(await client.get("/api/devices", params=params), 422, "validation_error")

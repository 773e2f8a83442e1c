"""/api/stocks: shared market data vs a user's own tickers, over real HTTP and a real database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from ingest.writer import Writer
from tests.api_support import Account, Api, expect


async def test_shared_and_own_stocks(api: Api, db: asyncpg.Connection) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    # The ingester auto-registers tickers it sees: shared, owner NULL.
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    await writer.backfill([(datetime.now(UTC), "AUTO", 1.5, 10.0, "")], [])
    async with api.client(api.admin) as admin:
        body: dict[str, Any] = {"ticker": "AAPL", "name": "Apple", "currency": "USD"}
        shared = expect(await admin.post("/api/stocks", json=body | {"shared": True}), 201)
        assert shared["owner_id"] is None and shared["shared"] is True
    async with api.client(alice) as client:
        await _a_user_owns_one_and_reads_the_shared(client, alice)
    async with api.client(bob) as client:
        await _another_user_sees_only_the_shared(client)
    async with api.client(api.admin) as admin:
        await _the_admin_sees_and_changes_all(admin)
    # Its prices stay; only the description went.
    assert await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'AUTO'") == 1
    async with api.client(alice) as client:
        expect(await client.delete("/api/stocks/BRK.B-A^=X"), 204)
        assert expect(await client.get("/api/stocks"), 200)["total"] == 1


async def _a_user_owns_one_and_reads_the_shared(client: httpx.AsyncClient, alice: Account) -> None:
    own = expect(await client.post("/api/stocks", json={"ticker": "BRK.B-A^=X"}), 201)
    assert own["owner_id"] == alice.id and own["shared"] is False and own["name"] is None
    tickers = [s["ticker"] for s in expect(await client.get("/api/stocks"), 200)["items"]]
    assert tickers == ["AAPL", "AUTO", "BRK.B-A^=X"]
    auto = expect(await client.get("/api/stocks/AUTO"), 200)
    assert auto["shared"] is True
    # Shared market data is read-only for users.
    for ticker in ("AAPL", "AUTO"):
        response = await client.patch(f"/api/stocks/{ticker}", json={"name": "mine"})
        expect(response, 403, "shared_stock_admin_only")
        expect(await client.delete(f"/api/stocks/{ticker}"), 403, "shared_stock_admin_only")
    body = {"ticker": "NEW", "shared": True}
    expect(await client.post("/api/stocks", json=body), 403, "shared_stock_admin_only")
    changed = {"name": "Mine", "exchange": "X", "currency": "EUR"}
    patched = expect(await client.patch("/api/stocks/BRK.B-A^=X", json=changed), 200)
    assert {k: patched[k] for k in changed} == changed
    cleared = await client.patch("/api/stocks/BRK.B-A^=X", json={"exchange": None})
    assert expect(cleared, 200)["exchange"] is None
    assert expect(await client.get("/api/stocks/BRK.B-A^=X"), 200)["name"] == "Mine"


async def _another_user_sees_only_the_shared(client: httpx.AsyncClient) -> None:
    tickers = [s["ticker"] for s in expect(await client.get("/api/stocks"), 200)["items"]]
    assert tickers == ["AAPL", "AUTO"]
    for method, payload in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        response = await client.request(method, "/api/stocks/BRK.B-A^=X", json=payload)
        expect(response, 404, "stock_not_found")
    # Tickers are global: a taken one is taken, even when not visible.
    body = {"ticker": "BRK.B-A^=X"}
    expect(await client.post("/api/stocks", json=body), 409, "stock_exists")
    expect(await client.post("/api/stocks", json={"ticker": "AAPL"}), 409, "stock_exists")


async def _the_admin_sees_and_changes_all(admin: httpx.AsyncClient) -> None:
    listed = expect(await admin.get("/api/stocks"), 200)
    assert [s["ticker"] for s in listed["items"]] == ["AAPL", "AUTO", "BRK.B-A^=X"]
    only_shared = expect(await admin.get("/api/stocks", params={"shared": True}), 200)
    assert [s["ticker"] for s in only_shared["items"]] == ["AAPL", "AUTO"]
    owned = expect(await admin.get("/api/stocks", params={"shared": False}), 200)
    assert [s["ticker"] for s in owned["items"]] == ["BRK.B-A^=X"]
    assert expect(await admin.patch("/api/stocks/AUTO", json={"name": "Auto"}), 200)
    expect(await admin.delete("/api/stocks/AUTO"), 204)
    expect(await admin.get("/api/stocks/AUTO"), 404, "stock_not_found")


async def test_stock_bad_bodies_and_pages(api: Api) -> None:
    async with api.client(api.admin) as admin:
        for i in range(5):
            body = {"ticker": f"T{i}", "shared": i % 2 == 0}
            expect(await admin.post("/api/stocks", json=body), 201)
        bad: list[Any] = [
            {},
            {"ticker": ""},
            {"ticker": "^GSPC"},
            {"ticker": "A/B"},
            {"ticker": "X" * 33},
            {"ticker": "X", "owner_id": None},
            {"ticker": "X", "shared": "yes"},
            {"ticker": "X", "shared": 1},
            {"ticker": "X", "name": ["list"]},
            {"ticker": "X", "name": "é" * 201},
            {"ticker": "X", "currency": "dollars"},
            {"ticker": "X", "created_at": "2024-01-01"},
        ]
        for body in bad:
            expect(await admin.post("/api/stocks", json=body), 422, "validation_error")
        patches: list[Any] = [{"ticker": "T9"}, {"name": "\x00"}, {"shared": True}, {"owner_id": 1}]
        for patch in patches:
            expect(await admin.patch("/api/stocks/T1", json=patch), 422, "validation_error")
        expect(await admin.get("/api/stocks/bad%00ticker"), 404, "stock_not_found")
        page = expect(await admin.get("/api/stocks", params={"limit": 2, "offset": 3}), 200)
        assert [s["ticker"] for s in page["items"]] == ["T3", "T4"]
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, 3)
        page = expect(await admin.get("/api/stocks", params={"limit": 2, "shared": True}), 200)
        assert [s["ticker"] for s in page["items"]] == ["T0", "T2"] and page["total"] == 3
        expect(await admin.get("/api/stocks", params={"shared": "maybe"}), 422)

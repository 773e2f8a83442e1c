"""/api/stocks: market data shared by every user, written by admins only, over real HTTP and a
real database (DESIGN.md "Strictness and sessions": a user's POST /api/stocks → 403)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from ingest.writer import Writer
from tests.api_support import Api, expect

NEW = {"ticker": "BRK.B-A^=X", "name": "Berkshire", "currency": "USD"}


async def test_every_user_reads_every_stock_and_only_an_admin_writes(
    api: Api, db: asyncpg.Connection
) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    # The ingester auto-registers tickers it sees: shared like the others, no owner.
    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    await writer.backfill([(datetime.now(UTC), "AUTO", 1.5, 10.0, "")], [])
    async with api.client(api.admin) as admin:
        body: dict[str, Any] = {"ticker": "AAPL", "name": "Apple", "currency": "USD"}
        made = expect(await admin.post("/api/stocks", json=body), 201)
        assert made["shared"] is True and "owner_id" not in made
    for user in (alice, bob):
        async with api.client(user) as client:
            await _a_user_reads_all_and_writes_nothing(client)
    async with api.client(api.admin) as admin:
        await _the_admin_adds_changes_and_deletes(admin)
    # Its prices stay; only the description went.
    assert await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'AUTO'") == 1
    async with api.client(alice) as client:
        listed = expect(await client.get("/api/stocks"), 200)["items"]
        assert [s["ticker"] for s in listed] == ["AAPL", NEW["ticker"]]


async def _a_user_reads_all_and_writes_nothing(client: httpx.AsyncClient) -> None:
    tickers = [s["ticker"] for s in expect(await client.get("/api/stocks"), 200)["items"]]
    assert tickers == ["AAPL", "AUTO"]
    auto = expect(await client.get("/api/stocks/AUTO"), 200)
    assert auto["shared"] is True
    # A new ticker, a taken one, a shared flag, a bad body: 403 first, whatever it says.
    for body in (NEW, {"ticker": "AAPL"}, NEW | {"shared": True}, {"ticker": "NEW", "x": 1}):
        response = await client.post("/api/stocks", json=body)
        if "x" in body:  # an unknown field is the body's mistake, found first
            expect(response, 422, "validation_error")
            continue
        expect(response, 403, "shared_stock_admin_only")
    for ticker in ("AAPL", "AUTO", "ABSENT"):
        response = await client.patch(f"/api/stocks/{ticker}", json={"name": "mine"})
        expect(response, 403, "shared_stock_admin_only")
        expect(await client.delete(f"/api/stocks/{ticker}"), 403, "shared_stock_admin_only")
    expect(await client.get("/api/stocks/ABSENT"), 404, "stock_not_found")
    assert expect(await client.get("/api/stocks/AAPL"), 200)["name"] == "Apple"


async def _the_admin_adds_changes_and_deletes(admin: httpx.AsyncClient) -> None:
    made = expect(await admin.post("/api/stocks", json=NEW), 201)
    assert {k: made[k] for k in NEW} == NEW
    expect(await admin.post("/api/stocks", json={"ticker": "AAPL"}), 409, "stock_exists")
    changed = {"name": "Mine", "exchange": "X", "currency": "EUR"}
    patched = expect(await admin.patch(f"/api/stocks/{NEW['ticker']}", json=changed), 200)
    assert {k: patched[k] for k in changed} == changed
    cleared = await admin.patch(f"/api/stocks/{NEW['ticker']}", json={"exchange": None})
    assert expect(cleared, 200)["exchange"] is None
    expect(await admin.patch(f"/api/stocks/{NEW['ticker']}", json=NEW | changed), 422)
    assert expect(await admin.patch("/api/stocks/AUTO", json={"name": "Auto"}), 200)
    expect(await admin.delete("/api/stocks/AUTO"), 204)
    expect(await admin.get("/api/stocks/AUTO"), 404, "stock_not_found")
    expect(await admin.delete("/api/stocks/AUTO"), 404, "stock_not_found")


async def test_stock_bad_bodies_and_pages(api: Api) -> None:
    async with api.client(api.admin) as admin:
        for i in range(5):
            body: dict[str, Any] = {"ticker": f"T{i}"} | ({"shared": True} if i % 2 else {})
            expect(await admin.post("/api/stocks", json=body), 201)
        bad: list[Any] = [
            {},
            {"ticker": ""},
            {"ticker": "^GSPC"},
            {"ticker": "A/B"},
            {"ticker": "X" * 33},
            {"ticker": "X", "owner_id": None},
            {"ticker": "X", "shared": False},
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

"""/api/watchlist and /api/users/preferences: personal, validated, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api_support import Api, expect


async def test_watchlist_upsert_and_privacy(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    async with api.client(api.admin) as admin:
        for ticker in ("AAPL", "MSFT", "NVDA"):
            body = {"ticker": ticker, "shared": True}
            expect(await admin.post("/api/stocks", json=body), 201)
    async with api.client(bob) as client:
        response = await client.post("/api/stocks", json={"ticker": "BOB"})
        expect(response, 403, "shared_stock_admin_only")
    async with api.client(alice) as client:
        entry = expect(await client.post("/api/watchlist", json={"ticker": "MSFT"}), 201)
        assert (entry["alert_above"], entry["alert_below"]) == (None, None)
        levels = {"ticker": "MSFT", "alert_above": 500, "alert_below": 400.5}
        updated = expect(await client.post("/api/watchlist", json=levels), 200)
        assert (updated["alert_above"], updated["alert_below"]) == (500.0, 400.5)
        assert updated["created_at"] == entry["created_at"]
        # The body is the whole entry: an omitted level is removed.
        only_below = {"ticker": "MSFT", "alert_below": 1}
        updated = expect(await client.post("/api/watchlist", json=only_below), 200)
        assert (updated["alert_above"], updated["alert_below"]) == (None, 1.0)
        for ticker in ("NVDA", "AAPL"):
            expect(await client.post("/api/watchlist", json={"ticker": ticker}), 201)
        for ticker in ("BOB", "NOPE"):
            response = await client.post("/api/watchlist", json={"ticker": ticker})
            expect(response, 404, "stock_not_found")
        page = expect(await client.get("/api/watchlist", params={"limit": 2}), 200)
        assert [e["ticker"] for e in page["items"]] == ["AAPL", "MSFT"] and page["total"] == 3
        page = expect(await client.get("/api/watchlist", params={"limit": 2, "offset": 2}), 200)
        assert [e["ticker"] for e in page["items"]] == ["NVDA"] and page["offset"] == 2
    for account in (bob, api.admin):
        async with api.client(account) as client:
            assert expect(await client.get("/api/watchlist"), 200)["total"] == 0
            response = await client.delete("/api/watchlist/MSFT")
            expect(response, 404, "watchlist_entry_not_found")
    async with api.client(alice) as client:
        expect(await client.delete("/api/watchlist/MSFT"), 204)
        expect(await client.delete("/api/watchlist/MSFT"), 404, "watchlist_entry_not_found")
        expect(await client.delete("/api/watchlist/%00"), 404, "watchlist_entry_not_found")
        page = expect(await client.get("/api/watchlist"), 200)
        assert [e["ticker"] for e in page["items"]] == ["AAPL", "NVDA"]
    async with api.client(api.admin) as admin:  # deleting the stock removes the entries
        expect(await admin.delete("/api/stocks/NVDA"), 204)
    async with api.client(alice) as client:
        page = expect(await client.get("/api/watchlist"), 200)
        assert [e["ticker"] for e in page["items"]] == ["AAPL"]


async def test_watchlist_levels_validation(api: Api) -> None:
    async with api.client(api.admin) as client:
        expect(await client.post("/api/stocks", json={"ticker": "AAPL", "shared": True}), 201)
        bad: list[Any] = [
            {"ticker": "AAPL", "alert_above": 100, "alert_below": 100},
            {"ticker": "AAPL", "alert_above": 100, "alert_below": 150},
            {"ticker": "AAPL", "alert_above": "100"},
            {"ticker": "AAPL", "alert_below": True},
            {"ticker": "AAPL", "note": "unknown field"},
            {"ticker": "bad ticker"},
            {"alert_above": 1},
        ]
        for body in bad:
            expect(await client.post("/api/watchlist", json=body), 422, "validation_error")
        for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
            content = b'{"ticker": "AAPL", "alert_above": ' + literal + b"}"
            response = await client.post(
                "/api/watchlist", content=content, headers={"content-type": "application/json"}
            )
            expect(response, 422, "validation_error")
        assert expect(await client.get("/api/watchlist"), 200)["total"] == 0
        body = {"ticker": "AAPL", "alert_above": -1.5, "alert_below": -2}
        expect(await client.post("/api/watchlist", json=body), 201)


async def test_preferences_round_trip_and_bounds(api: Api) -> None:
    alice = await api.register("alice")
    preferences = {
        "theme": "dark",
        "layout": {"panels": [{"ticker": "AAPL", "range": "1h"}, {"device": "dev-1"}]},
        "refresh_s": 2.5,
        "favourite": None,
        "ünïcode": "✓",
    }
    async with api.client(alice) as client:
        assert expect(await client.get("/api/users/preferences"), 200) == {}
        assert expect(await client.put("/api/users/preferences", json=preferences), 200) == (
            preferences
        )
        assert expect(await client.get("/api/users/preferences"), 200) == preferences
        replaced = {"theme": "light"}  # PUT replaces, it does not merge
        expect(await client.put("/api/users/preferences", json=replaced), 200)
        assert expect(await client.get("/api/users/preferences"), 200) == replaced
    async with api.client(api.admin) as client:
        assert expect(await client.get("/api/users/preferences"), 200) == {}

        async def put(content: bytes) -> httpx.Response:
            headers = {"content-type": "application/json"}
            return await client.put("/api/users/preferences", content=content, headers=headers)

        big = json.dumps({"blob": "x" * (64 * 1024)}).encode()
        expect(await put(big), 413, "too_large")
        just_fits = json.dumps({"blob": "x" * (64 * 1024 - 20)}).encode()
        expect(await put(just_fits), 200)
        for content in (b"[1, 2]", b'"text"', b"null", b'{"a": "\\u0000"}', b'{"\\ud800": 1}'):
            expect(await put(content), 422, "invalid_preferences")
        deep = b'{"a":' * 40 + b"1" + b"}" * 40
        expect(await put(deep), 422, "invalid_preferences")
        for content in (b"", b"{", b'{"a": NaN}', b'{"a": 1e999}', b"[" * 50_000, b"\xff"):
            expect(await put(content), 422, "invalid_json")
        assert len(expect(await client.get("/api/users/preferences"), 200)["blob"]) > 60_000

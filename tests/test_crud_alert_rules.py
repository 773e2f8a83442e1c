"""/api/alert-rules: ownership, validation per kind, pages, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api_support import Account, Api, expect


async def setup(api: Api, alice: Account) -> None:
    """Stocks AAPL and ALC (market data, read by all); Alice's device `a-dev`."""
    async with api.client(api.admin) as admin:
        expect(await admin.post("/api/stocks", json={"ticker": "AAPL"}), 201)
        expect(await admin.post("/api/stocks", json={"ticker": "ALC"}), 201)
    async with api.client(alice) as client:
        expect(await client.post("/api/devices", json={"device_id": "a-dev"}), 201)


THRESHOLD = {
    "name": "hot box",
    "kind": "THRESHOLD",
    "device_id": "a-dev",
    "metric": "humidity",
    "operator": ">=",
    "threshold": 80,
}


async def test_rules_lifecycle_and_privacy(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    await setup(api, alice)
    async with api.client(alice) as client:
        rule = expect(await client.post("/api/alert-rules", json=THRESHOLD), 201)
        assert rule["owner_id"] == alice.id and rule["threshold"] == 80.0
        assert (rule["severity"], rule["enabled"], rule["duration_s"]) == ("warning", True, 0.0)
        url = f"/api/alert-rules/{rule['id']}"
        assert expect(await client.get(url), 200) == rule
        patch = {"threshold": 85.5, "enabled": False, "severity": "critical", "duration_s": 30}
        changed = expect(await client.patch(url, json=patch), 200)
        assert {k: changed[k] for k in patch} == patch and changed["metric"] == "humidity"
        assert changed["updated_at"] > rule["updated_at"]
        body = {"name": "move", "kind": "PRICE_MOVE", "ticker": "ALC", "threshold": 5}
        move = expect(await client.post("/api/alert-rules", json=body | {"window_s": 300}), 201)
    async with api.client(bob) as client:
        for method, payload in (("GET", None), ("PATCH", {"name": "mine"}), ("DELETE", None)):
            response = await client.request(method, url, json=payload)
            expect(response, 404, "alert_rule_not_found")
        assert expect(await client.get("/api/alert-rules"), 200)["total"] == 0
        # Alice's device is not Bob's to watch; every stock is (market data), none absent.
        response = await client.post("/api/alert-rules", json=THRESHOLD)
        expect(response, 422, "unknown_device")
        body = {"name": "m", "kind": "PRICE_ABOVE", "ticker": "NOPE", "threshold": 1}
        expect(await client.post("/api/alert-rules", json=body), 422, "unknown_ticker")
        mine = expect(await client.post("/api/alert-rules", json=body | {"ticker": "AAPL"}), 201)
        response = await client.patch(f"/api/alert-rules/{mine['id']}", json={"ticker": "NOPE"})
        expect(response, 422, "unknown_ticker")
        for ticker in ("ALC", "AAPL"):
            patched = await client.patch(f"/api/alert-rules/{mine['id']}", json={"ticker": ticker})
            assert expect(patched, 200)["ticker"] == ticker
    async with api.client(api.admin) as admin:
        await _the_admin_sees_every_rule(admin, url, [rule, move, mine])
    async with api.client(alice) as client:
        assert expect(await client.get(url), 200)["name"] == "renamed by admin"
        expect(await client.delete(url), 204)
        expect(await client.get(url), 404, "alert_rule_not_found")
        # Deleting the device takes its rules along.
        expect(await client.post("/api/alert-rules", json=THRESHOLD), 201)
        expect(await client.delete("/api/devices/a-dev"), 204)
        page = expect(await client.get("/api/alert-rules"), 200)
        assert [r["kind"] for r in page["items"]] == ["PRICE_MOVE"]


async def _the_admin_sees_every_rule(
    admin: httpx.AsyncClient, url: str, rules: list[dict[str, Any]]
) -> None:
    """Every user's rules, filtered and paged; the admin renames `url` and deletes the third."""
    rule, move, mine = rules
    listed = expect(await admin.get("/api/alert-rules"), 200)
    assert [r["id"] for r in listed["items"]] == [rule["id"], move["id"], mine["id"]]
    page = expect(await admin.get("/api/alert-rules", params={"limit": 1, "offset": 1}), 200)
    assert [r["id"] for r in page["items"]] == [move["id"]] and page["total"] == 3
    filters: list[tuple[dict[str, Any], list[int]]] = [
        ({"kind": "PRICE_MOVE"}, [move["id"]]),
        ({"device_id": "a-dev"}, [rule["id"]]),
        ({"ticker": "AAPL"}, [mine["id"]]),
        ({"enabled": False}, [rule["id"]]),
    ]
    for params, ids in filters:
        page = expect(await admin.get("/api/alert-rules", params=params), 200)
        assert [r["id"] for r in page["items"]] == ids, params
    expect(await admin.patch(url, json={"name": "renamed by admin"}), 200)
    expect(await admin.delete(f"/api/alert-rules/{mine['id']}"), 204)


async def test_rule_validation_per_kind(api: Api) -> None:
    alice = await api.register("alice")
    await setup(api, alice)
    on_device, on_ticker = {"device_id": "a-dev"}, {"ticker": "AAPL"}
    valid: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (
            {"kind": "HIGH_TEMP"},
            {"metric": "temperature", "operator": ">", "threshold": 30.0, "device_id": None},
        ),
        ({"kind": "HIGH_TEMP", "threshold": 45, **on_device}, {"threshold": 45.0}),
        ({"kind": "OFFLINE", **on_device}, {"threshold": None, "operator": None}),
        ({"kind": "OFFLINE"}, {"device_id": None}),
        (
            {"kind": "PRICE_MOVE", "threshold": 2.5, "window_s": 60, **on_ticker},
            {"window_s": 60.0},
        ),
        ({"kind": "PRICE_ABOVE", "threshold": 200, **on_ticker}, {"threshold": 200.0}),
        ({"kind": "PRICE_BELOW", "threshold": 150, **on_ticker}, {"ticker": "AAPL"}),
        (THRESHOLD | {"hysteresis": 2, "window_s": None}, {"hysteresis": 2.0}),
        # A fleet rule: every device the owner may read (of one kind, when given).
        (THRESHOLD | {"device_id": None}, {"device_id": None, "device_kind": None}),
        (
            THRESHOLD | {"device_id": None, "device_kind": "sensor"},
            {"device_id": None, "device_kind": "sensor"},
        ),
        ({"kind": "OFFLINE", "device_kind": "gateway"}, {"device_kind": "gateway"}),
    ]
    invalid: list[tuple[dict[str, Any], set[str]]] = [
        ({"kind": "HIGH_TEMP", "operator": "<"}, {"operator"}),
        ({"kind": "HIGH_TEMP", **on_ticker}, {"ticker"}),
        ({"kind": "OFFLINE", "threshold": 5, "metric": "x"}, {"threshold", "metric"}),
        ({"kind": "PRICE_MOVE", **on_ticker}, {"threshold", "window_s"}),
        ({"kind": "PRICE_MOVE", "threshold": 0, "window_s": 60, **on_ticker}, {"threshold"}),
        (
            {"kind": "PRICE_MOVE", "threshold": 1, "window_s": 1, **on_device},
            {"ticker", "device_id"},
        ),
        ({"kind": "PRICE_ABOVE", "threshold": 1}, {"ticker"}),
        ({"kind": "PRICE_BELOW", **on_ticker, "operator": "<"}, {"threshold", "operator"}),
        ({"kind": "THRESHOLD", **on_device}, {"metric", "operator", "threshold"}),
        (THRESHOLD | {"ticker": "AAPL"}, {"ticker"}),
        (THRESHOLD | {"device_kind": "sensor"}, {"device_kind"}),  # a fleet rule's narrowing
        ({"kind": "PRICE_ABOVE", "threshold": 1, "device_kind": "x", **on_ticker}, {"device_kind"}),
    ]
    malformed: list[dict[str, Any]] = [
        {"kind": "NOPE"},
        {"kind": "HIGH_TEMP", "name": None},
        {"kind": "HIGH_TEMP", "operator": "=="},
        {"kind": "HIGH_TEMP", "severity": "fatal"},
        {"kind": "HIGH_TEMP", "duration_s": -1},
        {"kind": "HIGH_TEMP", "hysteresis": -0.5},
        {"kind": "HIGH_TEMP", "threshold": "30"},
        {"kind": "HIGH_TEMP", "enabled": "true"},
        {"kind": "HIGH_TEMP", "owner_id": alice.id},
        {"kind": "HIGH_TEMP", "id": 7},
        {"kind": "THRESHOLD", "metric": "bad metric!"},
        {"kind": "PRICE_MOVE", "window_s": 0},
        {"kind": "OFFLINE", "device_kind": "a b"},
        {"kind": "OFFLINE", "device_kind": "x" * 33},
        {"kind": "OFFLINE", "device_kind": "\u0000"},
        {"kind": "OFFLINE", "device_kind": 7},
    ]
    async with api.client(alice) as client:
        for body, stored in valid:
            rule = expect(await client.post("/api/alert-rules", json={"name": "r"} | body), 201)
            assert {k: rule[k] for k in stored} == stored, body
        for body, fields in invalid:
            response = await client.post("/api/alert-rules", json={"name": "r"} | body)
            error = expect(response, 422, "invalid_alert_rule")["error"]
            assert set(error["details"]) == fields, (body, error)
        for body in malformed:
            response = await client.post("/api/alert-rules", json={"name": "r"} | body)
            expect(response, 422, "validation_error")
        content = b'{"name": "r", "kind": "HIGH_TEMP", "threshold": NaN}'
        headers = {"content-type": "application/json"}
        response = await client.post("/api/alert-rules", content=content, headers=headers)
        expect(response, 422, "validation_error")

        rule = expect(await client.post("/api/alert-rules", json=THRESHOLD), 201)
        url = f"/api/alert-rules/{rule['id']}"
        # PATCH checks the merged rule: a kind change must drop what no longer applies.
        error = expect(await client.patch(url, json={"kind": "OFFLINE"}), 422)["error"]
        assert error["code"] == "invalid_alert_rule"
        assert set(error["details"]) == {"metric", "operator", "threshold"}
        offline = {"kind": "OFFLINE", "metric": None, "operator": None, "threshold": None}
        assert expect(await client.patch(url, json=offline), 200)["kind"] == "OFFLINE"
        for body in ({"kind": None}, {"name": None}, {"enabled": None}, {"owner_id": None}):
            expect(await client.patch(url, json=body), 422, "validation_error")
        for path in ("/api/alert-rules/0", "/api/alert-rules/x", "/api/alert-rules/1e3"):
            expect(await client.get(path), 422, "validation_error")
        expect(await client.get(f"/api/alert-rules/{2**63}"), 422, "validation_error")
        expect(await client.get(f"/api/alert-rules/{2**63 - 1}"), 404, "alert_rule_not_found")

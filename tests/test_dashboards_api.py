"""/api/dashboards over real HTTP and a real database: CRUD, versions, sharing, import/export,
provisioning read-only, and every hostile body a 4xx with a stable code and the error's path."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from api.provisioning import load
from devstack.stack import DEMO_DASHBOARDS
from tests.api_support import Api, expect, running_api


def model(**changes: Any) -> dict[str, Any]:
    """A dashboard with a variable and one panel of several types."""
    body: dict[str, Any] = {
        "title": "Plant",
        "tags": ["demo"],
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "5s",
        "variables": [{"name": "dev", "kind": "device", "multi": False, "default": "d-1"}],
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Temperature",
                "grid": {"x": 0, "y": 0, "w": 12, "h": 8},
                "targets": [{"device_id": "$dev", "metric": "temperature"}],
                "options": {"unit": "°C"},
                "thresholds": [{"value": 30, "color": "red"}],
            },
            {
                "id": 2,
                "type": "stat",
                "title": "Price",
                "grid": {"x": 12, "y": 0, "w": 12, "h": 4},
                "targets": [{"ticker": "ACME"}],
            },
            {
                "id": 3,
                "type": "text",
                "grid": {"x": 0, "y": 8, "w": 24, "h": 2},
                "options": {"content": "# Notes"},
            },
        ],
        "shared_with": [],
    }
    body.update(changes)
    return body


MULTI = {"name": "devs", "kind": "device", "multi": True}


def without_meta(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "meta"}


async def test_crud_versions_and_export_round_trip(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(alice) as client:
        made = expect(await client.post("/api/dashboards", json=model()), 201)
        uid = made["uid"]
        assert made["version"] == 1 and made["meta"]["can_edit"] is True
        assert made["meta"]["owner_id"] == alice.id and made["meta"]["provisioned"] is False
        assert made["panels"][0]["targets"] == [{"device_id": "$dev", "metric": "temperature"}]
        got = expect(await client.get(f"/api/dashboards/{uid}"), 200)
        assert without_meta(got) == without_meta(made)
        # Each save increments the version; a stale one is refused with the stored one.
        changed = copy.deepcopy(got)
        changed["title"] = "Plant 2"
        saved = expect(await client.put(f"/api/dashboards/{uid}", json=changed), 200)
        assert saved["version"] == 2 and saved["title"] == "Plant 2"
        stale = await client.put(f"/api/dashboards/{uid}", json=changed)
        assert expect(stale, 409, "version_conflict")["error"]["details"] == {"version": 2}
        changed["version"] = 2
        assert expect(await client.put(f"/api/dashboards/{uid}", json=changed), 200)["version"] == 3
        # The export imports as is (version and meta ignored), under a new uid.
        exported = expect(await client.get(f"/api/dashboards/{uid}"), 200)
        again = expect(await client.post("/api/dashboards", json=exported), 409, "dashboard_exists")
        assert again["error"]["code"] == "dashboard_exists"
        exported["uid"] = "copy-1"
        imported = expect(await client.post("/api/dashboards", json=exported), 201)
        assert imported["version"] == 1 and imported["uid"] == "copy-1"
        assert {k: v for k, v in without_meta(imported).items() if k not in ("uid", "version")} == {
            k: v for k, v in without_meta(exported).items() if k not in ("uid", "version")
        }
        listed = expect(await client.get("/api/dashboards"), 200)
        assert sorted(d["uid"] for d in listed["items"]) == sorted([uid, "copy-1"])
        assert listed["total"] == 2 and "panels" not in listed["items"][0]
        expect(await client.delete(f"/api/dashboards/{uid}"), 204)
        expect(await client.get(f"/api/dashboards/{uid}"), 404, "dashboard_not_found")
        expect(await client.put(f"/api/dashboards/{uid}", json=changed), 404)
    async with api.client() as anonymous:
        expect(await anonymous.get("/api/dashboards"), 401)


async def test_sharing_viewers_read_others_404_admin_edits(api: Api) -> None:
    alice, bob, eve = [await api.register(n) for n in ("alice", "bob", "eve")]
    async with api.client(alice) as client:
        made = expect(await client.post("/api/dashboards", json=model(shared_with=[bob.id])), 201)
    uid, path = made["uid"], f"/api/dashboards/{made['uid']}"
    assert made["shared_with"] == [bob.id]
    async with api.client(bob) as client:
        seen = expect(await client.get(path), 200)
        assert seen["meta"]["can_edit"] is False
        assert [d["uid"] for d in expect(await client.get("/api/dashboards"), 200)["items"]] == [
            uid
        ]
        expect(await client.put(path, json=seen), 403, "dashboard_read_only")
        expect(await client.delete(path), 403, "dashboard_read_only")
    async with api.client(eve) as client:
        assert expect(await client.get("/api/dashboards"), 200)["total"] == 0
        expect(await client.get(path), 404, "dashboard_not_found")
        expect(await client.put(path, json=seen), 404, "dashboard_not_found")
        expect(await client.delete(path), 404, "dashboard_not_found")
        # A uid in use is refused, whoever holds it.
        expect(await client.post("/api/dashboards", json=model(uid=uid)), 409, "dashboard_exists")
    async with api.client(api.admin) as admin:
        got = expect(await admin.get(path), 200)
        assert got["meta"]["can_edit"] is True
        got["title"] = "By admin"
        expect(await admin.put(path, json=got), 200)
    async with api.client(alice) as client:
        mine = expect(await client.get(path), 200)
        assert mine["title"] == "By admin" and mine["version"] == 2
        unknown = model(shared_with=["00000000-0000-0000-0000-000000000001"])
        expect(await client.post("/api/dashboards", json=unknown), 422, "unknown_user")
        mine["shared_with"] = []
        expect(await client.put(path, json=mine), 200)
    async with api.client(bob) as client:
        expect(await client.get(path), 404, "dashboard_not_found")


async def test_concurrent_saves_of_one_version_one_wins(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(alice) as client:
        made = expect(await client.post("/api/dashboards", json=model()), 201)
        path = f"/api/dashboards/{made['uid']}"
        bodies = [made | {"title": f"Edit {i}"} for i in range(6)]
        answers = await asyncio.gather(*(client.put(path, json=b) for b in bodies))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [409] * 5, statuses
        winner = next(a.json() for a in answers if a.status_code == 200)
        stored = expect(await client.get(path), 200)
        assert stored["version"] == 2 and stored["title"] == winner["title"]


def panel(**changes: Any) -> dict[str, Any]:
    first: dict[str, Any] = model()["panels"][0]
    return first | changes


async def test_hostile_bodies_are_422_with_paths(api: Api) -> None:
    alice = await api.register("alice")
    bad: list[tuple[dict[str, Any], list[Any]]] = [
        (model(extra=1), ["body", "extra"]),
        (model(title=""), ["body", "title"]),
        (model(title="a\x00b"), ["body", "title"]),
        (model(uid="bad uid"), ["body", "uid"]),
        (model(uid="../etc"), ["body", "uid"]),
        (model(uid="x" * 41), ["body", "uid"]),
        (model(refresh="fast"), ["body", "refresh"]),
        (model(time={"from": "yesterday", "to": "now"}), ["body", "time"]),
        (model(version="1"), ["body", "version"]),
        (model(panels=[panel(type="heatmap")]), ["body", "panels", 0, "type"]),
        (
            model(panels=[panel(grid={"x": 20, "y": 0, "w": 6, "h": 2})]),
            ["body", "panels", 0, "grid"],
        ),
        (
            model(panels=[panel(grid={"x": -1, "y": 0, "w": 6, "h": 2})]),
            ["body", "panels", 0, "grid", "x"],
        ),
        (
            model(panels=[panel(grid={"x": 0, "y": 0, "w": 25, "h": 2})]),
            ["body", "panels", 0, "grid", "w"],
        ),
        (
            model(panels=[panel(grid={"x": 0, "y": 0, "w": 0, "h": 2})]),
            ["body", "panels", 0, "grid", "w"],
        ),
        (
            model(panels=[panel(grid={"x": 0.5, "y": 0, "w": 2, "h": 2})]),
            ["body", "panels", 0, "grid", "x"],
        ),
        (
            model(panels=[panel(targets=[{"device_id": "$nope"}])]),
            ["body", "panels", 0, "targets", 0, "device_id"],
        ),
        (
            model(panels=[panel(targets=[{"device_id": "a", "ticker": "B"}])]),
            ["body", "panels", 0, "targets", 0],
        ),
        (
            model(panels=[panel(targets=[{"device_id": "a b"}])]),
            ["body", "panels", 0, "targets", 0, "device_id"],
        ),
        (
            model(panels=[panel(targets=[{"device_id": "a", "sql": "x"}])]),
            ["body", "panels", 0, "targets", 0, "sql"],
        ),
        (
            model(panels=[panel(options={"script": "x"})]),
            ["body", "panels", 0, "options", "script"],
        ),
        (
            model(panels=[panel(thresholds=[{"value": 1, "color": "red;background:url(x)"}])]),
            ["body", "panels", 0, "thresholds", 0, "color"],
        ),
        (model(panels=[panel(), panel()]), ["body", "panels", 1, "id"]),
        (model(panels=[panel(id=i + 1) for i in range(1000)]), ["body", "panels"]),
        (model(variables=[{"name": "1x", "kind": "device"}]), ["body", "variables", 0, "name"]),
        (model(variables=[{"name": "dev", "kind": "sql"}]), ["body", "variables", 0, "kind"]),
        (
            model(variables=[{"name": "dev", "kind": "device"}] * 2),
            ["body", "variables", 1, "name"],
        ),
        # A repeat names a declared multi variable, on a panel that reads targets.
        (
            model(panels=[panel(options={"repeat": "nope"})]),
            ["body", "panels", 0, "options", "repeat"],
        ),
        (  # `dev` is declared, but single-valued
            model(panels=[panel(options={"repeat": "dev"})]),
            ["body", "panels", 0, "options", "repeat"],
        ),
        (
            model(variables=[MULTI], panels=[panel(type="text", options={"repeat": "devs"})]),
            ["body", "panels", 0, "options", "repeat"],
        ),
        (
            model(panels=[panel(options={"repeat": "$dev"})]),
            ["body", "panels", 0, "options", "repeat"],
        ),
        (
            model(variables=[MULTI], panels=[panel(options={"repeat": "devs", "max_per_row": 0})]),
            ["body", "panels", 0, "options", "max_per_row"],
        ),
    ]
    async with api.client(alice) as client:
        for body, loc in bad:
            response = await client.post("/api/dashboards", json=body)
            details = expect(response, 422, "validation_error")["error"]["details"]
            assert any(d["loc"][: len(loc)] == loc for d in details), (loc, details)
        # A body past the API's limit is refused before it is parsed.
        huge = model(panels=[panel(options={"content": "x" * 20_000})] * 60)
        expect(
            await client.post(
                "/api/dashboards",
                content=json.dumps(huge).encode(),
                headers={"content-type": "application/json"},
            ),
            413,
            "too_large",
        )
        expect(
            await client.post(
                "/api/dashboards", content=b"{", headers={"content-type": "application/json"}
            ),
            422,
        )
        for uid in ("a%00b", "x" * 300, "-x", "a.b", "a b"):
            expect(await client.get(f"/api/dashboards/{uid}"), 404)
        made = expect(await client.post("/api/dashboards", json=model()), 201)
        path = f"/api/dashboards/{made['uid']}"
        expect(await client.put(path, json=model()), 422, "validation_error")  # no version
        expect(await client.put(path, json=model(version=1, uid="other")), 422)
        # Nothing refused was stored.
        assert expect(await client.get("/api/dashboards"), 200)["total"] == 1
        both = [*model()["variables"], MULTI]
        repeated = model(variables=both, panels=[panel(options={"repeat": "devs"})])
        made = expect(await client.post("/api/dashboards", json=repeated), 201)
        assert made["panels"][0]["options"] == {"repeat": "devs"}


async def test_provisioned_dashboards_are_read_only(
    database_url: str, broker: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "dashboards"
    folder.mkdir()
    (folder / "fleet.json").write_text(json.dumps(model(title="Fleet")))
    (folder / "other.json").write_text(json.dumps(model(uid="ops", title="Ops")))
    async with running_api(
        database_url, broker.url, tmp_path / "api", dashboards_dir=folder
    ) as api:
        alice = await api.register("alice")
        async with api.client(alice) as client:
            listed = expect(await client.get("/api/dashboards"), 200)
            assert [d["uid"] for d in listed["items"]] == ["fleet", "ops"]
            fleet = expect(await client.get("/api/dashboards/fleet"), 200)
            assert fleet["title"] == "Fleet" and fleet["meta"]["provisioned"] is True
            assert fleet["meta"]["can_edit"] is False
            expect(
                await client.put("/api/dashboards/fleet", json=fleet), 403, "dashboard_read_only"
            )
            expect(await client.delete("/api/dashboards/ops"), 403, "dashboard_read_only")
            expect(await client.post("/api/dashboards", json=fleet), 409, "dashboard_exists")
            fleet["uid"] = "my-fleet"
            copied = expect(await client.post("/api/dashboards", json=fleet), 201)
            assert copied["meta"]["can_edit"] is True
        async with api.client(api.admin) as admin:
            got = expect(await admin.get("/api/dashboards/ops"), 200)
            expect(await admin.put("/api/dashboards/ops", json=got), 403, "dashboard_read_only")


def test_the_demo_dashboard_that_make_up_provisions_is_valid() -> None:
    demo = load(DEMO_DASHBOARDS)
    assert list(demo) == ["fleet"]
    assert {p.type for p in demo["fleet"].panels} >= {"timeseries", "stat", "table", "candlestick"}

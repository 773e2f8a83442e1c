"""`make up`'s demo analyst (devstack/demo.py): a plain account kept across starts, handed some
of the simulator's sensors once they exist; and the wait for the API before the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devstack import demo
from devstack.ports import free_port
from tests.api_support import Api, expect


async def test_the_analyst_is_a_plain_account_kept_across_starts(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    first = await demo.ensure_analyst(database_url, tmp_path)
    async with api.client(api.admin) as client:
        found = expect(await client.get("/api/admin/users", params={"email": first.email}), 200)
        (analyst,) = found["items"]
        assert not analyst["is_superuser"] and analyst["is_active"]
        # Deactivated by an admin: the next start makes it usable again, same password.
        expect(await client.patch(f"/users/{analyst['id']}", json={"is_active": False}), 200)
    second = await demo.ensure_analyst(database_url, tmp_path)
    assert second == first and (tmp_path / "analyst-password").stat().st_mode & 0o077 == 0
    async with api.client() as client:
        login = await client.post(
            "/auth/jwt/login", data={"username": first.email, "password": first.password}
        )
    expect(login, 200)


async def test_the_analyst_gets_sensors_once_they_exist(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    analyst = await demo.ensure_analyst(database_url, tmp_path)
    stop = asyncio.Event()
    admin = (api.admin.email, api.admin.password)
    handing = asyncio.create_task(demo.hand_devices(api.url, admin, analyst.email, stop))
    await asyncio.sleep(1.5)
    assert not handing.done()  # no sensors yet: it waits for the simulator's
    async with api.client(api.admin) as client:
        for n in range(demo.ANALYST_DEVICES + 1):
            body = {"device_id": f"demo-sensor-{n}", "kind": "sensor"}
            expect(await client.post("/api/devices", json=body), 201)
        await asyncio.wait_for(handing, 10)
        devices = expect(await client.get("/api/devices"), 200)["items"]
    owners = {d["device_id"]: d["owner_id"] for d in devices}
    users = {api.admin.id}
    assert sorted(owners.values()).count(api.admin.id) == 1
    assert len(set(owners.values()) - users) == 1  # the other 3: the analyst's
    # A second start hands nothing more.
    await asyncio.wait_for(demo.hand_devices(api.url, admin, analyst.email, stop), 10)
    async with api.client(api.admin) as client:
        again = expect(await client.get("/api/devices"), 200)["items"]
    assert {d["device_id"]: d["owner_id"] for d in again} == owners


async def test_the_wait_for_the_api_ends_when_it_answers_or_never_does(api: Api) -> None:
    stop = asyncio.Event()
    assert await demo.answering(f"{api.url}/health", stop, timeout_s=10)
    assert not await demo.answering(f"http://127.0.0.1:{free_port()}/health", stop, timeout_s=1)
    stop.set()
    assert not await demo.answering(f"{api.url}/health", stop, timeout_s=10)

"""`make up`'s demo analyst (devstack/demo.py): a plain account kept across starts, handed some
of the simulator's sensors once they exist; the admin's demo portfolio, made once; and the wait
for the API before the simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from devstack import demo
from devstack.ports import free_port
from tests.api_support import Api, expect
from tests.market_support import walk, write
from tests.stack_support import Stack
from tests.support import wait_until


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


async def test_the_admin_gets_a_demo_portfolio_once_prices_exist(
    api: Api, db: asyncpg.Connection
) -> None:
    stop = asyncio.Event()
    admin = (api.admin.email, api.admin.password)
    bob = await api.register("bob")
    async with api.client(bob) as client:  # another user's of that name is not the admin's
        bobs = expect(await client.post("/api/portfolios", json={"name": demo.DEMO_PORTFOLIO}), 201)
    making = asyncio.create_task(demo.demo_portfolio(api.url, admin, stop, attempts=60))
    await asyncio.sleep(1.5)
    assert not making.done()  # no prices yet: it waits for the simulator's
    now = datetime.now(UTC)
    tickers = ["KO", "NVDA", "AAPL", "TSLA", "MSFT"]
    ticks = [
        t for n, name in enumerate(tickers) for t in walk(name, now - timedelta(hours=1), now, n)
    ]
    await write(db, ticks)
    pid = await asyncio.wait_for(making, 30)
    assert pid is not None and pid != bobs["id"]
    async with api.client(api.admin) as client:
        held = expect(await client.get(f"/api/portfolios/{pid}/holdings"), 200)
        txs = expect(await client.get(f"/api/portfolios/{pid}/transactions"), 200)["items"]
    quantities = {item["ticker"]: item["quantity"] for item in held["items"]}
    assert quantities == {"AAPL": 40, "MSFT": 25, "NVDA": 40, "TSLA": 15}  # 60 bought, 20 sold
    assert [tx["side"] for tx in txs].count("sell") == 1 and len(txs) == 5
    nvda = next(item for item in held["items"] if item["ticker"] == "NVDA")
    assert nvda["realized_pnl"] != 0 and held["totals"]["unrealized_pnl"] != 0
    # A later start finds it and adds nothing.
    assert await demo.demo_portfolio(api.url, admin, stop, attempts=1) == pid
    async with api.client(api.admin) as client:
        again = expect(await client.get(f"/api/portfolios/{pid}/transactions"), 200)["items"]
        mine = expect(await client.get("/api/portfolios"), 200)["items"]
    assert again == txs
    assert [p["name"] for p in mine if p["owner_id"] == api.admin.id] == [demo.DEMO_PORTFOLIO]


async def test_an_empty_demo_portfolio_is_filled_and_no_prices_leave_it(
    api: Api, db: asyncpg.Connection
) -> None:
    stop = asyncio.Event()
    admin = (api.admin.email, api.admin.password)
    async with api.client(api.admin) as client:  # an earlier start stopped right after making it
        made = expect(await client.post("/api/portfolios", json={"name": demo.DEMO_PORTFOLIO}), 201)
    assert await demo.demo_portfolio(api.url, admin, stop, attempts=2) is None  # no stocks
    now = datetime.now(UTC)
    await write(db, walk("ONLY", now - timedelta(hours=1), now, 5))
    assert await demo.demo_portfolio(api.url, admin, stop, attempts=5) == made["id"]
    async with api.client(api.admin) as client:
        held = expect(await client.get(f"/api/portfolios/{made['id']}/holdings"), 200)
    assert [(i["ticker"], i["quantity"]) for i in held["items"]] == [("ONLY", 40 - 40 // 3)]


async def test_the_demo_portfolio_moves_with_the_running_simulator(stack: Stack) -> None:
    api, stop = stack.api, asyncio.Event()
    admin = (api.admin.email, api.admin.password)
    pid = await asyncio.wait_for(demo.demo_portfolio(api.url, admin, stop, attempts=60), 90)
    assert pid is not None
    async with api.client(api.admin) as client:

        async def totals() -> dict[str, float]:
            body = expect(await client.get(f"/api/portfolios/{pid}/holdings"), 200)
            assert len(body["items"]) == 4  # the fleet's 4 tickers
            return dict(body["totals"])

        first = await totals()
        assert first["market_value"] > 0 and first["realized_pnl"] != 0

        async def moved() -> bool:
            return (await totals())["unrealized_pnl"] != first["unrealized_pnl"]

        await wait_until(
            "the unrealized P&L moves with the prices", moved, timeout=60, interval=0.5
        )

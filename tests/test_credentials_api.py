"""Device credentials through the API, on a real Mosquitto with dynamic security and the real
ingester logging in with its own account: a device publishes only under its own topics and its
tickers', and only that reaches the database; rotate, ticker changes and delete take effect on
the broker at once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from tests.api_support import Account, Api
from tests.broker_support import SecureBroker
from tests.credentials_support import connected, create_device, publish, shared_stocks, two_owners
from tests.device_link import DeviceLink
from tests.ingest_support import RunningIngester
from tests.support import unique, wait_until
from tickwire import brokerauth
from tickwire.settings import MqttAddress


async def rotate(api: Api, account: Account, device_id: str) -> tuple[int, dict[str, Any]]:
    async with api.client(account) as client:
        response = await client.post(f"/api/devices/{device_id}/credentials")
    return response.status_code, response.json()


async def subscribe(link: DeviceLink, topic: str) -> bool:
    return not (await asyncio.to_thread(link.subscribe, topic)).is_failure


def accepted(link: DeviceLink) -> bool:
    return link.connack is not None and not link.connack.is_failure


async def test_a_device_reaches_the_database_only_through_its_own_topics(
    secure_api: Api,
    secure_ingester: RunningIngester,
    secure_broker: SecureBroker,
    db: asyncpg.Connection,
) -> None:
    owner, other, dev_a, password, dev_b = await two_owners(secure_api, ["MINE"], ["THEIRS"])
    async with secure_api.client(owner) as client:
        shown = (await client.get(f"/api/devices/{dev_a}")).json()
    assert "credentials" not in shown  # shown once, at creation

    device = await connected(secure_broker, dev_a, password)
    assert accepted(device)
    try:
        assert await subscribe(device, f"devices/{dev_a}/commands")
        assert not await subscribe(device, f"devices/{dev_b}/commands")
        assert not await subscribe(device, "devices/+/commands")
        # Refused by the broker: another device's topics, a ticker it does not monitor.
        assert not await publish(device, f"devices/{dev_b}/telemetry", {"temperature": 99.0})
        assert not await publish(device, f"devices/{dev_b}/heartbeat", {"uptime_s": 1})
        assert not await publish(device, f"devices/{dev_a}/stocks/THEIRS", {"price": 999.0})
        assert not await publish(device, f"devices/{dev_b}/stocks/THEIRS", {"price": 999.0})
        assert not await publish(device, "stocks/MINE", {"price": 999.0})
        # Its own.
        assert await publish(device, f"devices/{dev_a}/telemetry", {"temperature": 21.5})
        assert await publish(device, f"devices/{dev_a}/stocks/MINE", {"price": 101.0})

        async def own_rows_committed() -> bool:
            telemetry = await db.fetchval(
                "SELECT count(*) FROM telemetry WHERE device_id = $1", dev_a
            )
            prices = await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'MINE'")
            return bool(telemetry == 1 and prices == 1)

        await wait_until("the device's own reading and tick committed", own_rows_committed)
        # Published before the accepted ones on the same session: they would be in by now.
        await asyncio.sleep(1)
        assert await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = $1", dev_b) == 0
        assert await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'THEIRS'") == 0
        assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0
        status = await db.fetchval("SELECT status FROM devices WHERE device_id = $1", dev_b)
        assert status == "UNKNOWN"  # no heartbeat of B's ever got through

        # Commands: it receives its own, never another device's.
        async with secure_api.client(other) as client:
            sent = await client.post(f"/api/devices/{dev_b}/commands", json={"command": "ping"})
            assert sent.status_code == 202, sent.text
        async with secure_api.client(owner) as client:
            sent = await client.post(f"/api/devices/{dev_a}/commands", json={"command": "ping"})
            assert sent.status_code == 202, sent.text
        topic, body = await asyncio.to_thread(device.messages.get, True, 10)
        assert (topic, body["id"]) == (f"devices/{dev_a}/commands", sent.json()["id"])
        await asyncio.sleep(0.5)
        assert device.messages.empty()
    finally:
        device.close()


async def test_wrong_or_missing_credentials_are_refused(
    secure_api: Api, secure_broker: SecureBroker
) -> None:
    owner = await secure_api.register("owner")
    dev_a, dev_b = unique("dev-a"), unique("dev-b")
    await create_device(secure_api, owner, dev_a, [])
    password_b = await create_device(secure_api, owner, dev_b, [])
    for password in ("wrong-password-123", None, password_b):
        refused = await connected(secure_broker, dev_a, password)
        assert refused.connack is not None and refused.connack.is_failure, password
    # A device's login with another device's client id is refused too (no session takeover).
    takeover = DeviceLink(secure_broker.url, dev_b, password_b, dev_a)
    assert not await asyncio.to_thread(takeover.connect)


async def test_rotate_invalidates_the_old_password_and_drops_the_session(
    secure_api: Api, secure_broker: SecureBroker, db: asyncpg.Connection
) -> None:
    owner, stranger = await secure_api.register("owner"), await secure_api.register("stranger")
    dev = unique("dev")
    old = await create_device(secure_api, owner, dev, [])
    session = await connected(secure_broker, dev, old)
    assert accepted(session)
    try:
        status, body = await rotate(secure_api, owner, dev)
        assert status == 200 and body["username"] == dev and body["password"] != old
        assert await asyncio.to_thread(session.dropped.wait, 10), "old session still connected"
    finally:
        session.close()
    assert not accepted(await connected(secure_broker, dev, old))
    fresh = await connected(secure_broker, dev, body["password"])
    assert accepted(fresh)
    fresh.close()

    status, error = await rotate(secure_api, stranger, dev)
    assert status == 404 and error["error"]["code"] == "device_not_found"
    status, by_admin = await rotate(secure_api, secure_api.admin, dev)
    assert status == 200 and by_admin["password"] != body["password"]

    # A device made before credentials existed (here: straight in the database) gets its
    # broker account on its first rotate, with its tickers' ACLs.
    await shared_stocks(secure_api, "OLD")
    legacy = unique("legacy")
    await db.execute(
        "INSERT INTO devices (device_id, name, owner_id) VALUES ($1, 'L', $2)",
        legacy,
        uuid.UUID(owner.id),
    )
    await db.execute("INSERT INTO device_tickers (device_id, ticker) VALUES ($1, 'OLD')", legacy)
    assert not accepted(await connected(secure_broker, legacy, "anything-at-all"))
    status, issued = await rotate(secure_api, owner, legacy)
    assert status == 200, issued
    device = await connected(secure_broker, legacy, issued["password"])
    assert accepted(device)
    try:
        assert await publish(device, f"devices/{legacy}/stocks/OLD", {"price": 1.0})
        assert not await publish(device, f"devices/{legacy}/stocks/NEW", {"price": 1.0})
    finally:
        device.close()


async def test_changing_tickers_changes_what_it_may_publish(
    secure_api: Api, secure_broker: SecureBroker
) -> None:
    owner = await secure_api.register("owner")
    await shared_stocks(secure_api, "FIRST", "SECOND")
    dev = unique("dev")
    password = await create_device(secure_api, owner, dev, ["FIRST"])
    device = await connected(secure_broker, dev, password)
    assert accepted(device)
    try:
        assert await publish(device, f"devices/{dev}/stocks/FIRST", {"price": 1.0})
        assert not await publish(device, f"devices/{dev}/stocks/SECOND", {"price": 1.0})
        async with secure_api.client(owner) as client:
            patched = await client.patch(f"/api/devices/{dev}", json={"tickers": ["SECOND"]})
        assert patched.status_code == 200 and patched.json()["tickers"] == ["SECOND"]
        assert await publish(device, f"devices/{dev}/stocks/SECOND", {"price": 1.0})  # same session
        assert not await publish(device, f"devices/{dev}/stocks/FIRST", {"price": 1.0})
        assert await publish(device, f"devices/{dev}/telemetry", {"t": 1.0})
    finally:
        device.close()


async def test_delete_removes_its_access(secure_api: Api, secure_broker: SecureBroker) -> None:
    owner = await secure_api.register("owner")
    dev = unique("dev")
    password = await create_device(secure_api, owner, dev, [])
    session = await connected(secure_broker, dev, password)
    assert accepted(session)
    try:
        async with secure_api.client(owner) as client:
            assert (await client.delete(f"/api/devices/{dev}")).status_code == 204
        assert await asyncio.to_thread(session.dropped.wait, 10), "deleted device still on"
    finally:
        session.close()
    assert not accepted(await connected(secure_broker, dev, password))
    async with brokerauth.connected(MqttAddress(secure_broker.admin_url)) as dynsec:
        assert await dynsec.client_roles(dev) is None


async def test_a_service_account_name_is_not_a_device(
    secure_api: Api, secure_broker: SecureBroker
) -> None:
    async with secure_api.client(secure_api.admin) as client:
        for name in (brokerauth.INGEST_ACCOUNT, "admin"):
            taken = await client.post("/api/devices", json={"device_id": name})
            assert taken.status_code == 409 and taken.json()["error"]["code"] == "username_taken"
            assert (await client.get(f"/api/devices/{name}")).status_code == 404
    ingest = DeviceLink(
        secure_broker.url, *_login(secure_broker.ingest_url), unique(brokerauth.INGEST_ACCOUNT)
    )
    assert await asyncio.to_thread(ingest.connect), "the ingester's account was changed"
    ingest.close()


def _login(url: str) -> tuple[str | None, str | None]:
    address = MqttAddress(url)
    return address.username, address.password


async def test_a_broker_that_cannot_be_reached_refuses_the_change(
    secure_api: Api, secure_broker: SecureBroker
) -> None:
    owner = await secure_api.register("owner")
    await shared_stocks(secure_api, "KEPT", "OTHER")
    dev = unique("dev")
    await create_device(secure_api, owner, dev, ["KEPT"])
    await asyncio.to_thread(secure_broker.mosquitto.stop)
    async with secure_api.client(owner) as client:

        async def admin_offline() -> bool:
            status, _ = await rotate(secure_api, owner, dev)
            return status == 503

        await wait_until(
            "rotation refused with 503 once the broker admin is gone", admin_offline, timeout=10
        )
        status, error = await rotate(secure_api, owner, dev)
        assert status == 503 and error["error"]["code"] == "broker_unavailable"
        new = unique("new")
        created = await client.post("/api/devices", json={"device_id": new})
        assert created.status_code == 503, created.text
        assert (await client.get(f"/api/devices/{new}")).status_code == 404
        patched = await client.patch(f"/api/devices/{dev}", json={"tickers": ["OTHER"]})
        assert patched.status_code == 503
        assert (await client.get(f"/api/devices/{dev}")).json()["tickers"] == ["KEPT"]
        assert (await client.delete(f"/api/devices/{dev}")).status_code == 503
        assert (await client.get(f"/api/devices/{dev}")).status_code == 200


async def test_without_credential_management(api: Api) -> None:
    owner = await api.register("owner")
    async with api.client(owner) as client:
        created = await client.post("/api/devices", json={"device_id": unique("dev")})
        assert created.status_code == 201 and created.json()["credentials"] is None
        device_id = created.json()["device_id"]
    status, error = await rotate(api, owner, device_id)
    assert status == 409 and error["error"]["code"] == "credentials_disabled"


async def test_concurrent_creations_of_one_id_leave_the_winner_working(
    secure_api: Api, secure_broker: SecureBroker, db: asyncpg.Connection
) -> None:
    """Only the request that stored the device touches its broker account: a loser finds out
    before the broker, so the winner's password is the one that works."""
    owners = [await secure_api.register(f"racer{i}") for i in range(8)]
    dev = unique("raced")

    async def attempt(owner: Account) -> tuple[int, dict[str, Any]]:
        async with secure_api.client(owner) as client:
            response = await client.post("/api/devices", json={"device_id": dev})
        return response.status_code, response.json()

    answers = await asyncio.gather(*(attempt(owner) for owner in owners))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * (len(owners) - 1), answers
    assert all(body["error"]["code"] == "device_exists" for s, body in answers if s == 409)
    [winner] = [body for status, body in answers if status == 201]
    stored = await db.fetchval("SELECT owner_id FROM devices WHERE device_id = $1", dev)
    assert str(stored) == winner["owner_id"]
    device = await connected(secure_broker, dev, winner["credentials"]["password"])
    try:
        assert accepted(device), device.connack
        assert await publish(device, f"devices/{dev}/telemetry", {"t": 1.0})
    finally:
        device.close()

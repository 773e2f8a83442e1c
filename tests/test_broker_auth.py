"""Broker accounts and topic ACLs on a real Mosquitto with the dynamic-security plugin."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import sys
from pathlib import Path

from devstack.broker import ACCOUNTS_FILE, DYNSEC_FILE, Accounts, embedded_broker
from devstack.ports import free_port
from devstack.stack import Login, child_environments
from tests.broker_support import SecureBroker
from tests.device_link import DeviceLink
from tests.support import unique
from tickwire import brokerauth
from tickwire.contract import SUBSCRIPTIONS
from tickwire.settings import MqttAddress


def link(broker: SecureBroker, username: str | None, password: str | None, cid: str) -> DeviceLink:
    return DeviceLink(broker.url, username, password, cid)


async def connects(device: DeviceLink) -> bool:
    return await asyncio.to_thread(device.connect)


def login(url: str) -> tuple[str | None, str | None]:
    address = MqttAddress(url)
    return address.username, address.password


async def test_services_log_in_with_their_own_accounts_and_stay_in_their_topics(
    secure_broker: SecureBroker,
) -> None:
    ingest = link(secure_broker, *login(secure_broker.ingest_url), unique("ingest"))
    api = link(secure_broker, *login(secure_broker.api_url), unique("api"))
    assert await connects(ingest) and await connects(api)
    try:
        for topic in SUBSCRIPTIONS:
            assert not ingest.subscribe(topic).is_failure, topic
        assert ingest.subscribe("#").is_failure
        assert ingest.subscribe("devices/+/commands").is_failure
        assert ingest.publish("stocks/AAPL", {"price": 1}).is_failure
        assert not api.publish("devices/dev-1/commands", {"id": "x"}).is_failure
        assert api.publish("stocks/AAPL", {"price": 1}).is_failure
        assert api.publish("devices/dev-1/telemetry", {"t": 1}).is_failure
        assert api.subscribe("#").is_failure
    finally:
        ingest.close()
        api.close()
    anonymous = link(secure_broker, None, None, unique("anon"))
    assert not await connects(anonymous)
    wrong = link(secure_broker, brokerauth.INGEST_ACCOUNT, "not-the-password", unique("i"))
    assert not await connects(wrong)


async def test_setup_command_is_idempotent_and_sets_new_passwords(
    secure_broker: SecureBroker,
) -> None:
    password = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "TICKWIRE_MQTT_ADMIN_URL": secure_broker.admin_url,
        "TICKWIRE_MQTT_INGEST_PASSWORD": password,
        "TICKWIRE_MQTT_API_PASSWORD": secrets.token_urlsafe(16),
    }
    for _ in range(2):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tickwire.brokerauth", "setup", env=env
        )
        assert await asyncio.wait_for(process.wait(), 60) == 0
    old = link(secure_broker, *login(secure_broker.ingest_url), unique("ingest"))
    assert not await connects(old)
    new = link(secure_broker, brokerauth.INGEST_ACCOUNT, password, unique("ingest"))
    assert await connects(new)
    new.close()
    env["TICKWIRE_MQTT_API_PASSWORD"] = "change-me"  # a placeholder is refused
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tickwire.brokerauth", "setup", env=env
    )
    assert await asyncio.wait_for(process.wait(), 60) == 1


async def test_a_device_publishes_and_subscribes_only_its_own_topics(
    secure_broker: SecureBroker,
) -> None:
    async with brokerauth.connected(MqttAddress(secure_broker.admin_url)) as dynsec:
        mine = await dynsec.issue_device("dev-a", ["AAPL"])
        await dynsec.issue_device("dev-b", ["MSFT"])
        assert not await connects(link(secure_broker, "dev-a", "wrong-password", "dev-a"))
        assert not await connects(link(secure_broker, None, None, "dev-a"))
        # The client id must be the device id: no session takeover under another id.
        assert not await connects(link(secure_broker, "dev-a", mine.password, "dev-b"))
        device = link(secure_broker, "dev-a", mine.password, "dev-a")
        assert await connects(device)
        try:
            for topic in (
                "devices/dev-a/telemetry",
                "devices/dev-a/heartbeat",
                "devices/dev-a/acks",
            ):
                assert not device.publish(topic, {"ts": 1}).is_failure, topic
            assert not device.publish("devices/dev-a/stocks/AAPL", {"price": 1}).is_failure
            assert device.publish("devices/dev-a/stocks/MSFT", {"price": 1}).is_failure
            # Prices only on its own topic: not on the shared one, not on another device's.
            assert device.publish("stocks/AAPL", {"price": 1}).is_failure
            assert device.publish("devices/dev-b/stocks/MSFT", {"price": 1}).is_failure
            assert device.publish("devices/dev-b/telemetry", {"t": 1}).is_failure
            assert device.publish("devices/dev-a/commands", {"id": "x"}).is_failure
            assert not device.subscribe("devices/dev-a/commands").is_failure
            for topic in ("devices/dev-b/commands", "devices/+/commands", "#", "stocks/+"):
                assert device.subscribe(topic).is_failure, topic
            # Tickers change what it may publish, on the live session.
            assert await dynsec.set_device_tickers("dev-a", ["MSFT"])
            assert not device.publish("devices/dev-a/stocks/MSFT", {"price": 1}).is_failure
            assert device.publish("devices/dev-a/stocks/AAPL", {"price": 1}).is_failure
        finally:
            device.close()
        assert not await dynsec.set_device_tickers("dev-never-issued", ["AAPL"])


async def test_setup_moves_old_device_roles_off_the_shared_price_topics(
    secure_broker: SecureBroker,
) -> None:
    """A device account made when devices published prices on stocks/{T} loses that right at
    the next setup and gets its own price topic for the same tickers."""
    async with brokerauth.connected(MqttAddress(secure_broker.admin_url)) as dynsec:
        issued = await dynsec.issue_device("old-feed", [])
        legacy = brokerauth.device_acls("old-feed", []) + [
            {"acltype": "publishClientSend", "topic": f"stocks/{t}", "allow": True}
            for t in ("AAPL", "MSFT")
        ]
        await dynsec.put_role(brokerauth.device_role("old-feed"), legacy)
        device = link(secure_broker, "old-feed", issued.password, "old-feed")
        assert await connects(device)
        try:
            assert not device.publish("stocks/AAPL", {"price": 1}).is_failure
            await brokerauth.setup(
                secure_broker.admin_url, *_service_passwords(secure_broker), wait=10
            )
            assert device.publish("stocks/AAPL", {"price": 1}).is_failure
            for ticker in ("AAPL", "MSFT"):
                topic = f"devices/old-feed/stocks/{ticker}"
                assert not device.publish(topic, {"price": 1}).is_failure, topic
            assert device.publish("devices/old-feed/stocks/IBM", {"price": 1}).is_failure
        finally:
            device.close()
        assert await dynsec.upgrade_device_roles() == 0  # nothing left to move


def _service_passwords(broker: SecureBroker) -> tuple[str, str]:
    ingest, api = login(broker.ingest_url)[1], login(broker.api_url)[1]
    assert ingest is not None and api is not None
    return ingest, api


async def test_service_accounts_are_not_device_credentials(secure_broker: SecureBroker) -> None:
    async with brokerauth.connected(MqttAddress(secure_broker.admin_url)) as dynsec:
        for name in (brokerauth.INGEST_ACCOUNT, brokerauth.API_ACCOUNT, "admin"):
            try:
                await dynsec.issue_device(name, [])
            except brokerauth.NotADevice:
                pass
            else:
                raise AssertionError(f"{name} was given device credentials")
            await dynsec.remove_device(name)  # refused quietly: the account stays
            assert await dynsec.client_roles(name) is not None
    ingest = link(secure_broker, *login(secure_broker.ingest_url), unique("ingest"))
    assert await connects(ingest)
    ingest.close()


async def test_make_up_broker_keeps_its_accounts_private_and_refuses_anonymous(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "broker"
    accounts = Accounts.kept(directory)
    assert Accounts.kept(directory) == accounts
    port = free_port()
    async with embedded_broker(
        directory, port, admin=("admin", accounts.admin), tls_port=free_port()
    ) as (url, kind, *_):
        assert kind == "mosquitto-dynsec" and url == f"mqtt://127.0.0.1:{port}"
        for name in (ACCOUNTS_FILE, DYNSEC_FILE):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
        admin_url = f"mqtt://admin:{accounts.admin}@127.0.0.1:{port}"
        await brokerauth.setup(admin_url, accounts.ingest, accounts.api, wait=10)
        anonymous = DeviceLink(url, None, None, unique("anon"))
        assert not await asyncio.to_thread(anonymous.connect)
        ingest_url = f"mqtt://{brokerauth.INGEST_ACCOUNT}:{accounts.ingest}@127.0.0.1:{port}"
        ingest = DeviceLink(ingest_url, *login(ingest_url), unique("ingest"))
        assert await asyncio.to_thread(ingest.connect)
        ingest.close()


async def test_make_up_gives_each_service_its_own_account(tmp_path: Path) -> None:
    directory = tmp_path / "broker"
    accounts = Accounts.kept(directory)
    person = Login("admin@example.com", "demo-password", True, "http://127.0.0.1:8000")
    env = {"TICKWIRE_MQTT_ADMIN_URL": "mqtt://leaked:x@elsewhere:1883", "OTHER": "kept"}
    async with embedded_broker(
        directory, free_port(), admin=("admin", accounts.admin), tls_port=free_port()
    ) as (url, kind, _, tls_url, ca_file):
        envs = await child_environments(
            {**env, "TICKWIRE_MQTT_URL": url}, url, kind, accounts, person, (tls_url, ca_file)
        )
        simulator = envs["simulator"]
        assert "TICKWIRE_MQTT_ADMIN_URL" not in simulator and simulator["OTHER"] == "kept"
        # Its devices connect over TLS, each as itself (it provisions them through the API):
        assert simulator["TICKWIRE_MQTT_URL"] == tls_url and tls_url.startswith("mqtts://")
        assert simulator["TICKWIRE_MQTT_CA_FILE"] == str(ca_file)
        assert all("TICKWIRE_MQTT_CA_FILE" not in envs[s] for s in ("ingest", "api"))
        assert simulator["TICKWIRE_SIM_API_URL"] == person.api_url
        assert simulator["TICKWIRE_ADMIN_PASSWORD"] == "demo-password"
        assert "TICKWIRE_MQTT_ADMIN_URL" not in envs["ingest"]
        for service, account in (("ingest", "tickwire-ingest"), ("api", "tickwire-api")):
            service_url = envs[service]["TICKWIRE_MQTT_URL"]
            assert MqttAddress(service_url).username == account
            session = DeviceLink(service_url, *login(service_url), unique(service))
            assert await asyncio.to_thread(session.connect), service
            session.close()
        async with brokerauth.connected(MqttAddress(envs["api"]["TICKWIRE_MQTT_ADMIN_URL"])) as d:
            assert await d.client_roles("tickwire-ingest") == ["tickwire-ingest"]
    # The pure-Python fallback and a Mosquitto without the plugin: anonymous, no admin.
    plain = await child_environments(env, "mqtt://127.0.0.1:1", "amqtt", accounts, person)
    assert all(e["TICKWIRE_MQTT_ADMIN_URL"] == "" for e in plain.values())

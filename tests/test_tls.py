"""MQTT over TLS against the real Mosquitto: the broker listens on a plain port (loopback
services) and a TLS port (devices) with a CA and server certificate tickwire makes; every
client goes through tickwire/mqtt.py with an `mqtts://` URL and a CA file."""

from __future__ import annotations

import asyncio
import datetime
import shlex
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pydantic
import pytest
from cryptography import x509

from api import publisher
from devstack.broker import TlsListener, amqtt_broker
from devstack.ports import free_port
from tests.api_support import running_api
from tests.broker_support import SecureBroker, secure_mosquitto
from tests.credentials_support import create_device
from tests.device_link import DeviceLink
from tests.ingest_support import ingest_settings, ingesting
from tests.support import publish, unique, wait_until
from tickwire import brokerauth, certs
from tickwire import mqtt as adapter
from tickwire.aio import bytes_waiting, tls_buffered
from tickwire.settings import CommonSettings, MqttAddress

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def tls_broker(tmp_path: Path) -> AsyncIterator[SecureBroker]:
    async with secure_mosquitto(tmp_path / "tls-broker", tls=True) as running:
        yield running


async def _device(broker: SecureBroker, tickers: list[str] | None = None) -> tuple[str, str]:
    """A device account (id, password), issued over the TLS listener by the admin."""
    device_id = unique("dev")
    admin = MqttAddress(broker.over_tls(broker.admin_url), broker.ca_file)
    async with brokerauth.connected(admin) as dynsec:
        credentials = await dynsec.issue_device(device_id, tickers or [])
    return device_id, credentials.password


async def _stored(db: asyncpg.Connection, device_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = $1", device_id))


# --- the certificates -------------------------------------------------------------------------


def test_the_ca_is_kept_and_the_server_certificate_renewed_only_when_needed(
    tmp_path: Path,
) -> None:
    tls = certs.ensure(tmp_path)
    for key in (tls.ca_key, tls.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    ca, server = tls.ca_cert.read_bytes(), tls.server_cert.read_bytes()
    assert certs.ensure(tmp_path) == tls and tls.server_cert.read_bytes() == server  # kept
    names = x509.load_pem_x509_certificate(server).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert {str(n.value) for n in names.value} == {"localhost", "127.0.0.1", "::1"}

    certs.ensure(tmp_path, ["broker.example.com", "10.0.0.7"])  # other names: a new one
    assert tls.ca_cert.read_bytes() == ca and tls.server_cert.read_bytes() != server
    renamed = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    assert renamed.issuer == x509.load_pem_x509_certificate(ca).subject
    left = renamed.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert certs.RENEW_BEFORE < left <= certs.SERVER_LIFETIME

    tls.ca_key.unlink()  # a lost CA: a new CA and a certificate it signed
    certs.ensure(tmp_path, ["broker.example.com", "10.0.0.7"])
    new_ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    assert new_ca != x509.load_pem_x509_certificate(ca)
    reissued = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    reissued.verify_directly_issued_by(new_ca)


@pytest.mark.parametrize("hosts", [[], [""], ["two words"], ["user@host"], ["host:8883"]])
def test_a_certificate_for_no_or_a_malformed_host_is_refused(
    tmp_path: Path, hosts: list[str]
) -> None:
    with pytest.raises(ValueError):
        certs.ensure(tmp_path, hosts)


# --- URLs and the CA-file setting ---------------------------------------------------------------


def test_mqtts_urls_default_to_8883_and_carry_the_ca_file(tmp_path: Path) -> None:
    ca = certs.ensure(tmp_path).ca_cert
    secure = MqttAddress("mqtts://dev-1:p%40ss@broker.example.com", ca)
    assert (secure.tls, secure.port, secure.password, secure.ca_file) == (True, 8883, "p@ss", ca)
    assert repr(secure) == "mqtts://broker.example.com:8883"
    plain = MqttAddress("mqtt://127.0.0.1", ca)
    assert (plain.tls, plain.port, plain.ca_file) == (False, 1883, None)
    for url in ("http://broker:8883", "wss://broker", "mqtt+tls://broker"):
        with pytest.raises(ValueError, match="mqtts://"):
            MqttAddress(url)

    settings = CommonSettings(mqtt_url="mqtts://broker.example.com:9883", mqtt_ca_file=ca)
    assert settings.mqtt_address().ca_file == ca and settings.mqtt_address().port == 9883
    admin = settings.mqtt_address("mqtts://admin:pw@broker.example.com")
    assert admin.ca_file == ca and admin.username == "admin"
    assert CommonSettings(mqtt_ca_file="").mqtt_ca_file is None  # type: ignore[arg-type]


@pytest.mark.parametrize("content", [None, b"", b"not a certificate", b"\x00\xff" * 100])
def test_a_ca_file_that_cannot_be_loaded_stops_the_service_at_start(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "ca.crt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(pydantic.ValidationError, match="cannot load the CA file"):
        CommonSettings(mqtt_ca_file=path)
    with pytest.raises(pydantic.ValidationError, match="cannot load the CA file"):
        CommonSettings(mqtt_ca_file=tmp_path)  # a directory


# --- against the real Mosquitto -----------------------------------------------------------------


async def test_a_device_publishes_over_tls_and_the_reading_is_stored(
    database_url: str, db: asyncpg.Connection, tls_broker: SecureBroker
) -> None:
    """The device logs in over TLS with the generated CA and its own credentials; the
    ingester, a loopback service, stays on the plain port."""
    device_id, password = await _device(tls_broker)
    device = DeviceLink(
        tls_broker.over_tls(tls_broker.url), device_id, password, device_id, tls_broker.ca_file
    )
    settings = ingest_settings(database_url, tls_broker.mosquitto, mqtt_url=tls_broker.ingest_url)
    assert settings.mqtt_address().tls is False
    async with ingesting(settings):
        assert await asyncio.to_thread(device.connect)
        try:
            telemetry = f"devices/{device_id}/telemetry"
            reading = {"ts": 1_714_041_600_000, "temperature": 21.5}
            assert not (await asyncio.to_thread(device.publish, telemetry, reading)).is_failure

            async def stored() -> bool:
                return await _stored(db, device_id) == 1

            await wait_until(f"{device_id}'s reading stored", stored, timeout=20)
        finally:
            device.close()
    value = await db.fetchval(
        "SELECT value FROM telemetry WHERE device_id = $1 AND metric = 'temperature'", device_id
    )
    assert value == 21.5


async def test_every_service_client_works_over_tls(
    database_url: str, db: asyncpg.Connection, tls_broker: SecureBroker
) -> None:
    """The ingester (paho served on the event loop), the API's publisher and the admin (paho's
    thread) and the health probe, each with `mqtts://` and the CA file: a burst of readings
    all stored, a command delivered to the device, the probe answered."""
    device_id, password = await _device(tls_broker)
    device_url = tls_broker.mosquitto.url_for(device_id, password, tls=True)
    settings = ingest_settings(
        database_url,
        tls_broker.mosquitto,
        mqtt_url=tls_broker.over_tls(tls_broker.ingest_url),
        mqtt_ca_file=tls_broker.ca_file,
    )
    assert settings.mqtt_address().tls
    burst = [
        (f"devices/{device_id}/telemetry", {"ts": 1_714_041_600_000 + i, "temperature": i / 10})
        for i in range(2_000)
    ]
    async with ingesting(settings):
        sent = await asyncio.to_thread(
            publish, device_url, burst, ca_file=tls_broker.ca_file, client_id=device_id
        )

        async def all_stored() -> bool:
            return await _stored(db, device_id) == sent

        await wait_until(f"{sent} readings over TLS stored", all_stored, timeout=60)

    api = MqttAddress(tls_broker.over_tls(tls_broker.api_url), tls_broker.ca_file)
    assert await adapter.probe(api) == (True, "ok")
    device = DeviceLink(device_url, device_id, password, device_id, tls_broker.ca_file)
    assert await asyncio.to_thread(device.connect)
    try:
        granted = await asyncio.to_thread(device.subscribe, f"devices/{device_id}/commands")
        assert not granted.is_failure
        async with publisher.connected(api) as bus:
            await bus.publish(f"devices/{device_id}/commands", {"id": "c-1", "command": "ping"})
        topic, body = await asyncio.to_thread(device.messages.get, True, 10)
        assert (topic, body["command"]) == (f"devices/{device_id}/commands", "ping")
    finally:
        device.close()


async def test_a_broker_certificate_from_another_ca_is_refused(
    tls_broker: SecureBroker, tmp_path: Path
) -> None:
    """Another CA, the system's CAs, or the right CA for a certificate naming another host:
    the TLS handshake fails before any credentials are sent, on every kind of client."""
    device_id, password = await _device(tls_broker)
    url = tls_broker.mosquitto.url_for(device_id, password, tls=True)
    other_ca = certs.ensure(tmp_path / "other-ca").ca_cert
    for ca_file in (other_ca, None):
        address = MqttAddress(url, ca_file)
        client = adapter.new_client(device_id, username=device_id, password=password)
        with pytest.raises(ssl.SSLCertVerificationError):
            await adapter.connect(client, address)
        ok, detail = await adapter.probe(address)
        assert not ok and "SSLCertVerificationError" in detail, detail
        link = DeviceLink(url, device_id, password, device_id, ca_file)
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.to_thread(link.connect)

    # The right CA, but a server certificate that does not name 127.0.0.1.
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for name in ("ca.crt", "ca.key"):
        (renamed / name).write_bytes((tls_broker.ca_file.parent / name).read_bytes())
    certs.ensure(renamed, ["broker.example.com"])
    assert tls_broker.mosquitto.tls is not None
    tls_broker.mosquitto.tls = TlsListener(tls_broker.mosquitto.tls.port, certs.BrokerTls(renamed))
    await asyncio.to_thread(tls_broker.mosquitto.stop)
    await asyncio.to_thread(tls_broker.mosquitto.start)
    ok, detail = await adapter.probe(MqttAddress(url, tls_broker.ca_file))
    assert not ok and "IP address mismatch" in detail, detail


async def test_plain_and_tls_listeners_do_not_mix(tls_broker: SecureBroker) -> None:
    """A plain client on the TLS port and a TLS client on the plain port get no CONNACK."""
    device_id, password = await _device(tls_broker)
    tls_port = MqttAddress(tls_broker.over_tls(tls_broker.url)).port
    plain_on_tls = MqttAddress(f"mqtt://{device_id}:{password}@127.0.0.1:{tls_port}")
    ok, detail = await adapter.probe(plain_on_tls, 2.0)
    assert not ok, detail
    port = MqttAddress(tls_broker.url).port
    tls_on_plain = MqttAddress(f"mqtts://127.0.0.1:{port}", tls_broker.ca_file)
    ok, detail = await adapter.probe(tls_on_plain, 2.0)
    assert not ok, detail  # the broker resets it (or the handshake times out)


def test_bytes_tls_has_decrypted_count_as_waiting(tmp_path: Path) -> None:
    """A TLS record holding several MQTT packets (as brokers that batch writes send them) is
    decrypted whole: what paho has not read yet is in the SSL object, not the kernel, and no
    reader callback fires for it. `bytes_waiting` counts it, so the loops read on."""
    files = certs.ensure(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(files.server_cert, files.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    record = bytes(range(100))

    def serve() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(record)  # one record
            tls.recv(1)  # until the client is done

    server = threading.Thread(target=serve)
    server.start()
    context = adapter.tls_context(str(files.ca_cert))
    raw = socket.create_connection(listener.getsockname())
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as client:
        assert client.recv(10) == record[:10]
        assert tls_buffered(client) == 90 and bytes_waiting(client) >= 90
        assert client.recv(90) == record[10:]
        assert tls_buffered(client) == 0
        client.sendall(b"x")
    server.join(5)
    listener.close()
    plain_a, plain_b = socket.socketpair()
    with plain_a, plain_b:
        plain_b.sendall(b"abc")
        assert tls_buffered(plain_a) == 0 and bytes_waiting(plain_a) == 3


async def test_the_amqtt_fallback_serves_the_same_tls(tmp_path: Path) -> None:
    """Without Mosquitto, `make up`'s amqtt listens over TLS too, with the same certificate."""
    files = certs.ensure(tmp_path / "tls")
    async with amqtt_broker(free_port(), TlsListener(free_port(), files)) as (plain, secure):
        assert await adapter.probe(MqttAddress(secure, files.ca_cert)) == (True, "ok")
        assert await adapter.probe(MqttAddress(plain)) == (True, "ok")
        other = certs.ensure(tmp_path / "other").ca_cert
        ok, detail = await adapter.probe(MqttAddress(secure, other))
        assert not ok and "SSLCertVerificationError" in detail, detail


async def test_the_documented_mosquitto_pub_command_reaches_the_database(
    database_url: str, db: asyncpg.Connection, tls_broker: SecureBroker, tmp_path: Path
) -> None:
    """docs/broker.md's `mosquitto_pub --cafile` for `make up`, run as written (the port,
    CA path, device id and password put in): the reading is stored; with another CA it is
    refused."""
    if shutil.which("mosquitto_pub") is None:
        pytest.skip("mosquitto_pub is not installed (Debian: mosquitto-clients)")
    text = (ROOT / "docs" / "broker.md").read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if "mosquitto_pub -h 127.0.0.1" in line)
    device_id, password = await _device(tls_broker)
    assert tls_broker.mosquitto.tls is not None
    command = (
        line.replace("8883", str(tls_broker.mosquitto.tls.port))
        .replace(".tickwire/broker/tls/ca.crt", str(tls_broker.ca_file))
        .replace("dev-1", device_id)
        .replace("PASSWORD", password)
    )
    argv = shlex.split(command)
    assert argv[0] == "mosquitto_pub" and "--cafile" in argv
    settings = ingest_settings(database_url, tls_broker.mosquitto, mqtt_url=tls_broker.ingest_url)
    async with ingesting(settings):
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr

        async def stored() -> bool:
            return await _stored(db, device_id) == 1

        await wait_until(f"{device_id}'s reading from mosquitto_pub stored", stored, timeout=20)
    other = str(certs.ensure(tmp_path / "other").ca_cert)
    refused = [other if word == str(tls_broker.ca_file) else word for word in argv]
    done = await asyncio.to_thread(subprocess.run, refused, capture_output=True, timeout=30)
    assert done.returncode != 0 and await _stored(db, device_id) == 1


async def test_the_api_process_over_tls_issues_credentials_sends_commands_and_checks_health(
    database_url: str, tls_broker: SecureBroker, tmp_path: Path
) -> None:
    """The API with `mqtts://` main and admin URLs and one CA file: a device created through
    it gets credentials that log in over TLS, a command reaches the device, /health answers
    that the broker (over TLS) is up."""
    async with running_api(
        database_url,
        tls_broker.over_tls(tls_broker.api_url),
        tmp_path / "api",
        mqtt_admin_url=tls_broker.over_tls(tls_broker.admin_url),
        mqtt_ca_file=tls_broker.ca_file,
    ) as api:
        device_id = unique("dev")
        password = await create_device(api, api.admin, device_id, [])
        device = DeviceLink(
            tls_broker.mosquitto.url_for(device_id, password, tls=True),
            device_id,
            password,
            device_id,
            tls_broker.ca_file,
        )
        assert await asyncio.to_thread(device.connect)
        try:
            granted = await asyncio.to_thread(device.subscribe, f"devices/{device_id}/commands")
            assert not granted.is_failure
            async with api.client(api.admin) as client:
                sent = await client.post(
                    f"/api/devices/{device_id}/commands", json={"command": "ping"}
                )
                assert sent.status_code == 202, sent.text
                health = (await client.get("/health")).json()
            topic, body = await asyncio.to_thread(device.messages.get, True, 10)
            assert (topic, body["command"]) == (f"devices/{device_id}/commands", "ping")
        finally:
            device.close()
    assert health["broker"]["ok"] and health["broker"]["address"].startswith("mqtts://")

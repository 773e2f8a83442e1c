"""Hostile and odd messages against the real Mosquitto, PostgreSQL and ingester: a poison
message through a device's own credentials, an unexpected failure in processing one message,
payloads over the ingester's and the broker's size limits, retained messages across
re-subscriptions, and the dead letters' retention."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devstack.broker import MAX_PACKET_SIZE, MESSAGE_SIZE_LIMIT, Mosquitto
from ingest.batch import OVERSIZED_KEPT_BYTES, Batch, dead_letters
from ingest.pruner import prune_dead_letters
from ingest.stats import Stats
from ingest.subscriber import Received
from ingest.writer import Writer
from tests.broker_support import SecureBroker
from tests.device_link import DeviceLink
from tests.ingest_support import ingest_settings, start_ingester
from tests.payload_support import nested
from tests.process_support import spawn_ingester
from tests.support import publish, unique, wait_until
from tickwire import brokerauth
from tickwire.contract import Limits, Parsed
from tickwire.settings import MqttAddress

pytestmark = pytest.mark.timeout(170)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def _count(db: asyncpg.Connection, sql: str, *args: object) -> int:
    return int(await db.fetchval(sql, *args))


async def test_a_poison_message_is_dead_lettered_acknowledged_and_ingest_goes_on(
    database_url: str, db: asyncpg.Connection, secure_broker: SecureBroker, tmp_path: Path
) -> None:
    """JSON nested 1 025–10 000 deep on each of a device's topics, sent with its own login:
    the ingester process dead-letters each as `not_json`, stays up, and takes the next
    readings; restarted, it is not handed the poison again (it was acknowledged)."""
    device_id = unique("dev")
    async with brokerauth.connected(MqttAddress(secure_broker.admin_url)) as dynsec:
        credentials = await dynsec.issue_device(device_id, ["POISON"])
    device = DeviceLink(secure_broker.url, device_id, credentials.password, device_id)
    assert await asyncio.to_thread(device.connect)
    client_id, log = unique("ingest"), tmp_path / "ingest.log"
    mosquitto, url = secure_broker.mosquitto, secure_broker.ingest_url
    ingester = spawn_ingester(database_url, mosquitto, client_id, log, url)
    telemetry = f"devices/{device_id}/telemetry"
    sent = 0

    async def reading_lands() -> None:
        nonlocal sent
        sent += 1
        reading = {"ts": 1_714_041_600_000 + sent, "temperature": 20.0 + sent}

        async def landed() -> bool:
            # Sent again until it lands (before the first subscription nobody gets it); the
            # natural key keeps it one row.
            assert not (await asyncio.to_thread(device.publish, telemetry, reading)).is_failure
            count = "SELECT count(*) FROM telemetry WHERE device_id = $1"
            return await _count(db, count, device_id) == sent

        await wait_until(
            f"all {sent} readings of {device_id} stored", landed, timeout=45, interval=0.5
        )

    poison = {
        telemetry: b'{"temperature":21,"x":' + nested(10_000, kinds=b"[{") + b"}",
        f"devices/{device_id}/heartbeat": nested(1_025),
        f"devices/{device_id}/acks": nested(5_000, kinds=b"{"),
        f"devices/{device_id}/stocks/POISON": b'{"price":1,"volume":' + nested(2_000) + b"}",
    }
    try:
        await reading_lands()  # subscribed
        for topic, payload in poison.items():
            assert 2_000 <= len(payload) <= 80_000
            assert not (await asyncio.to_thread(device.publish, topic, payload)).is_failure
        await reading_lands()
        assert ingester.poll() is None, _tail(log)
        await _assert_dead_lettered_as_not_json(db, poison)

        ingester.terminate()
        assert await asyncio.to_thread(ingester.wait, 30) == 0, _tail(log)
        ingester = spawn_ingester(database_url, mosquitto, client_id, log, url)
        await reading_lands()
        await asyncio.sleep(1)  # anything redelivered would be dead-lettered again by now
        assert await _count(db, "SELECT count(*) FROM dead_letters") == len(poison)
        assert ingester.poll() is None, _tail(log)
    finally:
        device.close()
        ingester.terminate()
        await asyncio.to_thread(ingester.wait, 30)


async def _assert_dead_lettered_as_not_json(
    db: asyncpg.Connection, messages: dict[str, bytes]
) -> None:
    """The dead letters are exactly `messages` (topic → payload), whole, each `not_json`."""
    rows = await db.fetch("SELECT topic, payload, payload_size, reason FROM dead_letters")
    assert {(r["topic"], bytes(r["payload"]), r["payload_size"]) for r in rows} == {
        (topic, payload, len(payload)) for topic, payload in messages.items()
    }
    assert {r["reason"] for r in rows} == {"not_json"}


def _explode(topic: str, payload: bytes, received_at: datetime, limits: Limits, /) -> Parsed:
    raise KeyError(f"a bug met {topic}")


async def test_an_unexpected_failure_in_processing_a_message_is_an_internal_dead_letter(
    db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    """The receive path contains any exception of one message: that message alone becomes
    an `internal` dead letter (logged with its traceback), and is written like the others."""
    batch = Batch(parser=_explode)
    poisoned = Received("devices/d-int/telemetry", b'{"t":1}', 1, 7, 1, 1_714_041_600.0)
    with caplog.at_level(logging.ERROR, logger="ingest.batch"):
        batch.add(poisoned, Limits())
    good = Batch()
    good.add(Received("devices/d-int/telemetry", b'{"t":2}', 1, 8, 1, 1_714_041_600.0), Limits())
    batch.items += good.items
    batch.rows += good.rows

    (failed, _) = batch.items
    assert failed.rejected is not None and failed.rejected.reason == "internal"
    assert "KeyError" in failed.rejected.detail and "a bug met" in failed.rejected.detail
    assert [r.exc_info is not None for r in caplog.records] == [True]
    assert "Traceback" in caplog.text
    (row,) = dead_letters(failed)
    assert row[1:5] == ("devices/d-int/telemetry", b'{"t":1}', 7, "internal")

    backend = await db.fetchval("SELECT value FROM schema_info WHERE key = 'backend'")
    writer = Writer(db, backend, auto_register=True)
    await writer.prepare()
    stats = Stats()
    outcome = await writer.write(batch, stats, "test")
    assert (outcome.inserted, outcome.dead_lettered, stats.dead_lettered) == (1, 1, 1)
    stored = await db.fetchrow("SELECT reason, payload, payload_size FROM dead_letters")
    assert tuple(stored) == ("internal", b'{"t":1}', 7)


def _raw_publish(url: str, topic: str, payload: bytes) -> str:
    """Publish once with QoS 1 over MQTT 3.1.1; 'acked' or 'disconnected'."""
    address = MqttAddress(url)
    answered, outcome = threading.Event(), []

    def answer(what: str) -> None:
        outcome.append(what)
        answered.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("big"))
    client.on_publish = lambda *_: answer("acked")
    client.on_disconnect = lambda *_: answer("disconnected")
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1)
        assert answered.wait(30), "the broker neither acknowledged nor disconnected"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()


async def test_payload_limits_of_the_broker_and_of_the_ingester(
    db: asyncpg.Connection, broker: Mosquitto, ingester: object
) -> None:
    """Over the broker's limit: dropped by the broker (its QoS flow completed), or the sender
    disconnected before the broker reads it; between the ingester's limit and the broker's:
    an `oversized` dead letter keeping a prefix and the size."""
    assert ingest_settings("", broker).max_payload_bytes < MESSAGE_SIZE_LIMIT < MAX_PACKET_SIZE
    topic = "devices/big/telemetry"
    over = b'{"t":1,"pad":"' + b"x" * (MESSAGE_SIZE_LIMIT + 10) + b'"}'
    huge = b'{"t":1,"pad":"' + b"y" * (MAX_PACKET_SIZE + 10) + b'"}'
    between = b'{"t":1,"pad":"' + b"z" * 300_000 + b'"}'
    assert await asyncio.to_thread(_raw_publish, broker.url, topic, over) == "acked"
    assert await asyncio.to_thread(_raw_publish, broker.url, topic, huge) == "disconnected"
    publish(broker.url, [(topic, between), ("devices/small/telemetry", {"t": 1})])

    async def marker_landed() -> bool:
        return await _count(db, "SELECT count(*) FROM telemetry") == 1

    await wait_until("the marker reading stored", marker_landed)
    rows = await db.fetch("SELECT reason, payload, payload_size FROM dead_letters")
    assert [tuple(r) for r in rows] == [("oversized", between[:OVERSIZED_KEPT_BYTES], len(between))]
    received = await _count(db, "SELECT sum(received) FROM ingest_status")
    assert received == 2  # nothing of the two the broker refused


def _retain(url: str, topic: str, payload: bytes) -> None:
    """Publish `payload` retained on `topic` (QoS 1, acknowledged)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("retainer"))
    address = MqttAddress(url)
    client.connect(address.host, address.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


@pytest.mark.parametrize("protocol", [5, 311])
async def test_a_retained_message_is_ingested_once_across_resubscriptions(
    database_url: str, db: asyncpg.Connection, broker: Mosquitto, protocol: int
) -> None:
    """A retained reading without `ts` (its time is the receive time): live, it becomes one
    row; after a broker restart, an ingester restart, and for a new ingester, still one."""
    settings = ingest_settings(database_url, broker, mqtt_protocol=protocol)
    running = await start_ingester(settings)
    retained_topic = "devices/kept/telemetry"
    probes = 0

    async def probe_committed() -> None:
        # Published after the subscription: once in, anything retained was handled before it.
        nonlocal probes
        probes += 1
        publish(broker.url, [(f"devices/probe-{probes}/telemetry", {"t": 1})])

        async def landed() -> bool:
            count = "SELECT count(*) FROM telemetry WHERE device_id = $1"
            return await _count(db, count, f"probe-{probes}") == 1

        await wait_until(f"the reading of probe-{probes} stored", landed, timeout=60, interval=0.2)

    async def kept_rows() -> int:
        return await _count(db, "SELECT count(*) FROM telemetry WHERE device_id = 'kept'")

    try:
        _retain(broker.url, retained_topic, b'{"temperature":21.5}')
        await probe_committed()
        assert await kept_rows() == 1

        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(broker.start)
        await probe_committed()  # reconnected and subscribed again
        assert await kept_rows() == 1

        await running.close()
        # The same session (client id); another instance in ingest_status.
        running = await start_ingester(settings.model_copy(update={"ingest_instance": "again"}))
        await probe_committed()
        assert await kept_rows() == 1
        await running.close()

        fresh = ingest_settings(database_url, broker, mqtt_protocol=protocol)
        running = await start_ingester(fresh.model_copy(update={"ingest_instance": "new"}))
        await probe_committed()
        assert await kept_rows() == 1
        await running.close()
        ignored = await _count(db, "SELECT sum(retained_ignored) FROM ingest_status")
        # MQTT 5 asks the broker not to send retained messages; 3.1.1 gets them flagged.
        assert ignored == (0 if protocol == 5 else 3)
    finally:
        if not running.task.done():
            await running.close()


async def test_dead_letters_are_kept_for_their_age_and_count_limits(
    db: asyncpg.Connection,
) -> None:
    now = datetime.now(UTC)
    ages = [timedelta(days=40), timedelta(days=31), timedelta(days=29), timedelta(hours=1)]
    ages += [timedelta(minutes=m) for m in range(10, 0, -1)]
    await db.executemany(
        "INSERT INTO dead_letters (received_at, topic, payload, payload_size, reason)"
        " VALUES ($1, 't', 'x', 1, 'not_json')",
        [(now - age,) for age in ages],
    )
    assert await prune_dead_letters(db, keep_days=30, keep_rows=1000) == 2
    assert await _count(db, "SELECT count(*) FROM dead_letters") == 12
    assert await prune_dead_letters(db, keep_days=30, keep_rows=5) == 7
    left = await db.fetch("SELECT received_at FROM dead_letters ORDER BY id")
    assert [r["received_at"] for r in left] == [now - age for age in ages[-5:]]
    assert await prune_dead_letters(db, keep_days=30, keep_rows=5) == 0

"""Faults mid-stream, with the real Mosquitto, PostgreSQL and ingester process: the broker
restarts, the database restarts. In each, every reading the devices produced is in the database
exactly once, the rollups are right, and no stale OFFLINE or HIGH_TEMP alert appears.

The devices are registered with an offline timeout shorter than each outage, so an engine that
took "the ingester heard nothing" for "the device was silent" would raise OFFLINE; a control
device that really goes silent proves the engine was watching. A store-and-forward flush of
old hot readings must land without raising HIGH_TEMP; a control device's live hot reading
proves HIGH_TEMP still fires. (`kill -9` of the ingester: tests/test_crash.py.)
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devstack.broker import Mosquitto
from devstack.embedded_pg import embedded_postgres
from devstack.ports import free_port
from sql.migrate import upgrade
from tests.oracle import all_mismatches, rollups_settled
from tests.process_support import spawn_ingester
from tests.support import unique, wait_until
from tickwire.settings import MqttAddress

pytestmark = pytest.mark.timeout(150)

TIMEOUT_S = 2.0
"""Offline timeout of every device: shorter than each outage below."""
OUTAGE_S = 3.0
DEVICES = 6
READINGS = 400
"""Live readings per device, one every 25 ms: about 10 s of stream."""
OLD_HOT = 20
"""Store-and-forward readings of 40 °C, 20 minutes old, flushed during the outage."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Device:
    """One device with its own persistent MQTT session (QoS 1): paho keeps what it publishes
    while the broker is away and sends it after reconnecting."""

    def __init__(self, url: str, device_id: str) -> None:
        address = MqttAddress(url)
        self.device_id = device_id
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self._last_ts = 0
        self._seq = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=device_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 1)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _r, _p: self.acked.add(mid)
        self.client.connect(address.host, address.port, keepalive=5)
        self.client.loop_start()

    def reading(self, temperature: float) -> None:
        self._seq += 1
        self._last_ts = max(_now_ms(), self._last_ts + 1)
        body = {"ts": self._last_ts, "temperature": temperature, "humidity": 50, "seq": self._seq}
        self._publish("telemetry", body)

    def flush(self, readings: list[dict[str, Any]]) -> None:
        self._publish("telemetry", {"deviceId": self.device_id, "readings": readings})

    def heartbeat(self) -> None:
        self._publish("heartbeat", {"ts": _now_ms(), "uptime_s": 1})

    def _publish(self, kind: str, body: dict[str, Any]) -> None:
        topic = f"devices/{self.device_id}/{kind}"
        self.infos.append(self.client.publish(topic, json.dumps(body), qos=1))

    def confirmed(self, timeout: float) -> None:
        """Wait until the broker acknowledged every message."""
        # Not `wait_for_publish`: it raises for a message published while disconnected,
        # which paho nevertheless keeps and sends after reconnecting. PUBACKs it is then.
        deadline = time.monotonic() + timeout
        wanted = {info.mid for info in self.infos}
        while missing := wanted - self.acked:
            assert time.monotonic() < deadline, f"{self.device_id}: {len(missing)} unacknowledged"
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Fleet:
    """The devices of a test, on a thread: live readings, then heartbeats until stopped."""

    def __init__(self, url: str, prefix: str) -> None:
        self.devices = [Device(url, f"{prefix}-{n}") for n in range(DEVICES)]
        self.quiet = Device(url, f"{prefix}-quiet")
        self.hot = Device(url, f"{prefix}-hot")
        self.replay = Device(url, f"{prefix}-replay")
        self.done_streaming = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)

    @property
    def everyone(self) -> list[Device]:
        return [*self.devices, self.quiet, self.hot, self.replay]

    def expected_rows(self) -> int:
        """Two metrics per reading: the live ones, the quiet device's 5, the hot device's
        READINGS + 1, the replayed ones."""
        return 2 * (DEVICES * READINGS + 5 + READINGS + 1 + OLD_HOT)

    def start(self) -> None:
        self._thread.start()

    def flush_old_hot_readings(self) -> None:
        old = datetime.now(UTC) - timedelta(minutes=20)
        readings = [
            {"ts": int((old + timedelta(seconds=s)).timestamp() * 1000), "temperature": 40.0}
            for s in range(OLD_HOT)
        ]
        for reading in readings:
            reading["humidity"] = 45
        self.replay.flush(readings)

    def _run(self) -> None:
        for _ in range(5):
            self.quiet.reading(20.0)  # then silence: it must go OFFLINE
        for n in range(READINGS):
            for device in [*self.devices, self.hot]:
                device.reading(20.0 + (n % 7) / 10)
            if n % 20 == 0:
                self.replay.heartbeat()
            time.sleep(0.025)
        self.hot.reading(35.0)  # live and hot: HIGH_TEMP must fire
        self.done_streaming.set()
        while not self._stop.wait(0.4):
            for device in [*self.devices, self.hot, self.replay]:
                device.heartbeat()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def confirmed(self, timeout: float = 60) -> None:
        for device in self.everyone:
            device.confirmed(timeout)

    def close(self) -> None:
        self.stop()
        for device in self.everyone:
            device.close()


@contextmanager
def fleet_of(url: str) -> Iterator[Fleet]:
    fleet = Fleet(url, unique("dev"))
    try:
        yield fleet
    finally:
        fleet.close()


async def register(db: asyncpg.Connection, fleet: Fleet) -> None:
    """The devices exist before the stream, with the short offline timeout."""
    await db.executemany(
        "INSERT INTO devices (device_id, name, offline_timeout_s) VALUES ($1, $1, $2)",
        [(device.device_id, TIMEOUT_S) for device in fleet.everyone],
    )


@asynccontextmanager
async def ingesting(
    database_url: str, broker: Mosquitto, log: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The real `python -m ingest`, subscribed (a probe committed) before the stream starts;
    afterwards it must still be running and stop cleanly."""
    process = spawn_ingester(database_url, broker, unique("ingest"), log)
    try:
        yield process
        assert process.poll() is None, f"the ingester died: {_tail(log)}"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0, _tail(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def wait_subscribed(broker: Mosquitto, db: asyncpg.Connection) -> None:
    probe = Device(broker.url, unique("probe"))
    try:

        async def committed() -> bool:
            probe.heartbeat()
            return bool(
                await db.fetchval(
                    "SELECT last_seen IS NOT NULL FROM devices WHERE device_id = $1",
                    probe.device_id,
                )
            )

        await wait_until(
            "the probe device seen by the ingester", committed, timeout=30, interval=0.5
        )
    finally:
        probe.close()


async def check_outcome(db: asyncpg.Connection, fleet: Fleet) -> dict[str, int]:
    """Exactly the expected rows, rollups right, only the control devices' alerts."""
    expected = fleet.expected_rows()

    async def all_committed() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM telemetry") >= expected)

    try:
        await wait_until(f"{expected} readings committed", all_committed, timeout=60, interval=0.2)
    except AssertionError:
        counts = await db.fetch("SELECT device_id, count(*) FROM telemetry GROUP BY 1 ORDER BY 1")
        raise AssertionError(f"{expected} rows expected, per device: {counts}") from None
    await asyncio.sleep(1.0)  # anything still redelivered must be skipped, not added
    rows = await db.fetchval("SELECT count(*) FROM telemetry")
    distinct = await db.fetchval(
        "SELECT count(*) FROM (SELECT DISTINCT device_id, metric, time FROM telemetry) k"
    )
    assert (rows, distinct) == (expected, expected)
    per_device = dict(
        await db.fetch("SELECT device_id, count(*) FROM telemetry GROUP BY device_id")
    )
    for device in fleet.devices:
        assert per_device[device.device_id] == 2 * READINGS, device.device_id
    assert per_device[fleet.replay.device_id] == 2 * OLD_HOT
    await rollups_settled(db)
    assert await all_mismatches(db) == []
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0

    async def controls_alerted() -> bool:
        kinds = {
            (r["kind"], r["subject"])
            for r in await db.fetch("SELECT kind, subject FROM alerts WHERE state <> 'CLEARED'")
        }
        return {
            ("OFFLINE", fleet.quiet.device_id),
            ("HIGH_TEMP", fleet.hot.device_id),
        } <= kinds

    await wait_until(
        "OFFLINE on the quiet device and HIGH_TEMP on the hot one",
        controls_alerted,
        timeout=20,
        interval=0.2,
    )
    alerts = await db.fetch(
        "SELECT kind, subject, state, message FROM alerts WHERE kind IN ('OFFLINE', 'HIGH_TEMP')"
    )
    ours = {device.device_id for device in fleet.everyone}
    controls = {("OFFLINE", fleet.quiet.device_id), ("HIGH_TEMP", fleet.hot.device_id)}
    stale = [
        dict(a)
        for a in alerts
        if a["subject"] in ours and (a["kind"], a["subject"]) not in controls
    ]
    events = await db.fetch(
        "SELECT a.kind, a.subject, e.state, e.at, e.detail FROM alert_events e"
        " JOIN alerts a ON a.id = e.alert_id ORDER BY e.id"
    )
    assert stale == [], [dict(e) for e in events]
    return {"rows": rows, "alerts": len(alerts)}


@pytest.mark.slow
async def test_broker_restart_mid_stream(
    db: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    """Mosquitto stops (SIGTERM: it saves its sessions) and starts again on the same port and
    persistence directory while the devices keep publishing."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    try:
        async with ingesting(database_url, broker, tmp_path / "ingest.log"):
            await wait_subscribed(broker, db)
            with fleet_of(broker.url) as fleet:
                await register(db, fleet)
                fleet.start()

                async def some_committed() -> bool:
                    return bool(await db.fetchval("SELECT count(*) FROM telemetry") >= 1000)

                await wait_until(
                    "1000 readings committed before the broker stops",
                    some_committed,
                    timeout=30,
                    interval=0.05,
                )
                broker.stop()
                at_stop = await db.fetchval("SELECT count(*) FROM telemetry")
                fleet.flush_old_hot_readings()  # queued by paho while the broker is away
                await asyncio.sleep(OUTAGE_S)
                broker.start()
                assert not fleet.done_streaming.is_set(), "the stream ended before the restart"
                assert at_stop < fleet.expected_rows()
                await asyncio.to_thread(fleet.done_streaming.wait, 60)
                await asyncio.to_thread(fleet.confirmed)
                outcome = await check_outcome(db, fleet)
        print(f"broker restart: {outcome}, {at_stop} rows committed at the stop")
    finally:
        broker.stop()


class RestartablePostgres(AbstractContextManager["RestartablePostgres"]):
    """A private embedded PostgreSQL that can be stopped and started on the same directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._running: AbstractContextManager[str] | None = None
        self.url = ""

    def start(self) -> str:
        self._running = embedded_postgres(self.directory)
        self.url = self._running.__enter__()
        return self.url

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None

    def __enter__(self) -> RestartablePostgres:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@pytest.mark.slow
async def test_database_restart_mid_stream(tmp_path: Path) -> None:
    """The PostgreSQL server stops (fast shutdown: every connection is cut) and starts again
    while the devices keep publishing; the ingester reconnects by itself."""
    broker = Mosquitto(tmp_path / "broker", free_port())
    broker.start()
    try:
        with RestartablePostgres(tmp_path / "pg") as server:
            await asyncio.to_thread(upgrade, server.url)
            db = await asyncpg.connect(server.url)
            try:
                async with ingesting(server.url, broker, tmp_path / "ingest.log"):
                    await wait_subscribed(broker, db)
                    with fleet_of(broker.url) as fleet:
                        await register(db, fleet)
                        fleet.start()

                        async def some_committed() -> bool:
                            count = await db.fetchval("SELECT count(*) FROM telemetry")
                            return bool(count >= 1000)

                        await wait_until(
                            "1000 readings committed before the database stops",
                            some_committed,
                            timeout=30,
                            interval=0.05,
                        )
                        at_stop = await db.fetchval("SELECT count(*) FROM telemetry")
                        await db.close()
                        await asyncio.to_thread(server.stop)
                        fleet.flush_old_hot_readings()
                        await asyncio.sleep(OUTAGE_S)
                        await asyncio.to_thread(server.start)
                        assert not fleet.done_streaming.is_set(), "stream ended before restart"
                        db = await asyncpg.connect(server.url)
                        await asyncio.to_thread(fleet.done_streaming.wait, 60)
                        await asyncio.to_thread(fleet.confirmed)
                        outcome = await check_outcome(db, fleet)
            finally:
                await db.close()
        print(f"database restart: {outcome}, {at_stop} rows committed at the stop")
    finally:
        broker.stop()

"""Store-and-forward of the simulated devices, with the real Mosquitto, ingester and database:
a row leaves the buffer only after PUBACK, a killed simulator's buffer is flushed by the next
run, and a 30 s broker outage loses, duplicates and mis-alerts nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devstack.broker import Mosquitto
from devstack.ports import free_port
from simulator.app import run
from simulator.settings import SimulatorSettings
from simulator.stats import Stats
from tests.ingest_support import RunningIngester
from tests.oracle import all_mismatches
from tests.support import unique, wait_until
from tickwire.settings import MqttAddress

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(150)


class Observer:
    """A persistent-session subscriber recording every data message the devices publish:
    per device, the seqs in arrival order and whether each came in a batch."""

    def __init__(self, url: str) -> None:
        address = MqttAddress(url)
        self.seqs: dict[str, list[int]] = defaultdict(list)
        self.batched: dict[str, set[int]] = defaultdict(set)
        self.live: dict[str, set[int]] = defaultdict(set)
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=unique("observer"), clean_session=False
        )
        self._client.on_connect = lambda c, *_: c.subscribe(
            [("devices/+/telemetry", 1), ("devices/+/stocks/+", 1)]
        )
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 1)
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        assert self._subscribed.wait(10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        body = json.loads(message.payload)
        with self._lock:
            if "readings" in body:
                device = message.topic.split("/")[1]
                for reading in body["readings"]:
                    self.seqs[device].append(reading["seq"])
                    self.batched[device].add(reading["seq"])
            else:
                device = body.get("deviceId") or body["device_id"]
                self.seqs[device].append(body["seq"])
                self.live[device].add(body["seq"])

    def snapshot(self) -> dict[str, list[int]]:
        with self._lock:
            return {device: list(seqs) for device, seqs in self.seqs.items()}


def buffered(path: Path) -> list[tuple[str, int, str]]:
    """(device, seq, payload) of every row in a simulator's buffer file, read alongside it."""
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return list(db.execute("SELECT device_id, seq, payload FROM readings ORDER BY 1, 2"))
        except sqlite3.OperationalError as exc:  # created, its table not yet: nothing buffered
            if "no such table" in str(exc):
                return []
            raise


def assert_in_order_once(seqs: dict[str, list[int]]) -> None:
    """Every device's seqs arrived in order (a resend may repeat one), with none missing."""
    for device, arrived in seqs.items():
        assert arrived == sorted(arrived), device
        assert set(arrived) == set(range(1, max(arrived) + 1)), device


def sim_settings(broker: Mosquitto, data_dir: Path, **values: Any) -> SimulatorSettings:
    base: dict[str, Any] = {
        "mqtt_url": broker.url,
        "data_dir": data_dir,
        "sim_register": False,
        "sim_drop_every": 0,
        "sim_seed": 3,
        "sim_prefix": unique("sf"),
        "sim_report_s": 5.0,
    }
    return SimulatorSettings(**(base | values))


@pytest.mark.slow
async def test_a_row_stays_in_the_buffer_until_the_broker_acknowledges_it(
    broker: Mosquitto, tmp_path: Path
) -> None:
    settings = sim_settings(broker, tmp_path, sim_devices=1, sim_tickers=0, sim_interval_s=0.05)
    observer = Observer(broker.url)
    stop = asyncio.Event()
    simulation = asyncio.create_task(run(settings, stop))
    device = f"{settings.sim_prefix}-sensor-1"
    assert broker.process is not None
    try:

        async def live() -> bool:
            return len(observer.snapshot().get(device, [])) >= 10

        await wait_until("10 live readings of the device", live, 20)
        os.kill(broker.process.pid, signal.SIGSTOP)  # the broker keeps the TCP link, never acks
        try:
            await asyncio.sleep(1.5)
            waiting = buffered(settings.buffer_path)
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
        kept = [seq for _, seq, _ in waiting]
        assert len(kept) >= 15, kept
        assert kept == list(range(kept[0], kept[0] + len(kept)))

        async def acknowledged() -> bool:
            return not buffered(settings.buffer_path)

        await wait_until("the buffer empty (everything acknowledged)", acknowledged, 20)
    finally:
        stop.set()
        stats = await asyncio.wait_for(simulation, 30)
        await asyncio.sleep(0.5)
        observer.close()
    # The kept rows had been sent live, before any acknowledgement came back.
    assert set(kept[:10]) <= observer.live[device]
    assert stats.unconfirmed == 0 and stats.rejected == 0
    assert_in_order_once(observer.snapshot())
    assert max(observer.snapshot()[device]) == stats.published["telemetry"]


def spawn_simulator(url: str, data_dir: Path, prefix: str, *extra: str) -> Any:
    env = {**os.environ, "TICKWIRE_DATA_DIR": str(data_dir)}
    args = ["--mqtt-url", url, "--no-register", "--prefix", prefix, "--drop-every", "0"]
    return asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        *args,
        "--devices",
        "2",
        "--tickers",
        "2",
        "--interval",
        "0.1",
        "--tick-interval",
        "0.2",
        *extra,
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow
async def test_a_killed_simulator_flushes_its_buffer_when_restarted(
    db: asyncpg.Connection, broker: Mosquitto, ingester: RunningIngester, tmp_path: Path
) -> None:
    prefix = unique("kill")
    path = SimulatorSettings(data_dir=tmp_path, sim_prefix=prefix).buffer_path
    nowhere = f"mqtt://127.0.0.1:{free_port()}"  # the broker is unreachable for run 1
    first = await spawn_simulator(nowhere, tmp_path, prefix)
    try:

        async def filling() -> bool:
            return len(buffered(path)) >= 60

        await wait_until("60 messages buffered", filling, 40, interval=0.2)
    finally:
        first.kill()
        await first.wait()
    kept = buffered(path)
    observer = Observer(broker.url)
    second = await spawn_simulator(broker.url, tmp_path, prefix, "--duration", "3")
    assert second.stderr is not None
    log = (await asyncio.wait_for(second.stderr.read(), 60)).decode()
    assert await second.wait() == 0, log
    assert "readings buffered by an earlier run" in log
    assert "unconfirmed 0" in log, log
    assert not path.exists()  # emptied, so removed
    await asyncio.sleep(0.5)
    observer.close()
    seqs = observer.snapshot()
    assert_in_order_once(seqs)
    first_run = defaultdict(set)
    for device, seq, _ in kept:
        first_run[device].add(seq)
    for device, kept_seqs in first_run.items():
        assert kept_seqs == set(range(1, max(kept_seqs) + 1))  # the buffer kept all of run 1
        assert max(seqs[device]) > max(kept_seqs)  # run 2 went on from there
    kept_ts = {(d, json.loads(p)["ts"]) for d, _, p in kept if "sensor" in d}

    async def landed() -> bool:
        telemetry = await db.fetchval(
            "SELECT count(*) FROM telemetry WHERE device_id LIKE $1", f"{prefix}-sensor-%"
        )
        prices = await db.fetchval("SELECT count(*) FROM prices WHERE source LIKE $1", f"{prefix}%")
        sensors = sum(max(s) for d, s in seqs.items() if "sensor" in d)
        return bool(telemetry == 2 * sensors and prices == max(seqs[f"{prefix}-feed-1"]))

    await wait_until("every buffered reading and tick stored", landed, 30)
    rows = await db.fetch(
        "SELECT DISTINCT device_id, (extract(epoch FROM time) * 1000)::int8 AS ts FROM telemetry"
        " WHERE device_id LIKE $1",
        f"{prefix}-sensor-%",
    )
    assert kept_ts <= {(r["device_id"], r["ts"]) for r in rows}


class Cable:
    """A TCP proxy between the devices and the broker: unplugged, the devices are offline
    (their connections cut, new ones refused) while the broker and the ingester stay up."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._sockets: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    async def plug(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def unplug(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._sockets):
            writer.transport.abort()
        self._sockets.clear()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection(
                self.broker.host, self.broker.port
            )
        except OSError:
            writer.transport.abort()
            return
        self._sockets |= {writer, far_writer}
        await asyncio.gather(
            _pipe(reader, far_writer), _pipe(far_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@pytest.mark.slow
async def test_a_device_offline_for_30_s_then_back_loses_nothing_and_raises_no_stale_alert(
    db: asyncpg.Connection,
    database_url: str,
    broker: Mosquitto,
    ingester: RunningIngester,
    tmp_path: Path,
) -> None:
    cable = Cable(broker)
    await cable.plug()
    settings = sim_settings(
        broker,
        tmp_path,
        mqtt_url=cable.url,
        database_url=database_url,
        sim_register=True,
        sim_devices=3,
        sim_tickers=2,
        sim_interval_s=0.2,
        sim_tick_interval_s=0.5,
        sim_heartbeat_s=1.0,
        sim_spike_probability=0.05,
    )
    prefix = settings.sim_prefix
    observer = Observer(broker.url)
    stop = asyncio.Event()
    simulation = asyncio.create_task(run(settings, stop))
    try:

        async def flowing() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM telemetry") >= 30)

        await wait_until("30 readings stored", flowing, 30)
        went_down = datetime.now(UTC)
        await cable.unplug()
        await asyncio.sleep(30)
        came_back = datetime.now(UTC)
        await cable.plug()

        async def flushed() -> bool:
            return not buffered(settings.buffer_path)

        await wait_until("the buffer flushed", flushed, 40, interval=0.2)
        await asyncio.sleep(3)  # live again for a while
    finally:
        stop.set()
        stats = await asyncio.wait_for(simulation, 30)
        await asyncio.sleep(0.5)
        observer.close()

    # Every reading was flushed in order, the buffered ones in batches.
    assert stats.unconfirmed == 0 and stats.rejected == 0 and stats.evicted == 0
    assert stats.batches > 0 and stats.replayed > 100, stats.summary()
    seqs = observer.snapshot()
    assert_in_order_once(seqs)
    sensors = [f"{prefix}-sensor-{n}" for n in (1, 2, 3)]
    assert all(observer.batched[s] for s in sensors)
    assert sum(max(seqs[d]) for d in sensors) == stats.published["telemetry"]
    assert max(seqs[f"{prefix}-feed-1"]) == stats.published["price"]

    await _exactly_once_with_rollups_right(db, stats)
    await _offline_while_away_online_since(db, prefix, went_down, came_back)

    # Hot readings were replayed (old when they arrived), and none raised HIGH_TEMP.
    max_lag = timedelta(seconds=ingester.settings.alerts_max_lag_s)
    stale_hot = await db.fetchval(
        "SELECT count(*) FROM telemetry WHERE metric = 'temperature' AND value > 30"
        " AND time > $1 AND time < $2",
        went_down,
        came_back - max_lag,
    )
    assert stale_hot > 0
    for alert in await db.fetch(
        "SELECT device_id, value, raised_at FROM alerts WHERE kind = 'HIGH_TEMP'"
    ):
        fresh = await db.fetchval(
            "SELECT count(*) FROM telemetry WHERE device_id = $1 AND metric = 'temperature'"
            " AND value = $2 AND time >= $3",
            alert["device_id"],
            alert["value"],
            alert["raised_at"] - max_lag - timedelta(seconds=1),
        )
        assert fresh, f"HIGH_TEMP from a replayed reading: {dict(alert)}"


async def _exactly_once_with_rollups_right(db: asyncpg.Connection, stats: Stats) -> None:
    """Every published reading and tick in the database once, rollups right, no dead letter."""

    async def landed() -> bool:
        telemetry = await db.fetchval("SELECT count(*) FROM telemetry")
        prices = await db.fetchval("SELECT count(*) FROM prices")
        return bool(
            telemetry == 2 * stats.published["telemetry"] and prices == stats.published["price"]
        )

    await wait_until("everything the simulator published stored", landed, 30)

    async def rollups_right() -> bool:
        return not await all_mismatches(db)

    await wait_until("rollups matching the raw rows", rollups_right, 30)
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 0


async def _offline_while_away_online_since(
    db: asyncpg.Connection, prefix: str, went_down: datetime, came_back: datetime
) -> None:
    """The sensors went OFFLINE while away (alerts raised), and being back cleared that."""
    sensors = [f"{prefix}-sensor-{n}" for n in (1, 2, 3)]

    async def none_offline() -> bool:
        active = await db.fetchval(
            "SELECT count(*) FROM alerts WHERE kind = 'OFFLINE' AND state <> 'CLEARED'"
        )
        return bool(active == 0)

    await wait_until("no active OFFLINE alert", none_offline, 20)
    offline = await db.fetch("SELECT device_id, raised_at FROM alerts WHERE kind = 'OFFLINE'")
    assert {r["device_id"] for r in offline} >= set(sensors)
    assert all(went_down < r["raised_at"] < came_back for r in offline)
    statuses = await db.fetch("SELECT status FROM devices WHERE device_id LIKE $1", f"{prefix}-%")
    assert {r["status"] for r in statuses} == {"ONLINE"}

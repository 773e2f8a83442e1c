"""The simulator: its pure models, and whole runs through the real broker, ingester and DB."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import random
import statistics
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devstack.broker import Mosquitto
from simulator import credentials
from simulator.app import run
from simulator.buffer import Buffer
from simulator.catalog import KNOWN, stocks
from simulator.climate import MS_PER_HOUR, Climate
from simulator.commands import answer
from simulator.fleet import Outgoing, build_fleet
from simulator.link import Auth
from simulator.outbox import Outbox, drops
from simulator.registry import register
from simulator.settings import SimulatorSettings
from simulator.stats import Stats
from simulator.walk import TradingWalk
from tests.api_support import Api
from tests.broker_support import SecureBroker
from tests.ingest_support import RunningIngester, ingest_settings, start_ingester
from tests.support import unique, wait_until
from tickwire.contract import acks_topic, commands_topic
from tickwire.settings import MqttAddress

DAY_MS = 24 * MS_PER_HOUR


def settings(**values: Any) -> SimulatorSettings:
    return SimulatorSettings(**values)


# --- models -----------------------------------------------------------------------------------


def test_temperature_follows_a_daily_cycle_by_utc_hour() -> None:
    climate = Climate(random.Random(1), spike_probability=0.0)
    day = 20_000 * DAY_MS

    def mean_at(hour: int) -> float:
        return statistics.fmean(climate.reading(day + hour * MS_PER_HOUR)[0] for _ in range(500))

    assert climate.baseline(day + 15 * MS_PER_HOUR) == pytest.approx(28.0)
    assert climate.baseline(day + 3 * MS_PER_HOUR) == pytest.approx(20.0)
    assert mean_at(15) == pytest.approx(28.0, abs=0.1)
    assert mean_at(3) == pytest.approx(20.0, abs=0.1)
    assert mean_at(9) == pytest.approx(24.0, abs=0.1)


def test_spikes_above_30_are_rare_and_last_a_few_readings() -> None:
    climate = Climate(random.Random(2))
    coolest = 20_000 * DAY_MS + 3 * MS_PER_HOUR  # the cycle alone stays near 20 °C
    temperatures = [climate.reading(coolest)[0] for _ in range(20_000)]
    hot = [t > 30 for t in temperatures]
    assert 0.01 < sum(hot) / len(hot) < 0.1
    runs = "".join("h" if h else "." for h in hot).split(".")
    lengths = [len(run) for run in runs if run]
    assert min(lengths) >= 3
    assert all(t < 23 for t, h in zip(temperatures, hot, strict=True) if not h)


def test_humidity_moves_against_temperature_around_50() -> None:
    climate = Climate(random.Random(3), spike_probability=0.0)
    readings = [climate.reading(n * 60_000) for n in range(24 * 60)]
    temperatures, humidities = zip(*readings, strict=True)
    assert statistics.correlation(temperatures, humidities) < -0.8
    assert min(humidities) > 35 and max(humidities) < 65
    assert sum(40 <= h <= 60 for h in humidities) / len(humidities) > 0.95
    assert all(round(value, 2) == value for value in temperatures + humidities)


def test_price_walk_stays_positive_even_when_wild() -> None:
    walk = TradingWalk(0.02, random.Random(4))
    ticks = [walk.tick(n * 60_000) for n in range(20_000)]  # a minute apart: gaps, breakouts
    quotes = [price for price, _ in ticks]
    assert min(quotes) > 0
    assert len(set(quotes)) > 1
    assert all(isinstance(v, int) and v > 0 for _, v in ticks)
    with pytest.raises(ValueError):
        TradingWalk(0.0, random.Random(4))


def test_prices_are_deterministic_with_a_seed() -> None:
    def first_prices(seed: int) -> list[float]:
        feed = build_fleet(settings(sim_devices=0, sim_tickers=3), seed, 0).feed
        assert feed is not None
        return [m.payload["price"] for _ in range(50) for m in feed.emit(0)]

    assert first_prices(9) == first_prices(9)
    assert first_prices(9) != first_prices(10)


def test_every_30th_data_message_is_dropped_exactly() -> None:
    assert [seq for seq in range(1, 301) if drops(seq, 30)] == list(range(30, 301, 30))
    assert not any(drops(seq, 0) for seq in range(1, 301))


class Recorder:
    """A `Publisher` that keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, messages: Sequence[Outgoing]) -> list[bool]:
        self.sent += [(m.topic, m.payload) for m in messages]
        return [True] * len(messages)


def test_outbox_withholds_data_messages_and_counts_them() -> None:
    stats, recorder = Stats(), Recorder()
    outbox = Outbox(stats, drop_every=3, max_messages=0, exhausted=asyncio.Event())
    for seq in range(1, 10):
        outbox.send(recorder, [Outgoing("telemetry", "devices/d/telemetry", {"seq": seq}, seq)])
        outbox.send(recorder, [Outgoing("heartbeat", "devices/d/heartbeat", {"ts": seq})])
    assert [p["seq"] for t, p in recorder.sent if t.endswith("telemetry")] == [1, 2, 4, 5, 7, 8]
    assert stats.published == {"telemetry": 6, "heartbeat": 9}
    assert stats.dropped == {"telemetry": 3}


def test_outbox_stops_at_the_message_budget() -> None:
    stats, recorder, exhausted = Stats(), Recorder(), asyncio.Event()
    outbox = Outbox(stats, drop_every=0, max_messages=4, exhausted=exhausted)
    for seq in range(1, 4):
        outbox.send(recorder, [Outgoing("price", "stocks/A", {"seq": seq}, seq)])
    assert not exhausted.is_set()
    outbox.send(recorder, [Outgoing("price", "stocks/A", {"seq": s}, s) for s in range(4, 10)])
    assert exhausted.is_set()
    assert stats.data_published == len(recorder.sent) == 4


def test_sensor_and_feed_messages_follow_the_contract() -> None:
    fleet = build_fleet(settings(sim_devices=2, sim_tickers=2, sim_prefix="p"), 5, 1000)
    sensor, feed = fleet.sensors[1], fleet.feed
    assert feed is not None
    assert (sensor.device_id, sensor.name, sensor.kind) == ("p-sensor-2", "Sensor 2", "sensor")
    assert (feed.device_id, feed.kind) == ("p-feed-1", "feed")
    readings = [sensor.emit(5000)[0] for _ in range(3)]  # the clock did not move
    assert [m.payload["ts"] for m in readings] == [5000, 5001, 5002]
    assert [m.seq for m in readings] == [m.payload["seq"] for m in readings] == [1, 2, 3]
    assert readings[0].topic == "devices/p-sensor-2/telemetry"
    assert set(readings[0].payload) == {"deviceId", "ts", "temperature", "humidity", "seq"}
    ticks = feed.emit(5000)
    assert [m.topic for m in ticks] == [
        "devices/p-feed-1/stocks/AAPL",
        "devices/p-feed-1/stocks/MSFT",
    ]
    assert set(ticks[0].payload) == {"ticker", "price", "volume", "ts", "device_id", "seq"}
    assert ticks[1].payload["device_id"] == "p-feed-1"
    assert feed.heartbeat(3500).payload == {"ts": 3500, "uptime_s": 2.5}


def test_commands_are_answered() -> None:
    sensor = build_fleet(settings(sim_devices=1, sim_tickers=0), 1, 0).sensors[0]

    def ack(body: object) -> dict[str, Any] | None:
        return answer(json.dumps(body).encode(), sensor)

    ok = ack({"id": "a", "command": "set_interval", "args": {"seconds": 2}})
    assert ok == {"id": "a", "status": "ok", "detail": "interval set to 2 s"}
    assert sensor.interval_s == 2.0 and sensor.retimed.is_set()
    assert ack({"id": "b", "command": "ping"}) == {"id": "b", "status": "ok", "detail": "pong"}
    for bad in ({}, {"seconds": "2"}, {"seconds": 0}, {"seconds": True}, None):
        reply = ack({"id": "c", "command": "set_interval", "args": bad})
        assert reply is not None and reply["status"] == "error", bad
    assert sensor.interval_s == 2.0
    unknown = ack({"id": "d", "command": "reboot"})
    assert unknown == {"id": "d", "status": "error", "detail": "unknown command 'reboot'"}
    assert answer(b"not json", sensor) is None
    assert ack({"command": "ping"}) is None


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWIRE_SIM_DEVICES", "5")
    monkeypatch.setenv("TICKWIRE_SIM_TICKERS", "3")
    monkeypatch.setenv("TICKWIRE_SIM_DROP_EVERY", "0")
    chosen = SimulatorSettings.from_args(["--devices", "50", "--rate", "4", "--no-register"])
    assert (chosen.sim_devices, chosen.sim_tickers, chosen.sim_drop_every) == (50, 3, 0)
    assert chosen.sim_interval_s == 0.25 and chosen.sim_register is False
    assert SimulatorSettings.from_args(["--tick-interval", "2"]).sim_tick_interval_s == 2.0
    with pytest.raises(SystemExit):
        SimulatorSettings.from_args(["--interval", "1", "--rate", "2"])
    with pytest.raises(SystemExit):
        SimulatorSettings.from_args(["--prefix", "a/b"])


def test_tickers_beyond_the_known_list_are_generated() -> None:
    chosen = stocks(30)
    names = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"]
    assert [s.ticker for s in chosen[:8]] == names
    assert len({s.ticker for s in chosen}) == 30
    assert chosen[len(KNOWN)].ticker == "SIM025"
    assert all(s.reference_price > 0 for s in chosen)


async def test_an_unreachable_database_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fleet = build_fleet(settings(sim_devices=1, sim_tickers=1), 1, 0)
    with caplog.at_level(logging.WARNING, "simulator.registry"):
        assert not await register("postgresql://postgres@127.0.0.1:1/none", fleet, 10.0)
    assert "database unreachable" in caplog.text


async def test_registered_prices_continue_from_the_latest_stored(
    db: asyncpg.Connection, database_url: str
) -> None:
    fleet = build_fleet(settings(sim_devices=0, sim_tickers=2), 1, 0)
    assert await register(database_url, fleet, 10.0)  # nothing stored: the reference prices
    assert fleet.feed is not None
    fresh = {t: walk.quote for t, walk in fleet.feed.walks.items()}
    await db.execute(
        "INSERT INTO prices (time, ticker, price, source) VALUES"
        " (now() - interval '1 minute', 'AAPL', 12.34, 'b'), (now(), 'AAPL', 23.45, 'a'),"
        " (now() - interval '2 minutes', 'AAPL', 34.56, 'c')"
    )
    again = build_fleet(settings(sim_devices=0, sim_tickers=2), 1, 0)
    assert await register(database_url, again, 10.0)
    assert again.feed is not None
    assert again.feed.walks["AAPL"].quote == 23.45  # the latest, not the reference price
    assert again.feed.walks["MSFT"].quote == fresh["MSFT"]  # none stored: as it was
    assert again.feed.emit(1000)[0].payload["price"] == 23.45


# --- the real thing ---------------------------------------------------------------------------


def command_round_trip(url: str, device_id: str, command: dict[str, Any]) -> dict[str, Any]:
    """Send `command` to a device with a client of our own and return the ack it publishes."""
    address, acks = MqttAddress(url), queue.Queue[bytes]()
    subscribed = queue.Queue[bool]()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("operator"))
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.on_message = lambda _c, _u, message: acks.put(bytes(message.payload))
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        client.subscribe(acks_topic(device_id), qos=1)
        subscribed.get(timeout=10)
        client.publish(commands_topic(device_id), json.dumps(command), qos=1)
        reply: dict[str, Any] = json.loads(acks.get(timeout=10))
        return reply
    finally:
        client.disconnect()
        client.loop_stop()


async def count(db: asyncpg.Connection, query: str, *args: object) -> int:
    return int(await db.fetchval(query, *args))


async def set_interval(db: asyncpg.Connection, url: str, device_id: str, seconds: float) -> None:
    """Command a device as the API would: a pending row, the MQTT command, the settled ack."""
    command_id = str(uuid.uuid4())
    args = {"seconds": seconds}
    await db.execute(
        "INSERT INTO device_commands (id, device_id, command, args)"
        " VALUES ($1::uuid, $2, 'set_interval', $3::jsonb)",
        command_id,
        device_id,
        json.dumps(args),
    )
    command = {"id": command_id, "command": "set_interval", "args": args}
    ack = await asyncio.to_thread(command_round_trip, url, device_id, command)
    assert ack == {"id": command_id, "status": "ok", "detail": f"interval set to {seconds:g} s"}

    async def settled() -> bool:
        status = await db.fetchval("SELECT status FROM device_commands WHERE id = $1", command_id)
        return bool(status == "ok")

    await wait_until("the command acknowledged ok", settled)


async def assert_registered(db: asyncpg.Connection, prefix: str) -> None:
    devices = await db.fetch(
        "SELECT device_id, name, kind, auto_registered, status FROM devices ORDER BY device_id"
    )
    assert [(d["device_id"], d["name"], d["kind"]) for d in devices] == [
        (f"{prefix}-feed-1", "Price feed 1", "feed"),
        (f"{prefix}-sensor-1", "Sensor 1", "sensor"),
        (f"{prefix}-sensor-2", "Sensor 2", "sensor"),
        (f"{prefix}-sensor-3", "Sensor 3", "sensor"),
    ]
    assert not any(d["auto_registered"] for d in devices)
    assert {d["status"] for d in devices} == {"ONLINE"}
    listed = await db.fetch("SELECT ticker, name, exchange FROM stocks ORDER BY ticker")
    assert [tuple(row) for row in listed] == [
        ("AAPL", "Apple Inc.", "NASDAQ"),
        ("MSFT", "Microsoft Corporation", "NASDAQ"),
    ]
    watched = await db.fetch("SELECT device_id, ticker FROM device_tickers ORDER BY ticker")
    assert [tuple(row) for row in watched] == [
        (f"{prefix}-feed-1", "AAPL"),
        (f"{prefix}-feed-1", "MSFT"),
    ]


async def test_a_simulated_fleet_lands_in_the_database(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, ingester: RunningIngester
) -> None:
    prefix = unique("sim")
    fast = settings(
        database_url=database_url,
        mqtt_url=broker.url,
        sim_devices=3,
        sim_tickers=2,
        sim_interval_s=0.1,
        sim_tick_interval_s=0.1,
        sim_heartbeat_s=0.5,
        sim_drop_every=7,
        sim_seed=11,
        sim_prefix=prefix,
        sim_duration_s=3.0,
        sim_report_s=1.0,
    )
    simulation = asyncio.create_task(run(fast))
    slowed, other = f"{prefix}-sensor-1", f"{prefix}-sensor-2"
    telemetry_of = "SELECT count(*) FROM telemetry WHERE device_id = $1"

    async def slowed_device_publishes() -> bool:
        return await count(db, telemetry_of, slowed) > 0

    await wait_until("the slowed device publishing", slowed_device_publishes, timeout=20)
    await set_interval(db, broker.url, slowed, 0.5)
    stats = await asyncio.wait_for(simulation, 30)
    assert stats.unconfirmed == 0 and stats.failed.total() == 0
    assert stats.dropped["telemetry"] > 0 and stats.dropped["price"] > 0
    assert stats.published["ack"] == stats.commands == 1

    async def everything_arrived() -> bool:
        return (
            await count(db, "SELECT count(*) FROM telemetry") == 2 * stats.published["telemetry"]
            and await count(db, "SELECT count(*) FROM prices") == stats.published["price"]
        )

    await wait_until("everything the simulator published stored", everything_arrived)
    assert await count(db, "SELECT count(*) FROM dead_letters") == 0
    assert await count(db, telemetry_of, slowed) < 0.75 * await count(db, telemetry_of, other)
    await assert_registered(db, prefix)


async def test_a_run_stops_after_max_messages(broker: Mosquitto) -> None:
    budget = settings(
        mqtt_url=broker.url,
        sim_register=False,
        sim_devices=2,
        sim_tickers=3,
        sim_interval_s=0.05,
        sim_tick_interval_s=0.05,
        sim_prefix=unique("budget"),
        sim_max_messages=25,
    )
    stats = await asyncio.wait_for(run(budget), 20)
    assert stats.data_published == 25
    assert stats.unconfirmed == 0


async def test_python_m_simulator_stops_cleanly_on_sigterm(broker: Mosquitto) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator",
        "--mqtt-url",
        broker.url,
        "--no-register",
        "--devices",
        "2",
        "--tickers",
        "2",
        "--prefix",
        unique("term"),
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    while "devices connected" not in (lines[-1] if lines else ""):
        line = await asyncio.wait_for(process.stderr.readline(), 20)
        assert line, "".join(lines)
        lines.append(line.decode())
    await asyncio.sleep(0.5)
    process.terminate()
    rest = await asyncio.wait_for(process.stderr.read(), 20)
    assert await process.wait() == 0
    assert "stopped: published" in rest.decode()
    assert "unconfirmed 0" in rest.decode()


# --- the buffer, credentials and provisioning -------------------------------------------------


def test_a_full_buffer_drops_the_oldest_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = Buffer(tmp_path / "b.sqlite3", max_rows=200)
    with caplog.at_level(logging.WARNING, "simulator.buffer"):
        for seq in range(1, 251):
            buffer.add("d", [(seq, "devices/d/telemetry", "{}")])
    kept = [row.seq for row in buffer.after("d", 0, 1000)]
    assert len(buffer) == len(kept) <= 200
    assert kept == list(range(251 - len(kept), 251))  # the newest, in order
    assert buffer.evicted == 250 - len(kept)
    assert "buffer full" in caplog.text and "dropped the" in caplog.text
    buffer.acked("d", kept[:10])
    buffer.sync()
    assert len(buffer) == len(kept) - 10 and buffer.last_seqs() == {"d": 250}
    buffer.close()
    assert (tmp_path / "b.sqlite3").exists()  # not empty: kept for the next run


def test_the_credentials_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sim" / "credentials.json"
    credentials.save(path, {"d-1": Auth("d-1", "secret")})
    assert path.stat().st_mode & 0o777 == 0o600
    assert credentials.load(path) == {"d-1": Auth("d-1", "secret")}
    path.write_text("not json")
    assert credentials.load(path) == {}


async def test_the_simulator_provisions_its_devices_and_renews_refused_credentials(
    db: asyncpg.Connection,
    database_url: str,
    secure_broker: SecureBroker,
    secure_api: Api,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingester = await start_ingester(
        ingest_settings(database_url, secure_broker.mosquitto, mqtt_url=secure_broker.ingest_url)
    )
    prefix = unique("prov")
    provisioned = settings(
        mqtt_url=secure_broker.url,  # no credentials of its own: each device logs in as itself
        data_dir=tmp_path,
        sim_api_url=secure_api.url,
        admin_email=secure_api.admin.email,
        admin_password=secure_api.admin.password,
        sim_devices=2,
        sim_tickers=2,
        sim_interval_s=0.1,
        sim_tick_interval_s=0.2,
        sim_drop_every=0,
        sim_prefix=prefix,
        sim_duration_s=2.0,
    )
    path = provisioned.credentials_path
    try:
        stats = await asyncio.wait_for(run(provisioned), 60)
        assert stats.unconfirmed == 0 and stats.rejected == 0 and stats.data_published > 10
        issued = credentials.load(path)
        devices = [f"{prefix}-sensor-1", f"{prefix}-sensor-2", f"{prefix}-feed-1"]
        assert sorted(issued) == sorted(devices)
        assert all(issued[d].username == d and issued[d].password for d in devices)
        assert path.stat().st_mode & 0o777 == 0o600
        async with secure_api.client(secure_api.admin) as client:
            listed = (await client.get("/api/devices")).json()
            # A rotation elsewhere: the password in the file stops working.
            rotated = await client.post(f"/api/devices/{devices[0]}/credentials")
            assert rotated.status_code == 200, rotated.text
        items = listed["items"] if isinstance(listed, dict) else listed
        feed = next(d for d in items if d["device_id"] == devices[2])
        assert sorted(feed["tickers"]) == ["AAPL", "MSFT"] and feed["kind"] == "feed"

        async def everything_arrived(published: int) -> bool:
            telemetry = await count(db, "SELECT count(*) FROM telemetry") // 2
            return telemetry + await count(db, "SELECT count(*) FROM prices") == published

        first = stats.data_published
        await wait_until("everything of the first run stored", lambda: everything_arrived(first))
        between = datetime.now(UTC)
        with caplog.at_level(logging.WARNING, "simulator.provision"):
            again = await asyncio.wait_for(run(provisioned), 60)
        assert "credentials refused by the broker" in caplog.text
        assert credentials.load(path)[devices[0]] != issued[devices[0]]
        assert again.unconfirmed == 0 and again.rejected == 0
        await wait_until(
            "everything of both runs stored",
            lambda: everything_arrived(first + again.data_published),
        )
        assert await count(db, "SELECT count(*) FROM dead_letters") == 0
        # The second run's prices continue from the first's last (a random seed each run).
        for ticker in ("AAPL", "MSFT"):
            last_first = await db.fetchval(
                "SELECT price FROM prices WHERE ticker = $1 AND time < $2"
                " ORDER BY time DESC LIMIT 1",
                ticker,
                between,
            )
            first_again = await db.fetchval(
                "SELECT price FROM prices WHERE ticker = $1 AND time > $2 ORDER BY time LIMIT 1",
                ticker,
                between,
            )
            assert first_again == last_first, ticker
    finally:
        await ingester.close()

"""Beyond one machine, all at once (issue 19's combined test): 3 ingesters on one shared
subscription, 2 alert engines (`--alerts-only`), 2 API replicas. A known workload with hot
readings and a device going silent; kill -9 of one ingester and of the leading engine mid-run
(the ingester comes back, as a service manager restarts it) → every reading stored exactly
once, every expected alert raised and cleared exactly once, none stale; a stream client moved
from one API replica to the other with Last-Event-ID misses nothing and gets nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from pathlib import Path

import asyncpg

from devstack.broker import Mosquitto
from tests.alerts_support import add_device
from tests.engine_support import (
    Schedule,
    alert_histories,
    flat,
    log_text,
    spawn_engine,
    stop,
    streamed,
    wait_leader,
)
from tests.process_support import api_replicas, spawn_ingester
from tests.stream_support import stream
from tests.support import Message, unique, wait_until

STEPS = 40  # 20 s
KILL_AT = 12  # t = 6 s
FLEET = [f"f{n}" for n in range(8)]
HOT = range(4, 24)  # f0: 35 °C from t = 2 to 12 s
SILENT = range(8, 36)  # f1: silent from t = 4 to 18 s (timeout 2 s; time for a restart)
WATCHED = "f0"
GROUP = {"TICKWIRE_INGEST_SHARE": "scale", "TICKWIRE_ALERTS_ENABLED": "false"}
EXPECTED = {
    ("HIGH_TEMP", "f0"): [["ACTIVE", "CLEARED"]],
    # Silent, back, and silent again once the workload ends: OFFLINE, ONLINE, OFFLINE.
    ("OFFLINE", "f1"): [["ACTIVE", "CLEARED"], ["ACTIVE"]],
    ("ONLINE", "f1"): [["ACTIVE", "CLEARED"]],
}


def messages(step: int, ts: int) -> list[Message]:
    out: list[Message] = []
    for device in FLEET:
        if device == "f1" and step in SILENT:
            continue
        hot = device == "f0" and step in HOT
        body = {"ts": ts, "temperature": 35.0 if hot else 20.0, "humidity": 40.0 + step % 7}
        out.append((f"devices/{device}/telemetry", body))
    return out


def readings() -> int:
    return sum(len(messages(step, 0)) for step in range(STEPS)) * 2


async def follow(api: tuple[str, str], last_id: int, until: asyncio.Event, got: list[int]) -> None:
    """Stream WATCHED's events from `last_id` on one replica until `until`; ids into `got`."""
    url, token = api
    headers = {"Authorization": f"Bearer {token}"}
    async with stream(url, headers, {"devices": WATCHED}, last_id) as reader:
        while not until.is_set():
            with contextlib.suppress(TimeoutError):
                frame = await reader.event(timeout=0.3)
                assert frame.event != "reset", frame
                assert frame.id is not None
                got.append(frame.id)


async def journal_ids(db: asyncpg.Connection, after: int) -> list[int]:
    rows = await db.fetch(
        "SELECT id FROM stream_events WHERE subject = $1 AND id > $2 ORDER BY id", WATCHED, after
    )
    return [row["id"] for row in rows]


class Fleet:
    """The processes: 3 ingesters on one share group, 2 engines (`a` leads, `b` stands by)."""

    def __init__(self, database_url: str, broker: Mosquitto, tmp_path: Path) -> None:
        self.url, self.broker = database_url, broker
        self.names = ["ingest-1", "ingest-2", "ingest-3"]
        self.ids = {name: unique(name) for name in self.names}
        self.logs = {name: tmp_path / f"{name}.log" for name in [*self.names, "a", "b"]}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ingesters = {name: self.ingester(name) for name in self.names}
        self.a = self.spawn(spawn_engine(database_url, "engine-a", self.logs["a"]))

    def spawn(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.processes.append(process)
        return process

    def ingester(self, name: str) -> subprocess.Popen[bytes]:
        env = {**GROUP, "TICKWIRE_INGEST_INSTANCE": name}
        return self.spawn(
            spawn_ingester(self.url, self.broker, self.ids[name], self.logs[name], env=env)
        )

    async def ready(self, db: asyncpg.Connection) -> None:
        await wait_leader(db, "engine-a")
        self.spawn(spawn_engine(self.url, "engine-b", self.logs["b"]))

        async def all_ready() -> bool:
            shared = all("subscribing to $share/" in log_text(self.logs[n]) for n in self.names)
            return shared and "engine-b on standby" in log_text(self.logs["b"])

        await wait_until("3 ingesters subscribed, engine-b on standby", all_ready, 60)

    def kill(self) -> None:
        """kill -9 of ingest-2 and of the leading engine; ingest-2 restarted (its session's
        unacknowledged messages come again)."""
        victim = self.ingesters["ingest-2"]
        victim.send_signal(signal.SIGKILL)
        self.a.send_signal(signal.SIGKILL)
        victim.wait(10)
        self.a.wait(10)
        self.ingester("ingest-2")


async def settle(db: asyncpg.Connection) -> None:
    async def all_stored() -> bool:
        return int(await db.fetchval("SELECT count(*) FROM telemetry")) >= readings()

    await wait_until("every reading stored", all_stored, 60, interval=0.2)

    async def settled() -> bool:
        return await alert_histories(db) == EXPECTED

    try:
        await wait_until("the expected alerts", settled, 40, interval=0.2)
    except AssertionError:
        raise AssertionError(f"alerts: {await alert_histories(db)}") from None
    await asyncio.sleep(2.0)  # nothing more may come


async def test_three_ingesters_two_engines_two_apis_survive_kill_9_mid_run(
    db: asyncpg.Connection, database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    for device in FLEET:
        await add_device(db, device, timeout_s=2.0 if device == "f1" else 60.0)
    fleet = Fleet(database_url, broker, tmp_path)
    try:
        async with api_replicas(database_url, tmp_path, 2) as apis:
            await fleet.ready(db)
            start_id = int(await db.fetchval("SELECT last_id FROM stream_state"))
            first: list[int] = []
            moved = asyncio.Event()
            on_a = asyncio.ensure_future(follow(apis[0], start_id, moved, first))
            schedule = Schedule(broker.url, STEPS, messages)
            publishing = asyncio.ensure_future(schedule.run())
            await schedule.reach(KILL_AT)
            fleet.kill()
            await wait_leader(db, "engine-b", timeout=15)
            moved.set()
            await on_a
            assert first, "the stream on the first replica got nothing: nothing was tested"
            second: list[int] = []
            done = asyncio.Event()
            on_b = asyncio.ensure_future(follow(apis[1], first[-1], done, second))
            await publishing
            await settle(db)
            expected_ids = await journal_ids(db, start_id)

            async def all_streamed() -> bool:
                return bool(second) and second[-1] >= expected_ids[-1]

            await wait_until("the stream caught up", all_streamed, 30, interval=0.1)
            await asyncio.sleep(1.0)
            done.set()
            await on_b
    finally:
        stop(*fleet.processes)
    stored = await db.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT (device_id, metric, time)) AS k FROM telemetry"
    )
    assert (stored["n"], stored["k"]) == (readings(), readings())
    assert await alert_histories(db) == EXPECTED
    assert await streamed(db) == flat(EXPECTED)
    assert first + second == expected_ids

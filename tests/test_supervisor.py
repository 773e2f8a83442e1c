"""`make up` keeps running whatever dies: `python -m devstack` with a device publishing through
it, `kill -9` of each part in turn; each comes back, and every acknowledged reading is in the
database exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from devstack.ports import free_port
from devstack.supervisor import Backoff, Restart, keep
from tests.process_support import postmaster, stack_child
from tests.steady import SteadyDevice
from tests.support import unique, wait_until
from tickwire.settings import embedded_database_url

ROOT = Path(__file__).resolve().parents[1]


# --- the back-off policy and the keeper, with a unit that dies on demand -----------------------


def test_backoff_doubles_while_dying_young_and_resets_after_a_healthy_run() -> None:
    backoff = Backoff(first_s=1, max_s=8, healthy_s=30)
    delays, delay = [], None
    for ran in (0.5, 2, 1, 0, 0, 29.9, 30, 3):
        delay = backoff.next(delay, ran)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 8, 8, 1, 2]


class Flaky:
    """Ends with the given statuses, one per run; fails to start when told to."""

    def __init__(self, statuses: list[int], restart: Restart = "always", bad_starts: int = 0):
        self.name = "flaky"
        self.restart: Restart = restart
        self.statuses = statuses
        self.bad_starts = bad_starts
        self.starts: list[float] = []

    async def start(self) -> None:
        if self.bad_starts:
            self.bad_starts -= 1
            raise OSError("port taken")
        self.starts.append(time.monotonic())

    async def ended(self) -> int | None:
        if self.statuses:
            return self.statuses.pop(0)
        await asyncio.Event().wait()  # runs from now on
        return None

    def pid(self) -> int | None:
        return 42


async def test_keeper_restarts_with_growing_delays_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unit = Flaky([-9, 1, 0], bad_starts=1)
    stop = asyncio.Event()
    keeper = asyncio.create_task(keep(unit, stop, Backoff(first_s=0.05, max_s=10, healthy_s=60)))
    await wait_until("3 starts of the unit", lambda: _true(len(unit.starts) == 3), timeout=10)
    stop.set()
    await asyncio.wait_for(keeper, 5)
    gaps = [b - a for a, b in zip(unit.starts, unit.starts[1:], strict=False)]
    # Delays 0.05, 0.1 (after the failed start), 0.2, 0.4, each after a 0.2 s grace.
    assert gaps[0] >= 0.2 + 0.2 - 0.01 and gaps[1] >= 0.2 + 0.4 - 0.01, gaps
    text = caplog.text
    assert "flaky (pid 42) killed by SIGKILL" in text
    assert "flaky (pid 42) exited with status 1" in text
    assert "did not start (port taken)" in text and "flaky restarted" in text


async def test_on_failure_unit_that_finished_is_left_alone() -> None:
    unit = Flaky([0], restart="on-failure")
    await asyncio.wait_for(keep(unit, asyncio.Event(), Backoff(first_s=0.01)), 5)
    assert unit.starts == []


async def test_keeper_stops_without_restarting_when_the_stack_stops() -> None:
    unit = Flaky([])
    stop = asyncio.Event()
    keeper = asyncio.create_task(keep(unit, stop, Backoff(first_s=0.01)))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(keeper, 5)
    assert unit.starts == []


async def _true(value: bool) -> bool:
    return value


# --- the whole stack as `make up` runs it ------------------------------------------------------


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    url: str
    mqtt_port: int
    admin: tuple[str, str]
    workdir: Path

    @property
    def log(self) -> Path:
        return self.workdir / "stack.log"

    def child(self, name: str) -> psutil.Process | None:
        return stack_child(self.process.pid, name)

    def database(self) -> psutil.Process | None:
        """The embedded PostgreSQL's running postmaster."""
        return postmaster(self.workdir / "data" / "pg" / "data")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def make_up(workdir: Path, database_url: str | None) -> Iterator[RunningStack]:
    """`python -m devstack` on free ports with a small demo fleet, output to workdir/stack.log;
    on the given database, else its own embedded PostgreSQL."""
    http_port, mqtt_port = free_port(), free_port()
    admin = ("ops@example.com", secrets.token_urlsafe(12))
    env = {
        **{k: v for k, v in os.environ.items() if k != "TICKWIRE_DATABASE_URL"},
        "TICKWIRE_DATA_DIR": str(workdir / "data"),
        "TICKWIRE_HTTP_PORT": str(http_port),
        "TICKWIRE_EMBEDDED_MQTT_PORT": str(mqtt_port),
        "TICKWIRE_EMBEDDED_MQTTS_PORT": str(free_port()),
        "TICKWIRE_ADMIN_EMAIL": admin[0],
        "TICKWIRE_ADMIN_PASSWORD": admin[1],
        "TICKWIRE_SIM_DEVICES": "2",
        "TICKWIRE_SIM_TICKERS": "1",
        "TICKWIRE_SIM_PREFIX": "ops",
    }
    if database_url:
        env["TICKWIRE_DATABASE_URL"] = database_url
    with (workdir / "stack.log").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    stack = RunningStack(process, f"http://127.0.0.1:{http_port}", mqtt_port, admin, workdir)
    try:
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def healthy(stack: RunningStack) -> bool:
    assert stack.process.poll() is None, stack.log_text()[-4000:]
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(f"{stack.url}/health")).status_code == 200
    return False


async def steady_device(stack: RunningStack) -> SteadyDevice:
    """A device created through the API (its broker account with it), publishing."""
    device_id = unique("steady")
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        login = await client.post(
            "/auth/jwt/login", data={"username": stack.admin[0], "password": stack.admin[1]}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await client.post("/api/devices", json={"device_id": device_id}, headers=headers)
        assert created.status_code == 201, created.text
    issued = created.json()["credentials"]  # None: a broker without dynamic security
    account = f"{issued['username']}:{issued['password']}@" if issued else ""
    url = f"mqtt://{account}127.0.0.1:{stack.mqtt_port}"
    first_ts = int(datetime.now(UTC).timestamp() * 1000) - 3_600_000
    device = SteadyDevice(url, device_id, first_ts, rate=40)
    device.start()
    return device


@dataclass
class Readings:
    """What the steady device published, against what the database holds (a connection per
    look: the database itself may be restarted)."""

    database_url: str
    device: SteadyDevice

    async def stored(self) -> list[int]:
        conn = await asyncpg.connect(self.database_url, timeout=5)
        try:
            rows = await conn.fetch(
                "SELECT (extract(epoch FROM time) * 1000)::bigint AS ts FROM telemetry "
                "WHERE device_id = $1",
                self.device.device_id,
            )
        finally:
            await conn.close()
        return [row["ts"] for row in rows]

    async def all_acked_stored(self) -> bool:
        acked = self.device.acked
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            return bool(acked) and acked <= set(await self.stored())
        return False

    async def flowing(self) -> None:
        """Wait until 40 more readings than acknowledged now are stored."""
        target = len(self.device.acked) + 40

        async def enough() -> bool:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                return len(await self.stored()) >= target
            return False

        await wait_until(f"{target} readings stored", enough, timeout=60, interval=0.2)

    async def assert_exactly_once(self, at_least: int) -> None:
        """Stop the device; every reading it got a PUBACK for is stored, and only once."""
        await asyncio.to_thread(self.device.stop)
        assert self.device.unacknowledged() == 0
        await wait_until(
            "every acknowledged reading stored", self.all_acked_stored, timeout=60, interval=0.2
        )
        await asyncio.sleep(2)  # a late redelivery would show up as a duplicate now
        rows = await self.stored()
        published, acked = self.device.published, self.device.acked
        assert len(rows) == len(set(rows)), "duplicated readings"
        assert acked <= set(rows) <= set(published)
        assert len(acked) >= at_least, len(acked)
        print(f"published {len(published)}, acknowledged {len(acked)}, stored {len(rows)}")


async def kill_and_wait_for_restart(stack: RunningStack, name: str) -> None:
    child = stack.child(name)
    assert child is not None, f"no {name} running"
    child.send_signal(signal.SIGKILL)
    await asyncio.to_thread(child.wait, 10)
    await wait_until(
        f"{name} replaced", lambda: _replaced(stack, name, child.pid), timeout=60, interval=0.2
    )
    await wait_until("the stack healthy", lambda: healthy(stack), timeout=120, interval=0.5)


def assert_restarts_logged(
    stack: RunningStack, *names: str, how: str = "killed by SIGKILL"
) -> None:
    text = stack.log_text()
    for name in names:
        assert re.search(rf"{name} \(pid \d+\) {re.escape(how)} after", text), name
        assert re.search(rf"{name} restarted \(pid \d+\)", text), name


async def stop(stack: RunningStack) -> None:
    """Ctrl-C: everything stops, status 0."""
    stack.process.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(stack.process.wait, 60) == 0


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_of_each_part_restarts_it_and_loses_nothing(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    with make_up(tmp_path, database_url) as stack:
        await wait_until("the stack healthy", lambda: healthy(stack), timeout=180, interval=0.5)
        readings = Readings(database_url, await steady_device(stack))
        try:
            await wait_until(
                "every acknowledged reading stored",
                readings.all_acked_stored,
                timeout=60,
                interval=0.2,
            )
            for name in ("ingest", "api", "notify"):
                await kill_and_wait_for_restart(stack, name)
                await readings.flowing()

            killed_at = datetime.now(UTC)
            await kill_and_wait_for_restart(stack, "simulator")

            async def simulator_publishes_again() -> bool:
                return bool(
                    await db.fetchval(
                        "SELECT count(*) FROM telemetry WHERE device_id LIKE 'ops-%' AND time > $1",
                        killed_at,
                    )
                )

            await wait_until(
                "the simulator publishing again",
                simulator_publishes_again,
                timeout=90,
                interval=0.5,
            )

            # Mosquitto 2.0 saves its state every few seconds, not per message: a kill -9 loses
            # what it acknowledged since (docs/deploy.md). So the device holds its next readings
            # back until everything acknowledged is committed, and publishes on through the
            # outage (paho queues, then resends on reconnect).
            readings.device.pause()
            await wait_until(
                "every acknowledged reading stored",
                readings.all_acked_stored,
                timeout=60,
                interval=0.2,
            )
            mosquitto = stack.child("mosquitto")
            assert mosquitto is not None
            mosquitto.send_signal(signal.SIGKILL)
            readings.device.resume()
            await asyncio.to_thread(mosquitto.wait, 10)
            await wait_until(
                "mosquitto replaced", lambda: _replaced(stack, "mosquitto", mosquitto.pid), 60, 0.2
            )
            await wait_until("the stack healthy", lambda: healthy(stack), timeout=120, interval=0.5)
            await readings.flowing()
        finally:
            await readings.assert_exactly_once(at_least=400)
        assert_restarts_logged(stack, "ingest", "api", "notify", "simulator", "mosquitto")
        await stop(stack)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_of_the_embedded_database_restarts_it_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with make_up(tmp_path, None) as stack:
        await wait_until("the stack healthy", lambda: healthy(stack), timeout=240, interval=0.5)
        database_url = embedded_database_url(tmp_path / "data" / "pg")
        readings = Readings(database_url, await steady_device(stack))
        try:
            await wait_until(
                "every acknowledged reading stored",
                readings.all_acked_stored,
                timeout=60,
                interval=0.2,
            )
            postmaster = stack.database()
            assert postmaster is not None
            postmaster.send_signal(signal.SIGKILL)
            await wait_until(
                "the postmaster replaced",
                lambda: _postmaster_replaced(stack, postmaster.pid),
                120,
                0.5,
            )
            await wait_until("the stack healthy", lambda: healthy(stack), timeout=120, interval=0.5)
            await readings.flowing()
        finally:
            await readings.assert_exactly_once(at_least=100)
        # pg_ctl's server is not the supervisor's child: it sees the pid gone, not the signal.
        assert_restarts_logged(stack, "postgresql", how="ended (exit status unknown)")
        await stop(stack)


async def _replaced(stack: RunningStack, name: str, pid: int) -> bool:
    again = stack.child(name)
    return again is not None and again.pid != pid


async def _postmaster_replaced(stack: RunningStack, pid: int) -> bool:
    again = stack.database()
    return again is not None and again.pid != pid

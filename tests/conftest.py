"""Fixtures: a real PostgreSQL (embedded, or TICKWIRE_TEST_DATABASE_URL), a real Mosquitto,
a fresh migrated database per test, and the ingester running against them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser

from devstack.broker import Mosquitto
from devstack.embedded_pg import embedded_postgres
from devstack.ports import free_port
from ingest.app import run as run_ingester
from ingest.settings import IngestSettings
from ingest.stats import Stats
from simulator.app import run as run_simulator
from simulator.settings import SimulatorSettings
from tests.api_support import Api, running_api
from tests.browser_support import chromium
from tests.support import fresh_database, unique
from tickwire import brokerauth


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of a database on the server under test, from which test databases are made."""
    external = os.environ.get("TICKWIRE_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with embedded_postgres(tmp_path_factory.mktemp("pg"), database="postgres") as url:
        yield url


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database with the whole schema, dropped afterwards."""
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker", free_port())
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@dataclass
class RunningIngester:
    settings: IngestSettings
    stop: asyncio.Event
    task: asyncio.Task[Stats]

    async def close(self) -> Stats:
        self.stop.set()
        return await asyncio.wait_for(self.task, 30)


def ingest_settings(database_url: str, broker: Mosquitto, **overrides: object) -> IngestSettings:
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_url": broker.url,
        "ingest_client_id": unique("ingest"),
    }
    values.update(overrides)
    return IngestSettings(**values)  # type: ignore[arg-type]


async def start_ingester(settings: IngestSettings) -> RunningIngester:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_ingester(settings, stop, ready))
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait([task, waiter], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()
    assert ready.is_set(), "ingester did not subscribe in time"
    return RunningIngester(settings, stop, task)


@contextlib.asynccontextmanager
async def ingesting(settings: IngestSettings) -> AsyncIterator[RunningIngester]:
    """An ingester for the `async with` block, closed after it unless it ended already."""
    running = await start_ingester(settings)
    try:
        yield running
    finally:
        if not running.task.done():
            await running.close()


@pytest.fixture
async def ingester(database_url: str, broker: Mosquitto) -> AsyncIterator[RunningIngester]:
    async with ingesting(ingest_settings(database_url, broker)) as running:
        yield running


@pytest.fixture
async def api(database_url: str, broker: Mosquitto, tmp_path: Path) -> AsyncIterator[Api]:
    """The API on a real uvicorn server (127.0.0.1, free port) with an admin account."""
    async with running_api(database_url, broker.url, tmp_path / "api") as running:
        yield running


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session; each test opens its own context."""
    async with chromium() as launched:
        yield launched


@dataclass
class Stack:
    """What `make up` runs, in this test: database, broker, ingester, API + dashboard and the
    simulator's demo fleet (3 sensors at 1 reading/s, 4 tickers at 2 ticks/s)."""

    api: Api
    ingester: RunningIngester
    broker: Mosquitto
    database_url: str


@contextlib.asynccontextmanager
async def simulated_stack(
    database_url: str, broker: Mosquitto, api: Api, ingester: RunningIngester, **fleet: Any
) -> AsyncIterator[Stack]:
    """The running services plus the simulator in this event loop; `fleet`: its sim_* settings
    over a seeded, loss-free default."""
    values: dict[str, Any] = {"sim_seed": 7, "sim_drop_every": 0, "sim_prefix": unique("sim")}
    settings = SimulatorSettings(
        database_url=database_url,
        mqtt_url=broker.url,
        data_dir=api.settings.data_dir,  # its store-and-forward buffer: the test's, not the repo's
        **(values | fleet),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulator(settings, stop), name="simulator")
    try:
        yield Stack(api, ingester, broker, database_url)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def stack(
    database_url: str, broker: Mosquitto, api: Api, ingester: RunningIngester
) -> AsyncIterator[Stack]:
    async with simulated_stack(
        database_url, broker, api, ingester, sim_devices=3, sim_tickers=4
    ) as running:
        yield running


@dataclass
class SecureBroker:
    """A Mosquitto with dynamic security, its admin and the services' accounts set up."""

    mosquitto: Mosquitto
    admin_url: str
    ingest_url: str
    api_url: str

    @property
    def url(self) -> str:
        """Without credentials (what an anonymous client would use)."""
        return self.mosquitto.url


@pytest.fixture
async def secure_broker(tmp_path: Path) -> AsyncIterator[SecureBroker]:
    admin = ("admin", secrets.token_urlsafe(16))
    mosquitto = Mosquitto(tmp_path / "secure-broker", free_port(), admin=admin)
    await asyncio.to_thread(mosquitto.start)
    try:
        ingest, api = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        assert mosquitto.admin_url is not None
        await brokerauth.setup(mosquitto.admin_url, ingest, api, wait=10)
        yield SecureBroker(
            mosquitto,
            mosquitto.admin_url,
            mosquitto.url_for(brokerauth.INGEST_ACCOUNT, ingest),
            mosquitto.url_for(brokerauth.API_ACCOUNT, api),
        )
    finally:
        await asyncio.to_thread(mosquitto.stop)


@pytest.fixture
async def secure_ingester(
    database_url: str, secure_broker: SecureBroker
) -> AsyncIterator[RunningIngester]:
    settings = ingest_settings(
        database_url, secure_broker.mosquitto, mqtt_url=secure_broker.ingest_url
    )
    async with ingesting(settings) as running:
        yield running


@pytest.fixture
async def secure_api(
    database_url: str, secure_broker: SecureBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """The API logged in as tickwire-api, managing device credentials as the plugin's admin."""
    monkeypatch.setenv("TICKWIRE_MQTT_ADMIN_URL", secure_broker.admin_url)
    async with running_api(database_url, secure_broker.api_url, tmp_path / "api") as running:
        assert running.settings.mqtt_admin_url == secure_broker.admin_url
        yield running

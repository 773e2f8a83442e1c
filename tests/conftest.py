"""Fixtures: a real PostgreSQL (embedded, or TICKWIRE_TEST_DATABASE_URL), a real Mosquitto,
a fresh migrated database per test, and the ingester running against them. The helpers they
use live in tests/*_support.py.

Under pytest-xdist (`make test`) every worker is its own process: the session fixtures below
(the embedded PostgreSQL, the browser) exist once per worker, under that worker's own
temporary directory; ports are free ones picked when needed. On a shared
TICKWIRE_TEST_DATABASE_URL server each test still gets a database of its own (unique name)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser

from devstack.broker import Mosquitto
from devstack.embedded_pg import embedded_postgres
from devstack.ports import free_port
from tests.api_support import Api, running_api
from tests.broker_support import SecureBroker, secure_mosquitto
from tests.browser_support import CSP_VIOLATIONS, chromium
from tests.ingest_support import RunningIngester, ingest_settings, ingesting
from tests.stack_support import Stack, simulated_stack
from tests.support import fresh_database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the `browser` fixture is marked `browser` (`-m "not browser"`)."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def _csp_blocks_nothing(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every browser test also proves that the dashboard's CSP blocks nothing it does."""
    CSP_VIOLATIONS.clear()
    yield
    if "browser" in request.fixturenames:
        assert CSP_VIOLATIONS == [], CSP_VIOLATIONS


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
    """One headless Chromium per session (per xdist worker); each test opens its own context."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def stack(
    database_url: str, broker: Mosquitto, api: Api, ingester: RunningIngester
) -> AsyncIterator[Stack]:
    async with simulated_stack(
        database_url, broker, api, ingester, sim_devices=3, sim_tickers=4
    ) as running:
        yield running


@pytest.fixture
async def secure_broker(tmp_path: Path) -> AsyncIterator[SecureBroker]:
    async with secure_mosquitto(tmp_path / "secure-broker") as running:
        yield running


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

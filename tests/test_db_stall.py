"""The API while PostgreSQL is stalled (its processes stopped with SIGSTOP: connections open,
nothing answers): `/health` says so within 1 s, login and `/api/devices` answer 503
`database_unavailable` within a few seconds instead of hanging; after SIGCONT all recovers.
A statement blocked behind a lock is cut at its timeout the same way.

The stalled server is this test's own embedded PostgreSQL, never the session's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import sqlalchemy.exc

from api.db import unavailable
from devstack.broker import Mosquitto
from devstack.embedded_pg import EmbeddedPostgres, embedded_server
from sql.migrate import upgrade
from tests.api_support import Account, Api, running_api
from tests.export_support import insert_series, series_params, small_buffer_client
from tests.process_support import stopped
from tests.support import wait_until

#: What a caller waits at most for the 503 of a login or a CRUD route during a stall, with the
#: default settings (TICKWIRE_DB_TIMEOUT_S = 2: a pool checkout's ping, then one reconnect).
STALLED_ANSWER_S = 6.0


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    with embedded_server(tmp_path / "pg") as server:
        upgrade(server.url)
        yield server


@pytest.fixture
async def private_api(
    private_server: EmbeddedPostgres, broker: Mosquitto, tmp_path: Path
) -> AsyncIterator[Api]:
    async with running_api(private_server.url, broker.url, tmp_path / "api") as running:
        yield running


async def timed(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: object
) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    return time.monotonic() - started, response


def login_form(account: Account) -> dict[str, str]:
    return {"username": account.email, "password": account.password}


@pytest.mark.slow
async def test_a_stalled_database_gets_quick_503s_and_recovery(
    private_api: Api, private_server: EmbeddedPostgres
) -> None:
    admin = private_api.admin
    async with private_api.client(admin) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/api/devices")).status_code == 200

        with stopped(private_server.pid()):
            elapsed, health = await timed(client, "GET", "/health")
            assert health.status_code == 503 and elapsed < 1.5, (elapsed, health.text)
            body = health.json()
            assert body["database"]["ok"] is False
            assert "timeout" in body["database"]["detail"].lower()
            print(f"stalled: GET /health → 503 in {elapsed:.2f} s")
            assert body["broker"]["ok"] is True  # only what failed is reported failed

            requests = [
                ("POST", "/auth/jwt/login", {"data": login_form(admin)}),
                ("GET", "/api/devices", {}),
                ("GET", "/api/alerts", {}),
                ("GET", "/users/me", {}),
            ]
            answers = await asyncio.gather(
                *(timed(client, method, url, **kw) for method, url, kw in requests)
            )
            for (method, url, _), (elapsed, response) in zip(requests, answers, strict=True):
                assert response.status_code == 503, (method, url, response.text)
                assert response.json()["error"]["code"] == "database_unavailable", url
                assert response.headers["retry-after"].isdigit()
                assert elapsed < STALLED_ANSWER_S, (url, elapsed)
                print(f"stalled: {method} {url} → 503 in {elapsed:.2f} s")

            # Still quick while it lasts: nothing piles up behind the first requests.
            elapsed, again = await timed(client, "GET", "/api/devices")
            assert again.status_code == 503 and elapsed < STALLED_ANSWER_S, elapsed
            elapsed, health = await timed(client, "GET", "/health")
            assert health.status_code == 503 and elapsed < 1.5, elapsed

        async def recovered() -> bool:
            health = await client.get("/health")
            devices = await client.get("/api/devices")
            login = await client.post("/auth/jwt/login", data=login_form(admin))
            return health.status_code == devices.status_code == login.status_code == 200

        await wait_until(
            "/health, /api/devices and login answering 200 again",
            recovered,
            timeout=60,
            interval=0.5,
        )


async def test_a_blocked_statement_is_cut_at_its_timeout(
    database_url: str, db: asyncpg.Connection, broker: Mosquitto, tmp_path: Path
) -> None:
    """A lock held elsewhere: an analytics statement gives up after TICKWIRE_DB_QUERY_TIMEOUT_S,
    a login after TICKWIRE_DB_TIMEOUT_S, both 503; they work again once the lock is gone."""
    async with (
        running_api(
            database_url, broker.url, tmp_path / "api", db_query_timeout_s=1.0, db_timeout_s=1.5
        ) as api,
        api.client(api.admin) as client,
    ):
        async with db.transaction():
            await db.execute("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
            elapsed, blocked = await timed(client, "GET", "/api/alerts")
            assert blocked.status_code == 503, blocked.text
            assert blocked.json()["error"]["code"] == "database_unavailable"
            assert 0.9 < elapsed < 4, elapsed

            await db.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            elapsed, login = await timed(
                client, "POST", "/auth/jwt/login", data=login_form(api.admin)
            )
            assert login.status_code == 503, login.text
            assert 1.4 < elapsed < 5, elapsed
        assert (await client.get("/api/alerts")).status_code == 200
        login = await client.post("/auth/jwt/login", data=login_form(api.admin))
        assert login.status_code == 200


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), "timeout"),
        (asyncpg.ConnectionDoesNotExistError("connection was closed"), "connection failed"),
        (asyncpg.CannotConnectNowError("the database system is starting up"), "failed"),
        (asyncpg.InterfaceError("connection is closed"), "closed"),
        (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), "free in time"),
        (asyncpg.UniqueViolationError("duplicate key"), None),  # a conflict, not an outage
        (asyncpg.InterfaceError("cannot perform operation: another operation"), None),  # a bug
        (TimeoutError("a route's own timeout"), None),  # raised outside the drivers
        (ConnectionRefusedError("the broker"), None),
        (ValueError("bad"), None),
    ],
)
def test_what_counts_as_the_database_being_unavailable(
    error: Exception, expected: str | None
) -> None:
    reason = unavailable(error)
    assert (reason is None) if expected is None else (reason and expected in reason), reason
    wrapped = sqlalchemy.exc.DBAPIError("SELECT 1", None, error)
    assert (unavailable(wrapped) is None) == (expected is None)


async def test_an_export_outlives_the_query_timeout(
    database_url: str, db: asyncpg.Connection, broker: Mosquitto, tmp_path: Path
) -> None:
    """An export's COPY runs at its client's pace: a slow reader holding it past
    TICKWIRE_DB_QUERY_TIMEOUT_S still gets every row."""
    rows = 200_000
    await insert_series(db, "slow", rows)
    params = series_params("slow", rows, "csv")
    async with (
        running_api(database_url, broker.url, tmp_path / "api", db_query_timeout_s=1.0) as api,
        small_buffer_client(api) as client,
        client.stream("GET", "/api/export/telemetry", params=params) as response,
    ):
        assert response.status_code == 200
        chunks = aiter(response.aiter_raw())
        body = [await anext(chunks)]
        await asyncio.sleep(2.0)  # the COPY waits for this reader, past the timeout
        body += [chunk async for chunk in chunks]
    lines = b"".join(body).splitlines()
    assert len(lines) == rows + 1, len(lines)  # and the CSV header

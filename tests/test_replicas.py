"""API replicas behind a load balancer (two `python -m api` processes on one database, one
secret): a live stream resumed on the other replica with Last-Event-ID gets exactly what it
missed, and the login throttle counts failures on every replica together."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx

from tests.api_support import Account, login
from tests.process_support import api_process
from tests.test_stream import Reader, add_device, append, ev

LOGIN = "/auth/jwt/login"


@contextlib.asynccontextmanager
async def replicas(database_url: str, workdir: Path, count: int) -> AsyncIterator[list[str]]:
    """`count` API processes sharing one secret; their base URLs."""
    secret = secrets.token_urlsafe(40)
    with contextlib.ExitStack() as stack:
        urls = []
        for number in range(count):
            (workdir / f"r{number}").mkdir()
            started = api_process(database_url, workdir / f"r{number}", secret=secret)
            url, _, _ = await asyncio.to_thread(stack.enter_context, started)
            urls.append(url)
        try:
            yield urls
        finally:
            await asyncio.to_thread(stack.close)


async def register(url: str) -> Account:
    email, password = f"r-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        created = await client.post("/auth/register", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
        return await login(client, email, password, created.json()["id"])


@contextlib.asynccontextmanager
async def stream(url: str, account: Account, device: str, last_id: int) -> AsyncIterator[Reader]:
    headers = {**account.headers, "Last-Event-ID": str(last_id)}
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as client,
        client.stream("GET", "/api/stream", params={"devices": device}, headers=headers) as got,
    ):
        assert got.status_code == 200, await got.aread()
        reader = Reader(got)
        try:
            yield reader
        finally:
            await reader.close()


async def test_a_stream_resumed_on_another_replica_gets_exactly_what_it_missed(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    async with replicas(database_url, tmp_path, 2) as (a, b):
        user = await register(a)
        mine, theirs = await add_device(db, user), await add_device(db, None)
        before = await append(db, ev("telemetry", theirs))
        firsts = [
            await append(db, ev("telemetry", mine, n=n), ev("telemetry", theirs)) for n in range(5)
        ]
        mine_ids = [last - 1 for last in firsts]
        async with stream(a, user, mine, before) as reader:
            seen = [(await reader.event()).id for _ in range(3)]
        assert seen == mine_ids[:3]
        later = [await append(db, ev("telemetry", theirs), ev("telemetry", mine)) for _ in range(4)]
        mine_ids += later  # the second of each pair is mine
        resume = seen[-1]
        assert resume is not None
        async with stream(b, user, mine, resume) as reader:
            rest = [(await reader.event()).id for _ in range(len(mine_ids) - 3)]
            with contextlib.suppress(TimeoutError):
                extra = await reader.event(timeout=1.0)
                raise AssertionError(f"an event not missed: {extra}")
        assert rest == mine_ids[3:]


async def test_failed_logins_are_counted_across_replicas(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    async with replicas(database_url, tmp_path, 2) as urls:
        user = await register(urls[0])
        clients = [httpx.AsyncClient(base_url=url, timeout=30) for url in urls]
        try:
            for attempt in range(10):
                wrong = {"username": user.email, "password": "wrong password"}
                response = await clients[attempt % 2].post(LOGIN, data=wrong)
                assert response.status_code == 400, response.text
            right = {"username": user.email, "password": user.password}
            for client in clients:
                response = await client.post(LOGIN, data=right)
                assert response.status_code == 429, response.text
                assert response.json()["error"]["code"] == "too_many_attempts"
        finally:
            for client in clients:
                await client.aclose()

"""API replicas behind a load balancer (two `python -m api` processes on one database, one
secret): a live stream resumed on the other replica with Last-Event-ID gets exactly what it
missed, and the login throttle counts failures on every replica together."""

from __future__ import annotations

import contextlib
from pathlib import Path

import asyncpg
import httpx

from tests.api_support import register
from tests.process_support import api_replicas
from tests.stream_support import stream
from tests.test_stream import add_device, append, ev

LOGIN = "/auth/jwt/login"


async def test_a_stream_resumed_on_another_replica_gets_exactly_what_it_missed(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    async with api_replicas(database_url, tmp_path, 2) as [(a, _), (b, _)]:
        user = await register(a)
        mine, theirs = await add_device(db, user), await add_device(db, None)
        before = await append(db, ev("telemetry", theirs))
        firsts = [
            await append(db, ev("telemetry", mine, n=n), ev("telemetry", theirs)) for n in range(5)
        ]
        mine_ids = [last - 1 for last in firsts]
        async with stream(a, user.headers, {"devices": mine}, before) as reader:
            seen = [(await reader.event()).id for _ in range(3)]
        assert seen == mine_ids[:3]
        later = [await append(db, ev("telemetry", theirs), ev("telemetry", mine)) for _ in range(4)]
        mine_ids += later  # the second of each pair is mine
        resume = seen[-1]
        assert resume is not None
        async with stream(b, user.headers, {"devices": mine}, resume) as reader:
            rest = [(await reader.event()).id for _ in range(len(mine_ids) - 3)]
            with contextlib.suppress(TimeoutError):
                extra = await reader.event(timeout=1.0)
                raise AssertionError(f"an event not missed: {extra}")
        assert rest == mine_ids[3:]


async def test_failed_logins_are_counted_across_replicas(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    async with api_replicas(database_url, tmp_path, 2) as apis:
        user = await register(apis[0][0])
        clients = [httpx.AsyncClient(base_url=url, timeout=30) for url, _ in apis]
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

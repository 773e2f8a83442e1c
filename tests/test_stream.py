"""GET /api/stream against a real uvicorn: events after commit in id order, exact resume with
Last-Event-ID, `reset`, authorization, back-pressure (a stalled client), no pinned database
connection, cookie auth and keep-alives."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import psutil
import pytest

from api.stream.routing import ABSENT, Routes, delivers
from api.stream.subscriber import DEVICE, TICKER, Selection, Subscriber
from devstack.broker import Mosquitto
from tests.api_support import Account, Api, login, running_api
from tests.ingest_support import RunningIngester
from tests.process_support import api_process
from tests.stream_support import Frame, Reader, stream
from tests.support import publish, unique, wait_until
from tickwire import journal
from tickwire.journal import Event

KEEP_ALIVE_S = 0.3
SESSION_CHECK_S = 0.5


@pytest.fixture
async def api(
    database_url: str, broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """The API with a short keep-alive interval (the settings come from the environment)."""
    monkeypatch.setenv("TICKWIRE_STREAM_KEEPALIVE_S", str(KEEP_ALIVE_S))
    monkeypatch.setenv("TICKWIRE_STREAM_SESSION_CHECK_S", str(SESSION_CHECK_S))
    async with running_api(database_url, broker.url, tmp_path / "api") as running:
        yield running


async def append(db: asyncpg.Connection, *events: Event) -> int:
    """Append in one transaction (the journal's contract); the last id."""
    async with db.transaction():
        return await journal.append(db, list(events))


def ev(kind: str, subject: str, audience: str | None = None, **data: Any) -> Event:
    payload = {"device_id": subject} if kind in ("telemetry", "device_status") else {}
    if kind == "price":
        payload = {"ticker": subject}
    payload.update(data)
    return Event(kind, subject, json.dumps(payload), None if audience is None else UUID(audience))


async def add_device(db: asyncpg.Connection, owner: Account | None) -> str:
    device_id = unique("dev")
    await db.execute(
        "INSERT INTO devices (device_id, name, owner_id) VALUES ($1, $1, $2::text::uuid)",
        device_id,
        owner.id if owner else None,
    )
    return device_id


def a_ticker() -> str:
    return "T" + unique("").replace("-", "").upper()[:7]


async def add_stock(db: asyncpg.Connection) -> str:
    """A stock: market data, every user reads it."""
    ticker = a_ticker()
    await db.execute("INSERT INTO stocks (ticker) VALUES ($1)", ticker)
    return ticker


async def metric(api: Api, name: str) -> float:
    async with api.client() as client:
        text = (await client.get("/metrics")).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- live ------------------------------------------------------------------------------------


async def dropped_for(reader: Reader, timeout: float = 10) -> str:
    """The reason of the `dropped` event that ends this stream (then it must end)."""
    async with asyncio.timeout(timeout):
        while (frame := await reader.event(timeout)).event != "dropped":
            pass
    with pytest.raises(EOFError):
        await reader.frame(timeout)
    return str(frame.json()["reason"])


async def test_a_stream_ends_with_its_login(api: Api, db: asyncpg.Connection) -> None:
    """Logout, then a password change: each ends the streams open on the logins it ended (and
    only those), and the token is refused when the client reconnects."""
    user = await api.register("streaming")
    device = await add_device(db, user)
    async with api.client() as client:
        second = await login(client, user.email, user.password, user.id)
    async with (
        stream(api.url, user.headers) as first_stream,
        stream(api.url, second.headers) as second_stream,
    ):
        async with api.client(second) as client:
            expect_status = await client.post("/auth/jwt/logout")
            assert expect_status.status_code == 204
        assert await dropped_for(second_stream) == "logged_out"
        # The other login's stream goes on.
        last = await append(db, ev("telemetry", device, temperature=1.0))
        [got] = await first_stream.events_until(last)
        assert got.json()["device_id"] == device
        async with api.client(user) as client:
            changed = await client.patch("/users/me", json={"password": "another password 1"})
            assert changed.status_code == 200
        assert await dropped_for(first_stream) == "logged_out"
    for ended in (user, second):
        async with api.client(ended) as client:
            assert (await client.get("/api/stream")).status_code == 401


async def test_events_arrive_after_commit_in_id_order(
    api: Api, ingester: RunningIngester, broker: Mosquitto, db: asyncpg.Connection
) -> None:
    user = await api.register()
    device = await add_device(db, user)
    async with stream(api.url, user.headers, {"devices": device}) as reader:
        headers = reader.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        assert (await reader.frame()).retry == 2000
        start = datetime.now(UTC).replace(microsecond=0)
        stamps = [start + timedelta(milliseconds=10 * i) for i in range(30)]
        messages = [
            (f"devices/{device}/telemetry", {"ts": int(t.timestamp() * 1000), "temperature": i})
            for i, t in enumerate(stamps)
        ]
        sending = asyncio.create_task(asyncio.to_thread(publish, broker.url, messages))
        seen: list[datetime] = []
        ids: list[int] = []
        while len([t for t in seen if t in stamps]) < len(stamps):
            frame = await reader.event()
            if frame.event != "telemetry":
                continue
            times = [_time(r["time"]) for r in frame.json()["readings"]]
            # Committed before it was sent: another session sees every reading already.
            stored = await db.fetchval(
                "SELECT count(DISTINCT time) FROM telemetry WHERE device_id = $1"
                " AND time = ANY($2::timestamptz[])",
                device,
                times,
            )
            assert stored == len(times)
            seen += times
            assert frame.id is not None
            ids.append(frame.id)
        await sending
    assert sorted(seen) == stamps
    assert ids == sorted(set(ids))


async def test_an_event_is_sent_only_once_its_transaction_commits(
    api: Api, db: asyncpg.Connection
) -> None:
    device = await add_device(db, None)
    async with stream(api.url, api.admin.headers, {"devices": device}) as reader:
        transaction = db.transaction()
        await transaction.start()
        last = await journal.append(db, [ev("telemetry", device)])
        pending = asyncio.create_task(reader.event(timeout=30))
        await asyncio.sleep(0.5)  # a negative: nothing may arrive while it is uncommitted
        assert not pending.done()
        await transaction.commit()
        frame = await pending
        assert (frame.id, frame.event) == (last, "telemetry")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- resume ----------------------------------------------------------------------------------


@pytest.mark.slow
async def test_resume_with_last_event_id_gets_exactly_the_missed_events(
    api: Api, db: asyncpg.Connection
) -> None:
    """Clients that keep dropping off and resuming while events are committed receive each
    of their events exactly once and in order: the admin all, a user only its own."""
    user = await api.register()
    mine, theirs = await add_device(db, user), await add_device(db, None)
    shared = await add_stock(db)
    subjects = [("telemetry", mine), ("telemetry", theirs), ("price", shared)]
    done = asyncio.Event()
    written: list[tuple[int, str]] = []

    async def produce() -> None:
        rng = random.Random(4)
        for _ in range(150):
            batch = [ev(*rng.choice(subjects)) for _ in range(rng.randint(1, 6))]
            last = await append(db, *batch)
            written.extend((last - len(batch) + 1 + i, e.subject) for i, e in enumerate(batch))
            await asyncio.sleep(rng.random() * 0.01)
        done.set()

    async def consume(account: Account, params: dict[str, str] | None, seed: int) -> list[int]:
        rng, got, last = random.Random(seed), list[int](), None
        while not (done.is_set() and last == written[-1][0]):
            async with stream(api.url, account.headers, params, last_id=last) as reader:
                if last is None:
                    started.set()
                for _ in range(rng.randint(1, 40)):
                    with contextlib.suppress(TimeoutError):
                        frame = await reader.event(timeout=0.5)
                        assert frame.id is not None
                        got.append(frame.id)
                    last = reader.last_id
        return got

    started = asyncio.Event()
    admin_task = asyncio.create_task(consume(api.admin, None, 1))
    await started.wait()
    started.clear()
    user_task = asyncio.create_task(consume(user, {"devices": mine, "tickers": shared}, 2))
    await started.wait()
    await produce()
    admin_got, user_got = await asyncio.wait_for(asyncio.gather(admin_task, user_task), 60)
    assert admin_got == [i for i, _ in written]
    assert user_got == [i for i, subject in written if subject in (mine, shared)]


async def test_resume_from_a_pruned_or_unknown_id_gets_a_reset(
    api: Api, db: asyncpg.Connection
) -> None:
    device = await add_device(db, None)
    last = await append(db, *[ev("telemetry", device, n=n) for n in range(10)])
    await journal.prune(db, keep_events=3, keep_seconds=3600)  # keeps last-2 … last
    async with stream(api.url, api.admin.headers, last_id=last - 3) as reader:
        frames = await reader.events_until(last)
        assert [f.id for f in frames] == [last - 2, last - 1, last]
    for too_old, reason in ((last - 4, "pruned"), (0, "pruned"), (last + 5, "unknown")):
        async with stream(api.url, api.admin.headers, last_id=too_old) as reader:
            reset = await reader.event()
            assert (reset.event, reset.id) == ("reset", last)
            assert reset.json() == {"reason": reason, "last_id": last}
            newer = await append(db, ev("telemetry", device))
            assert (await reader.event()).id == newer
            last = newer


async def test_last_event_id_in_the_query_and_bad_values(api: Api, db: asyncpg.Connection) -> None:
    device = await add_device(db, None)
    first = await append(db, ev("telemetry", device))
    await append(db, ev("telemetry", device))
    async with stream(api.url, api.admin.headers, {"last_event_id": str(first)}) as reader:
        assert (await reader.event()).id == first + 1
    async with api.client(api.admin) as client:
        for header in ("abc", "-1", "99999999999999999999"):
            refused = await client.get("/api/stream", headers={"Last-Event-ID": header})
            assert refused.status_code == 422
            assert refused.json()["error"]["code"] == "invalid_last_event_id"


async def test_kinds_keeps_only_those_events_live_and_on_resume(
    api: Api, db: asyncpg.Connection
) -> None:
    device = await add_device(db, None)
    before = await append(db, ev("telemetry", device))
    first_alert = await append(db, ev("price", "ACME"), ev("alert", device, state="ACTIVE"))
    async with stream(api.url, api.admin.headers, {"kinds": "alert"}, last_id=before) as reader:
        assert (await reader.event()).id == first_alert  # the backlog skipped the price
        live = await append(
            db, ev("telemetry", device), ev("device_status", device), ev("alert", device)
        )
        got = await reader.event()
        assert (got.event, got.id) == ("alert", live)
    async with api.client(api.admin) as client:
        refused = await client.get("/api/stream", params={"kinds": "alert,gossip"})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "invalid_kind"


# --- who sees what ---------------------------------------------------------------------------


async def test_another_users_subjects_never_appear(api: Api, db: asyncpg.Connection) -> None:
    a, b = await api.register("a"), await api.register("b")
    a_dev, b_dev, orphan = (
        await add_device(db, a),
        await add_device(db, b),
        await add_device(db, None),
    )
    # Every stock is everyone's: a ticker that is no stock (prices of a deleted one) is the one
    # a user may not read.
    shared, a_stock = await add_stock(db), a_ticker()
    async with (
        stream(api.url, b.headers) as b_all,
        stream(api.url, b.headers, {"devices": b_dev, "tickers": shared}) as b_some,
        stream(api.url, api.admin.headers) as admin,
    ):
        events = [
            ev("telemetry", a_dev),
            ev("telemetry", b_dev),
            ev("telemetry", orphan),
            ev("device_status", a_dev),
            ev("price", a_stock),
            ev("price", shared),
            ev("alert", shared, audience=a.id, ticker=shared, device_id=None),
            ev("alert", shared, audience=b.id, ticker=shared, device_id=None),
            ev("alert", a_dev, device_id=a_dev),
            ev("alert", b_dev, device_id=b_dev),
            ev("price", shared),  # the marker: B has everything before it once this arrives
        ]
        last = await append(db, *events)
        first = last - len(events) + 1
        for_b = [first + i for i in (1, 5, 7, 9, 10)]
        assert [f.id for f in await b_all.events_until(last)] == for_b
        assert [f.id for f in await b_some.events_until(last)] == for_b
        assert [f.id for f in await admin.events_until(last)] == list(range(first, last + 1))
        # The backlog of a resuming client is filtered the same way.
        async with stream(api.url, b.headers, last_id=first - 1) as replay:
            assert [f.id for f in await replay.events_until(last)] == for_b
        # B's device changes hands: its events stop reaching B at once.
        await db.execute(
            "UPDATE devices SET owner_id = $1::text::uuid WHERE device_id = $2", a.id, b_dev
        )
        moved = await append(db, ev("telemetry", b_dev), ev("price", shared))
        assert [f.id for f in await b_all.events_until(moved)] == [moved]
    # Rights are those of the moment an event is sent: past events of that device too.
    async with stream(api.url, b.headers, last_id=first - 1) as replay:
        shared_only = [first + i for i in (5, 7, 10)] + [moved]
        assert [f.id for f in await replay.events_until(moved)] == shared_only
    async with api.client(b) as client:
        for params, code in (
            ({"devices": a_dev}, "device_not_found"),
            ({"devices": orphan, "tickers": shared}, "device_not_found"),
            ({"devices": [a_dev, b_dev]}, "device_not_found"),
            ({"tickers": a_stock}, "stock_not_found"),
            ({"tickers": "not a ticker"}, "stock_not_found"),
        ):
            refused = await client.get("/api/stream", params=params)
            assert refused.status_code == 404, params
            assert refused.json()["error"]["code"] == code
        many = {"tickers": ",".join(f"T{i}" for i in range(1001))}
        refused = await client.get("/api/stream", params=many)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "too_many_subjects"


# --- back-pressure and resources -------------------------------------------------------------

BUFFER_BYTES = 256 * 1024


@pytest.fixture
async def tight_api(
    database_url: str, broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """The API with small stream buffers and a long stall timeout: a client that stops
    reading is dropped because its buffer overflows, long before a send times out."""
    monkeypatch.setenv("TICKWIRE_STREAM_BUFFER_BYTES", str(BUFFER_BYTES))
    monkeypatch.setenv("TICKWIRE_STREAM_STALL_S", "30")
    async with running_api(database_url, broker.url, tmp_path / "api") as running:
        yield running


@contextlib.contextmanager
def stalled_client(api: Api, account: Account) -> Iterator[socket.socket]:
    """A stream request from a client that never reads (and buffers little)."""
    host, port = api.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = (
        f"GET /api/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {account.token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    try:
        yield sock
    finally:
        sock.close()


async def test_a_stalled_client_is_dropped_and_delays_no_one(
    tight_api: Api, db: asyncpg.Connection
) -> None:
    api = tight_api
    device = await add_device(db, None)
    dropped = 'tickwire_stream_dropped_total{reason="slow"}'
    dropped_before = await metric(api, dropped)
    clients_before = await metric(api, "tickwire_stream_clients")
    with stalled_client(api, api.admin):
        await wait_until(
            "the stalled client counted",
            lambda: _metric_is(api, "tickwire_stream_clients", clients_before + 1),
        )
        async with stream(api.url, api.admin.headers, {"devices": device}) as reader:
            started = time.perf_counter()
            pad = "x" * 2000  # 40 × 100 events of 2 kB: 8 MB, 32 times the bound
            received: list[Frame] = []
            for _ in range(40):
                last = await append(db, *[ev("telemetry", device, pad=pad) for _ in range(100)])
                # The reader takes each 200 kB batch before the next one comes: it stays inside
                # its own 256 kB bound however slowly this busy machine runs it, while the
                # stalled client's buffer overflows.
                received += await reader.events_until(last, timeout=20)
            elapsed = time.perf_counter() - started
            assert [f.id for f in received] == list(range(last - 3999, last + 1))
            await wait_until(
                "the stalled client dropped",
                lambda: _metric_is(api, dropped, dropped_before + 1),
                timeout=10,
            )
            # The stalled one is gone from the hub (its buffer freed), the reader is not.
            assert await metric(api, "tickwire_stream_clients") == clients_before + 1
    # Far below the 30 s a stalled send would take to notice: nobody waited for it.
    assert elapsed < 10, elapsed


async def _metric_is(api: Api, name: str, value: float) -> bool:
    return await metric(api, name) == value


async def test_open_streams_hold_no_database_connection(api: Api, db: asyncpg.Connection) -> None:
    """More streams than the pool has connections, and the rest of the API still answers."""
    user = await api.register()
    async with contextlib.AsyncExitStack() as stack:
        readers = [
            await stack.enter_async_context(stream(api.url, account.headers))
            for account in [user, api.admin] * (api.settings.db_pool_max // 2 + 3)
        ]
        for reader in readers:
            assert (await reader.frame()).retry == 2000
        async with api.client(user) as client, asyncio.timeout(5):
            assert (await client.get("/api/devices")).status_code == 200
            assert (await client.get("/users/me")).status_code == 200
        last = await append(db, ev("price", await add_stock(db)))
        for reader in readers:
            assert (await reader.event()).id == last


async def test_cookie_auth_and_refusals(api: Api) -> None:
    user = await api.register()
    async with api.client() as client:
        login = {"username": user.email, "password": user.password}
        assert (await client.post("/auth/cookie/login", data=login)).status_code == 204
        async with client.stream("GET", "/api/stream") as response:
            assert response.status_code == 200
            assert (await Reader(response).frame()).retry == 2000
    async with api.client() as anonymous:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            refused = await anonymous.get("/api/stream", headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"


async def test_idle_streams_get_keep_alives_carrying_the_resume_point(
    api: Api, db: asyncpg.Connection
) -> None:
    last = await append(db, ev("price", await add_stock(db)))
    async with stream(
        api.url, api.admin.headers, {"devices": await add_device(db, None)}
    ) as reader:
        assert (await reader.frame()).retry == 2000
        assert (await reader.frame()).id == last  # where it starts
        stamps, frames = [], []
        for _ in range(3):
            frames.append(await reader.frame(timeout=5))
            stamps.append(time.perf_counter())
    assert [(f.comment, f.id, f.event) for f in frames] == [("keep-alive", last, None)] * 3
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(KEEP_ALIVE_S * 0.8 < gap < KEEP_ALIVE_S + 1 for gap in gaps), gaps


# --- the routing rule ------------------------------------------------------------------------


def test_the_indexes_find_exactly_whom_the_rule_delivers_to() -> None:
    """`Routes.targets` (indexes, the hot path) agrees with `delivers` (the rule, used for
    backlogs) over random subscribers, owners and audiences, each subscriber at most once."""
    rng = random.Random(7)
    users = [UUID(int=i) for i in range(1, 5)]
    keys = [(DEVICE, f"d{i}") for i in range(4)] + [(TICKER, f"T{i}") for i in range(4)]
    routes, subs = Routes(), []
    for _ in range(60):
        selection = None
        if rng.random() < 0.6:
            chosen = rng.sample(keys, rng.randint(1, 4))
            selection = Selection(
                frozenset(s for k, s in chosen if k == DEVICE),
                frozenset(s for k, s in chosen if k == TICKER),
            )
        sub = Subscriber(rng.choice(users), rng.random() < 0.2, selection, 1 << 20)
        routes.add(sub)
        subs.append(sub)
    for sub in subs[::7]:
        routes.remove(sub)
    live = [sub for i, sub in enumerate(subs) if i % 7]
    for _ in range(500):
        key = rng.choice(keys)
        owner = rng.choice([*users, None, ABSENT])
        audience = rng.choice([*users, None, None])
        found = list(routes.targets(key, owner, audience))
        assert len(found) == len(set(found))
        assert set(found) == {s for s in live if delivers(s, key, owner, audience)}


@pytest.mark.slow
def test_stopping_the_api_ends_open_streams_first(database_url: str, tmp_path: Path) -> None:
    """`python -m api` on SIGTERM: open streams get `dropped` (shutdown) and end, so uvicorn's
    graceful shutdown (which waits for every response) finishes at once."""
    with api_process(database_url, tmp_path) as (base, pid, token):
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=base, headers=headers, timeout=10) as client,
            client.stream("GET", "/api/stream") as response,
        ):
            lines = response.iter_lines()
            assert next(lines) == "retry: 2000"
            stopped = time.monotonic()
            os.kill(pid, signal.SIGTERM)
            rest = list(lines)  # until the server ends the stream
        assert rest[-3:-1] == ["event: dropped", 'data: {"reason":"shutdown"}'], rest
        psutil.Process(pid).wait(10)
        assert time.monotonic() - stopped < 5

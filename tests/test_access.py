"""Who may read what (api/access.py), proven the same on every path that applies it.

One table of subjects and who may read them: an owner, another user, an admin, and shared
market data. For each subject and each viewer, every path must agree with the table: CRUD
get and list (ORM), history and stats (the check before a query), export of everything
(the SQL fragment) and of one subject, the stream's filter and its delivery (the in-memory
predicate and its index), and the alerts on the subject (list and get).
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from api import access
from api.errors import NotFound
from api.models import User
from api.stream import filters, store
from api.stream.routing import Routes, delivers, owner_of
from api.stream.subscriber import DEVICE, TICKER, Subscriber
from tests.api_support import Account, Api

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = {"start": "2026-03-01T11:00:00Z", "end": "2026-03-01T13:00:00Z"}


@dataclass(frozen=True)
class Subject:
    kind: access.Kind
    id: str
    owner: str | None
    """`alice`, `bob`, `admin`, or None: shared (stocks only)."""
    readers: frozenset[str]


SUBJECTS = (
    Subject(access.DEVICE, "a-dev", "alice", frozenset({"alice", "admin"})),
    Subject(access.DEVICE, "b-dev", "bob", frozenset({"bob", "admin"})),
    Subject(access.DEVICE, "x-dev", "admin", frozenset({"admin"})),
    Subject(access.STOCK, "ALC", None, frozenset({"alice", "bob", "admin"})),
    Subject(access.STOCK, "AAPL", None, frozenset({"alice", "bob", "admin"})),
)
VIEWERS = ("alice", "bob", "admin")


def _crud_path(subject: Subject) -> str:
    return f"/api/{subject.kind.table}"


def _history_path(subject: Subject) -> str:
    if subject.kind is access.DEVICE:
        return f"/api/devices/{subject.id}/telemetry"
    return f"/api/stocks/{subject.id}/history"


async def _create(api: Api, accounts: dict[str, Account], db: asyncpg.Connection) -> None:
    for subject in SUBJECTS:
        async with api.client(accounts[subject.owner or "admin"]) as client:
            if subject.kind is access.DEVICE:
                body: dict[str, Any] = {"device_id": subject.id}
            else:
                body = {"ticker": subject.id}
            response = await client.post(_crud_path(subject), json=body)
            assert response.status_code == 201, response.text
        if subject.kind is access.DEVICE:
            await db.execute(
                "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, 'm', 1)",
                T0,
                subject.id,
            )
        else:
            await db.execute(
                "INSERT INTO prices (time, ticker, price, volume, source)"
                " VALUES ($1, $2, 1, 1, 's')",
                T0,
                subject.id,
            )


async def _alert(db: asyncpg.Connection, subject: Subject, owner: str | None, at: int) -> int:
    device = subject.kind is access.DEVICE
    alert_id: int = await db.fetchval(
        """INSERT INTO alerts (kind, subject, device_id, ticker, owner_id, state, raised_at,
               message) VALUES ($1, $2, $3, $4, $5::uuid, 'ACTIVE', $6, 'test') RETURNING id""",
        "HIGH_TEMP" if device else "PRICE_ABOVE",
        subject.id,
        subject.id if device else None,
        None if device else subject.id,
        owner,
        T0 + timedelta(minutes=at),
    )
    return alert_id


def _exported(response: httpx.Response, column: str) -> set[str]:
    assert response.status_code == 200, response.text
    return {row[column] for row in csv.DictReader(io.StringIO(response.text))}


async def _http_sees(client: httpx.AsyncClient, subject: Subject, alert_id: int) -> list[bool]:
    """What each HTTP path answers about `subject`: readable or not, one bool per path."""
    column = subject.kind.column
    seen = []
    one = await client.get(f"{_crud_path(subject)}/{subject.id}")
    seen.append(one.status_code == 200)
    listed = await client.get(_crud_path(subject), params={"limit": 1000})
    seen.append(subject.id in {item[column] for item in listed.json()["items"]})
    history = await client.get(_history_path(subject), params=WINDOW)
    seen.append(history.status_code == 200)
    if subject.kind is access.DEVICE:
        stats = await client.get("/api/stats/avg", params={"device_id": subject.id})
        seen.append(stats.status_code == 200)
    dataset = "telemetry" if subject.kind is access.DEVICE else "prices"
    everything = await client.get(f"/api/export/{dataset}", params={**WINDOW, "format": "csv"})
    seen.append(subject.id in _exported(everything, column))
    named = await client.get(
        f"/api/export/{dataset}", params={**WINDOW, "format": "csv", column: subject.id}
    )
    seen.append(named.status_code == 200)
    alerts = await client.get("/api/alerts", params={"limit": 1000})
    seen.append(alert_id in {item["id"] for item in alerts.json()["items"]})
    got = await client.get(f"/api/alerts/{alert_id}")
    seen.append(got.status_code == 200)
    for response in (one, history, named, got):
        if response.status_code != 200:
            assert response.status_code == 404, response.text
    return seen


async def _stream_sees(
    pool: asyncpg.Pool, db: asyncpg.Connection, user: User, subject: Subject
) -> list[bool]:
    """The stream's filter (`devices=` / `tickers=`) and its delivery of an event."""
    seen = []
    devices = frozenset({subject.id}) if subject.kind is access.DEVICE else frozenset()
    tickers = frozenset({subject.id}) if subject.kind is access.STOCK else frozenset()
    try:
        await filters.selection(pool, user, devices, tickers, 10)
        seen.append(True)
    except NotFound as error:
        assert error.code == subject.kind.code
        seen.append(False)
    key = (DEVICE if subject.kind is access.DEVICE else TICKER, subject.id)
    owner = owner_of(await store.owners(db, [key]), key)
    sub = Subscriber(user.id, user.is_superuser, None, 1000)
    routes = Routes()
    routes.add(sub)
    seen.append(delivers(sub, key, owner, None))
    seen.append(sub in set(routes.targets(key, owner, None)))
    seen.append(access.may_read(user.id, user.is_superuser, subject.kind, owner))
    return seen


async def test_every_path_agrees_on_who_may_read_what(
    api: Api, db: asyncpg.Connection, database_url: str
) -> None:
    accounts = {"alice": await api.register("alice"), "bob": await api.register("bob")}
    accounts["admin"] = api.admin
    users = {
        name: User(id=uuid.UUID(account.id), is_superuser=name == "admin")
        for name, account in accounts.items()
    }
    await _create(api, accounts, db)
    alerts = {subject.id: await _alert(db, subject, None, i) for i, subject in enumerate(SUBJECTS)}
    disagreements = []
    async with asyncpg.create_pool(database_url, min_size=1, max_size=1) as pool:
        for subject in SUBJECTS:
            for viewer in VIEWERS:
                async with api.client(accounts[viewer]) as client:
                    seen = await _http_sees(client, subject, alerts[subject.id])
                seen += await _stream_sees(pool, db, users[viewer], subject)
                expected = viewer in subject.readers
                if seen != [expected] * len(seen):
                    disagreements.append((subject.id, viewer, expected, seen))
    assert disagreements == []


@pytest.mark.parametrize(("viewer", "expected"), [("alice", True), ("bob", False), ("admin", True)])
async def test_a_users_own_alert_on_shared_data(
    api: Api, db: asyncpg.Connection, viewer: str, expected: bool
) -> None:
    """An alert with an owner (a watchlist level) on a shared stock: its owner and admins
    read it, over HTTP as on the stream (its audience)."""
    accounts = {"alice": await api.register("alice"), "bob": await api.register("bob")}
    accounts["admin"] = api.admin
    await _create(api, accounts, db)
    aapl = SUBJECTS[-1]
    alice = uuid.UUID(accounts["alice"].id)
    alert_id = await _alert(db, aapl, str(alice), 0)
    async with api.client(accounts[viewer]) as client:
        listed = await client.get("/api/alerts", params={"limit": 1000})
        assert (alert_id in {item["id"] for item in listed.json()["items"]}) is expected
        assert ((await client.get(f"/api/alerts/{alert_id}")).status_code == 200) is expected
    viewer_id = uuid.UUID(accounts[viewer].id)
    assert access.addressed_to(viewer_id, viewer == "admin", alice) is expected
    sub = Subscriber(viewer_id, viewer == "admin", None, 1000)
    assert delivers(sub, (TICKER, "AAPL"), None, alice) is expected

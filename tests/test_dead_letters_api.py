"""/api/admin/dead-letters: listing, and replaying a dead letter after a fix through the real
ingester (the path of live messages), on the real API, broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devstack.broker import Mosquitto
from tests.api_support import Api, running_api
from tests.ingest_support import RunningIngester, ingest_settings, ingesting, start_ingester
from tests.support import publish, wait_until

pytestmark = pytest.mark.timeout(120)

ROUTE = "/api/admin/dead-letters"


@pytest.fixture
async def strict_ingester(database_url: str, broker: Mosquitto) -> AsyncIterator[RunningIngester]:
    """Devices must be registered first: an unknown one's readings are dead letters."""
    settings = ingest_settings(database_url, broker, auto_register=False, alerts_max_lag_s=600)
    async with ingesting(settings) as running:
        yield running


@pytest.fixture
async def impatient_api(
    database_url: str, broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    """An API that waits at most half a second for a replay's outcome."""
    monkeypatch.setenv("TICKWIRE_DEAD_LETTER_REPLAY_WAIT_S", "0.5")
    async with running_api(database_url, broker.url, tmp_path / "api") as running:
        yield running


async def _dead_letters(db: asyncpg.Connection, count: int) -> list[Any]:
    async def arrived() -> bool:
        return bool(await db.fetchval("SELECT count(*) FROM dead_letters") >= count)

    await wait_until(f"{count} dead letters stored", arrived)
    return list(await db.fetch("SELECT * FROM dead_letters ORDER BY id"))


async def _insert(db: asyncpg.Connection, topic: str, payload: bytes, **columns: Any) -> int:
    values = {"reason": "internal", "detail": "", "payload_size": len(payload)} | columns
    return int(
        await db.fetchval(
            """INSERT INTO dead_letters (topic, payload, reason, detail, payload_size)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            topic,
            payload,
            values["reason"],
            values["detail"],
            values["payload_size"],
        )
    )


async def test_admins_list_dead_letters_with_filters_and_pages(
    api: Api, broker: Mosquitto, ingester: RunningIngester, db: asyncpg.Connection
) -> None:
    publish(
        broker.url,
        [
            ("stocks/DLA", b"{price: 1"),
            ("stocks/DLA", b'{"price": "x"}'),
            ("devices/dl-1/telemetry", b'{"t": NaN, "note": "\xff"}'),
        ],
    )
    await _dead_letters(db, 3)
    async with api.client(api.admin) as client:
        everything = (await client.get(ROUTE)).json()
        assert everything["total"] == 3
        newest = everything["items"][0]
        assert newest["topic"] == "devices/dl-1/telemetry" and newest["reason"] == "not_json"
        assert newest["payload"] == '{"t": NaN, "note": "\ufffd"}'
        size = len(b'{"t": NaN, "note": "\xff"}')
        assert (newest["payload_size"], newest["stored_bytes"]) == (size, size)
        assert newest["truncated"] is False
        assert newest["replay_outcome"] is None
        by_reason = (await client.get(ROUTE, params={"reason": "bad_type"})).json()
        assert [i["payload"] for i in by_reason["items"]] == ['{"price": "x"}']
        by_topic = (await client.get(ROUTE, params={"topic": "stocks/DLA"})).json()
        assert by_topic["total"] == 2
        page = (await client.get(ROUTE, params={"limit": 1, "offset": 1})).json()
        assert (page["total"], len(page["items"]), page["items"][0]["reason"]) == (
            3,
            1,
            "bad_type",
        )
        later = (await client.get(ROUTE, params={"since": "2100-01-01T00:00:00Z"})).json()
        assert later["total"] == 0
        for params, code in (
            ({"reason": "Not A Reason!"}, "validation_error"),
            ({"topic": "a\x00b"}, "validation_error"),
            ({"since": "yesterday-ish"}, "invalid_time"),
            ({"limit": 0}, "validation_error"),
        ):
            refused = await client.get(ROUTE, params=params)
            assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), params

    user = await api.register("not-admin")
    async with api.client(user) as client:
        for response in (
            await client.get(ROUTE),
            await client.post(f"{ROUTE}/1/replay"),
        ):
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "forbidden"
    async with api.client() as anonymous:
        assert (await anonymous.get(ROUTE)).status_code == 401


async def test_a_replay_after_the_fix_lands_its_rows_exactly_once(
    api: Api, broker: Mosquitto, strict_ingester: RunningIngester, db: asyncpg.Connection
) -> None:
    """A reading of a device not registered yet (auto-registration off) is a dead letter;
    replayed before the fix it stays one, after the device is created it lands once, with
    its stream event and its alert, however often it is replayed."""
    publish(broker.url, [("devices/dl-late/telemetry", {"temperature": 35.5})])  # no ts
    (letter,) = await _dead_letters(db, 1)
    assert letter["reason"] == "unknown_device"
    replay = f"{ROUTE}/{letter['id']}/replay"
    async with api.client(api.admin) as client:
        early = await client.post(replay)
        assert early.status_code == 200, early.text
        assert early.json()["outcome"] == "rejected"
        assert early.json()["dead_letter"]["reason"] == "unknown_device"

        created = await client.post("/api/devices", json={"device_id": "dl-late"})
        assert created.status_code == 201, created.text
        first = await client.post(replay)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["outcome"] == "ingested"
        assert (body["dead_letter"]["replay_rows"], body["dead_letter"]["replay_duplicates"]) == (
            1,
            0,
        )
        again = (await client.post(replay)).json()
        assert again["outcome"] == "ingested"
        assert (again["dead_letter"]["replay_rows"], again["dead_letter"]["replay_duplicates"]) == (
            0,
            1,
        )

    rows = await db.fetch("SELECT time, value FROM telemetry WHERE device_id = 'dl-late'")
    # No ts: the reading's time is when the message was first received.
    assert [tuple(r) for r in rows] == [(letter["received_at"], 35.5)]
    streamed = await db.fetchval(
        "SELECT count(*) FROM stream_events WHERE kind = 'telemetry' AND subject = 'dl-late'"
    )
    assert streamed == 1
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 1  # the same one, settled

    async def alerted() -> bool:
        kinds = "SELECT array_agg(kind) FROM alerts WHERE device_id = 'dl-late'"
        return (await db.fetchval(kinds) or []) == ["HIGH_TEMP"]

    await wait_until("the replayed reading raising HIGH_TEMP on dl-late", alerted)
    # A replay is no sign of life: the device was never heard from.
    status = await db.fetchrow("SELECT status, last_seen FROM devices WHERE device_id = 'dl-late'")
    assert tuple(status) == ("UNKNOWN", None)


async def test_a_replay_that_still_fails_keeps_the_dead_letter_with_its_new_reason(
    api: Api, ingester: RunningIngester, db: asyncpg.Connection
) -> None:
    still_bad = await _insert(db, "devices/dl-2/telemetry", b'{"temperature": "hot"}')
    now_good = await _insert(db, "stocks/DLG", b'{"price": 12.5, "ts": 1714041600000}')
    async with api.client(api.admin) as client:
        refused = await client.post(f"{ROUTE}/{still_bad}/replay")
        assert refused.status_code == 200, refused.text
        assert refused.json()["outcome"] == "rejected"
        letter = refused.json()["dead_letter"]
        assert (letter["reason"], letter["replay_outcome"]) == ("no_metrics", "rejected")
        landed = await client.post(f"{ROUTE}/{now_good}/replay")
        assert landed.json()["outcome"] == "ingested"
        assert landed.json()["dead_letter"]["reason"] == "internal"  # what it was, kept
    assert await db.fetchval("SELECT count(*) FROM dead_letters") == 2
    assert await db.fetchval("SELECT count(*) FROM prices WHERE ticker = 'DLG'") == 1


async def test_replay_refusals(api: Api, db: asyncpg.Connection) -> None:
    truncated = await _insert(
        db, "devices/big/telemetry", b'{"t":1,"pad":"xxxx', reason="oversized", payload_size=300_000
    )
    async with api.client(api.admin) as client:
        for path, status, code in (
            (f"{ROUTE}/999999/replay", 404, "dead_letter_not_found"),
            (f"{ROUTE}/{truncated}/replay", 409, "payload_truncated"),
            (f"{ROUTE}/0/replay", 422, "validation_error"),
            (f"{ROUTE}/{2**63}/replay", 422, "validation_error"),
        ):
            response = await client.post(path)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        listed = (await client.get(ROUTE)).json()["items"][0]
        assert (listed["truncated"], listed["payload_size"], listed["stored_bytes"]) == (
            True,
            300_000,
            18,
        )
    assert await db.fetchval("SELECT replay_requested_at FROM dead_letters") is None


async def test_a_replay_waits_for_an_ingester_that_is_away(
    impatient_api: Api, database_url: str, broker: Mosquitto, db: asyncpg.Connection
) -> None:
    """No ingester: the request is kept (202 pending) and done when one runs."""
    letter = await _insert(db, "devices/dl-3/telemetry", b'{"ts": 1714041600000, "t": 1.5}')
    async with impatient_api.client(impatient_api.admin) as client:
        pending = await client.post(f"{ROUTE}/{letter}/replay")
        assert pending.status_code == 202, pending.text
        assert pending.json()["outcome"] == "pending"
        assert pending.json()["dead_letter"]["replay_requested_at"] is not None
        # An admin action: audited with who asked.
        audit = await client.get("/api/admin/audit", params={"action": "dead_letter_replayed"})
        [entry] = audit.json()["items"]
        assert (entry["actor"], entry["subject"]) == (impatient_api.admin.email, str(letter))
        assert entry["details"]["topic"] == "devices/dl-3/telemetry"
    running = await start_ingester(ingest_settings(database_url, broker))
    try:

        async def replayed() -> bool:
            outcome = "SELECT replay_outcome FROM dead_letters WHERE id = $1"
            return bool(await db.fetchval(outcome, letter) == "ingested")

        await wait_until("the replayed letter marked ingested", replayed)
        assert await db.fetchval("SELECT count(*) FROM telemetry WHERE device_id = 'dl-3'") == 1
    finally:
        await running.close()

"""Every alert change on a real database, as the engine and the API make it: the alerts row, its
alert_events row and its journal event, appended last, in one transaction."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.alerts_support import add_device, add_user
from tickwire import alert_changes
from tickwire.alert_changes import AlertChanges, NewAlert
from tickwire.alert_kinds import AlertKind


async def test_raise_acknowledge_clear_write_row_history_and_event(
    db: asyncpg.Connection,
) -> None:
    user = await add_user(db)
    await add_device(db, "dev")
    await db.execute("INSERT INTO stocks (ticker) VALUES ('TKR')")
    hot = NewAlert(AlertKind.HIGH_TEMP, None, "dev", None, "warning", "41 °C", 41.0)
    level = NewAlert(AlertKind.PRICE_ABOVE, None, "TKR", user, "warning", "TKR 101", 101.0)
    async with alert_changes.transaction(db) as changes:
        raised = await changes.raise_alert(hot)
        priced = await changes.raise_alert(level)
        assert raised is not None and priced is not None
        assert await changes.raise_alert(hot) is None  # one open alert per key
        found = await changes.find_open(hot)
        assert found is not None and found["id"] == raised["id"]
    assert (raised["device_id"], raised["ticker"]) == ("dev", None)
    assert (priced["device_id"], priced["ticker"]) == (None, "TKR")

    async with alert_changes.transaction(db) as changes:
        acked = await changes.acknowledge(raised["id"], user, "acknowledged by a")
        assert await changes.acknowledge(raised["id"], user, "twice") is None  # ACKED already
        cleared = await changes.clear("subject = ANY($1::text[])", ["dev", "TKR"], detail="gone")
        assert await changes.clear("id = $1", raised["id"], detail="again") == []
        assert await changes.acknowledge(priced["id"], user, "cleared: no") is None
    assert acked is not None
    assert (acked["state"], acked["acked_by"]) == ("ACKED", user)
    assert sorted(row["id"] for row in cleared) == sorted([raised["id"], priced["id"]])

    history = await db.fetch("SELECT alert_id, state, detail FROM alert_events ORDER BY id")
    assert [tuple(row) for row in history] == [
        (raised["id"], "ACTIVE", "41 °C"),
        (priced["id"], "ACTIVE", "TKR 101"),
        (raised["id"], "ACKED", "acknowledged by a"),
        *[(row["id"], "CLEARED", "gone") for row in cleared],
    ]
    events = await db.fetch("SELECT kind, subject, audience, data FROM stream_events ORDER BY id")
    shown = [(e["kind"], e["subject"], json.loads(e["data"])["state"]) for e in events]
    assert shown == [
        ("alert", "dev", "ACTIVE"),
        ("alert", "TKR", "ACTIVE"),
        ("alert", "dev", "ACKED"),
        *[("alert", row["subject"], "CLEARED") for row in cleared],
    ]
    assert [e["audience"] for e in events[:2]] == [None, user]


async def test_a_failed_transaction_writes_nothing(db: asyncpg.Connection) -> None:
    await add_device(db, "dev")
    alert = NewAlert(AlertKind.OFFLINE, None, "dev", None, "warning", "silent", 10.0)
    with pytest.raises(RuntimeError):
        async with alert_changes.transaction(db) as changes:
            await changes.raise_alert(alert)
            raise RuntimeError("the caller failed after the change")
    for table in ("alerts", "alert_events", "stream_events"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_changes_outside_transaction_leave_the_journal_to_the_caller(
    db: asyncpg.Connection,
) -> None:
    """The API's deletes: changes first, other statements, then the journal append, last."""
    await add_device(db, "dev")
    async with db.transaction():
        changes = AlertChanges(db)
        await changes.raise_alert(NewAlert("OFFLINE", None, "dev", None, "warning", "m", None))
        assert await db.fetchval("SELECT count(*) FROM stream_events") == 0
        assert [e.kind for e in changes.events] == ["alert"]

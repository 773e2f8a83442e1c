"""Clearing the open alerts of a rule, device or stock that is being deleted.

Deleting a rule nulls its alerts' `rule_id`; an alert still open would then collide with the
open built-in alert of the same kind and subject (one open alert per key). So the delete routes
clear those alerts first, stored (`alert_events`) and streamed like any state change, in the
deleting transaction:

    cleared = await clear_open_alerts(session, "rule_id = :id", {"id": 7}, "rule deleted")
    await session.execute(delete(...))
    await stream(session, cleared)      # last: see tickwire.journal
    await commit(session)
"""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tickwire import journal
from tickwire.events import alert_event


async def clear_open_alerts(
    session: AsyncSession, condition: str, params: dict[str, Any], detail: str
) -> list[journal.Event]:
    """CLEAR the open alerts matching `condition` (SQL over `alerts`); return their events."""
    result = await session.execute(
        text(
            "UPDATE alerts SET state = 'CLEARED', cleared_at = now(), updated_at = now() "
            f"WHERE state <> 'CLEARED' AND ({condition}) RETURNING *"
        ),
        params,
    )
    rows = result.mappings().all()
    if rows:
        await session.execute(
            text(
                "INSERT INTO alert_events (alert_id, state, detail) "
                "SELECT unnest(CAST(:ids AS bigint[])), 'CLEARED', :detail"
            ),
            {"ids": [row["id"] for row in rows], "detail": detail},
        )
    return [alert_event(dict(row)) for row in rows]


async def stream(session: AsyncSession, events: list[journal.Event]) -> None:
    """Append `events` to the stream journal in the session's transaction (call it last)."""
    if events:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection
        await journal.append(driver, events)

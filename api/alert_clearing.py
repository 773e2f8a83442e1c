"""Clearing the open alerts of a rule, device or stock that is being deleted.

Deleting a rule nulls its alerts' `rule_id`; an alert still open would then collide with the
open built-in alert of the same kind and subject (one open alert per key). So the delete routes
clear those alerts first, stored (`alert_events`) and streamed like any state change
(`tickwire.alert_changes`), in the deleting transaction:

    cleared = await clear_open_alerts(session, "rule_id", 7, "rule deleted")
    await session.execute(delete(...))
    await stream(session, cleared)      # last: see tickwire.journal
    await commit(session)
"""

from __future__ import annotations

from typing import Any, Literal

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from tickwire import journal
from tickwire.alert_changes import AlertChanges


async def clear_open_alerts(
    session: AsyncSession,
    column: Literal["rule_id", "device_id", "ticker"],
    value: Any,
    detail: str,
) -> list[journal.Event]:
    """CLEAR the open alerts whose `column` is `value`; return their events."""
    changes = AlertChanges(await _driver(session))
    await changes.clear(f"{column} = $1", value, detail=detail)
    return changes.events


async def stream(session: AsyncSession, events: list[journal.Event]) -> None:
    """Append `events` to the stream journal in the session's transaction (call it last)."""
    if events:
        await journal.append(await _driver(session), events)


async def _driver(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, inside the session's transaction (SQLAlchemy begins
    it lazily, at the first statement it runs itself), pending ORM changes written first."""
    await session.flush()
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
    return driver

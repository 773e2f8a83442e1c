"""The alert engine's writes. Every change is an `alerts` row change, an `alert_events` row and
a journal `alert` event, in one transaction whose last statement appends the events.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

import asyncpg

from ingest.alerts.catalog import Spec
from ingest.alerts.config import AlertKey, OpenAlert
from tickwire import journal
from tickwire.events import alert_event, device_status_event

_ZERO_UUID: Final = "'00000000-0000-0000-0000-000000000000'::uuid"
_KEY: Final = f"kind, (coalesce(rule_id, 0)), subject, (coalesce(owner_id, {_ZERO_UUID}))"

_INSERT: Final = f"""
INSERT INTO alerts (rule_id, kind, subject, device_id, ticker, owner_id, severity, message, value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT ({_KEY}) WHERE state <> 'CLEARED' DO NOTHING
RETURNING *"""

_FIND_OPEN: Final = f"""
SELECT id, state FROM alerts
WHERE kind = $1 AND coalesce(rule_id, 0) = coalesce($2::bigint, 0) AND subject = $3
  AND coalesce(owner_id, {_ZERO_UUID}) = coalesce($4::uuid, {_ZERO_UUID})
  AND state <> 'CLEARED'"""

_CLEAR: Final = """
UPDATE alerts SET state = 'CLEARED', cleared_at = now(), updated_at = now()
WHERE id = $1 AND state <> 'CLEARED'
RETURNING *"""

_OFFLINE: Final = """
UPDATE devices SET status = 'OFFLINE', updated_at = now()
WHERE device_id = $1 AND status <> 'OFFLINE' AND last_seen <= $2
RETURNING last_seen"""


class Changes:
    """The changes of one transaction and their journal events."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.events: list[journal.Event] = []

    async def open(self, spec: Spec, value: float | None, message: str) -> OpenAlert | None:
        """Raise the alert of `spec` unless one is open for its key already (then return that
        one, None if it cannot be found)."""
        key = spec.key
        device_id = key.subject if spec.on_device else None
        ticker = None if spec.on_device else key.subject
        row = await self.conn.fetchrow(
            _INSERT,
            key.rule_id,
            key.kind,
            key.subject,
            device_id,
            ticker,
            key.owner_id,
            spec.severity,
            message,
            value,
        )
        if row is None:  # open already (raised by another ingester, or before a restart)
            found = await self.conn.fetchrow(_FIND_OPEN, *_key_args(key))
            return None if found is None else OpenAlert(found["id"], key, found["state"])
        await self._event(row, "ACTIVE", message)
        return OpenAlert(row["id"], key, "ACTIVE")

    async def clear(self, alert: OpenAlert, detail: str) -> None:
        row = await self.conn.fetchrow(_CLEAR, alert.id)
        if row is not None:  # else cleared already (by another ingester)
            await self._event(row, "CLEARED", detail)

    async def set_offline(self, device_id: str, basis: datetime) -> bool:
        """Mark the device OFFLINE unless a message newer than `basis` was committed meanwhile
        (or it is OFFLINE already); True when this transaction did it."""
        last_seen = await self.conn.fetchval(_OFFLINE, device_id, basis)
        if last_seen is None:
            return False
        self.events.append(device_status_event(device_id, "OFFLINE", last_seen))
        return True

    async def _event(self, row: Any, state: str, detail: str) -> None:
        await self.conn.execute(
            "INSERT INTO alert_events (alert_id, state, detail) VALUES ($1, $2, $3)",
            row["id"],
            state,
            detail,
        )
        self.events.append(alert_event(row))


@contextlib.asynccontextmanager
async def transaction(conn: asyncpg.Connection) -> AsyncIterator[Changes]:
    """A transaction collecting changes; the journal append is its last statement."""
    async with conn.transaction():
        changes = Changes(conn)
        yield changes
        await journal.append(conn, changes.events)


def _key_args(key: AlertKey) -> tuple[Any, ...]:
    return key.kind, key.rule_id, key.subject, key.owner_id

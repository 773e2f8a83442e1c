"""Every change of an alert's state, written one way by the ingester and the API: the `alerts`
row, an `alert_events` row (its history) and a journal `alert` event (the live stream).

Raising (→ ACTIVE), acknowledging (ACTIVE → ACKED) and clearing (→ CLEARED) each change the
row and record the change at once (with a `notification_outbox` row for `notify/` when any
channel exists); the journal events wait in `events` for the journal append,
the transaction's last statement (see `tickwire.journal`):

    async with transaction(conn) as changes:
        await changes.acknowledge(alert_id, user_id, "acknowledged by …")

A caller whose transaction goes on after the changes (the API's deletes) builds
`AlertChanges(conn)` itself and appends `changes.events` last.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from tickwire import journal
from tickwire.alert_kinds import DEVICE_KINDS
from tickwire.events import alert_event

_ZERO_UUID: Final = "'00000000-0000-0000-0000-000000000000'::uuid"
_KEY: Final = f"kind, (coalesce(rule_id, 0)), subject, (coalesce(owner_id, {_ZERO_UUID}))"
"""What identifies an open alert: the unique index `alerts_one_open_per_owner`."""

_RAISE: Final = f"""
INSERT INTO alerts (rule_id, kind, subject, device_id, ticker, owner_id, severity, message, value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT ({_KEY}) WHERE state <> 'CLEARED' DO NOTHING
RETURNING *"""
_FIND_OPEN: Final = f"""
SELECT id, state FROM alerts
WHERE kind = $1 AND coalesce(rule_id, 0) = coalesce($2::bigint, 0) AND subject = $3
  AND coalesce(owner_id, {_ZERO_UUID}) = coalesce($4::uuid, {_ZERO_UUID})
  AND state <> 'CLEARED'"""
_ACKNOWLEDGE: Final = """
UPDATE alerts SET state = 'ACKED', acked_at = now(), acked_by = $2, updated_at = now()
WHERE id = $1 AND state = 'ACTIVE'
RETURNING *"""
_ACKNOWLEDGE_MANY: Final = """
UPDATE alerts a SET state = 'ACKED', acked_at = now(), acked_by = ${by}, updated_at = now()
WHERE a.id IN (
    SELECT a.id FROM alerts a WHERE a.state = 'ACTIVE' AND ({condition})
    ORDER BY a.id FOR UPDATE
) AND a.state = 'ACTIVE'
RETURNING a.*"""
_CLEAR: Final = """
UPDATE alerts SET state = 'CLEARED', cleared_at = now(), updated_at = now()
WHERE state <> 'CLEARED' AND ({condition})
RETURNING *"""
_HISTORY: Final = """
INSERT INTO alert_events (alert_id, state, detail)
SELECT unnest($1::bigint[]), $2, $3"""
_OUTBOX: Final = """
INSERT INTO notification_outbox (alert_id, event, alert)
SELECT change.id, $2, change.alert::jsonb FROM unnest($1::bigint[], $3::text[]) change (id, alert)
WHERE EXISTS (SELECT FROM notification_channels)"""
#: The event a notification names for each state an alert changes to.
EVENTS: Final = {"ACTIVE": "raised", "ACKED": "acked", "CLEARED": "cleared"}


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to raise: its key (kind, rule, subject, owner) and what it says."""

    kind: str
    rule_id: int | None
    subject: str
    """A device id for the device kinds (`tickwire.alert_kinds.DEVICE_KINDS`), else a ticker."""
    owner_id: uuid.UUID | None
    severity: str
    message: str
    value: float | None


class AlertChanges:
    """The alert changes of one transaction, and their journal events in order."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.events: list[journal.Event] = []

    async def raise_alert(self, alert: NewAlert) -> Any | None:
        """Raise `alert` (ACTIVE); its row, or None when one is open for its key already."""
        on_device = alert.kind in DEVICE_KINDS
        row = await self.conn.fetchrow(
            _RAISE,
            alert.rule_id,
            alert.kind,
            alert.subject,
            alert.subject if on_device else None,
            None if on_device else alert.subject,
            alert.owner_id,
            alert.severity,
            alert.message,
            alert.value,
        )
        return await self._changed(row, "ACTIVE", alert.message)

    async def find_open(self, alert: NewAlert) -> Any | None:
        """The open alert of `alert`'s key (its id and state), if any."""
        key = (alert.kind, alert.rule_id, alert.subject, alert.owner_id)
        return await self.conn.fetchrow(_FIND_OPEN, *key)

    async def acknowledge(self, alert_id: int, by: uuid.UUID, detail: str) -> Any | None:
        """ACTIVE → ACKED by user `by`; the row, or None when the alert was not ACTIVE."""
        row = await self.conn.fetchrow(_ACKNOWLEDGE, alert_id, by)
        return await self._changed(row, "ACKED", detail)

    async def acknowledge_where(
        self, condition: str, *args: Any, by: uuid.UUID, detail: str
    ) -> list[Any]:
        """ACTIVE → ACKED by user `by` for every ACTIVE alert matching `condition` (SQL over
        `alerts a`, `$1`… for `args`); the rows acknowledged. Rows are locked in
        id order, so two bulk acknowledgements cannot deadlock on each other."""
        sql = _ACKNOWLEDGE_MANY.format(condition=condition, by=len(args) + 1)
        rows = await self.conn.fetch(sql, *args, by)
        await self._record(rows, "ACKED", detail)
        return list(rows)

    async def clear(self, condition: str, *args: Any, detail: str) -> list[Any]:
        """CLEAR the open alerts matching `condition` (SQL over `alerts`, `$1`… for `args`);
        the rows cleared (none that were CLEARED already)."""
        rows = await self.conn.fetch(_CLEAR.format(condition=condition), *args)
        await self._record(rows, "CLEARED", detail)
        return list(rows)

    async def _changed(self, row: Any | None, state: str, detail: str) -> Any | None:
        if row is not None:
            await self._record([row], state, detail)
        return row

    async def _record(self, rows: Sequence[Any], state: str, detail: str) -> None:
        """What follows every change of the `alerts` rows: their history, their events."""
        if rows:
            ids = [row["id"] for row in rows]
            events = [alert_event(row) for row in rows]
            await self.conn.execute(_HISTORY, ids, state, detail)
            # The notifier's outbox, in this transaction: a crash cannot lose a change.
            await self.conn.execute(_OUTBOX, ids, EVENTS[state], [e.data for e in events])
            self.events += events


@contextlib.asynccontextmanager
async def transaction(conn: asyncpg.Connection) -> AsyncIterator[AlertChanges]:
    """A transaction collecting alert changes; the journal append is its last statement."""
    async with conn.transaction():
        changes = AlertChanges(conn)
        yield changes
        await journal.append(conn, changes.events)

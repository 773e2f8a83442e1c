"""The alert engine's writes, in one transaction whose last statement appends the journal
events: alerts raised and cleared (`tickwire.alert_changes`: row, history, event) and devices
gone OFFLINE.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Final

import asyncpg

from ingest.alerts.catalog import Spec
from ingest.alerts.config import OpenAlert
from tickwire import alert_changes
from tickwire.alert_changes import AlertChanges, NewAlert
from tickwire.events import device_status_event

_OFFLINE: Final = """
UPDATE devices SET status = 'OFFLINE', updated_at = now()
WHERE device_id = $1 AND status <> 'OFFLINE' AND last_seen <= $2
RETURNING last_seen"""


class Changes:
    """The changes of one transaction; `events` holds their journal events in order."""

    def __init__(self, alerts: AlertChanges) -> None:
        self.conn = alerts.conn
        self.alerts = alerts
        self.events = alerts.events

    async def open(self, spec: Spec, value: float | None, message: str) -> OpenAlert | None:
        """Raise the alert of `spec` unless one is open for its key already (then return that
        one, None if it cannot be found)."""
        key = spec.key
        alert = NewAlert(
            key.kind, key.rule_id, key.subject, key.owner_id, spec.severity, message, value
        )
        row = await self.alerts.raise_alert(alert)
        if row is None:  # open already (raised by another ingester, or before a restart)
            found = await self.alerts.find_open(alert)
            return None if found is None else OpenAlert(found["id"], key, found["state"])
        return OpenAlert(row["id"], key, "ACTIVE")

    async def clear(self, alert: OpenAlert, detail: str) -> None:
        # Nothing when cleared already (by another ingester).
        await self.alerts.clear("id = $1", alert.id, detail=detail)

    async def set_offline(self, device_id: str, basis: datetime) -> bool:
        """Mark the device OFFLINE unless a message newer than `basis` was committed meanwhile
        (or it is OFFLINE already); True when this transaction did it."""
        last_seen = await self.conn.fetchval(_OFFLINE, device_id, basis)
        if last_seen is None:
            return False
        self.events.append(device_status_event(device_id, "OFFLINE", last_seen))
        return True


@contextlib.asynccontextmanager
async def transaction(conn: asyncpg.Connection) -> AsyncIterator[Changes]:
    """A transaction collecting changes; the journal append is its last statement."""
    async with alert_changes.transaction(conn) as alerts:
        yield Changes(alerts)

"""The audit log: who did what to accounts, credentials and devices (`audit_log`, sql/0006).

Written after the action it records, from the one place that does the action; read by admins
(`GET /api/admin/audit`, the dashboard's admin page). Nothing secret goes in: never a password
or a token, and a failed login only for a name that is an account (an unknown name may be a
password typed in the wrong field).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from fastapi import Request

from api.models import User
from tickwire.audit_actions import AuditAction

__all__ = ["AuditAction", "Entry", "client_address", "record", "record_request"]


@dataclass(frozen=True, slots=True)
class Entry:
    action: AuditAction
    actor: User | None = None
    subject: str | None = None
    address: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def client_address(request: Request | None) -> str | None:
    """The caller's address as uvicorn saw it (its proxy-headers rules applied)."""
    if request is None or request.client is None:
        return None
    return request.client.host


async def record(pool: asyncpg.Pool, entry: Entry) -> None:
    actor_id: uuid.UUID | None = entry.actor.id if entry.actor else None
    await pool.execute(
        """INSERT INTO audit_log (action, actor_id, actor, subject, address, details)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
        entry.action.value,
        actor_id,
        entry.actor.email if entry.actor else None,
        entry.subject,
        entry.address,
        orjson.dumps(entry.details).decode(),
    )


async def record_request(request: Request, entry: Entry) -> None:
    """`record` with the request's pool, and its client address unless the entry has one."""
    address = entry.address or client_address(request)
    await record(
        request.state.pool,
        Entry(entry.action, entry.actor, entry.subject, address, entry.details),
    )

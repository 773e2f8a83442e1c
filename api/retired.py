"""Retired device ids (`device_tombstones`): a deleted device's history stays with its owner.

Telemetry, rollups and alerts of a deleted device stay (deleting a large raw series would be
slow; retention drops it in time), keyed by the device id. So the id is retired when the
device is deleted, with the owner it had: only that owner or an admin may create it again, and
gets that history back; anyone else is refused with 409 `device_id_retired`. The ingester never
auto-registers a retired id (its messages are dead-lettered, `device_deleted`).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.error_codes import ErrorCode
from api.errors import Conflict
from api.models import User


async def retire(session: AsyncSession, device_id: str, owner_id: uuid.UUID | None) -> None:
    """Record the deletion of `device_id`, owned by `owner_id`, in the session's transaction."""
    await session.execute(
        text(
            "INSERT INTO device_tombstones (device_id, owner_id) VALUES (:id, :owner) "
            "ON CONFLICT (device_id) DO UPDATE SET owner_id = excluded.owner_id, "
            "deleted_at = now()"
        ),
        {"id": device_id, "owner": owner_id},
    )


async def reclaim(session: AsyncSession, user: User, device_id: str) -> None:
    """Let `user` create `device_id`: a retired id only for its last owner or an admin (its
    tombstone then goes, with the creation's transaction); else 409 `device_id_retired`."""
    owner = await session.execute(
        text("SELECT owner_id FROM device_tombstones WHERE device_id = :id FOR UPDATE"),
        {"id": device_id},
    )
    row = owner.first()
    if row is None:
        return
    if not user.is_superuser and row.owner_id != user.id:
        raise Conflict(
            f"device id {device_id!r} belonged to a deleted device: only its last owner or "
            "an admin may use it again",
            code=ErrorCode.DEVICE_ID_RETIRED,
        )
    await session.execute(
        text("DELETE FROM device_tombstones WHERE device_id = :id"), {"id": device_id}
    )

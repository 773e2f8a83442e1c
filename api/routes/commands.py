"""/api/devices/{device_id}/commands: send a command to a device and follow its answer.

The command is stored as `pending`, published on `devices/{id}/commands` (QoS 1); the device's
reply on `devices/{id}/acks` (handled by the ingester) settles it as `ok` or `error`; one left
unanswered past TICKWIRE_COMMAND_TIMEOUT_S reads as `timeout`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api import credentials
from api.access import readable_device
from api.deps import CurrentUser, Limit, Offset, PoolDep
from api.error_codes import ErrorCode
from api.errors import BrokerDown, Invalid, NotFound
from api.jsonb import unstorable
from api.pagination import Page
from api.publisher import Publisher
from tickwire.contract import commands_topic
from tickwire.mqtt import BrokerUnavailable

router = APIRouter()
MAX_ARGS_BYTES = 16 * 1024
CommandName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class CommandCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    command: CommandName = Field(description="e.g. `set_interval`, `ping`")
    args: dict[str, Any] = Field(default_factory=dict, description="the command's arguments")

    @field_validator("args")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = unstorable(value)
        if problem is not None:
            raise ValueError(f"args {problem}")
        if len(json.dumps(value)) > MAX_ARGS_BYTES:
            raise ValueError(f"args larger than {MAX_ARGS_BYTES} bytes")
        return value


class CommandRead(BaseModel):
    id: uuid.UUID
    device_id: str
    command: str
    args: dict[str, Any]
    status: str = Field(description="pending, ok, error or timeout")
    detail: str | None
    created_at: datetime
    acked_at: datetime | None


_COLUMNS = "id, device_id, command, args, status, detail, created_at, acked_at"


@router.post(
    "/devices/{device_id}/commands",
    response_model=CommandRead,
    status_code=202,
    responses=credentials.RESPONSES,
    summary="Send a command to a device",
    description="Stores the command as `pending` and publishes "
    '`{"id", "command", "args"}` on `devices/{device_id}/commands` (QoS 1); the device\'s '
    "ack settles it. 503 `broker_unavailable` (and status `error`) when the broker does not "
    "take it.",
)
async def send_command(
    device_id: str, body: CommandCreate, request: Request, pool: PoolDep, user: CurrentUser
) -> CommandRead:
    await readable_device(pool, user, device_id)
    command_id = uuid.uuid4()
    row = await pool.fetchrow(
        f"""INSERT INTO device_commands (id, device_id, command, args, created_by)
            VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING {_COLUMNS}""",
        command_id,
        device_id,
        body.command,
        json.dumps(body.args),
        user.id,
    )
    publisher: Publisher = request.state.publisher
    message = {"id": str(command_id), "command": body.command, "args": body.args}
    try:
        await publisher.publish(commands_topic(device_id), message)
    except BrokerUnavailable as exc:
        await pool.execute(
            "UPDATE device_commands SET status = 'error', detail = $2 WHERE id = $1",
            command_id,
            f"not sent: {exc}",
        )
        raise BrokerDown(f"the broker did not take the command: {exc}") from None
    return _read(row)


@router.get(
    "/devices/{device_id}/commands",
    response_model=Page[CommandRead],
    summary="Commands sent to a device",
    description="Newest first, with their status (pending, ok, error, timeout).",
)
async def list_commands(
    device_id: str,
    request: Request,
    pool: PoolDep,
    user: CurrentUser,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CommandRead]:
    await readable_device(pool, user, device_id)
    async with pool.acquire() as conn:
        await _expire(conn, request, device_id)
        total = await conn.fetchval(
            "SELECT count(*) FROM device_commands WHERE device_id = $1", device_id
        )
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM device_commands WHERE device_id = $1
                ORDER BY created_at DESC, id LIMIT $2 OFFSET $3""",
            device_id,
            limit,
            offset,
        )
    return Page(items=[_read(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/devices/{device_id}/commands/{command_id}",
    response_model=CommandRead,
    summary="One command and its status",
    description="404 `command_not_found` for an unknown id or another device's command.",
)
async def get_command(
    device_id: str, command_id: uuid.UUID, request: Request, pool: PoolDep, user: CurrentUser
) -> CommandRead:
    await readable_device(pool, user, device_id)
    async with pool.acquire() as conn:
        await _expire(conn, request, device_id)
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM device_commands WHERE id = $1 AND device_id = $2",
            command_id,
            device_id,
        )
    if row is None:
        raise NotFound(f"no command {command_id} for {device_id}", code=ErrorCode.COMMAND_NOT_FOUND)
    return _read(row)


async def _expire(conn: asyncpg.Connection, request: Request, device_id: str) -> None:
    """Pending commands past the timeout are answered `timeout` (a late ack is dead-lettered)."""
    timeout = request.state.settings.command_timeout_s
    await conn.execute(
        """UPDATE device_commands SET status = 'timeout', detail = 'no answer in time'
           WHERE device_id = $1 AND status = 'pending'
             AND created_at < now() - make_interval(secs => $2)""",
        device_id,
        timeout,
    )


def _read(row: Any) -> CommandRead:
    if row is None:
        raise Invalid("the command could not be stored")
    values = dict(row)
    values["args"] = json.loads(values["args"])
    return CommandRead(**values)

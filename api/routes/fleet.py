"""/api routes for a fleet at a glance: the latest value of every metric of many devices in one
call, and a device's latest readings (DESIGN.md, "Fleet and latest values")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

import orjson
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api import access
from api.deps import CurrentUser, PoolDep
from api.error_codes import ErrorCode
from api.errors import Invalid
from api.history import latest
from tickwire.contract import METRIC_RE

router = APIRouter()

#: Device ids one latest call may name (the stream's cap on subjects).
MAX_DEVICES: Final = 1000
#: Readings one /api/telemetry call returns at most.
MAX_READINGS: Final = 10_000


class LatestValue(BaseModel):
    time: datetime = Field(description="the newest reading's time")
    value: float


class DeviceLatest(BaseModel):
    device_id: str
    status: str = Field(description="`ONLINE`, `OFFLINE` or `UNKNOWN`")
    last_seen: datetime | None
    values: dict[str, LatestValue] = Field(
        description="per metric, its newest reading; {} for a device without telemetry"
    )


class FleetLatest(BaseModel):
    items: list[DeviceLatest] = Field(description="in device id order")


class Reading(BaseModel):
    """One instant of a device: its metrics are further keys, `<metric>: value`."""

    model_config = ConfigDict(extra="allow")
    device_id: str
    ts: datetime = Field(description="the reading's time")


def _json(body: Any) -> Response:
    """Rendered with orjson: up to thousands of objects, already in their final shape."""
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get(
    "/devices/latest",
    response_model=FleetLatest,
    summary="The newest value of every metric of many devices, in one call",
    description=f"""
Each device named by `device_id` (repeatable; at most {MAX_DEVICES}, else 422
`too_many_subjects`), or with none every device the caller reads, in id order: its status,
`last_seen` and the newest reading of each of its metrics. A device the caller may not read: 404
`device_not_found` (absent and forbidden alike). Example: `{{"items": [{{"device_id": "dev-1",
"status": "ONLINE", "last_seen": "2024-03-04T12:00:00Z", "values": {{"temperature": {{"time":
"2024-03-04T12:00:00Z", "value": 21.4}}}}}}]}}`
""",
)
async def devices_latest(
    user: CurrentUser,
    pool: PoolDep,
    device_id: Annotated[
        list[str] | None, Query(description="a device (repeatable); none: every readable one")
    ] = None,
) -> Response:
    wanted = sorted(set(device_id)) if device_id else None
    if wanted is not None and len(wanted) > MAX_DEVICES:
        raise Invalid(
            f"at most {MAX_DEVICES} devices in one call", code=ErrorCode.TOO_MANY_SUBJECTS
        )
    async with pool.acquire() as conn:
        if wanted is not None:
            await access.require_readable(conn, user, access.DEVICE, wanted)
        found = await latest.latest(conn, wanted, access.owner_filter(user))
    items = [
        {"device_id": d.device_id, "status": d.status, "last_seen": d.last_seen, "values": d.values}
        for d in found
    ]
    return _json({"items": items})


@router.get(
    "/telemetry",
    response_model=list[Reading],
    summary="A device's newest readings, one object per instant",
    description=f"""
The newest `limit` instants (at most {MAX_READINGS}) of the device's telemetry, newest first,
each one object `{{"device_id", "ts", <metric>: value, …}}` holding every metric read at that
instant (only `metric` when given). A device the caller may not read: 404 `device_not_found`.
Example: `[{{"device_id": "dev-1", "ts": "2024-03-04T12:00:01Z", "temperature": 21.4,
"humidity": 47.9}}, {{"device_id": "dev-1", "ts": "2024-03-04T12:00:00Z", "temperature":
21.3}}]`
""",
)
async def device_readings(
    user: CurrentUser,
    pool: PoolDep,
    device_id: Annotated[str, Query(description="the device")],
    limit: Annotated[
        int, Query(ge=1, le=MAX_READINGS, description="how many instants, newest first")
    ] = 100,
    metric: Annotated[
        str | None,
        Query(pattern=f"^{METRIC_RE.pattern}$", description="one metric; default every metric"),
    ] = None,
) -> Response:
    async with pool.acquire() as conn:
        await access.readable_device(conn, user, device_id)
        return _json(await latest.readings(conn, device_id, limit, metric))

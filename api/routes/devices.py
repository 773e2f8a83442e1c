"""/api/devices: the devices a user owns, with the tickers each monitors.

Status and last_seen are read-only here: the ingester sets them from the messages it commits.
With credential management on (api/credentials.py) each change reaches the device's broker
account before the database commits, so a broker that cannot be reached refuses the change;
a creation writes its row first, so of two creations of one id the loser learns it lost (the
row is taken) before it touches the broker. A deleted device's id is retired (api/retired.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import credentials, retired
from api.access import devices_visible
from api.alert_clearing import clear_open_alerts, stream
from api.audit import AuditAction, Entry, record_request
from api.credentials import AccountsDep, CredentialsRead
from api.crud.listing import fetch_page
from api.crud.readable import device_or_404, require_tickers
from api.crud.writes import commit, flush
from api.deps import CurrentUser, Limit, Offset, SessionDep
from api.error_codes import ErrorCode
from api.errors import Conflict, Forbidden, Invalid
from api.models import Device, DeviceTicker, User
from api.pagination import Page
from api.schemas.common import Kind, Ticker
from api.schemas.devices import DeviceCreate, DeviceRead, DeviceUpdate, Status

router = APIRouter()


class DeviceCreated(DeviceRead):
    credentials: CredentialsRead | None = Field(
        description="its MQTT login, shown only here; null when credential management is off"
    )


@router.get(
    "/devices",
    response_model=Page[DeviceRead],
    summary="List devices",
    description="The caller's devices (an admin: all), ordered by device id.",
)
async def list_devices(
    session: SessionDep,
    user: CurrentUser,
    limit: Limit = 100,
    offset: Offset = 0,
    kind: Annotated[Kind | None, Query(description="only this kind")] = None,
    status: Annotated[Status | None, Query(description="only this status")] = None,
    ticker: Annotated[Ticker | None, Query(description="only devices monitoring it")] = None,
) -> Page[DeviceRead]:
    query = select(Device).where(devices_visible(user)).order_by(Device.device_id)
    if kind is not None:
        query = query.where(Device.kind == kind)
    if status is not None:
        query = query.where(Device.status == status)
    if ticker is not None:
        query = query.where(Device.tickers.any(DeviceTicker.ticker == ticker))
    rows, total = await fetch_page(session, query, limit, offset)
    items = [DeviceRead.model_validate(row) for row in rows]
    return Page[DeviceRead](items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/devices",
    response_model=DeviceCreated,
    status_code=201,
    responses=credentials.RESPONSES,
    summary="Register a device",
    description=(
        "Owner = the caller (an admin may give `owner_id`). Every ticker must exist and be "
        "readable by the caller (else 422 `unknown_ticker`); an id already taken → 409 "
        "`device_exists`, whoever owns it; the id of a deleted device → 409 "
        "`device_id_retired` unless the caller was its owner or is an admin (who then get its "
        "history back). With credential management on, `credentials` is "
        "the device's MQTT login (username = client id = device id), shown only in this "
        "answer (`POST /api/devices/{device_id}/credentials` issues a new one); 503 "
        "`broker_unavailable` when the broker cannot be reached (nothing is created)."
    ),
)
async def create_device(
    body: DeviceCreate, session: SessionDep, user: CurrentUser, accounts: AccountsDep
) -> DeviceCreated:
    taken = select(Device.device_id).where(Device.device_id == body.device_id)
    if await session.scalar(taken) is not None:
        raise _exists(body.device_id)
    owner = await _owner(session, user, body.owner_id)
    await require_tickers(session, user, body.tickers)
    await retired.reclaim(session, user, body.device_id)
    device = Device(
        device_id=body.device_id,
        name=body.name or body.device_id,
        kind=body.kind,
        owner_id=owner,
        offline_timeout_s=body.offline_timeout_s,
        tickers=[DeviceTicker(ticker=ticker) for ticker in sorted(set(body.tickers))],
    )
    session.add(device)
    # The row first: a concurrent creation of the id waits for this transaction and then
    # fails here, before touching the broker account this one is about to set up.
    await flush(session, duplicate=_exists(body.device_id))
    issued = None
    if accounts is not None:
        issued = await credentials.issue(accounts, body.device_id, body.tickers)
    # A failure from here on rolls the row back. The account stays if it was issued: nobody
    # saw its password, and it cannot be told apart from one that a winner of a race made.
    await commit(session, duplicate=_exists(body.device_id))
    created = await _read(session, device)
    return DeviceCreated(**created.model_dump(), credentials=issued)


@router.get(
    "/devices/{device_id}",
    response_model=DeviceRead,
    summary="One device",
    description="404 `device_not_found` when absent or not the caller's.",
)
async def get_device(device_id: str, session: SessionDep, user: CurrentUser) -> DeviceRead:
    return DeviceRead.model_validate(await device_or_404(session, user, device_id))


@router.patch(
    "/devices/{device_id}",
    response_model=DeviceRead,
    summary="Change a device",
    description=(
        "Only the fields sent change; `tickers` replaces the whole set, and with it the "
        "`devices/{id}/stocks/{T}` topics the device may publish on (503 "
        "`broker_unavailable`, nothing changed, when the broker cannot be reached). `status`, "
        "`last_seen` and the id are "
        "read-only (422). Only an admin may change `owner_id`."
    ),
    responses=credentials.RESPONSES,
)
async def update_device(
    device_id: str,
    body: DeviceUpdate,
    session: SessionDep,
    user: CurrentUser,
    accounts: AccountsDep,
) -> DeviceRead:
    device = await device_or_404(session, user, device_id)
    changes = body.changes()
    if "owner_id" in changes:
        device.owner_id = await _owner(session, user, changes.pop("owner_id"))
    if "tickers" in changes:
        tickers = set(changes.pop("tickers"))
        await require_tickers(session, user, tickers)
        kept = [link for link in device.tickers if link.ticker in tickers]
        added = tickers - {link.ticker for link in kept}
        device.tickers = kept + [DeviceTicker(ticker=ticker) for ticker in sorted(added)]
        await credentials.follow_tickers(accounts, device_id, tickers)
    for name, value in changes.items():
        setattr(device, name, value)
    device.auto_registered = False  # edited by a person: the simulator's registry keeps it
    await commit(session)
    return await _read(session, device)


@router.delete(
    "/devices/{device_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a device",
    description=(
        "Removes the device, its ticker links, its commands and its alert rules; its open "
        "alerts are cleared; its broker account is deleted (a connected session dropped; 503 "
        "`broker_unavailable`, nothing deleted, when the broker cannot be reached). Its "
        "telemetry rows, rollups and alerts stay (deleting a large device's raw series would "
        "be slow; retention drops them in time) and its id is retired: only its owner or an "
        "admin may create it again (and sees that history again), anyone else gets 409 "
        "`device_id_retired`; the ingester dead-letters its messages (`device_deleted`)."
    ),
    responses=credentials.RESPONSES,
)
async def delete_device(
    device_id: str, session: SessionDep, user: CurrentUser, accounts: AccountsDep, request: Request
) -> Response:
    device = await device_or_404(session, user, device_id)
    await retired.retire(session, device_id, device.owner_id)
    await credentials.remove(accounts, device_id)
    cleared = await clear_open_alerts(session, "device_id", device_id, "the device was deleted")
    await session.execute(delete(Device).where(Device.device_id == device_id))
    await stream(session, cleared)
    await commit(session)
    await record_request(request, Entry(AuditAction.DEVICE_DELETED, actor=user, subject=device_id))
    return Response(status_code=204)


async def _owner(session: AsyncSession, user: User, owner_id: uuid.UUID | None) -> uuid.UUID:
    """The owner to record: the caller, or (admin only) an existing user."""
    if owner_id is None or owner_id == user.id:
        return user.id
    if not user.is_superuser:
        raise Forbidden(
            "only an admin may choose a device's owner", code=ErrorCode.OWNER_ADMIN_ONLY
        )
    if await session.get(User, owner_id) is None:
        raise Invalid(f"no user {owner_id}", code=ErrorCode.UNKNOWN_OWNER)
    return owner_id


async def _read(session: AsyncSession, device: Device) -> DeviceRead:
    """The device as stored (server defaults and the ticker set reloaded)."""
    await session.refresh(device)
    return DeviceRead.model_validate(device)


def _exists(device_id: str) -> Conflict:
    return Conflict(f"device {device_id!r} already exists", code=ErrorCode.DEVICE_EXISTS)

"""/api/devices/{device_id}/credentials: a new MQTT password for a device (api/credentials.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.audit import AuditAction, Entry, record_request
from api.credentials import RESPONSES, AccountsDep, CredentialsRead, issue
from api.crud.readable import device_or_404
from api.deps import CurrentUser, SessionDep

router = APIRouter()


@router.post(
    "/devices/{device_id}/credentials",
    response_model=CredentialsRead,
    responses=RESPONSES,
    summary="Issue new MQTT credentials for a device",
    description=(
        "A new broker password for the device, shown only in this answer: the old one stops "
        "working at once and a session connected with it is disconnected. Creates the "
        "device's broker account if it has none (a device registered before, or by the "
        "ingester). The device may then publish on `devices/{id}/telemetry|heartbeat|acks` "
        "and `devices/{id}/stocks/{T}` for the tickers it monitors, and subscribe to "
        "`devices/{id}/commands`; it must connect with client id = username = device id. "
        "409 `credentials_disabled` "
        "when credential management is off (no TICKWIRE_MQTT_ADMIN_URL), 503 "
        "`broker_unavailable` when the broker cannot be reached."
    ),
)
async def rotate_credentials(
    device_id: str, session: SessionDep, user: CurrentUser, accounts: AccountsDep, request: Request
) -> CredentialsRead:
    device = await device_or_404(session, user, device_id)
    issued = await issue(accounts, device.device_id, [link.ticker for link in device.tickers])
    entry = Entry(AuditAction.DEVICE_CREDENTIALS_ISSUED, actor=user, subject=device.device_id)
    await record_request(request, entry)
    return issued

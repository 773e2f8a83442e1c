"""/api/broker: where devices connect, for the credentials a user is shown (docs/broker.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import CurrentUser
from api.settings import ApiSettings

router = APIRouter()


class BrokerRead(BaseModel):
    url: str = Field(description="`mqtt://host:port` or `mqtts://host:port` (TLS), no login")
    host: str
    port: int
    tls: bool
    ca_file: str | None = Field(
        description="path of the CA certificate devices verify the broker with (TLS only; "
        "null: the system's CAs)"
    )
    credentials: bool = Field(
        description="devices log in with their own credentials (else the broker is anonymous)"
    )


@router.get(
    "/broker",
    response_model=BrokerRead,
    summary="Where devices connect",
    description=(
        "The broker address devices use (`TICKWIRE_DEVICE_MQTT_URL`, else the API's own broker "
        "without its login), the CA file to verify it with (`TICKWIRE_DEVICE_CA_FILE`, else "
        "`TICKWIRE_MQTT_CA_FILE`), and whether devices need the credentials "
        "`POST /api/devices` and `POST /api/devices/{device_id}/credentials` issue."
    ),
)
async def broker(request: Request, _user: CurrentUser) -> BrokerRead:
    settings: ApiSettings = request.state.settings
    address = settings.device_broker()
    return BrokerRead(
        url=repr(address),
        host=address.host,
        port=address.port,
        tls=address.tls,
        ca_file=str(address.ca_file) if address.ca_file else None,
        credentials=settings.mqtt_admin_url is not None,
    )

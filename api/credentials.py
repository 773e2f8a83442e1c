"""Device MQTT credentials: the API's side of the broker's account store.

When TICKWIRE_MQTT_ADMIN_URL is set the API holds an admin session on the broker
(tickwire/brokerauth/: Mosquitto's dynamic-security plugin for an mqtt(s):// URL, EMQX's
built-in database through its REST API for an http(s):// one) and keeps each device's
broker account in step with the device:
created with it (password shown once), rotated on request, its price-topic ACLs
(`devices/{id}/stocks/{T}`) following its tickers, removed with it. Unset → no credential
management (an anonymous broker).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from api.error_codes import ErrorCode
from api.errors import ApiError, BrokerDown, ErrorBody
from api.settings import ApiSettings
from tickwire import brokerauth
from tickwire.brokerauth import Accounts, emqx


class CredentialsRead(BaseModel):
    """A device's MQTT login (its client id must be its device id too)."""

    username: str = Field(description="the device id")
    password: str = Field(description="shown only in this response: store it now")


class CredentialsDisabled(ApiError):
    status, code = 409, "credentials_disabled"


class UsernameTaken(ApiError):
    status, code = 409, "username_taken"


#: OpenAPI `responses=` of the routes that change broker accounts.
RESPONSES: dict[int | str, dict[str, object]] = {
    503: {"model": ErrorBody, "description": "broker unavailable"},
}


@contextlib.asynccontextmanager
async def broker_accounts(settings: ApiSettings) -> AsyncIterator[Accounts | None]:
    """The admin session for the app's lifespan, or None when credential management is off."""
    if not settings.mqtt_admin_url:
        yield None
        return
    if emqx.is_rest_url(settings.mqtt_admin_url):
        async with emqx.connected(settings.mqtt_admin_url) as accounts:
            yield accounts
        return
    async with brokerauth.connected(settings.mqtt_address(settings.mqtt_admin_url)) as dynsec:
        yield dynsec


def get_accounts(request: Request) -> Accounts | None:
    accounts: Accounts | None = request.state.accounts
    return accounts


AccountsDep = Annotated[Accounts | None, Depends(get_accounts)]


@contextlib.contextmanager
def _translated(device_id: str) -> Iterator[None]:
    try:
        yield
    except brokerauth.NotADevice:
        raise UsernameTaken(
            f"the broker has a non-device account named {device_id!r}",
            code=ErrorCode.USERNAME_TAKEN,
        ) from None
    except (brokerauth.BrokerAuthError, brokerauth.BrokerUnavailable) as exc:
        raise BrokerDown(f"the broker did not take the change: {exc}") from None


async def issue(
    accounts: Accounts | None, device_id: str, tickers: Iterable[str]
) -> CredentialsRead:
    """A new password for the device (its broker account created if missing)."""
    if accounts is None:
        raise CredentialsDisabled("credential management is off (no TICKWIRE_MQTT_ADMIN_URL)")
    with _translated(device_id):
        issued = await accounts.issue_device(device_id, tickers)
    return CredentialsRead(username=issued.username, password=issued.password)


async def follow_tickers(accounts: Accounts | None, device_id: str, tickers: Iterable[str]) -> None:
    """The device may publish on devices/{id}/stocks/{T} for exactly these tickers (if it has
    an account)."""
    if accounts is not None:
        with _translated(device_id):
            await accounts.set_device_tickers(device_id, tickers)


async def remove(accounts: Accounts | None, device_id: str) -> None:
    """Delete the device's broker account, disconnecting it."""
    if accounts is not None:
        with _translated(device_id):
            await accounts.remove_device(device_id)

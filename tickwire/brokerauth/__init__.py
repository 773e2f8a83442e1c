"""Broker accounts and topic ACLs through Mosquitto's dynamic-security plugin.

The plugin is driven with JSON commands published on `$CONTROL/dynamic-security/v1` by its
admin client; the answers come back on `$CONTROL/dynamic-security/v1/response`. The API uses
this module to issue, rotate and remove device credentials; `python -m tickwire.brokerauth
setup` creates the services' own accounts (`tickwire-ingest`, `tickwire-api`). Each account
has a role of its own holding its ACLs (acls.py); anything they do not allow is
denied. The admin is an MQTT client of tickwire/mqtt.py, on paho's thread. See docs/broker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from tickwire import mqtt as adapter
from tickwire.brokerauth.acls import (
    API_ACCOUNT,
    API_ACLS,
    DEFAULT_ACL_ACCESS,
    DEVICE_ROLE_PREFIX,
    INGEST_ACCOUNT,
    INGEST_ACLS,
    Acl,
    device_acls,
    device_role,
    legacy_tickers,
)
from tickwire.mqtt import BrokerUnavailable
from tickwire.settings import MqttAddress

__all__ = [  # with the accounts and roles of acls.py, under the names the callers use
    "API_ACCOUNT",
    "INGEST_ACCOUNT",
    "Accounts",
    "BrokerAuthError",
    "BrokerUnavailable",
    "CommandFailed",
    "Credentials",
    "Dynsec",
    "NotADevice",
    "connected",
    "device_acls",
    "device_role",
    "setup",
]

log = logging.getLogger("tickwire.brokerauth")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
#: The plugin's (2.0) answers for a missing role differ between commands.
_NO_ROLE = ("Role not found", "Role does not exist")


class BrokerAuthError(Exception):
    """The plugin refused a change; not reaching it at all is `tickwire.mqtt.BrokerUnavailable`."""


class CommandFailed(BrokerAuthError):
    """The plugin refused a command (its `error` text says why)."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error


class NotADevice(BrokerAuthError):
    """The username belongs to a broker account that is not a device's (a service, the admin)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def new_password() -> str:
    return secrets.token_urlsafe(24)


class Accounts(Protocol):
    """What the API does with a broker's accounts: `Dynsec` (Mosquitto) or `emqx.Emqx`."""

    async def issue_device(self, device_id: str, tickers: Iterable[str]) -> Credentials: ...

    async def set_device_tickers(self, device_id: str, tickers: Iterable[str]) -> bool: ...

    async def remove_device(self, device_id: str) -> None: ...


#: Roles listed per listRoles command when upgrading device roles.
_ROLES_PAGE = 500


class Dynsec:
    """An admin session on the plugin's control topic (one paho client, its own thread)."""

    def __init__(self, client: mqtt.Client, timeout: float = 5.0) -> None:
        self._client = client
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._waiting: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self.ready = asyncio.Event()
        """Set while connected and subscribed to the responses."""
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message

    async def run(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send commands in one message; return their responses (each may carry `error`)."""
        if not self.ready.is_set():
            raise BrokerUnavailable("not connected to the broker as its dynamic-security admin")
        token = secrets.token_hex(8)
        tagged = [{**command, "correlationData": token} for command in commands]
        future: asyncio.Future[list[dict[str, Any]]] = self._loop.create_future()
        self._waiting[token] = future
        try:
            adapter.queued(
                self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
            )
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError:
            raise BrokerUnavailable(
                f"no answer from the plugin within {self._timeout:g}s"
            ) from None
        finally:
            self._waiting.pop(token, None)

    async def check(self, *commands: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
        """Run commands; raise CommandFailed for an error other than those in `ignore`."""
        for response in await self.run(*commands):
            error = response.get("error")
            if error and error not in ignore:
                raise CommandFailed(str(response.get("command")), str(error))

    async def client_roles(self, username: str) -> list[str] | None:
        """The role names of a client, or None when there is no such client."""
        [response] = await self.run({"command": "getClient", "username": username})
        if response.get("error") == "Client not found":
            return None
        if "error" in response:
            raise CommandFailed("getClient", str(response["error"]))
        roles = response.get("data", {}).get("client", {}).get("roles", [])
        return [str(role.get("rolename")) for role in roles]

    async def put_role(self, rolename: str, acls: list[Acl]) -> None:
        """Create the role, or replace the ACLs of the existing one."""
        [created] = await self.run({"command": "createRole", "rolename": rolename, "acls": acls})
        if created.get("error") == "Role already exists":
            await self.check({"command": "modifyRole", "rolename": rolename, "acls": acls})
        elif "error" in created:
            raise CommandFailed("createRole", str(created["error"]))

    async def put_client(
        self, username: str, password: str, rolename: str, clientid: str | None = None
    ) -> None:
        """Create the client with this one role, or set its password and role.

        Changing an existing client's password disconnects whoever is connected as it.
        """
        client: dict[str, Any] = {
            "username": username,
            "password": password,
            "roles": [{"rolename": rolename}],
        }
        if clientid is not None:
            client["clientid"] = clientid
        [created] = await self.run({"command": "createClient", **client})
        if created.get("error") == "Client already exists":
            await self.check({"command": "modifyClient", **client})
        elif "error" in created:
            raise CommandFailed("createClient", str(created["error"]))

    async def issue_device(self, device_id: str, tickers: Iterable[str]) -> Credentials:
        """A new password for the device (created if missing); the old one stops working and
        a connected session of the device is dropped. Its ACLs are set from `tickers`."""
        rolename = device_role(device_id)
        roles = await self.client_roles(device_id)
        if roles is not None and roles != [rolename]:
            raise NotADevice(f"broker account {device_id!r} is not a device's")
        password = new_password()
        await self.put_role(rolename, device_acls(device_id, tickers))
        # The client id is the device id: another device cannot take over its session.
        await self.put_client(device_id, password, rolename, clientid=device_id)
        return Credentials(device_id, password)

    async def set_device_tickers(self, device_id: str, tickers: Iterable[str]) -> bool:
        """Replace the device's price-topic ACLs; False when it has no broker account yet."""
        modify = {
            "command": "modifyRole",
            "rolename": device_role(device_id),
            "acls": device_acls(device_id, tickers),
        }
        [response] = await self.run(modify)
        if response.get("error") in _NO_ROLE:
            return False
        if "error" in response:
            raise CommandFailed("modifyRole", str(response["error"]))
        return True

    async def remove_device(self, device_id: str) -> None:
        """Delete the device's client (disconnecting it) and role; absent is fine."""
        rolename = device_role(device_id)
        roles = await self.client_roles(device_id)
        if roles is not None and roles != [rolename]:
            log.warning("not deleting broker account %r: it is not a device's", device_id)
            return
        await self.check(
            {"command": "deleteClient", "username": device_id},
            {"command": "deleteRole", "rolename": rolename},
            ignore=("Client not found", *_NO_ROLE),
        )

    async def setup_services(self, ingest_password: str, api_password: str) -> None:
        """Default deny, then the ingester's and the API's accounts, then device roles made
        before per-device price topics brought up to date (idempotent)."""
        await self.check({"command": "setDefaultACLAccess", "acls": DEFAULT_ACL_ACCESS})
        for username, password, acls in (
            (INGEST_ACCOUNT, ingest_password, INGEST_ACLS),
            (API_ACCOUNT, api_password, API_ACLS),
        ):
            await self.put_role(username, acls)
            await self.put_client(username, password, username)
        upgraded = await self.upgrade_device_roles()
        if upgraded:
            log.info("moved %d device roles from stocks/{T} to their own price topics", upgraded)

    async def upgrade_device_roles(self) -> int:
        """Device roles that may still publish on stocks/{T} (made before per-device price
        topics) get `devices/{id}/stocks/{T}` for the same tickers instead; returns how many."""
        upgraded, offset = 0, 0
        while True:
            listing = {"command": "listRoles", "verbose": True, "count": _ROLES_PAGE}
            [response] = await self.run({**listing, "offset": offset})
            if "error" in response:
                raise CommandFailed("listRoles", str(response["error"]))
            roles = response.get("data", {}).get("roles", [])
            for role in roles:
                name = str(role.get("rolename", ""))
                tickers = legacy_tickers(role.get("acls", []))
                if name.startswith(DEVICE_ROLE_PREFIX) and tickers is not None:
                    device_id = name[len(DEVICE_ROLE_PREFIX) :]
                    await self.put_role(name, device_acls(device_id, tickers))
                    upgraded += 1
            offset += len(roles)
            if len(roles) < _ROLES_PAGE:
                return upgraded

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the dynamic-security admin: %s", reason)
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            log.error("broker refused the admin's subscription to %s", RESPONSE_TOPIC)
            return
        self._loop.call_soon_threadsafe(self.ready.set)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        self._loop.call_soon_threadsafe(self.ready.clear)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
            token = responses[0]["correlationData"]
        except (ValueError, KeyError, IndexError, TypeError):
            return  # another admin's answer without our tag
        self._loop.call_soon_threadsafe(self._settle, token, responses)

    def _settle(self, token: str, responses: list[dict[str, Any]]) -> None:
        future = self._waiting.get(token)
        if future is not None and not future.done():
            future.set_result(responses)


@contextlib.asynccontextmanager
async def connected(address: MqttAddress, wait: float = 3.0) -> AsyncIterator[Dynsec]:
    """An admin session that reconnects by itself; yields even if the broker is not up yet
    (commands then raise BrokerUnavailable until it is)."""
    client = adapter.new_client(
        f"tickwire-dynsec-{secrets.token_hex(4)}",
        protocol=311,
        username=address.username,
        password=address.password,
    )
    dynsec = Dynsec(client)
    async with adapter.on_thread(client, address):
        try:
            async with asyncio.timeout(wait):
                await dynsec.ready.wait()
        except TimeoutError:
            log.warning("dynamic-security admin not connected to %r yet", address)
        yield dynsec


async def setup(
    admin: MqttAddress | str, ingest_password: str, api_password: str, wait: float
) -> None:
    """Create or update the ingester's and the API's accounts on the broker at `admin` (its
    admin's address, or a plain `mqtt://` URL)."""
    address = admin if isinstance(admin, MqttAddress) else MqttAddress(admin)
    async with connected(address, wait) as dynsec:
        await dynsec.setup_services(ingest_password, api_password)

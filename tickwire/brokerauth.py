"""Broker accounts and topic ACLs through Mosquitto's dynamic-security plugin.

The plugin is driven with JSON commands published on `$CONTROL/dynamic-security/v1` by its
admin client; the answers come back on `$CONTROL/dynamic-security/v1/response`. The API uses
this module to issue, rotate and remove device credentials; `python -m tickwire.brokerauth
setup` creates the services' own accounts (`tickwire-ingest`, `tickwire-api`). Each account
has a role of its own holding its ACLs; anything they do not allow is denied. See
docs/broker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import Field

from tickwire.contract import (
    acks_topic,
    commands_topic,
    device_stock_topic,
    heartbeat_topic,
    telemetry_topic,
)
from tickwire.logs import setup_logging
from tickwire.settings import CommonSettings, MqttAddress

log = logging.getLogger("tickwire.brokerauth")

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
INGEST_ACCOUNT = "tickwire-ingest"
API_ACCOUNT = "tickwire-api"
DEVICE_ROLE_PREFIX = "device:"

Acl = dict[str, Any]
#: The plugin's (2.0) answers for a missing role differ between commands.
_NO_ROLE = ("Role not found", "Role does not exist")


class BrokerAuthError(Exception):
    """Credential management failed."""


class BrokerUnavailable(BrokerAuthError):
    """The broker is not connected, or its plugin did not answer in time."""


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


def _allow(acltype: str, topics: Iterable[str]) -> list[Acl]:
    return [{"acltype": acltype, "topic": topic, "allow": True} for topic in topics]


def device_acls(device_id: str, tickers: Iterable[str]) -> list[Acl]:
    """Publish its own telemetry/heartbeat/acks and its tickers' prices on its own price
    topics (never the shared stocks/{T}, where it could name another device); read its
    commands."""
    own = [telemetry_topic(device_id), heartbeat_topic(device_id), acks_topic(device_id)]
    prices = [device_stock_topic(device_id, ticker) for ticker in sorted(set(tickers))]
    return _allow("publishClientSend", own + prices) + _allow(
        "subscribeLiteral", [commands_topic(device_id)]
    )


INGEST_ACLS = _allow(
    "subscribePattern",
    [
        "stocks/#",
        "devices/+/stocks/+",
        "devices/+/telemetry",
        "devices/+/heartbeat",
        "devices/+/acks",
    ],
)
#: Roles listed per listRoles command when upgrading device roles.
_ROLES_PAGE = 500
_LEGACY_PRICE_PREFIX = "stocks/"
API_ACLS = _allow("publishClientSend", ["devices/+/commands"])
#: Publish and subscribe are denied unless a role allows them (the plugin's own defaults too).
DEFAULT_ACL_ACCESS = [
    {"acltype": "publishClientSend", "allow": False},
    {"acltype": "publishClientReceive", "allow": True},
    {"acltype": "subscribe", "allow": False},
    {"acltype": "unsubscribe", "allow": True},
]


def device_role(device_id: str) -> str:
    return f"{DEVICE_ROLE_PREFIX}{device_id}"


def _legacy_tickers(acls: list[Acl]) -> list[str] | None:
    """The tickers a role may publish on stocks/{T}; None when it has no such ACL."""
    tickers = [
        str(acl["topic"])[len(_LEGACY_PRICE_PREFIX) :]
        for acl in acls
        if acl.get("acltype") == "publishClientSend"
        and str(acl.get("topic", "")).startswith(_LEGACY_PRICE_PREFIX)
    ]
    return tickers or None


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
            info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise BrokerUnavailable(mqtt.error_string(info.rc))
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
                tickers = _legacy_tickers(role.get("acls", []))
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
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"tickwire-dynsec-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv311,
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    dynsec = Dynsec(client)
    client.reconnect_delay_set(1, 10)
    client.connect_async(address.host, address.port, keepalive=30)
    client.loop_start()
    try:
        async with asyncio.timeout(wait):
            await dynsec.ready.wait()
    except TimeoutError:
        log.warning("dynamic-security admin not connected to %r yet", address)
    try:
        yield dynsec
    finally:
        client.disconnect()
        client.loop_stop()


class SetupSettings(CommonSettings):
    """`python -m tickwire.brokerauth setup`: the admin's URL and the services' passwords."""

    mqtt_admin_url: str | None = Field(default=None, repr=False)
    mqtt_ingest_password: str | None = Field(default=None, repr=False)
    mqtt_api_password: str | None = Field(default=None, repr=False)
    setup_wait_s: float = 60.0
    """How long setup waits for the broker to accept the admin."""


MIN_PASSWORD_LENGTH = 12
_PLACEHOLDERS = frozenset({"change-me", "changeme", "changethis", "password", "secret"})


def _checked_password(name: str, value: str | None) -> str:
    if not value or value.lower() in _PLACEHOLDERS or len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"TICKWIRE_{name} is unset, a placeholder or shorter than {MIN_PASSWORD_LENGTH} "
            "characters: set a long random value"
        )
    return value


async def setup(admin_url: str, ingest_password: str, api_password: str, wait: float) -> None:
    """Create or update the ingester's and the API's accounts on the broker at `admin_url`."""
    async with connected(MqttAddress(admin_url), wait) as dynsec:
        await dynsec.setup_services(ingest_password, api_password)


def main(argv: list[str]) -> int:
    if argv != ["setup"]:
        print("usage: python -m tickwire.brokerauth setup", file=sys.stderr)
        return 2
    settings = SetupSettings()
    setup_logging("tickwire", settings.log_level)
    if not settings.mqtt_admin_url:
        log.error("TICKWIRE_MQTT_ADMIN_URL is unset: nothing to set up")
        return 2
    try:
        ingest = _checked_password("MQTT_INGEST_PASSWORD", settings.mqtt_ingest_password)
        api = _checked_password("MQTT_API_PASSWORD", settings.mqtt_api_password)
        asyncio.run(setup(settings.mqtt_admin_url, ingest, api, settings.setup_wait_s))
    except (ValueError, BrokerAuthError) as exc:
        log.error("broker setup failed: %s", exc)
        return 1
    log.info("broker accounts %s and %s are set up", INGEST_ACCOUNT, API_ACCOUNT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

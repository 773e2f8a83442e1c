"""Broker accounts and topic ACLs in EMQX 5's built-in database, over its REST API.

The counterpart of `Dynsec` for the compose profile `scale`: the same operations (the API
issues, rotates and removes device credentials; `python -m tickwire.brokerauth setup` creates
the services' accounts) and the same ACLs (acls.py, as EMQX rules). The admin is an HTTP
client with an API key: `TICKWIRE_MQTT_ADMIN_URL=http://<key>:<secret>@emqx:18083`. EMQX
must run the built-in-database authenticator and authorizer (deploy/emqx/emqx.conf).

EMQX binds a device's client id to its account itself: the devices' TLS listener replaces a
client id by the username (`use_username_as_clientid` in emqx.conf's zone `devices`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tickwire.brokerauth import CommandFailed, Credentials, NotADevice, new_password
from tickwire.brokerauth.acls import (
    API_ACCOUNT,
    API_ACLS,
    INGEST_ACCOUNT,
    INGEST_ACLS,
    Acl,
    device_acls,
    emqx_rules,
)
from tickwire.contract import telemetry_topic
from tickwire.mqtt import BrokerUnavailable

log = logging.getLogger("tickwire.brokerauth")

REST_SCHEMES = ("http", "https")
_USERS = "/api/v5/authentication/password_based%3Abuilt_in_database/users"
_RULES = "/api/v5/authorization/sources/built_in_database/rules/users"
_CLIENTS = "/api/v5/clients"


def is_rest_url(url: str) -> bool:
    """An EMQX REST API address (rather than an MQTT broker's)."""
    return urlsplit(url).scheme in REST_SCHEMES


def _path(base: str, name: str) -> str:
    return f"{base}/{quote(name, safe='')}"


class Emqx:
    """An admin of EMQX's built-in database (one HTTP client with the API key)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """One request; a transport error or a 5xx is BrokerUnavailable."""
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(f"EMQX REST API: {exc!r}") from None
        if response.status_code >= 500:
            raise BrokerUnavailable(f"EMQX REST API: {method} {path}: {response.status_code}")
        return response

    async def _expect(
        self, method: str, path: str, body: Any = None, ok: Iterable[int] = (200, 201, 204)
    ) -> httpx.Response:
        response = await self._call(method, path, body)
        if response.status_code not in set(ok):
            raise CommandFailed(f"{method} {path}", f"{response.status_code} {response.text}")
        return response

    async def rules(self, username: str) -> list[dict[str, Any]] | None:
        """The account's authorization rules, or None when it has none."""
        response = await self._expect("GET", _path(_RULES, username), ok=(200, 404))
        if response.status_code == 404:
            return None
        rules = response.json().get("rules", [])
        return [dict(rule) for rule in rules]

    async def has_user(self, username: str) -> bool:
        response = await self._expect("GET", _path(_USERS, username), ok=(200, 404))
        return response.status_code == 200

    async def put_rules(self, username: str, acls: list[Acl]) -> None:
        """Create the account's rules, or replace them."""
        body = {"username": username, "rules": emqx_rules(acls)}
        response = await self._expect("PUT", _path(_RULES, username), body, ok=(200, 204, 404))
        if response.status_code == 404:
            await self._expect("POST", _RULES, [body])

    async def put_user(self, username: str, password: str) -> None:
        """Create the account, or set its password; whoever is connected as it is dropped."""
        if await self.has_user(username):
            update = {"password": password, "is_superuser": False}
            await self._expect("PUT", _path(_USERS, username), update)
        else:
            body = {"user_id": username, "password": password, "is_superuser": False}
            await self._expect("POST", _USERS, body)
        await self.kick(username)

    async def kick(self, clientid: str) -> None:
        await self._expect("DELETE", _path(_CLIENTS, clientid), ok=(204, 404))

    async def _is_device(self, device_id: str) -> bool | None:
        """None: no such account; else whether it is a device's (may publish its telemetry)."""
        if not await self.has_user(device_id):
            return None
        own = {"permission": "allow", "action": "publish", "topic": telemetry_topic(device_id)}
        # EMQX answers each rule with its defaults too (qos, retain): compare what we set.
        rules = await self.rules(device_id) or []
        return any(all(rule.get(key) == value for key, value in own.items()) for rule in rules)

    async def issue_device(self, device_id: str, tickers: Iterable[str]) -> Credentials:
        """A new password for the device (created if missing); the old one stops working and
        a connected session of the device (client id = device id) is dropped."""
        if await self._is_device(device_id) is False:
            raise NotADevice(f"broker account {device_id!r} is not a device's")
        password = new_password()
        await self.put_rules(device_id, device_acls(device_id, tickers))
        await self.put_user(device_id, password)
        return Credentials(device_id, password)

    async def set_device_tickers(self, device_id: str, tickers: Iterable[str]) -> bool:
        """Replace the device's price-topic rules; False when it has no broker account yet."""
        if not await self._is_device(device_id):
            return False
        await self.put_rules(device_id, device_acls(device_id, tickers))
        # Its connection's cached decisions (authorization.cache) would outlive the change.
        cache = f"{_path(_CLIENTS, device_id)}/authorization/cache"
        await self._expect("DELETE", cache, ok=(204, 404))
        return True

    async def remove_device(self, device_id: str) -> None:
        """Delete the device's account and rules, disconnecting it; absent is fine."""
        if await self._is_device(device_id) is False:
            log.warning("not deleting broker account %r: it is not a device's", device_id)
            return
        await self._expect("DELETE", _path(_USERS, device_id), ok=(204, 404))
        await self._expect("DELETE", _path(_RULES, device_id), ok=(204, 404))
        await self.kick(device_id)

    async def setup_services(self, ingest_password: str, api_password: str) -> None:
        """The ingester's and the API's accounts and rules (idempotent)."""
        for username, password, acls in (
            (INGEST_ACCOUNT, ingest_password, INGEST_ACLS),
            (API_ACCOUNT, api_password, API_ACLS),
        ):
            await self.put_rules(username, acls)
            await self.put_user(username, password)


@contextlib.asynccontextmanager
async def connected(url: str, timeout: float = 5.0) -> AsyncIterator[Emqx]:
    """An admin of the EMQX REST API at `url` (`http://<key>:<secret>@host:18083`)."""
    parts = urlsplit(url)
    if parts.scheme not in REST_SCHEMES or not parts.hostname:
        raise ValueError("an EMQX admin URL is http(s)://<key>:<secret>@host:port")
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 18083}"
    auth = (parts.username or "", parts.password or "")
    async with httpx.AsyncClient(base_url=base, auth=auth, timeout=timeout) as http:
        yield Emqx(http)


async def setup(url: str, ingest_password: str, api_password: str, wait: float) -> None:
    """Create or update the services' accounts, retrying while EMQX is not up for `wait` s."""
    async with connected(url) as emqx:
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                await emqx.setup_services(ingest_password, api_password)
                return
            except BrokerUnavailable:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                await asyncio.sleep(1.0)

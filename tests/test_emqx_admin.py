"""The EMQX admin client (`tickwire.brokerauth.emqx`) against a model of EMQX's REST answers
and against a closed port; the API and `python -m tickwire.brokerauth setup` with an EMQX they
cannot reach. No EMQX here (compose.yaml's profile `scale` is checked in test_compose_scale.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from base64 import b64encode
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from devstack.ports import free_port
from tickwire.brokerauth import API_ACCOUNT, INGEST_ACCOUNT, emqx
from tickwire.brokerauth.acls import INGEST_ACLS, device_acls, emqx_rules
from tickwire.mqtt import BrokerUnavailable

ROOT = Path(__file__).resolve().parents[1]

# --- The EMQX admin client against a model of EMQX's REST answers -------------------------------


USERS = "/api/v5/authentication/password_based%3Abuilt_in_database/users"
RULES = "/api/v5/authorization/sources/built_in_database/rules/users"
CLIENTS = "/api/v5/clients/"


def answer(status: int, body: Any = None) -> httpx.Response:
    return httpx.Response(status) if body is None else httpx.Response(status, json=body)


class EmqxModel:
    """EMQX 5's built-in authentication and authorization database as its REST API answers
    (status codes and bodies as in its source: emqx_authn_api, emqx_authz_api_mnesia,
    emqx_mgmt_api_clients; rules come back with their defaults). Not EMQX: a model of its
    answers, at the seam Emqx takes (an httpx client), for the order of tickwire's calls."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}
        self.rules: dict[str, list[dict[str, Any]]] = {}
        self.kicked: list[str] = []
        self.cache_cleared: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != f"Basic {b64encode(b'key:secret').decode()}":
            return answer(401, {"code": "BAD_API_KEY_OR_SECRET"})
        path = request.url.raw_path.decode().split("?")[0]
        body: Any = json.loads(request.content) if request.content else {}
        for prefix, handler in (
            (USERS, self._users),
            (RULES, self._rules),
            (CLIENTS, self._clients),
        ):
            if path.startswith(prefix):
                return handler(request.method, unquote(path[len(prefix) :].lstrip("/")), body)
        return answer(404, {"code": "NOT_FOUND"})

    def _users(self, method: str, name: str, body: Any) -> httpx.Response:
        if method == "POST" and not name:
            if body["user_id"] in self.passwords:
                return answer(409, {"code": "ALREADY_EXISTS"})
            self.passwords[body["user_id"]] = body["password"]
            return answer(201, {"user_id": body["user_id"], "is_superuser": False})
        if name not in self.passwords:
            return answer(404, {"code": "NOT_FOUND"})
        if method == "PUT":
            self.passwords[name] = body["password"]
        elif method == "DELETE":
            del self.passwords[name]
            return answer(204)
        return answer(200, {"user_id": name, "is_superuser": False})

    def _rules(self, method: str, name: str, body: Any) -> httpx.Response:
        if method == "POST" and not name:
            for entry in body:
                self.rules[entry["username"]] = self.stored(entry["rules"])
            return answer(204)
        if method == "PUT":
            self.rules[name] = self.stored(body["rules"])
            return answer(204)
        if name not in self.rules:
            return answer(404, {"code": "NOT_FOUND"})
        if method == "DELETE":
            del self.rules[name]
            return answer(204)
        return answer(200, {"username": name, "rules": self.rules[name]})

    def _clients(self, method: str, rest: str, _body: Any) -> httpx.Response:
        assert method == "DELETE"
        if rest.endswith("/authorization/cache"):
            self.cache_cleared.append(rest.removesuffix("/authorization/cache"))
        else:
            self.kicked.append(rest)
        return answer(404, {"code": "CLIENTID_NOT_FOUND"})  # none is connected here

    @staticmethod
    def stored(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"qos": [0, 1, 2], "retain": "all", **rule} for rule in rules]

    def admin(self) -> tuple[httpx.AsyncClient, emqx.Emqx]:
        transport = httpx.MockTransport(self.handle)
        client = httpx.AsyncClient(
            base_url="http://emqx:18083", auth=("key", "secret"), transport=transport
        )
        return client, emqx.Emqx(client)


async def test_emqx_admin_issues_rotates_follows_and_removes_a_device_account() -> None:
    from tickwire.brokerauth import NotADevice

    model = EmqxModel()
    client, admin = model.admin()
    async with client:
        await admin.setup_services("ingest-password-1", "api-password-12")
        assert model.rules[INGEST_ACCOUNT] == EmqxModel.stored(emqx_rules(INGEST_ACLS))
        assert model.passwords[API_ACCOUNT] == "api-password-12"

        issued = await admin.issue_device("dev:1", ["AAPL"])
        assert model.passwords["dev:1"] == issued.password and issued.username == "dev:1"
        assert model.rules["dev:1"] == EmqxModel.stored(emqx_rules(device_acls("dev:1", ["AAPL"])))
        # Rotation: a new password, the device's connection dropped.
        rotated = await admin.issue_device("dev:1", ["AAPL"])
        assert rotated.password != issued.password
        assert model.passwords["dev:1"] == rotated.password
        assert model.kicked.count("dev:1") == 2
        # Tickers: the rules follow, the connection's cached decisions go.
        assert await admin.set_device_tickers("dev:1", ["MSFT"])
        topics = {rule["topic"] for rule in model.rules["dev:1"]}
        assert "devices/dev:1/stocks/MSFT" in topics and "devices/dev:1/stocks/AAPL" not in topics
        assert model.cache_cleared == ["dev:1"]
        assert not await admin.set_device_tickers("dev-unknown", ["MSFT"])
        # A service's account is not a device's: never re-passworded or deleted as one.
        with pytest.raises(NotADevice):
            await admin.issue_device(INGEST_ACCOUNT, [])
        await admin.remove_device(API_ACCOUNT)
        assert model.passwords[API_ACCOUNT] == "api-password-12"
        await admin.remove_device("dev:1")
        assert "dev:1" not in model.passwords and "dev:1" not in model.rules
        await admin.remove_device("dev:1")  # absent is fine


async def test_emqx_admin_with_a_wrong_key_is_refused_not_unavailable() -> None:
    from tickwire.brokerauth import CommandFailed

    model = EmqxModel()
    transport = httpx.MockTransport(model.handle)
    async with httpx.AsyncClient(
        base_url="http://emqx:18083", auth=("key", "wrong"), transport=transport
    ) as client:
        with pytest.raises(CommandFailed, match="401"):
            await emqx.Emqx(client).issue_device("dev-1", [])


# --- The EMQX admin client against a closed port ------------------------------------------------


async def test_emqx_admin_reports_an_unreachable_api_as_broker_unavailable() -> None:
    url = f"http://tickwire:secret@127.0.0.1:{free_port()}"
    async with emqx.connected(url, timeout=2) as admin:
        with pytest.raises(BrokerUnavailable):
            await admin.issue_device("dev-1", ["AAPL"])
        with pytest.raises(BrokerUnavailable):
            await admin.remove_device("dev-1")


@pytest.mark.parametrize("url", ["http://", "ftp://k:s@host:1", "emqx:18083"])
async def test_emqx_admin_refuses_an_address_that_is_not_a_rest_api(url: str) -> None:
    with pytest.raises(ValueError):
        async with emqx.connected(url):
            pass


async def test_the_api_with_an_emqx_admin_url_refuses_a_device_it_cannot_give_an_account(
    database_url: str, broker: Any, tmp_path: Path
) -> None:
    """An http:// admin URL makes the API manage accounts in EMQX: with EMQX unreachable,
    creating a device answers 503 broker_unavailable and leaves no device behind."""
    from tests.api_support import running_api
    from tests.support import unique

    admin_url = f"http://tickwire:secret@127.0.0.1:{free_port()}"
    async with running_api(
        database_url, broker.url, tmp_path / "api", mqtt_admin_url=admin_url
    ) as api:
        device_id = unique("dev")
        async with api.client(api.admin) as client:
            created = await client.post("/api/devices", json={"device_id": device_id})
            assert created.status_code == 503, created.text
            assert created.json()["error"]["code"] == "broker_unavailable"
            assert (await client.get(f"/api/devices/{device_id}")).status_code == 404
            shown = (await client.get("/api/broker")).json()
            assert shown["credentials"] is True


def test_setup_against_an_unreachable_emqx_fails_with_a_message(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "TICKWIRE_MQTT_ADMIN_URL": f"http://tickwire:secret@127.0.0.1:{free_port()}",
        "TICKWIRE_MQTT_INGEST_PASSWORD": "ingest-password-long",
        "TICKWIRE_MQTT_API_PASSWORD": "api-password-long-1",
        "TICKWIRE_SETUP_WAIT_S": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tickwire.brokerauth", "setup"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "broker setup failed" in done.stderr

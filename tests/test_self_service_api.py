"""What the self-service pages read: where devices connect (`GET /api/broker`), the accounts
list for admins (`GET /api/admin/users`), and sign-up bodies at their worst."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from dashboard.devices import credentials
from tests.api_support import Account, Api, expect, running_api
from tests.support import unique


async def create_device(api: Api, owner: Account, device_id: str) -> None:
    async with api.client(owner) as client:
        created = expect(await client.post("/api/devices", json={"device_id": device_id}), 201)
    assert created["credentials"] is None  # no credential management on this broker


async def test_the_broker_devices_use_is_the_apis_without_its_login(api: Api) -> None:
    user = await api.register("devices")
    async with api.client(user) as client:
        shown = expect(await client.get("/api/broker"), 200)
    own = api.settings.mqtt_address()
    assert shown["url"] == f"mqtt://{own.host}:{own.port}"
    assert (shown["host"], shown["port"], shown["tls"]) == (own.host, own.port, False)
    assert shown["ca_file"] is None and shown["credentials"] is False
    async with api.client() as client:
        expect(await client.get("/api/broker"), 401, "unauthorized")
        expect(
            await client.get("/api/broker?url=x", headers=user.headers), 422, "unknown_parameter"
        )


async def test_a_device_broker_url_and_ca_are_shown_as_set(
    database_url: str, api: Api, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.crt"
    async with (
        running_api(
            database_url,
            api.settings.resolved_mqtt_url(),
            tmp_path / "other",
            device_mqtt_url="mqtts://broker.example.com",
            device_ca_file=ca,
        ) as other,
        other.client(other.admin) as client,
    ):
        shown = expect(await client.get("/api/broker"), 200)
    assert shown["url"] == "mqtts://broker.example.com:8883"
    assert (shown["host"], shown["port"], shown["tls"]) == ("broker.example.com", 8883, True)
    assert shown["ca_file"] == str(ca)


@pytest.mark.parametrize(
    "url",
    ["mqtt://device:secret@broker:1883", "mqtts://user@broker", "http://broker", "broker:1883"],
)
def test_a_device_broker_url_with_a_login_or_no_mqtt_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        ApiSettings(device_mqtt_url=url)
    assert ApiSettings(device_mqtt_url="").device_mqtt_url is None


async def test_admins_list_accounts_by_email_and_others_are_refused(api: Api) -> None:
    owner = await api.register("lister")
    await create_device(api, owner, unique("owned"))
    async with api.client(api.admin) as client:
        page = expect(await client.get("/api/admin/users", params={"limit": 1000}), 200)
        emails = [item["email"] for item in page["items"]]
        assert emails == sorted(emails, key=str.lower) and page["total"] >= 2
        mine = next(item for item in page["items"] if item["email"] == owner.email)
        assert mine["id"] == owner.id and mine["devices"] == 1
        assert mine["is_active"] and not mine["is_superuser"]
        # A part of the address, any case.
        found = expect(
            await client.get("/api/admin/users", params={"email": owner.email.upper()}), 200
        )
        assert [item["email"] for item in found["items"]] == [owner.email]
        # Worst values.
        for params, code in (
            ({"email": "\x00"}, "validation_error"),
            ({"email": "x" * 321}, "validation_error"),
            ({"limit": 0}, "validation_error"),
            ({"limit": 10**9}, "validation_error"),
            ({"offset": -1}, "validation_error"),
            ({"role": "admin"}, "unknown_parameter"),
        ):
            expect(await client.get("/api/admin/users", params=params), 422, code)
        nothing = expect(await client.get("/api/admin/users", params={"email": "%_'\""}), 200)
        assert nothing["items"] == []
    async with api.client(owner) as client:
        expect(await client.get("/api/admin/users"), 403, "forbidden")


async def test_sign_up_bodies_at_their_worst_are_4xx_with_stable_codes(api: Api) -> None:
    taken = await api.register("taken")
    cases: list[tuple[object, int, str]] = [
        ({"email": taken.email, "password": "long enough"}, 400, "register_user_already_exists"),
        (
            {"email": taken.email.upper(), "password": "long enough"},
            400,
            "register_user_already_exists",
        ),
        ({"email": "new@example.com", "password": "short"}, 400, "register_invalid_password"),
        ({"email": "not-an-email", "password": "long enough"}, 422, "validation_error"),
        ({"email": "a\x00b@example.com", "password": "long enough"}, 422, "validation_error"),
        ({"email": None, "password": "long enough"}, 422, "validation_error"),
        ({"email": "n@example.com", "password": None}, 422, "validation_error"),
        ({"email": "n@example.com"}, 422, "validation_error"),
        (
            {"email": "n@example.com", "password": "long enough", "extra": 1},
            422,
            "validation_error",
        ),
        ([], 422, "validation_error"),
        ("just a string", 422, "validation_error"),
    ]
    async with api.client() as client:
        for body, status, code in cases:
            expect(await client.post("/auth/register", json=body), status, code)
        expect(
            await client.post(
                "/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
            ),
            422,
        )
        expect(await client.post("/auth/register", content=b"x" * (2 << 20)), 413, "too_large")


async def test_another_users_device_and_its_credentials_look_missing(api: Api) -> None:
    owner, other = await api.register("owner"), await api.register("other")
    device_id = unique("private")
    await create_device(api, owner, device_id)
    async with api.client(other) as client:
        for method, path in (
            ("GET", f"/api/devices/{device_id}"),
            ("POST", f"/api/devices/{device_id}/credentials"),
            ("PATCH", f"/api/devices/{device_id}"),
            ("DELETE", f"/api/devices/{device_id}"),
        ):
            body = {"name": "mine now"} if method == "PATCH" else None
            expect(await client.request(method, path, json=body), 404, "device_not_found")
    async with api.client(owner) as client:
        # Credentials off on this broker: the owner is told so, nothing else is.
        expect(
            await client.post(f"/api/devices/{device_id}/credentials"), 409, "credentials_disabled"
        )


@pytest.mark.parametrize(
    "password", ["plain", 'it\'s $(touch /tmp/pwned) `x` "q" ; | & \\ *', "-P --help"]
)
def test_the_mosquitto_pub_line_carries_any_password_as_one_word(password: str) -> None:
    broker = {"host": "127.0.0.1", "port": 8883, "tls": True, "ca_file": "/data dir/ca.crt"}
    words = shlex.split(credentials.mosquitto_pub("dev-1", password, broker))
    assert words[words.index("-P") + 1] == password
    assert words[words.index("--cafile") + 1] == "/data dir/ca.crt"
    assert words[words.index("-m") + 1] == credentials.SAMPLE
    anonymous = shlex.split(credentials.mosquitto_pub("dev-1", None, {**broker, "tls": False}))
    assert "-P" not in anonymous and "-u" not in anonymous and "--cafile" not in anonymous

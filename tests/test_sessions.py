"""Sessions: logout revokes the token on every API process, failed logins and registrations
are throttled (time injected, never slept), the login cookie's flags follow the settings."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from devstack.broker import Mosquitto
from tests.api_support import Api, expect, running_api
from tests.process_support import api_process

LOGIN = "/auth/jwt/login"


@dataclass
class Clock:
    """The time the API's throttles read: moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(LOGIN, data={"username": username, "password": password})


def _sync_register(client: httpx.Client) -> tuple[str, str]:
    email, password = f"u-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    created = client.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    return email, password


def _sync_token(client: httpx.Client, email: str, password: str) -> str:
    response = client.post(LOGIN, data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_logout_revokes_the_token_on_every_api_process(database_url: str, tmp_path: Path) -> None:
    """Two `python -m api` processes on one database, as two replicas behind a balancer."""
    secret = secrets.token_urlsafe(40)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with (
        api_process(database_url, tmp_path / "a", secret=secret) as (a, _, _),
        api_process(database_url, tmp_path / "b", secret=secret) as (b, _, _),
        httpx.Client(base_url=a, timeout=30) as on_a,
        httpx.Client(base_url=b, timeout=30) as on_b,
    ):
        email, password = _sync_register(on_a)
        token, other = _sync_token(on_a, email, password), _sync_token(on_b, email, password)
        bearer = {"Authorization": f"Bearer {token}"}
        for client in (on_a, on_b):
            assert client.get("/users/me", headers=bearer).status_code == 200
        assert on_a.post("/auth/jwt/logout", headers=bearer).status_code == 204
        for client in (on_a, on_b):
            for path in ("/users/me", "/api/devices"):
                response = client.get(path, headers=bearer)
                assert response.status_code == 401, (client.base_url, path, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
            # Only that token: the user's other login still works, on both.
            assert client.get("/users/me", headers={"Authorization": f"Bearer {other}"}).is_success
        # Logging out twice: the token is no longer a login.
        assert on_b.post("/auth/jwt/logout", headers=bearer).status_code == 401


async def test_cookie_logout_revokes_the_cookie_even_if_the_client_keeps_it(api: Api) -> None:
    async with api.client() as client:
        login = {"username": api.admin.email, "password": api.admin.password}
        assert (await client.post("/auth/cookie/login", data=login)).status_code == 204
        kept = client.cookies["tickwire_auth"]
        assert (await client.get("/users/me")).status_code == 200
        assert (await client.post("/auth/cookie/logout")).status_code == 204
    async with api.client(cookies={"tickwire_auth": kept}) as replay:
        expect(await replay.get("/users/me"), 401, "unauthorized")
        # The live stream resolves its user its own way: the same refusal.
        expect(await replay.get("/api/stream"), 401, "unauthorized")


async def test_a_password_change_ends_every_login_made_before_it(api: Api) -> None:
    user = await api.register("rotating")
    async with api.client() as client:
        other = (await _login(client, user.email, user.password)).json()["access_token"]
    async with api.client(user) as client:
        expect(await client.patch("/users/me", json={"password": "the new password"}), 200)
        expect(await client.get("/users/me"), 401, "unauthorized")
    async with api.client() as client:
        bearer = {"Authorization": f"Bearer {other}"}
        expect(await client.get("/api/devices", headers=bearer), 401, "unauthorized")
    async with api.client() as client:
        expect(await _login(client, user.email, user.password), 400, "login_bad_credentials")
        token = expect(await _login(client, user.email, "the new password"), 200)["access_token"]
        expect(await client.get("/users/me", headers={"Authorization": f"Bearer {token}"}), 200)
    # An email change is no password change: logins stay.
    async with api.client() as client:
        bearer = {"Authorization": f"Bearer {token}"}
        renamed = {"email": f"new-{user.email}"}
        expect(await client.patch("/users/me", json=renamed, headers=bearer), 200)
        expect(await client.get("/users/me", headers=bearer), 200)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def timed_api(
    database_url: str, broker: Mosquitto, tmp_path: Path, clock: Clock
) -> AsyncIterator[Api]:
    async with running_api(database_url, broker.url, tmp_path / "api", clock) as running:
        yield running


async def test_the_11th_failure_is_a_429_even_with_the_right_password_until_the_window_passes(
    timed_api: Api, clock: Clock
) -> None:
    api = timed_api
    user, bystander = await api.register("target"), await api.register("bystander")
    async with api.client() as client:
        for _ in range(10):
            expect(await _login(client, user.email, "wrong password"), 400, "login_bad_credentials")
        clock.advance(60)
        for password in ("wrong password", user.password):
            response = await _login(client, user.email, password)
            expect(response, 429, "too_many_attempts")
            assert response.headers["Retry-After"] == str(15 * 60 - 60)
        # Per account: the same address logs another account in.
        expect(await _login(client, bystander.email, bystander.password), 200)
        # The same account spelled otherwise is the same account.
        expect(await _login(client, user.email.upper(), user.password), 429, "too_many_attempts")
        clock.advance(15 * 60 - 61)
        response = await _login(client, user.email, user.password)
        expect(response, 429, "too_many_attempts")
        assert response.headers["Retry-After"] == "1"
        clock.advance(1)
        expect(await _login(client, user.email, user.password), 200)


async def test_a_moving_window_frees_one_attempt_per_failure_that_leaves_it(
    timed_api: Api, clock: Clock
) -> None:
    api = timed_api
    user = await api.register("window")
    async with api.client() as client:
        for _ in range(10):  # one a minute: the first leaves the window at 15 min
            expect(await _login(client, user.email, "wrong password"), 400)
            clock.advance(60)
        response = await _login(client, user.email, user.password)
        assert response.headers["Retry-After"] == str(5 * 60)
        clock.advance(5 * 60)
        expect(await _login(client, user.email, "wrong again"), 400)  # the one freed slot
        response = await _login(client, user.email, user.password)
        expect(response, 429, "too_many_attempts")
        assert response.headers["Retry-After"] == "60"
        # A success is not a failure: it does not fill the window.
        clock.advance(60)
        for _ in range(3):
            expect(await _login(client, user.email, user.password), 200)


async def test_concurrent_guesses_never_slip_past_the_limit(timed_api: Api) -> None:
    api = timed_api
    user = await api.register("racer")
    async with api.client() as client:
        responses = await asyncio.gather(
            *(_login(client, user.email, f"guess {n}") for n in range(20))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [400] * 10 + [429] * 10


async def test_names_that_are_no_account_are_throttled_alike(timed_api: Api, clock: Clock) -> None:
    """A 429 does not tell which names exist; the worst names are refused cleanly."""
    api = timed_api
    async with api.client() as client:
        for name in ("nobody@example.com", "x" * 100_000, "", " "):
            for _ in range(10):
                response = await _login(client, name, "wrong password")
                assert response.status_code in (400, 422), response.text
            if response.status_code == 400:
                expect(await _login(client, name, "wrong password"), 429, "too_many_attempts")
        expect(await _login(client, "a\x00b", "x"), 422, "validation_error")
        clock.advance(15 * 60)
        expect(await _login(client, "nobody@example.com", "x"), 400, "login_bad_credentials")


async def test_one_address_failing_on_many_names_is_stopped_at_100(
    timed_api: Api, clock: Clock
) -> None:
    api = timed_api
    names = [f"spray-{n}@example.com" for n in range(100)]
    async with api.client() as client:
        for start in range(0, 100, 10):
            batch = names[start : start + 10]
            statuses = await asyncio.gather(*(_login(client, n, "wrong") for n in batch))
            assert [r.status_code for r in statuses] == [400] * 10
        response = await _login(client, "spray-new@example.com", "wrong")
        expect(response, 429, "too_many_attempts")
        assert int(response.headers["Retry-After"]) > 0
        clock.advance(15 * 60)
        expect(await _login(client, "spray-new@example.com", "wrong"), 400)


async def test_registrations_are_throttled_per_address(
    database_url: str, broker: Mosquitto, tmp_path: Path, clock: Clock
) -> None:
    async with running_api(
        database_url, broker.url, tmp_path / "api", clock, register_limit=3
    ) as api:
        for _ in range(3):
            await api.register("early")
        async with api.client() as client:
            body = {"email": "late@example.com", "password": "long enough"}
            response = await client.post("/auth/register", json=body)
            expect(response, 429, "too_many_attempts")
            assert response.headers["Retry-After"] == "3600"
            clock.advance(3600)
            expect(await client.post("/auth/register", json=body), 201)


async def test_lockouts_are_visible_to_admins_who_may_clear_them(
    timed_api: Api, clock: Clock
) -> None:
    api = timed_api
    user = await api.register("locked")
    async with api.client() as client:
        for _ in range(10):
            await _login(client, user.email, "wrong password")
    async with api.client(api.admin) as admin, api.client(user) as plain:
        [lockout] = expect(await admin.get("/api/admin/lockouts"), 200)
        assert lockout["user_id"] == user.id and lockout["email"] == user.email
        assert lockout["failures"] == 10
        until = datetime.fromisoformat(lockout["locked_until"])
        assert until == clock.now + timedelta(minutes=15)
        expect(await plain.get("/api/admin/lockouts"), 403)
        expect(await plain.delete(f"/api/admin/lockouts/{user.id}"), 403)
        clock.advance(15 * 60)  # clears itself
        assert expect(await admin.get("/api/admin/lockouts"), 200) == []
        clock.advance(-15 * 60)
        assert len(expect(await admin.get("/api/admin/lockouts"), 200)) == 1
        expect(await admin.delete(f"/api/admin/lockouts/{user.id}"), 204)
        assert expect(await admin.get("/api/admin/lockouts"), 200) == []
        expect(await admin.delete(f"/api/admin/lockouts/{user.id}"), 404, "lockout_not_found")
        expect(await admin.delete("/api/admin/lockouts/not-a-uuid"), 422)
    async with api.client() as client:
        expect(await _login(client, user.email, user.password), 200)


def _cookie_flags(header: str) -> dict[str, str]:
    name_value, *attributes = (part.strip() for part in header.split(";"))
    flags = {"name": name_value.split("=", 1)[0]}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        flags[key.lower()] = value
    return flags


async def _cookie_headers(api: Api) -> tuple[dict[str, str], dict[str, str]]:
    """The login's and the logout's Set-Cookie, parsed."""
    async with api.client() as client:
        login = {"username": api.admin.email, "password": api.admin.password}
        logged_in = await client.post("/auth/cookie/login", data=login)
        # Sent by hand: a client keeps a `Secure` cookie from plain HTTP.
        cookie = {"Cookie": f"tickwire_auth={logged_in.cookies['tickwire_auth']}"}
        client.cookies.clear()
        logged_out = await client.post("/auth/cookie/logout", headers=cookie)
    assert logged_in.status_code == 204 and logged_out.status_code == 204
    return (
        _cookie_flags(logged_in.headers["set-cookie"]),
        _cookie_flags(logged_out.headers["set-cookie"]),
    )


async def test_the_login_cookie_is_httponly_lax_and_not_secure_by_default(api: Api) -> None:
    login, logout = await _cookie_headers(api)
    assert login["name"] == "tickwire_auth"
    assert "httponly" in login and login["samesite"] == "lax" and "secure" not in login
    assert login["max-age"] == str(24 * 3600)
    assert "httponly" in logout and logout["samesite"] == "lax" and "secure" not in logout


async def test_the_login_cookie_flags_follow_the_settings(
    database_url: str, broker: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWIRE_COOKIE_SECURE", "true")  # as documented: the environment
    monkeypatch.setenv("TICKWIRE_COOKIE_SAMESITE", "strict")
    async with running_api(database_url, broker.url, tmp_path / "api") as api:
        login, logout = await _cookie_headers(api)
    for header in (login, logout):
        assert "secure" in header and header["samesite"] == "strict" and "httponly" in header


def test_cookie_settings_that_browsers_would_drop_are_refused() -> None:
    with pytest.raises(ValidationError, match="SAMESITE=none needs"):
        ApiSettings(cookie_samesite="none", cookie_secure=False)
    with pytest.raises(ValidationError):
        ApiSettings(cookie_samesite="sometimes")  # type: ignore[arg-type]
    for limit in (99, 1, -1):  # DESIGN.md: never below 100
        with pytest.raises(ValidationError):
            ApiSettings(login_address_limit=limit)
    assert ApiSettings(login_address_limit=0).login_address_limit == 0  # none
    assert ApiSettings(cookie_samesite="none", cookie_secure=True).cookie_samesite == "none"

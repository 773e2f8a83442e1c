"""Accounts: register, login (bearer and cookie), /users/me, errors in the one JSON shape."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import jwt

from tests.api_support import Account, Api


async def test_register_login_and_me(api: Api) -> None:
    user = await api.register("alice")
    async with api.client(user) as client:
        me = (await client.get("/users/me")).json()
        assert me["email"] == user.email and me["is_superuser"] is False
    async with api.client(api.admin) as client:
        assert (await client.get("/users/me")).json()["is_superuser"] is True


async def test_register_cannot_make_itself_admin(api: Api) -> None:
    async with api.client() as client:
        created = await client.post(
            "/auth/register",
            json={"email": "sneaky@example.com", "password": "long enough", "is_superuser": True},
        )
        assert created.status_code == 201 and created.json()["is_superuser"] is False


async def test_cookie_login_authenticates_the_same_routes(api: Api) -> None:
    async with api.client() as client:
        response = await client.post(
            "/auth/cookie/login",
            data={"username": api.admin.email, "password": api.admin.password},
        )
        assert response.status_code == 204
        assert "tickwire_auth" in client.cookies
        assert (await client.get("/users/me")).json()["email"] == api.admin.email


async def test_errors_have_one_shape_with_stable_codes(api: Api) -> None:
    async with api.client() as client:
        cases: list[tuple[httpx.Response, int, str]] = [
            (await client.get("/users/me"), 401, "unauthorized"),
            (
                await client.post(
                    "/auth/jwt/login", data={"username": "x@example.com", "password": "nope"}
                ),
                400,
                "login_bad_credentials",
            ),
            (
                await client.post("/auth/register", json={"email": "not-an-email"}),
                422,
                "validation_error",
            ),
            (
                await client.post(
                    "/auth/register", json={"email": api.admin.email, "password": "whatever1"}
                ),
                400,
                "register_user_already_exists",
            ),
            (
                await client.post(
                    "/auth/register", json={"email": "a@example.com", "password": "short"}
                ),
                400,
                "register_invalid_password",
            ),
            (await client.get("/api/no/such/route"), 404, "not_found"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, response.text
            body = response.json()
            assert body["error"]["code"] == code, body
            assert isinstance(body["error"]["message"], str)


async def test_oversized_bodies_get_413_in_the_error_shape(api: Api) -> None:
    user = await api.register("big")
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    async with api.client(user) as client:
        declared = await client.post(
            "/api/devices", content=body, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        streamed = await client.post(
            "/api/devices", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "too_large"


async def test_a_nul_in_the_login_username_is_a_422_on_both_login_routes(api: Api) -> None:
    for route, happy in (("/auth/jwt/login", 200), ("/auth/cookie/login", 204)):
        async with api.client() as client:
            ok = {"username": api.admin.email, "password": api.admin.password}
            assert (await client.post(route, data=ok)).status_code == happy
            for username in ("a\x00b", api.admin.email + "\x00", "\x00"):
                bad = {"username": username, "password": api.admin.password}
                response = await client.post(route, data=bad)
                assert response.status_code == 422, (route, response.text)
                error = response.json()["error"]
                assert error["code"] == "validation_error"
                assert error["details"][0]["loc"] == ["body", "username"]


async def test_null_in_an_account_patch_is_a_422(api: Api) -> None:
    user = await api.register("nulls")
    async with api.client(user) as client:
        renamed = f"renamed-{user.email}"
        changed = await client.patch("/users/me", json={"email": renamed})
        assert changed.status_code == 200 and changed.json()["email"] == renamed
        for field in ("email", "password", "is_active", "is_superuser", "is_verified"):
            response = await client.patch("/users/me", json={field: None})
            assert response.status_code == 422, (field, response.text)
            assert response.json()["error"]["details"][0]["loc"] == ["body", field]
    async with api.client(api.admin) as client:
        changed = await client.patch(f"/users/{user.id}", json={"is_verified": True})
        assert changed.status_code == 200 and changed.json()["is_verified"] is True
        for field in ("email", "password", "is_active", "is_superuser", "is_verified"):
            response = await client.patch(f"/users/{user.id}", json={field: None})
            assert response.status_code == 422, (field, response.text)
            assert response.json()["error"]["code"] == "validation_error"
        account = (await client.get(f"/users/{user.id}")).json()
        assert account["email"] == renamed and account["is_active"] is True


def _token(api: Api, claims: dict[str, object]) -> str:
    assert api.settings.secret is not None
    return jwt.encode(claims, api.settings.secret, algorithm="HS256")


async def test_a_token_needs_an_expiry_an_audience_a_subject_an_id_and_its_time(api: Api) -> None:
    soon = int(time.time()) + 600
    good = {
        "sub": api.admin.id,
        "aud": ["fastapi-users:auth"],
        "exp": soon,
        "jti": str(uuid4()),
        "iat": time.time(),
    }
    refused: list[dict[str, object]] = [
        {k: v for k, v in good.items() if k != "exp"},
        {k: v for k, v in good.items() if k != "aud"},
        {k: v for k, v in good.items() if k != "sub"},
        {k: v for k, v in good.items() if k != "jti"},  # could not be revoked
        {k: v for k, v in good.items() if k != "iat"},  # could outlive a password change
        {**good, "iat": "yesterday"},
        {**good, "iat": 1e300},
        {**good, "aud": ["someone-else"]},
        {**good, "exp": int(time.time()) - 600},
        {**good, "exp": "tomorrow"},
        {**good, "sub": "not-a-uuid"},
        {**good, "jti": "not-a-uuid"},
        {**good, "jti": 12},
    ]
    async with api.client() as client:
        headers = {"Authorization": f"Bearer {_token(api, good)}"}
        assert (await client.get("/users/me", headers=headers)).status_code == 200
    async with api.client(cookies={"tickwire_auth": _token(api, good)}) as cookie_client:
        assert (await cookie_client.get("/api/devices")).status_code == 200
    async with api.client() as client:
        for claims in refused:
            headers = {"Authorization": f"Bearer {_token(api, claims)}"}
            response = await client.get("/users/me", headers=headers)
            assert response.status_code == 401, (claims, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            cookies = {"tickwire_auth": _token(api, claims)}
            async with api.client(cookies=cookies) as cookie_client:
                response = await cookie_client.get("/api/devices")
            assert response.status_code == 401, (claims, response.text)


async def test_one_address_registered_or_claimed_at_once_is_a_400(api: Api) -> None:
    email = "twice@example.com"
    async with api.client() as client:
        body = {"email": email, "password": "long enough"}
        responses = await asyncio.gather(
            *(client.post("/auth/register", json=body) for _ in range(4))
        )
        assert sorted(r.status_code for r in responses) == [201, 400, 400, 400]
        for response in responses:
            if response.status_code == 400:
                assert response.json()["error"]["code"] == "register_user_already_exists"
    users = [await api.register(f"claim{n}") for n in range(4)]
    wanted = "claimed@example.com"

    async def claim(user: Account) -> httpx.Response:
        async with api.client(user) as client:
            return await client.patch("/users/me", json={"email": wanted})

    responses = await asyncio.gather(*(claim(user) for user in users))
    assert sorted(r.status_code for r in responses) == [200, 400, 400, 400]
    for response in responses:
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "update_user_email_already_exists"

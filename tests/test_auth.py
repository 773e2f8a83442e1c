"""Accounts: register, login (bearer and cookie), /users/me, errors in the one JSON shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.api_support import Api


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

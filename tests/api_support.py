"""Helpers for API tests: a real uvicorn server, accounts and authenticated clients."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.admin import ensure_admin
from api.main import create_app, server_config
from api.settings import ApiSettings
from api.stream.server import Server
from api.throttle import Clock, wall_clock
from devstack.ports import free_port


@dataclass
class Account:
    email: str
    password: str
    token: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Api:
    url: str
    settings: ApiSettings
    admin: Account

    def client(self, account: Account | None = None, **kwargs: object) -> httpx.AsyncClient:
        headers = account.headers if account else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    async def register(self, name: str = "user") -> Account:
        return await register(self.url, name)


async def register(url: str, name: str = "user") -> Account:
    """A new account on the API at `url`, logged in."""
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        created = await client.post("/auth/register", json={"email": email, "password": password})
        assert created.status_code == 201, created.text
        return await login(client, email, password, created.json()["id"])


async def login(client: httpx.AsyncClient, email: str, password: str, user_id: str) -> Account:
    response = await client.post("/auth/jwt/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return Account(email, password, response.json()["access_token"], user_id)


@contextlib.asynccontextmanager
async def running_api(
    database_url: str,
    mqtt_url: str,
    data_dir: Path,
    clock: Clock = wall_clock,
    **overrides: object,
) -> AsyncIterator[Api]:
    """The API on uvicorn (127.0.0.1, a free port) with an admin; `overrides`: ApiSettings;
    `clock`: the time its throttles read."""
    port = free_port()
    values: dict[str, object] = {
        "database_url": database_url,
        "mqtt_url": mqtt_url,
        "http_port": port,
        "data_dir": data_dir,
        "secret": secrets.token_urlsafe(40),
        "admin_password": secrets.token_urlsafe(12),
    }
    settings = ApiSettings(**(values | overrides))  # type: ignore[arg-type]
    await ensure_admin(settings)
    app = create_app(settings, clock)
    # As `python -m api` runs it: open streams (a browser test's page) end at shutdown.
    server = Server(server_config(app, settings), app.state.hub)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            me = await client.post(
                "/auth/jwt/login",
                data={"username": settings.admin_email, "password": settings.admin_password},
            )
            token = me.json()["access_token"]
            user = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert settings.admin_password is not None
        admin = Account(settings.admin_email, settings.admin_password, token, user.json()["id"])
        yield Api(url, settings, admin)
    finally:
        server.should_exit = True
        await task


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A Prometheus text exposition (`/metrics`) as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def expect(response: httpx.Response, status: int, code: str | None = None) -> Any:
    """The body of `response`, which must have `status` (and error `code`)."""
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code, response.text
    return response.json() if response.content else None

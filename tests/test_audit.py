"""The audit log: failed logins and lockouts of accounts, logouts, password and account
changes, deletions, device credentials and device deletes, read by admins; nothing secret in
it (a name that matched no account may be a mistyped password: never written)."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.api_support import Account, Api, expect, login
from tests.credentials_support import create_device


async def entries(api: Api, **params: str | int) -> list[dict[str, Any]]:
    async with api.client(api.admin) as client:
        page = expect(await client.get("/api/admin/audit", params=params), 200)
    items: list[dict[str, Any]] = page["items"]
    return items


async def everything(db: asyncpg.Connection) -> str:
    """The whole table as text, to look for what must never be in it."""
    rows = await db.fetch("SELECT * FROM audit_log")
    return "\n".join(str(dict(row)) for row in rows)


async def test_failed_logins_and_the_lockout_of_an_account_are_audited_without_secrets(
    api: Api, db: asyncpg.Connection
) -> None:
    user = await api.register("target")
    typed = "Tr0ub4dor&3-almost"
    nobody = "my-real-password-typed-as-a-name"
    async with api.client() as client:
        for _ in range(10):
            await client.post("/auth/jwt/login", data={"username": user.email, "password": typed})
        locked = await client.post(
            "/auth/jwt/login", data={"username": user.email, "password": user.password}
        )
        assert locked.status_code == 429
        for _ in range(3):
            await client.post("/auth/jwt/login", data={"username": nobody, "password": typed})
    failures = await entries(api, action="login_failed")
    assert len(failures) == 10
    assert {(e["subject"], e["address"], e["actor"]) for e in failures} == {
        (user.email, "127.0.0.1", None)
    }
    [lockout] = await entries(api, action="account_locked")
    assert lockout["subject"] == user.email
    assert lockout["details"] == {"failures": 10, "window_s": 900}
    stored = await everything(db)
    for secret in (typed, user.password, nobody, user.token):
        assert secret not in stored


async def test_account_changes_logouts_and_deletions_are_audited_with_their_actor(
    api: Api, db: asyncpg.Connection
) -> None:
    user = await api.register("changing")
    new_password = "a brand new password"
    async with api.client(user) as client:
        expect(await client.post("/api/devices", json={"device_id": "audited-1"}), 201)
        expect(await client.delete("/api/devices/audited-1"), 204)
        expect(await client.patch("/users/me", json={"password": new_password}), 200)
    async with api.client() as client:
        again = await login(client, user.email, new_password, user.id)
        expect(await client.post("/auth/jwt/logout", headers=again.headers), 204)
    async with api.client(api.admin) as client:
        expect(await client.patch(f"/users/{user.id}", json={"is_active": False}), 200)
        expect(await client.delete(f"/users/{user.id}"), 204)
    made = [(e["action"], e["actor"], e["subject"]) for e in reversed(await entries(api))]
    assert made == [
        ("device_deleted", user.email, "audited-1"),
        ("password_changed", user.email, user.email),
        ("logout", user.email, user.email),
        ("account_changed", api.admin.email, user.email),
        ("account_deleted", api.admin.email, user.email),
    ]
    [changed] = await entries(api, action="account_changed")
    assert changed["details"] == {"fields": ["is_active"], "is_active": False}
    assert changed["actor_id"] == api.admin.id
    # The deleted user's entries stay, their actor's email with them.
    assert [e["actor_id"] for e in await entries(api, action="logout")] == [None]
    stored = await everything(db)
    assert new_password not in stored and user.password not in stored


async def test_admins_changes_of_market_data_are_audited(api: Api) -> None:
    async with api.client(api.admin) as client:
        expect(await client.post("/api/stocks", json={"ticker": "AUDT", "name": "Audit"}), 201)
        expect(await client.patch("/api/stocks/AUDT", json={"exchange": "XNAS"}), 200)
        expect(await client.delete("/api/stocks/AUDT"), 204)
    user = await api.register("claimer")
    async with api.client(user) as client:  # refused: nothing happened, nothing recorded
        expect(await client.post("/api/stocks", json={"ticker": "MINE"}), 403)
    made = [(e["action"], e["actor"], e["subject"]) for e in reversed(await entries(api))]
    assert made == [
        ("stock_added", api.admin.email, "AUDT"),
        ("stock_changed", api.admin.email, "AUDT"),
        ("stock_deleted", api.admin.email, "AUDT"),
    ]
    [changed] = await entries(api, action="stock_changed")
    assert changed["details"] == {"fields": ["exchange"]}


async def test_issuing_device_credentials_is_audited(secure_api: Api) -> None:
    owner = await secure_api.register("owner")
    await create_device(secure_api, owner, "rotated-1", [])
    async with secure_api.client(owner) as client:
        issued = expect(await client.post("/api/devices/rotated-1/credentials"), 200)
    [entry] = await entries(secure_api, action="device_credentials_issued")
    assert (entry["actor"], entry["subject"]) == (owner.email, "rotated-1")
    assert issued["password"] not in str(entry)


async def test_only_admins_read_the_audit_log_and_its_parameters_are_checked(
    api: Api,
) -> None:
    user: Account = await api.register("curious")
    async with api.client(user) as client:
        expect(await client.get("/api/admin/audit"), 403)
    async with api.client() as client:
        expect(await client.get("/api/admin/audit"), 401)
    for _ in range(3):
        async with api.client() as client:
            await client.post("/auth/jwt/login", data={"username": user.email, "password": "no"})
    async with api.client(api.admin) as client:
        page = expect(await client.get("/api/admin/audit", params={"limit": 2, "offset": 1}), 200)
        assert page["total"] == 3 and len(page["items"]) == 2
        assert page["items"][0]["id"] > page["items"][1]["id"]  # newest first
        for params in (
            {"action": "LOGIN_FAILED"},
            {"action": "x" * 10_000},
            {"action": "login_failed\x00"},
            {"limit": 0},
            {"limit": 1001},
            {"offset": -1},
            {"limit": "many"},
        ):
            expect(await client.get("/api/admin/audit", params=params), 422, "validation_error")

"""The last active admin cannot be deleted, demoted or deactivated, even by two admins at once."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api_support import Account, Api

DEMOTIONS: list[dict[str, Any]] = [{"is_superuser": False}, {"is_active": False}]


async def promoted(api: Api, name: str, by: Account | None = None) -> Account:
    account = await api.register(name)
    async with api.client(by or api.admin) as client:
        response = await client.patch(f"/users/{account.id}", json={"is_superuser": True})
        assert response.status_code == 200 and response.json()["is_superuser"] is True
    return account


async def active_admins(api: Api, *accounts: Account) -> list[str]:
    """Which of `accounts` are still active superusers (asked with each one's own token)."""
    still = []
    async with api.client() as client:
        for account in accounts:
            me = await client.get("/users/me", headers=account.headers)
            if me.status_code == 200 and me.json()["is_superuser"]:
                still.append(account.id)
    return still


def refused_as_last_admin(response: httpx.Response) -> bool:
    return response.status_code == 409 and response.json()["error"]["code"] == "last_admin"


async def test_the_last_admin_cannot_remove_itself(api: Api) -> None:
    admin = api.admin
    async with api.client(admin) as client:
        for change in DEMOTIONS:
            response = await client.patch(f"/users/{admin.id}", json=change)
            assert refused_as_last_admin(response), (change, response.text)
        assert refused_as_last_admin(await client.delete(f"/users/{admin.id}"))
        # Changes that keep it an active admin are fine.
        kept = await client.patch(f"/users/{admin.id}", json={"is_superuser": True})
        assert kept.status_code == 200
    assert await active_admins(api, admin) == [admin.id]


async def test_with_another_admin_each_removal_goes_through(api: Api) -> None:
    for change in [*DEMOTIONS, None]:
        other = await promoted(api, "deputy")
        async with api.client(api.admin) as client:
            if change is None:
                response = await client.delete(f"/users/{other.id}")
                assert response.status_code == 204, response.text
            else:
                response = await client.patch(f"/users/{other.id}", json=change)
                assert response.status_code == 200, response.text
        assert await active_admins(api, api.admin, other) == [api.admin.id]
    # And an admin may step down while another remains.
    other = await promoted(api, "successor")
    async with api.client(api.admin) as client:
        response = await client.patch(f"/users/{api.admin.id}", json={"is_superuser": False})
        assert response.status_code == 200, response.text
    assert await active_admins(api, api.admin, other) == [other.id]


async def test_two_admins_removing_each_other_at_once_leave_one(api: Api) -> None:
    """Each request alone is allowed; together they would leave no admin. Repeated, since the
    interleaving varies: one wins; the other gets 409 `last_admin`, or 401/403 when it was
    already removed before its own request was authenticated."""
    first = api.admin
    for round_, change in enumerate([*DEMOTIONS, None] * 2):
        second = await promoted(api, f"rival{round_}", by=first)
        async with api.client(first) as a, api.client(second) as b:
            if change is None:
                responses = await asyncio.gather(
                    a.delete(f"/users/{second.id}"), b.delete(f"/users/{first.id}")
                )
            else:
                responses = await asyncio.gather(
                    a.patch(f"/users/{second.id}", json=change),
                    b.patch(f"/users/{first.id}", json=change),
                )
        won = [r for r in responses if r.status_code in (200, 204)]
        lost = [r for r in responses if r.status_code in (401, 403) or refused_as_last_admin(r)]
        assert len(won) == len(lost) == 1, [r.text for r in responses]
        survivors = await active_admins(api, first, second)
        assert len(survivors) == 1, (change, survivors)
        if survivors == [second.id]:
            first = second
    assert await active_admins(api, first) == [first.id]

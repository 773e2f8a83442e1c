"""Device credentials tests: users with devices on shared stocks, and devices' MQTT sessions."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api_support import Account, Api
from tests.broker_support import SecureBroker
from tests.device_link import DeviceLink
from tests.support import unique


async def shared_stocks(api: Api, *tickers: str) -> None:
    async with api.client(api.admin) as client:
        for ticker in tickers:
            created = await client.post("/api/stocks", json={"ticker": ticker, "shared": True})
            assert created.status_code == 201, created.text


async def create_device(api: Api, owner: Account, device_id: str, tickers: list[str]) -> str:
    """The device's MQTT password, from the creation's answer."""
    async with api.client(owner) as client:
        created = await client.post(
            "/api/devices", json={"device_id": device_id, "tickers": tickers}
        )
    assert created.status_code == 201, created.text
    credentials = created.json()["credentials"]
    assert credentials["username"] == device_id and len(credentials["password"]) >= 24
    return str(credentials["password"])


async def two_owners(
    api: Api, mine: list[str], theirs: list[str]
) -> tuple[Account, Account, str, str, str]:
    """Two users, each with a device monitoring shared stocks: (owner, other, the owner's
    device, its MQTT password, the other's device)."""
    owner, other = await api.register("owner"), await api.register("other")
    await shared_stocks(api, *sorted(set(mine) | set(theirs)))
    dev_a, dev_b = unique("dev-a"), unique("dev-b")
    password = await create_device(api, owner, dev_a, mine)
    await create_device(api, other, dev_b, theirs)
    return owner, other, dev_a, password, dev_b


async def connected(broker: SecureBroker, device_id: str, password: str | None) -> DeviceLink:
    """A device session; `.connack` says whether the broker took the login."""
    link = DeviceLink(broker.url, device_id if password else None, password, device_id)
    await asyncio.to_thread(link.connect)
    return link


async def publish(link: DeviceLink, topic: str, body: dict[str, Any]) -> bool:
    """True when the broker accepted the message (PUBACK success)."""
    reason = await asyncio.to_thread(link.publish, topic, body)
    return not reason.is_failure

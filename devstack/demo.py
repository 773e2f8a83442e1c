"""`make up`'s demo accounts beyond the admin, and waiting for the API before what needs it.

- A demo analyst (`analyst@example.com`, not an admin), whose password is generated once and
  kept in the data dir like the admin's, printed with it: the non-admin view is one login away.
  Once the simulator has registered its fleet, the analyst is given `ANALYST_DEVICES` of its
  sensors (when they own none), so that view has devices of its own.
- `answering(url)`: the banner and the simulator wait until the API answers `/health`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger("tickwire")
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request in the stack's log

ANALYST_EMAIL = "analyst@example.com"
ANALYST_DEVICES = 3
"""How many of the simulator's sensors the analyst owns."""


@dataclass
class Analyst:
    email: str
    password: str

    def __str__(self) -> str:
        return (
            f"{self.email} / {self.password}   (not an admin; owns {ANALYST_DEVICES} demo devices)"
        )


async def ensure_analyst(database_url: str, data_dir: Path) -> Analyst:
    from api.admin import ensure_user  # the API's own account logic
    from api.settings import ApiSettings

    settings = ApiSettings(database_url=database_url, data_dir=data_dir)
    return Analyst(ANALYST_EMAIL, await ensure_user(settings, ANALYST_EMAIL, "analyst-password"))


async def answering(url: str, stop: asyncio.Event, timeout_s: float = 120.0) -> bool:
    """Whether `url` (the API's `/health`) answered with any HTTP status before `timeout_s`
    (False also when the stack is stopping)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                await client.get(url)
            except httpx.TransportError:
                await asyncio.sleep(0.3)
                continue
            return True
    return False


async def hand_devices(
    api_url: str, admin: tuple[str, str], analyst: str, stop: asyncio.Event
) -> None:
    """Give the analyst `ANALYST_DEVICES` of the simulator's sensors once they exist (it may
    take the simulator a while to register them); nothing when they own some already."""
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        login = await client.post(
            "/auth/jwt/login", data={"username": admin[0], "password": admin[1]}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        users = (await client.get("/api/admin/users", params={"email": analyst})).json()["items"]
        owner = next(user["id"] for user in users if user["email"] == analyst)
        for _ in range(120):
            devices = (await client.get("/api/devices", params={"limit": 1000})).json()["items"]
            if any(device["owner_id"] == owner for device in devices):
                return
            sensors = sorted(d["device_id"] for d in devices if d["kind"] == "sensor")
            if len(sensors) >= ANALYST_DEVICES:
                for device_id in sensors[:ANALYST_DEVICES]:
                    patched = await client.patch(
                        f"/api/devices/{device_id}", json={"owner_id": owner}
                    )
                    patched.raise_for_status()
                log.info("demo analyst %s owns %s", analyst, ", ".join(sensors[:ANALYST_DEVICES]))
                return
            if stop.is_set():
                return
            await asyncio.sleep(1)


_TASKS: set[asyncio.Task[None]] = set()


def hand_devices_later(
    api_url: str, admin: tuple[str, str], analyst: Analyst, stop: asyncio.Event
) -> None:
    """`hand_devices` in the background (a failure is logged, never stops the stack)."""
    task = asyncio.create_task(hand_devices(api_url, admin, analyst.email, stop))
    _TASKS.add(task)

    def done(task: asyncio.Task[None]) -> None:
        _TASKS.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("the demo analyst's devices were not handed over: %s", task.exception())

    task.add_done_callback(done)

"""The first hour of a new user (issue 15, "Defects"), in a real Chromium at 1600 × 1000: each
test drives what a user ran into and fails on the defect it names."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import Browser, Page

from tests.api_support import Api
from tests.browser_support import logged_in, screenshot, watch_csp

WIDE = {"width": 1600, "height": 1000}


async def wide(page: Page) -> Page:
    await page.set_viewport_size(WIDE)  # type: ignore[arg-type]
    return page


async def test_root_is_never_a_blank_page(api: Api, browser: Browser) -> None:
    """Defect 1: `/` → login → `/?range=1h` showed nothing (also when logged in already)."""
    async with httpx.AsyncClient(base_url=api.url) as http:
        root = await http.get("/", params={"range": "1h"})
    assert root.status_code == 307, root.text
    assert root.headers["location"] == "/markets?range=1h"
    context = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
    page = await context.new_page()
    watch_csp(page)
    try:
        await page.goto(f"{api.url}/?range=1h")
        await page.wait_for_url("**/login?next=*", timeout=15_000)
        await page.fill("#login-email", api.admin.email)
        await page.fill("#login-password", api.admin.password)
        await page.click("#login-submit")
        await page.wait_for_url("**/markets?range=1h", timeout=15_000)
        await page.wait_for_selector("#markets-title", timeout=15_000)
        await screenshot(page, "first-hour-1-root-after-login")
        # Logged in already: the same address, the same page.
        await page.goto(f"{api.url}/?range=1h")
        await page.wait_for_url("**/markets?range=1h", timeout=15_000)
        await page.wait_for_selector("#markets-title", timeout=15_000)
        assert (await page.inner_text(".tw-main")).strip()
    finally:
        await context.close()


async def device_with(api: Api, db: Any, device_id: str, rows: list[tuple[Any, ...]]) -> None:
    """A device of the admin's with telemetry `rows` (time, metric, value)."""
    async with api.client(api.admin) as client:
        created = await client.post("/api/devices", json={"device_id": device_id})
        assert created.status_code == 201, created.text
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)",
        [(t, device_id, m, v) for t, m, v in rows],
    )


async def opened(browser: Browser, api: Api, path: str) -> Page:
    return await wide(await logged_in(browser, api, api.admin, path))

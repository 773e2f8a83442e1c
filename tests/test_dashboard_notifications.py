"""The notifications page in a real Chromium: a user adds a webhook channel (a refused URL
says why), queues a test send, deletes it; adds a silence and deletes it. Another user sees
none of it."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from tests.api_support import Account, Api
from tests.browser_support import logged_in, screenshot


async def message(page: Page, where: str, text: str) -> None:
    await page.wait_for_selector(f"#{where}:has-text('{text}')", timeout=15_000)


async def silence_and_unsilence(page: Page, api: Api, alice: Account) -> None:
    await page.fill("#silence-device", "a-dev")
    await page.fill("#silence-comment", "maintenance")
    await page.click("#silence-save")
    await message(page, "silence-message", "Silence added")
    async with api.client(alice) as client:
        [silence] = (await client.get("/api/silences")).json()["items"]
    assert silence["matchers"]["device_id"] == "a-dev" and silence["comment"] == "maintenance"
    await page.wait_for_selector(f"#notif-silence-{silence['id']}", timeout=15_000)
    await page.click(f"#notif-silence-{silence['id']} .silence-delete")
    await message(page, "silence-message", "Silence deleted")
    # The lists re-render after a change: a click during that is lost (seen under load).
    await page.wait_for_selector(f"#notif-silence-{silence['id']}", state="detached")


async def test_channels_and_silences(api: Api, browser: Browser) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    page = await logged_in(browser, api, alice, "/notifications")
    await page.wait_for_selector("#notif-channels:has-text('No channels yet')", timeout=15_000)
    await page.fill("#notif-name", "ops")
    await page.fill("#notif-url", "http://127.0.0.1:9/hook")  # loopback: refused (SSRF)
    await page.fill("#notif-secret", "0123456789abcdef")
    await page.click("#notif-save")
    await message(page, "notif-message", "Not added")
    await page.fill("#notif-url", "https://hooks.example.com/tickwire")
    await page.click("#notif-save")
    await message(page, "notif-message", "Added channel ops")
    async with api.client(alice) as client:
        [channel] = (await client.get("/api/notification-channels")).json()["items"]
    assert channel["url"] == "https://hooks.example.com/tickwire"
    row = f"#notif-channel-{channel['id']}"
    await page.wait_for_selector(row, timeout=15_000)
    await page.click(f"{row} .notif-test")
    await message(page, "notif-message", "Test queued")
    await screenshot(page, "notifications")
    async with api.client(alice) as client:
        path = f"/api/notification-channels/{channel['id']}/deliveries"
        [delivery] = (await client.get(path)).json()["items"]
    assert delivery["event"] == "test" and delivery["status"] == "pending"
    async with api.client(bob) as client:
        assert (await client.get("/api/notification-channels")).json()["items"] == []

    await silence_and_unsilence(page, api, alice)
    await page.click(f"{row} .notif-delete")
    await message(page, "notif-message", "Channel deleted")
    await page.wait_for_selector("#notif-channels:has-text('No channels yet')", timeout=15_000)
    async with api.client(alice) as client:
        assert (await client.get("/api/notification-channels")).json()["items"] == []
        assert (await client.get("/api/silences")).json()["items"] == []
    await page.context.close()

"""Self-service in a real Chromium, on a Mosquitto with per-device accounts and TLS (as `make up`
runs it) and the real ingester: a stranger signs up, lands on the welcome page, adds a device,
copies the `mosquitto_pub` line the page shows, runs it, and sees the reading; rotates the
password (the old one is refused); manages their own alert rules. An admin lists users by email,
makes one an admin and deactivates another, and sees owners by email."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Dialog, Page

from tests.api_support import Api, running_api
from tests.broker_support import SecureBroker, secure_mosquitto
from tests.browser_support import VIEWPORT, logged_in, screenshot, watch_csp
from tests.ingest_support import ingest_settings, ingesting
from tests.support import unique, wait_until
from tests.test_dashboard_admin import choose, fill, row, save


@dataclass
class DeviceStack:
    api: Api
    broker: SecureBroker


@pytest.fixture
async def device_stack(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[DeviceStack]:
    """Broker with dynamic security and TLS; the ingester and the API on their own accounts;
    devices told the TLS address and its CA (as `make up` sets TICKWIRE_DEVICE_*)."""
    async with secure_mosquitto(tmp_path / "broker", tls=True) as broker:
        monkeypatch.setenv("TICKWIRE_MQTT_ADMIN_URL", broker.admin_url)
        settings = ingest_settings(database_url, broker.mosquitto, mqtt_url=broker.ingest_url)
        async with (
            ingesting(settings),
            running_api(
                database_url,
                broker.api_url,
                tmp_path / "api",
                device_mqtt_url=broker.mosquitto.tls_url,
                device_ca_file=broker.ca_file,
            ) as api,
        ):
            yield DeviceStack(api, broker)


async def run(command: str) -> subprocess.CompletedProcess[str]:
    """A shell line as the user would paste it (split as the shell would)."""
    return await asyncio.to_thread(
        subprocess.run, shlex.split(command), capture_output=True, text=True, timeout=30
    )


async def sign_up(browser: Browser, api: Api, email: str, password: str) -> Page:
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = await context.new_page()
    watch_csp(page)
    await page.goto(f"{api.url}/markets")
    await page.wait_for_url("**/login?next=*", timeout=15_000)
    await page.click("#login-signup")
    await page.wait_for_selector("#signup-email")
    await page.fill("#signup-email", email)
    await page.fill("#signup-password", password)
    await page.fill("#signup-again", password + "typo")
    await page.click("#signup-submit")
    await page.wait_for_selector("#signup-error >> text=The two passwords differ.")
    await page.fill("#signup-again", password)
    await page.click("#signup-submit")
    await page.wait_for_url("**/welcome", timeout=15_000)
    return page


async def accept_next_dialog(page: Page) -> None:
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)


async def says_what_to_do_next(page: Page, api: Api, email: str, password: str) -> None:
    await page.wait_for_selector(f"#welcome-title >> text={email}")
    for step in ("Add a device", "watchlist", "alert rules", "not built yet"):
        await page.wait_for_selector(f".welcome-steps >> text={step}")
    await screenshot(page, "welcome")
    async with api.client() as client:
        me = await client.post("/auth/jwt/login", data={"username": email, "password": password})
        assert me.status_code == 200  # a real account, never an admin:
        bearer = {"Authorization": f"Bearer {me.json()['access_token']}"}
        assert (await client.get("/users/me", headers=bearer)).json()["is_superuser"] is False


async def message_becomes(page: Page, text: str | None) -> str:
    """The new-device form's message once it is `text` (None: anything new but empty)."""
    before = await page.inner_text("#new-device-message")
    await page.wait_for_function(
        "([before, text]) => { const now = document.querySelector('#new-device-message')"
        ".innerText; return text === null ? now !== '' && now !== before : now === text; }",
        arg=[before, text],
    )
    return await page.inner_text("#new-device-message")


async def add_device(page: Page, stack: DeviceStack) -> tuple[str, str]:
    """From the welcome page: a new device's id and the `mosquitto_pub` line shown for it."""
    await page.click(".welcome-steps a >> text=Add a device")
    await page.wait_for_selector("#new-device-id")
    assert "/devices/new" in page.url
    await page.click("#new-device-create")
    await message_becomes(page, "Give the device an id.")
    await page.fill("#new-device-id", "bad id/../x")
    await page.click("#new-device-create")
    assert "Created" not in await message_becomes(page, None)
    device_id = unique("greenhouse")
    await page.fill("#new-device-id", device_id)
    await page.fill("#new-device-name", "Greenhouse")
    await page.click("#new-device-create")
    await message_becomes(page, f"Created device {device_id}.")
    await page.wait_for_selector("#cred-password", timeout=15_000)
    await screenshot(page, "new-device")
    assert await page.inner_text("#cred-username") == device_id
    assert await page.inner_text("#cred-broker") == stack.broker.mosquitto.tls_url
    assert await page.inner_text("#cred-ca") == str(stack.broker.ca_file)
    command = await page.inner_text("#cred-command")
    assert await page.inner_text("#cred-password") in command and "--cafile" in command
    assert await page.locator(".cred-copy").count() >= 4
    return device_id, command


async def test_sign_up_add_a_device_publish_with_its_credentials_and_see_the_data(
    device_stack: DeviceStack, browser: Browser, db: asyncpg.Connection
) -> None:
    api = device_stack.api
    email, password = f"{unique('newcomer')}@example.com", "a long password"
    page = await sign_up(browser, api, email, password)
    await says_what_to_do_next(page, api, email, password)
    device_id, command = await add_device(page, device_stack)

    # The line the page shows, run as shown: the broker takes it over TLS with that login.
    published = await run(command)
    assert published.returncode == 0, published.stderr

    async def committed() -> bool:
        count = await db.fetchval(
            "SELECT count(*) FROM telemetry WHERE device_id = $1 AND metric = 'temperature'",
            device_id,
        )
        return bool(count == 1)

    await wait_until("the published reading committed", committed)
    await page.click("text=Open the device's page")
    await page.wait_for_url(f"**/devices/{device_id}*", wait_until="commit")
    await page.wait_for_selector("text=temperature", timeout=15_000)
    await screenshot(page, "new-device-data")

    # Rotate: a new password; the old one is refused at once, the new one works.
    await page.click("#device-credentials")
    await page.wait_for_selector("#rotate-ask")
    await accept_next_dialog(page)
    await page.click("#rotate-ask")
    await page.wait_for_selector("#cred-password", timeout=15_000)
    assert await page.inner_text("#cred-password") not in command
    assert (await run(command)).returncode != 0
    assert (await run(await page.inner_text("#cred-command"))).returncode == 0
    await page.context.close()


async def test_another_users_device_cannot_be_rotated_from_its_page(
    device_stack: DeviceStack, browser: Browser
) -> None:
    api = device_stack.api
    owner, other = await api.register("owner"), await api.register("other")
    device_id = unique("theirs")
    async with api.client(owner) as client:
        created = await client.post("/api/devices", json={"device_id": device_id})
    assert created.status_code == 201
    page = await logged_in(browser, api, other, f"/devices/{device_id}/credentials")
    await accept_next_dialog(page)
    await page.click("#rotate-ask")
    await page.wait_for_selector("#rotate-message .tw-error >> text=no device", timeout=15_000)
    assert await page.locator("#cred-password").count() == 0
    await page.context.close()


async def test_users_manage_their_own_alert_rules(api: Api, browser: Browser) -> None:
    user, other = await api.register("ruler"), await api.register("bystander")
    async with api.client(other) as client:
        theirs = await client.post(
            "/api/alert-rules", json={"name": "not yours", "kind": "HIGH_TEMP", "threshold": 50}
        )
    assert theirs.status_code == 201, theirs.text
    page = await logged_in(browser, api, user, "/rules")
    await page.wait_for_selector("#nav >> text=Rules")
    await page.wait_for_selector("#admin-rules >> text=No alert rules yet", timeout=15_000)
    await fill(page, "rules", name="too hot")
    await choose(page, "rules", "kind", "HIGH_TEMP")
    await fill(page, "rules", threshold="35")
    await save(page, "rules", "Created rule")
    async with api.client(user) as client:
        rules = (await client.get("/api/alert-rules")).json()["items"]
    assert [(r["name"], r["threshold"], r["owner_id"]) for r in rules] == [("too hot", 35, user.id)]
    assert "too hot" in await row(page, "rules", rules[0]["id"])
    assert await page.locator("text=not yours").count() == 0
    await screenshot(page, "rules")
    await page.context.close()


async def test_admin_lists_users_by_email_makes_an_admin_and_deactivates(
    api: Api, browser: Browser
) -> None:
    analyst, leaver = await api.register("analyst"), await api.register("leaver")
    async with api.client(analyst) as client:
        created = await client.post("/api/devices", json={"device_id": unique("owned")})
    assert created.status_code == 201
    page = await logged_in(browser, api, api.admin, "/admin/users")
    await page.wait_for_selector(f"#users-table >> text={analyst.email}", timeout=15_000)
    await page.wait_for_selector(f"#users-table >> text={leaver.email}")
    await screenshot(page, "users")
    # The admin's own buttons are off (another admin must do it).
    own = page.locator(f"tr:has-text('{api.admin.email}') button")
    assert await own.count() == 2 and await own.first.is_disabled()

    await page.click(f"tr:has-text('{analyst.email}') >> text=Make admin")
    await page.wait_for_selector(f"#users-message >> text={analyst.email} is now an admin")
    await page.click(f"tr:has-text('{leaver.email}') >> text=Deactivate")
    await page.wait_for_selector(f"#users-message >> text={leaver.email} is deactivated")
    async with api.client(api.admin) as client:
        assert (await client.get(f"/users/{analyst.id}")).json()["is_superuser"] is True
        assert (await client.get(f"/users/{leaver.id}")).json()["is_active"] is False
        login = await client.post(
            "/auth/jwt/login", data={"username": leaver.email, "password": leaver.password}
        )
    assert login.status_code == 400
    await page.fill("#users-search", analyst.email.upper())
    await page.press("#users-search", "Enter")
    await page.wait_for_selector("#users-count >> text=1 accounts")

    # Owners on the admin page: by email.
    await page.goto(f"{api.url}/admin")
    device = created.json()["device_id"]
    assert analyst.email in await row(page, "devices", device)
    await page.context.close()


async def test_a_user_gets_no_users_page(api: Api, browser: Browser) -> None:
    user = await api.register("curious")
    page = await logged_in(browser, api, user, "/admin/users")
    await page.wait_for_selector("#users-table >> text=Admins only", timeout=15_000)
    assert await page.locator("#nav >> text=Users").count() == 0
    await page.context.close()

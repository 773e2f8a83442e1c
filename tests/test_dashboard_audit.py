"""The audit page in a real Chromium: an admin sees a lockout and the log, and unlocks the
account; the login page says why a locked account is refused; users get no audit page."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.api_support import Api
from tests.browser_support import logged_in, screenshot


async def _lock_out(api: Api, email: str) -> None:
    async with api.client() as client:
        for _ in range(10):
            await client.post("/auth/jwt/login", data={"username": email, "password": "wrong!"})


async def test_an_admin_sees_lockouts_and_the_log_and_unlocks(api: Api, browser: Browser) -> None:
    user = await api.register("locked")
    await _lock_out(api, user.email)
    login = await browser.new_page()
    await login.goto(f"{api.url}/login")
    await login.fill("#login-email", user.email)
    await login.fill("#login-password", user.password)
    await login.click("#login-submit")
    await login.wait_for_selector("#login-error >> text=Too many failed logins")
    await login.context.close()

    page = await logged_in(browser, api, api.admin, "/audit")
    row = f"[id='lockout-{user.id}']"
    await page.wait_for_selector(row, timeout=15_000)
    await page.wait_for_selector(f"#audit-table >> text={user.email}")
    assert await page.locator("#audit-table .audit-row").count() == 11  # 10 failures, 1 lockout
    await screenshot(page, "audit")
    await page.click(f"{row} >> text=Unlock")
    await page.wait_for_selector(row, state="detached", timeout=10_000)
    await page.wait_for_selector("#audit-lockouts >> text=No account is locked out.")
    await page.wait_for_selector("#audit-table >> text=lockout_cleared")
    await page.context.close()
    async with api.client() as client:
        data = {"username": user.email, "password": user.password}
        assert (await client.post("/auth/jwt/login", data=data)).status_code == 200


async def test_users_get_no_audit_page(api: Api, browser: Browser) -> None:
    user = await api.register("plain")
    page = await logged_in(browser, api, user, "/audit")
    await page.wait_for_selector("text=Admins only: the audit log.", timeout=15_000)
    assert await page.locator("#nav >> text=Audit").count() == 0
    await page.context.close()

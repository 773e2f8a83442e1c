"""The first minutes of a new user in a real Chromium: the login page as it first shows,
signing up from it, the welcome page that says what to do next."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.api_support import Api
from tests.browser_support import screenshot, watch_csp


async def test_the_login_page_shows_no_error_before_anything_is_typed(
    api: Api, browser: Browser
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    watch_csp(page)
    await page.goto(f"{api.url}/markets")
    await page.wait_for_url("**/login?next=*", timeout=15_000)
    await page.wait_for_selector("#login-submit")
    # The defect showed within a second of the form: give the page's callbacks three.
    await page.wait_for_timeout(3_000)
    await screenshot(page, "login-untouched")
    assert await page.inner_text("#login-error") == ""
    # Submitting empty still says what is missing.
    await page.click("#login-submit")
    await page.wait_for_selector("text=Enter your email and password.")
    await context.close()

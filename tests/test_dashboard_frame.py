"""The dashboard's frame in a real Chromium: login required, the time range in the URL,
admin pages hidden from others, logout."""

from __future__ import annotations

import json

from playwright.async_api import Browser

from dashboard import browser as browser_side
from dashboard import frame
from tests.api_support import Api
from tests.browser_support import logged_in, screenshot, watch_csp


async def test_pages_require_a_login_and_come_back_after_it(api: Api, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    watch_csp(page)
    await page.goto(f"{api.url}/alerts?range=6h")
    await page.wait_for_url("**/login?next=*", timeout=15_000)
    await screenshot(page, "login")
    await page.fill("#login-email", api.admin.email)
    await page.fill("#login-password", "wrong password")
    await page.click("#login-submit")
    await page.wait_for_selector("text=Wrong email or password.")
    await page.fill("#login-password", api.admin.password)
    await page.click("#login-submit")
    await page.wait_for_url("**/alerts?range=6h", timeout=15_000)
    await context.close()


async def test_the_time_range_lives_in_the_url(api: Api, browser: Browser) -> None:
    page = await logged_in(browser, api, api.admin, "/markets?range=24h&live=0")
    await page.wait_for_selector(".tw-range >> text=Last 24 hours")
    assert not await page.is_checked("#live input[type=checkbox]")
    await page.click(".tw-range")
    await page.click("text=Last 5 minutes")
    await page.wait_for_url("**/markets?range=5m&live=0")
    await page.check("#live input[type=checkbox]")
    await page.wait_for_url("**/markets?range=5m")
    # The URL alone restores the view.
    await page.goto(f"{api.url}/markets?range=7d")
    await page.wait_for_selector(".tw-range >> text=Last 7 days")
    # The constants the browser side uses are Python's, sent with the page.
    sent = await page.evaluate("() => window.tickwire_shared.config")
    assert sent == json.loads(json.dumps(browser_side.config()))
    await page.context.close()


async def test_admin_pages_are_hidden_from_users_and_logout_works(
    api: Api, browser: Browser
) -> None:
    admin = await logged_in(browser, api, api.admin, "/markets")
    await admin.wait_for_selector("#nav >> text=Admin")
    await admin.context.close()
    user = await api.register("analyst")
    page = await logged_in(browser, api, user, "/markets")
    await page.wait_for_selector("#nav >> text=Alerts")
    assert await page.locator("#nav >> text=Admin").count() == 0
    assert await page.inner_text("#user") == user.email
    await page.click("#logout")
    await page.wait_for_url("**/login*", timeout=15_000)
    await page.goto(f"{api.url}/markets")
    await page.wait_for_url("**/login?next=*", timeout=15_000)
    await page.context.close()


def test_the_config_element_cannot_be_ended_by_a_value() -> None:
    hostile = {"home": "</script><script>alert(1)</script>", "ranges": ["<!--"]}
    for data in (hostile, None):
        element = browser_side.element(data)
        assert element.count("</script>") == 1 and element.endswith("</script>")
        text = element[element.index(">") + 1 : -len("</script>")]
        assert "<" not in text
        assert json.loads(text) == (browser_side.config() if data is None else data)


async def test_the_frame_finds_the_page_dash_routes_an_address_to(api: Api) -> None:
    """Untimed pages hide the picker: a page is found by its path, or by its template as Dash
    Pages' router matches one (the more specific template first: credentials, not device)."""
    assert api.url  # the app is attached: its pages are registered, in the router's order
    assert frame._page("/devices/new").get("untimed")
    assert frame._page("/devices/dev-1/credentials").get("untimed")
    device = frame._page("/devices/dev-1")
    assert device["path_template"] == "/devices/<device_id>" and not device.get("untimed")
    assert frame._page("/nowhere") == {}

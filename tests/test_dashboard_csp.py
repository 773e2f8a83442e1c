"""The dashboard's Content Security Policy in a real Chromium: every page is sent with it and
runs under it (tests/conftest.py fails any browser test whose pages report a violation), and
the policy does block what it must: an inline script without its hash."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Error

from tests.api_support import Api
from tests.browser_support import CSP_VIOLATIONS, logged_in

PAGES = ("/markets", "/devices", "/alerts", "/admin", "/devices/no-such-device")


async def test_every_page_runs_under_the_csp_and_an_injected_script_does_not(
    api: Api, browser: Browser
) -> None:
    page = await logged_in(browser, api, api.admin, "/markets")
    for path in PAGES:
        response = await page.goto(f"{api.url}{path}")
        assert response is not None and response.ok, path
        policy = await response.header_value("Content-Security-Policy")
        assert policy is not None and "frame-ancestors 'none'" in policy, path
        assert await response.header_value("X-Frame-Options") == "DENY"
        await page.wait_for_selector("#nav .tw-link")  # the frame, drawn by its callbacks
        await page.wait_for_timeout(1500)  # its callbacks and the live stream start
    assert CSP_VIOLATIONS == []
    # What an injected <script> (an XSS) would run is refused and reported.
    with pytest.raises(Error):
        await page.add_script_tag(content="window.tickwireInjected = true;")
    assert await page.evaluate("window.tickwireInjected === undefined")
    assert any("inline script" in violation for violation in CSP_VIOLATIONS), CSP_VIOLATIONS
    CSP_VIOLATIONS.clear()  # expected here: not a failure of the page
    await page.context.close()

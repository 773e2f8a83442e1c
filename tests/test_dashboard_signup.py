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


async def test_sign_up_says_why_it_was_refused(api: Api, browser: Browser) -> None:
    taken = await api.register("taken")
    context = await browser.new_context()
    page = await context.new_page()
    watch_csp(page)
    await page.goto(f"{api.url}/signup")
    await page.wait_for_selector("#signup-submit")
    await page.wait_for_timeout(1_000)  # as on /login: nothing said before a submit
    assert await page.inner_text("#signup-error") == ""
    for email, password, again, said in (
        ("", "", "", "Enter your email and a password."),
        (taken.email, "long enough", "long enough", "This email has an account already"),
        ("fresh@example.com", "short", "short", "at least 8 characters"),
        (taken.email.upper(), "long enough", "long enough", "This email has an account already"),
        ("not an email", "long enough", "long enough", "Enter a valid email address."),
        ("x\u0000y@example.com", "long enough", "long enough", "Enter a valid email address."),
    ):  # each message differs from the one before: waiting for it waits for this answer
        await page.fill("#signup-email", email)
        await page.fill("#signup-password", password)
        await page.fill("#signup-again", again)
        await page.click("#signup-submit")
        await page.wait_for_selector(f"#signup-error >> text={said}")
    assert "/signup" in page.url
    async with api.client(api.admin) as client:
        found = await client.get("/api/admin/users", params={"email": "fresh@example.com"})
    assert found.json()["items"] == []
    await context.close()

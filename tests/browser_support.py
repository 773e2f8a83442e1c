"""Browser tests: Debian's Chromium driven by Playwright (async, so the in-process uvicorn of
the `api` fixture keeps serving on the same event loop), logged in through the real page."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.api_support import Account, Api

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}
#: What the Content Security Policy blocked on the pages of the running test (tests/conftest.py
#: fails every browser test that has any: the CSP must not break what the dashboard does).
CSP_VIOLATIONS: list[str] = []


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("the dashboard tests need Chromium: apt-get install chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in(browser: Browser, api: Api, account: Account, path: str = "/") -> Page:
    """A new browser context logged in as `account` through /login, then at `path`."""
    context: BrowserContext = await browser.new_context(
        viewport=VIEWPORT,  # type: ignore[arg-type]
        accept_downloads=True,
    )
    page = await context.new_page()
    watch_csp(page)
    await page.goto(f"{api.url}/login?next={quote(path, safe='')}")
    await page.fill("#login-email", account.email)
    await page.fill("#login-password", account.password)
    await page.click("#login-submit")
    await page.wait_for_url(f"{api.url}{path.split('?')[0]}*", timeout=15_000)
    return page


def watch_csp(page: Page) -> None:
    """Record in CSP_VIOLATIONS what the page's CSP blocks (Chromium reports it on the console)."""

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            CSP_VIOLATIONS.append(f"{page.url}: {message.text}")

    page.on("console", record)


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under tests/artifacts/ (kept by CI)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path

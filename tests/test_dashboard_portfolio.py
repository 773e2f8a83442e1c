"""The portfolio page in a real Chromium against the whole stack (the simulator quoting AAPL,
MSFT, GOOG, AMZN at 2 ticks/s through the broker and the ingester): the P&L read from the page
changes while ticks arrive, a sell larger than held is refused inline, portfolios are made,
renamed, deleted and traded from the page, and another user never sees them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from playwright.async_api import Browser, Page

from tests.api_support import Account, Api, expect
from tests.browser_support import logged_in, screenshot
from tests.stack_support import Stack

PNL = "#portfolio-total-unrealized_pnl"
VALUE = 'document.querySelector("#portfolio-value .js-plotly-plot")'


async def _bought(api: Api, account: Account, name: str, buys: dict[str, float]) -> int:
    """A portfolio of `account` with a buy of each ticker (waiting for the simulator to
    register its stocks)."""
    async with api.client(account) as http:
        pid: int = expect(await http.post("/api/portfolios", json={"name": name}), 201)["id"]
        for ticker, quantity in buys.items():
            tx = {"ticker": ticker, "side": "buy", "quantity": quantity, "price": 100.0}
            deadline = time.monotonic() + 30
            while True:
                answer = await http.post(f"/api/portfolios/{pid}/transactions", json=tx)
                if answer.status_code == 201 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert answer.status_code == 201, answer.text
    return pid


async def _text(page: Page, selector: str) -> str:
    return (await page.inner_text(selector)).strip()


async def _changed_from(page: Page, selector: str, before: str, timeout: float = 30_000) -> Any:
    handle = await page.wait_for_function(
        """([sel, before]) => { const el = document.querySelector(sel);
            return el && el.textContent.trim() !== before && el.textContent.trim() !== "–"
                && el.textContent.trim(); }""",
        arg=[selector, before],
        timeout=timeout,
    )
    return await handle.json_value()


async def _agrees_with_the_api(page: Page, api: Api, user: Account, pid: int) -> None:
    """The page's market value is the holdings route's (once both saw the same tick)."""
    async with api.client(user) as http:
        deadline = time.monotonic() + 20
        while True:
            held = expect(await http.get(f"/api/portfolios/{pid}/holdings"), 200)
            shown = await _text(page, "#portfolio-total-market_value")
            if shown == f"{held['totals']['market_value']:,.2f}":
                return
            assert time.monotonic() < deadline, (shown, held["totals"])
            await asyncio.sleep(0.2)


async def test_live_pnl_and_an_oversized_sell(stack: Stack, browser: Browser) -> None:
    api = stack.api
    user = await api.register("investor")
    pid = await _bought(api, user, "Tech", {"AAPL": 10, "MSFT": 5})
    page = await logged_in(browser, api, user, f"/portfolio?portfolio={pid}&range=15m")
    try:
        await page.wait_for_selector('.portfolio-holdings tr[data-ticker="MSFT"]', timeout=20_000)
        first = await _changed_from(page, PNL, "")
        shown = f"() => {{ const gd = {VALUE}; return gd && gd.data && gd.data.length > 0; }}"
        await page.wait_for_function(shown, timeout=20_000)
        loaded = await page.evaluate(f"() => {VALUE}.data[0].x.length")
        # The P&L moves with the simulator's ticks (portfolio events over the page's stream),
        # the page not reloaded.
        second = await _changed_from(page, PNL, first)
        await _changed_from(page, PNL, second)
        assert f"[{pid}]" in await page.evaluate("window.tickwire.live.key")
        # The value chart grew by the events' market values, not reloaded.
        grown = f"() => {VALUE}.data[0].x.length > {loaded}"
        await page.wait_for_function(grown, timeout=20_000)
        # The same numbers as the API's (the last event, or the reload it triggered, may be a
        # tick newer than a read now: compare once the page and the API agree).
        await _agrees_with_the_api(page, api, user, pid)
        # A sell of more than is held: the API's refusal, inline, and nothing recorded.
        await page.click("#portfolio-tx-ticker")
        await page.get_by_role("option", name="AAPL", exact=True).click()
        await page.click("#portfolio-tx-side >> text=Sell")
        await page.fill("#portfolio-tx-quantity", "11")
        await page.fill("#portfolio-tx-price", "120")
        await page.click("#portfolio-tx-add")
        message = page.locator("#portfolio-tx-message .tw-error")
        await message.wait_for(timeout=20_000)
        assert "insufficient_quantity" in await message.inner_text()
        assert "only 10 held" in await message.inner_text()
        async with api.client(user) as http:
            txs = expect(await http.get(f"/api/portfolios/{pid}/transactions"), 200)["items"]
        assert len(txs) == 2
        await screenshot(page, "portfolio")
    finally:
        await page.context.close()


async def test_manage_from_the_page_and_privacy(stack: Stack, browser: Browser) -> None:
    api = stack.api
    alice, bob = await api.register("alice"), await api.register("bob")
    secret = await _bought(api, alice, "Alice secret fund", {"GOOG": 3})
    page = await logged_in(browser, api, bob, f"/portfolio?portfolio={secret}&range=15m")
    try:
        await page.wait_for_selector("text=Create a portfolio to start.", timeout=20_000)
        assert "Alice secret fund" not in await page.content()
        assert "GOOG" not in await _text(page, "#portfolio-holdings")
        assert await page.evaluate("window.tickwire.live.source") is None  # no stream of hers
        # Create, trade, delete a transaction, rename, delete: all from the page.
        await page.fill("#portfolio-name", "Bob's")
        await page.click("#portfolio-create")
        await page.wait_for_selector("#portfolio-message >> text=Created Bob's.", timeout=20_000)
        await page.wait_for_selector("text=No holdings yet", timeout=20_000)
        await page.click("#portfolio-tx-ticker")
        await page.get_by_role("option", name="AMZN", exact=True).click()
        await page.fill("#portfolio-tx-quantity", "2")
        await page.fill("#portfolio-tx-price", "50")
        await page.fill("#portfolio-tx-fee", "1")
        await page.click("#portfolio-tx-add")
        await page.wait_for_selector('.portfolio-holdings tr[data-ticker="AMZN"]', timeout=20_000)
        await page.wait_for_selector(".portfolio-transactions >> text=AMZN", timeout=20_000)
        async with api.client(bob) as http:
            [mine] = expect(await http.get("/api/portfolios"), 200)["items"]
            [tx] = expect(await http.get(f"/api/portfolios/{mine['id']}/transactions"), 200)[
                "items"
            ]
        assert (tx["ticker"], tx["quantity"], tx["price"], tx["fee"]) == ("AMZN", 2, 50, 1)
        assert f"portfolio={mine['id']}" in page.url
        await page.click(".portfolio-transactions >> text=Delete")
        await page.wait_for_selector("text=No transactions.", timeout=20_000)
        await page.fill("#portfolio-name", "Bob's core")
        await page.click("#portfolio-rename")
        await page.wait_for_selector("#portfolio-pick >> text=Bob's core", timeout=20_000)
        await page.click("#portfolio-delete")
        await page.wait_for_selector("text=Create a portfolio to start.", timeout=20_000)
        async with api.client(bob) as http:
            assert expect(await http.get("/api/portfolios"), 200)["total"] == 0
        async with api.client(alice) as http:
            expect(await http.get(f"/api/portfolios/{secret}"), 200)  # untouched
    finally:
        await page.context.close()

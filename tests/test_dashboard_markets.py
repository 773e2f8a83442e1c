"""The markets page in a real Chromium against the whole stack (simulator quoting AAPL, MSFT,
GOOG, AMZN at 2 ticks/s): live candles over one stream, zoom → finer candles, export,
watchlist editing."""

from __future__ import annotations

import asyncio
import csv
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.async_api import Browser, Page

from tests.api_support import Account, Api
from tests.browser_support import logged_in, screenshot
from tests.conftest import Stack

CHART = "#markets-chart .js-plotly-plot"


async def _watch(api: Api, account: Account, *tickers: str) -> None:
    """Put `tickers` on the watchlist (waiting for the simulator to register its stocks)."""
    async with api.client(account) as http:
        for ticker in tickers:
            deadline = time.monotonic() + 20
            while True:
                answer = await http.post("/api/watchlist", json={"ticker": ticker})
                if answer.status_code in (200, 201) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert answer.status_code in (200, 201), answer.text


async def _candles(page: Page) -> int:
    """Candles drawn in the chart: the closed ones (trace 0) + the current one (trace 1)."""
    count: int = await page.evaluate(
        f"""() => {{ const gd = document.querySelector("{CHART}");
        if (!gd || !gd.data || gd.data.length < 2) return -1;
        return gd.data[0].x.length + gd.data[1].x.length; }}"""
    )
    return count


async def _wait_for(page: Page, script: str, timeout: float = 20_000) -> Any:
    handle = await page.wait_for_function(script, timeout=timeout)
    return await handle.json_value()


async def _stream_clients(api: Api) -> float:
    async with httpx.AsyncClient(base_url=api.url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("tickwire_stream_clients"):
            return float(line.split()[-1])
    raise AssertionError("no tickwire_stream_clients in /metrics")


async def test_the_chart_gains_candles_live_over_one_stream(stack: Stack, browser: Browser) -> None:
    api = stack.api
    await _watch(api, api.admin, "AAPL", "MSFT")
    page = await logged_in(browser, api, api.admin, "/markets?range=5m&ticker=AAPL")
    await page.wait_for_selector("#markets-resolution >> text=candles of 1s", timeout=20_000)
    before = await _candles(page)
    # Live: 1 s candles from 2 ticks/s, so the count grows while we watch (no reload).
    grown = await _wait_for(
        page,
        f"""() => {{ const gd = document.querySelector("{CHART}");
        const n = gd.data[0].x.length + gd.data[1].x.length;
        return n >= {before} + 4 ? n : false; }}""",
    )
    assert grown >= before + 4
    assert await _stream_clients(api) == 1
    # The tape shows both watched tickers with a price and a change.
    for ticker in ("AAPL", "MSFT"):
        price = page.locator(f'.markets-tick[data-ticker="{ticker}"] .markets-tick-price')
        await _wait_for(
            page,
            f"""() => /^[0-9]+\\.[0-9]{{2}}$/.test(document.querySelector(
            '.markets-tick[data-ticker="{ticker}"] .markets-tick-price').textContent)""",
        )
        assert float(await price.inner_text()) > 0
    await screenshot(page, "markets")
    await page.context.close()


def _relayout(update: str) -> str:
    return f"""() => {{ const gd = document.querySelector("{CHART}");
    const utc = (ms) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");
    return Plotly.relayout(gd, {update}).then(() => true); }}"""


async def test_a_zoom_fetches_finer_candles_and_a_reset_comes_back(
    stack: Stack, browser: Browser
) -> None:
    api = stack.api
    await _watch(api, api.admin, "AAPL")
    page = await logged_in(browser, api, api.admin, "/markets?range=1h&ticker=AAPL")
    # An hour in at most 320 candles: 15 s each.
    await page.wait_for_selector("#markets-resolution >> text=candles of 15s", timeout=20_000)
    zoom = '{"xaxis.range": [utc(Date.now() - 60000), utc(Date.now())]}'
    await page.evaluate(_relayout(zoom))
    # The last minute re-fetched: 1 s candles, said so, and the export follows the zoom.
    await page.wait_for_selector("#markets-resolution >> text=candles of 1s", timeout=20_000)
    assert "zoomed" in await page.inner_text("#markets-resolution")
    csv_href = await page.get_attribute("#markets-export a >> text=CSV", "href")
    assert csv_href is not None and "ticker=AAPL" in csv_href
    assert _seconds_between(csv_href) <= 61
    await page.evaluate(_relayout('{"xaxis.autorange": true}'))
    await page.wait_for_selector("#markets-resolution >> text=candles of 15s", timeout=20_000)
    assert "zoomed" not in await page.inner_text("#markets-resolution")
    await page.context.close()


def _seconds_between(href: str) -> float:
    query = parse_qs(urlsplit(href).query)
    start, end = (datetime.fromisoformat(query[k][0]) for k in ("start", "end"))
    return (end - start).total_seconds()


async def test_export_links_download_the_charts_range(stack: Stack, browser: Browser) -> None:
    api = stack.api
    await _watch(api, api.admin, "MSFT")
    page = await logged_in(browser, api, api.admin, "/markets?range=15m&ticker=MSFT")
    await page.wait_for_selector("#markets-resolution >> text=candles of", timeout=20_000)
    async with page.expect_download() as csv_download:
        await page.click("#markets-export a >> text=CSV")
    text = _read(await (await csv_download.value).path())
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and {row["ticker"] for row in rows} == {"MSFT"}
    assert all(float(row["price"]) > 0 for row in rows)
    async with page.expect_download() as json_download:
        await page.click("#markets-export a >> text=JSON")
    body = json.loads(_read(await (await json_download.value).path()))
    assert isinstance(body, list) and body and body[0]["ticker"] == "MSFT"
    await page.context.close()


def _read(path: Path) -> str:
    return path.read_text()


async def _watched(api: Api, account: Account) -> dict[str, Any]:
    async with api.client(account) as http:
        answer = await http.get("/api/watchlist")
    assert answer.status_code == 200, answer.text
    return {e["ticker"]: e for e in answer.json()["items"]}


async def test_watchlist_add_edit_remove_from_the_page(api: Api, browser: Browser) -> None:
    async with api.client(api.admin) as http:
        for ticker in ("AAPL", "MSFT"):
            made = await http.post("/api/stocks", json={"ticker": ticker, "shared": True})
            assert made.status_code == 201, made.text
    page = await logged_in(browser, api, api.admin, "/markets")
    # Empty: says so and offers the stocks.
    await page.wait_for_selector("text=Your watchlist is empty", timeout=20_000)
    await page.click(".markets-offer >> text=AAPL")
    await page.wait_for_selector('.markets-tick[data-ticker="AAPL"]', timeout=20_000)
    assert list(await _watched(api, api.admin)) == ["AAPL"]
    # No prices yet: the chart says so instead of staying blank.
    await page.wait_for_selector("text=No prices for AAPL in this range.", timeout=20_000)
    # Add MSFT with an upper alert level through the form.
    await page.click("#markets-add-ticker")
    await page.click(".markets-add >> text=MSFT —")
    await page.fill("#markets-add-above", "500")
    await page.click("#markets-add")
    await page.wait_for_selector('.markets-tick[data-ticker="MSFT"]', timeout=20_000)
    assert (await _watched(api, api.admin))["MSFT"]["alert_above"] == 500
    # Edit AAPL's levels in its row; a bad pair is refused with the API's message.
    above = page.locator('[id*="markets-above"][id*="AAPL"]')
    below = page.locator('[id*="markets-below"][id*="AAPL"]')
    save = page.locator('button[id*="markets-save"][id*="AAPL"]')
    await above.fill("150")
    await below.fill("200")
    await save.click()
    await page.wait_for_selector("#markets-watch-message .tw-error", timeout=20_000)
    await below.fill("120")
    await save.click()
    await page.wait_for_selector("text=Saved the alert levels of AAPL.", timeout=20_000)
    levels = (await _watched(api, api.admin))["AAPL"]
    assert (levels["alert_above"], levels["alert_below"]) == (150, 120)
    # Remove MSFT.
    await page.click('button[id*="markets-remove"][id*="MSFT"]')
    await page.wait_for_selector("text=Removed MSFT.", timeout=20_000)
    await page.wait_for_selector('.markets-tick[data-ticker="MSFT"]', state="detached")
    assert list(await _watched(api, api.admin)) == ["AAPL"]
    await page.context.close()

"""The markets page in a real Chromium against the whole stack (simulator quoting AAPL, MSFT,
GOOG, AMZN at 2 ticks/s): live candles over one stream, zoom → finer candles, export,
watchlist editing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
    logs: list[str] = []
    page.on("console", lambda m: logs.append(m.text))
    try:
        await page.wait_for_selector("#markets-resolution >> text=candles of 1s", timeout=20_000)
    except Exception:
        await screenshot(page, "markets-debug")
        print(logs)
        print(await page.inner_text("body"))
        raise
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

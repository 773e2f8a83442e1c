"""Market analytics on the dashboard in a real Chromium, on a seeded market (ticks written as
the ingester writes them): the watchlist's quotes, the chart's indicators from the API, the
RSI/MACD panels, the scanner page."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from playwright.async_api import Browser, Page

from tests.api_support import Api, expect
from tests.browser_support import logged_in
from tests.market_support import Tick, safe_now, walk, write


@contextlib.asynccontextmanager
async def _opened(browser: Browser, api: Api, path: str) -> AsyncIterator[Page]:
    page = await logged_in(browser, api, api.admin, path)
    try:
        yield page
    finally:
        await page.context.close()


async def _wait_for(page: Page, script: str, timeout: float = 20_000) -> Any:
    handle = await page.wait_for_function(script, timeout=timeout)
    return await handle.json_value()


def _quoted_market(now: datetime) -> dict[str, list[Tick]]:
    """QUP closes yesterday at 100 and trades up today; QDN closes at 80 and falls."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ago = now - timedelta(seconds=5)
    up = walk("QUP", today - timedelta(hours=3), today - timedelta(minutes=1), 5)
    up += [(today - timedelta(seconds=1), "QUP", 100.0, 5.0, "")]
    up += [(today + (now - today) / 2, "QUP", 101.1, 5.0, ""), (ago, "QUP", 103.37, 5.0, "")]
    down = walk("QDN", today - timedelta(hours=3), today - timedelta(minutes=1), 6)
    down += [(today - timedelta(seconds=1), "QDN", 80.0, 5.0, "")]
    down += [(ago, "QDN", 78.5, 5.0, "")]
    return {"QUP": up, "QDN": down}


async def test_the_tape_and_table_show_the_quote(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    now = await safe_now()
    market = _quoted_market(now)
    await write(db, [t for ticks in market.values() for t in ticks])
    async with api.client(api.admin) as http:
        for ticker in market:
            expect(await http.post("/api/watchlist", json={"ticker": ticker}), 201)
    async with _opened(browser, api, "/markets?ticker=QUP&range=1h") as page:
        for ticker, ticks in market.items():
            last = max(ticks)[2]
            prev = max(
                t for t in ticks if t[0] < now.replace(hour=0, minute=0, second=0, microsecond=0)
            )[2]
            pct = f"{100 * (last - prev) / prev:+.2f}%"
            tile = f'.markets-tick[data-ticker="{ticker}"]'
            row = f'.markets-watch tr[data-ticker="{ticker}"]'
            for where in (tile, row):
                await page.wait_for_selector(f"{where} .markets-quote-pct >> text={pct}")
                change = await page.inner_text(f"{where} .markets-quote-change")
                assert change == f"{last - prev:+.2f}"
                tone = "tw-up" if last >= prev else "tw-down"
                assert tone in (
                    await page.get_attribute(f"{where} .markets-quote-pct", "class") or ""
                )
            assert await page.inner_text(f"{tile} .markets-tick-price") == f"{last:.2f}"
            assert await page.inner_text(f"{row} .markets-quote-price") == f"{last:.2f}"

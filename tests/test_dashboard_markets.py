"""The markets page in a real Chromium against the whole stack (simulator quoting AAPL, MSFT,
GOOG, AMZN at 2 ticks/s): live candles over one stream, zoom → finer candles, export,
watchlist editing."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page

from dashboard.markets import edits
from tests.api_support import Account, Api
from tests.browser_support import logged_in, screenshot
from tests.stack_support import Stack

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


@contextlib.asynccontextmanager
async def _opened(browser: Browser, api: Api, path: str) -> AsyncIterator[Page]:
    """The page as the admin; closed even when the test fails (an open stream would keep the
    API's shutdown waiting). `path` has the query in the order the frame writes it (other
    params, then `range`): a URL the frame rewrites re-renders the page once more."""
    page = await logged_in(browser, api, api.admin, path)
    try:
        yield page
    finally:
        await page.context.close()


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
    async with _opened(browser, api, "/markets?ticker=AAPL&range=5m") as page:
        await page.wait_for_selector("#markets-resolution >> text=candles of 1s", timeout=20_000)
        # Live: 1 s candles from 2 ticks/s, so the count grows while we watch, within one
        # history load (markets.js's chart.version names it; a reload would re-baseline).
        grown = await _wait_for(
            page,
            f"""() => {{ const gd = document.querySelector("{CHART}");
            const version = window.tickwire_markets.chart.version;
            if (!gd || !gd.data || !version) return false;
            const n = gd.data[0].x.length + gd.data[1].x.length;
            const base = window.__base;
            if (!base || base.version !== version) {{
                window.__base = {{version: version, n: n}}; return false; }}
            return n >= base.n + 4 ? [base.n, n] : false; }}""",
        )
        before = grown[0]
        assert grown[1] >= before + 4
        assert await _stream_clients(api) == 1
        assert await page.evaluate("() => window.tickwire.live.source.readyState") == 1
        await _assert_live_candles_match_the_api(page, api, before)
        # The tape shows both watched tickers with a price and a change, and the price moves live.
        first = await _tape_price(page, "MSFT")
        await _wait_for(page, f"() => {_TAPE_PRICE % 'MSFT'} !== {json.dumps(first)}")
        assert float(await _tape_price(page, "AAPL")) > 0
        await screenshot(page, "markets")
        # A click on the tape selects the ticker, in the URL too.
        await page.click('.markets-tick[data-ticker="MSFT"] .markets-tick-link')
        await page.wait_for_url("**/markets?*ticker=MSFT*")
        await page.wait_for_selector("#markets-title >> text=MSFT", timeout=20_000)
        assert await _stream_clients(api) == 1


_TAPE_PRICE = """document.querySelector('.markets-tick[data-ticker="%s"] .markets-tick-price')
    .textContent"""


async def _tape_price(page: Page, ticker: str) -> str:
    script = f"() => /^[0-9]+[.][0-9]{{2}}$/.test({_TAPE_PRICE % ticker}) && {_TAPE_PRICE % ticker}"
    price: str = await _wait_for(page, script)
    return price


async def _assert_live_candles_match_the_api(page: Page, api: Api, loaded: int) -> None:
    """The candles closed live in the browser equal the API's candles of the same buckets
    (skipping the one current at load, which may miss ticks not yet ingested then)."""
    drawn: list[list[float]] = await page.evaluate(
        f"""() => {{ const gd = document.querySelector("{CHART}");
        const c = gd.data[0], v = gd.data[2];
        return c.x.map((x, i) => [Date.parse(x.endsWith("Z") ? x : x + "Z"),
            c.open[i], c.high[i], c.low[i], c.close[i], v.y[i]]); }}"""
    )
    live = drawn[loaded:]
    assert len(live) >= 2, drawn
    start, end = live[0][0], live[-1][0] + 1000
    async with api.client(api.admin) as http:
        answer = await http.get(
            "/api/stocks/AAPL/history", params={"start": start, "end": end, "interval": "1s"}
        )
    assert answer.status_code == 200, answer.text
    candles = {
        int(datetime.fromisoformat(c["time"].replace("Z", "+00:00")).timestamp() * 1000): c
        for c in answer.json()["candles"]
    }
    for t, o, h, low, c, v in live:
        expected = candles[int(t)]
        assert (o, h, low, c) == pytest.approx(
            (expected["open"], expected["high"], expected["low"], expected["close"])
        ), (t, expected)
        assert v == pytest.approx(expected["volume"] or 0)


def _relayout(update: str) -> str:
    return f"""() => {{ const gd = document.querySelector("{CHART}");
    const utc = (ms) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");
    return Plotly.relayout(gd, {update}).then(() => true); }}"""


async def test_a_zoom_fetches_finer_candles_and_a_reset_comes_back(
    stack: Stack, browser: Browser
) -> None:
    api = stack.api
    await _watch(api, api.admin, "AAPL")
    async with _opened(browser, api, "/markets?ticker=AAPL&range=1h") as page:
        # An hour in at most 320 candles: 15 s each.
        await page.wait_for_selector("#markets-resolution >> text=candles of 15s", timeout=20_000)
        # Overlays toggle (the figure is rebuilt with the same trace layout).
        await page.check("#markets-overlays input[value=ema]")
        await _wait_for(page, f'() => document.querySelector("{CHART}").data[5].visible === true')
        assert (
            await page.evaluate(f'() => document.querySelector("{CHART}").data[5].name') == "EMA 20"
        )
        zoom = '{"xaxis.range": [utc(Date.now() - 60000), utc(Date.now())]}'
        await page.evaluate(_relayout(zoom))
        # The last minute re-fetched: 1 s candles, said so, and the export follows the zoom.
        await page.wait_for_selector("#markets-resolution >> text=candles of 1s", timeout=20_000)
        assert "fixed range" in await page.inner_text("#markets-resolution")
        csv_href = await page.get_attribute("#markets-export a >> text=CSV", "href")
        assert csv_href is not None and "ticker=AAPL" in csv_href
        assert _seconds_between(csv_href) <= 61
        await page.evaluate(_relayout('{"xaxis.autorange": true}'))
        await page.wait_for_selector("#markets-resolution >> text=candles of 15s", timeout=20_000)
        assert "fixed range" not in await page.inner_text("#markets-resolution")
        await page.wait_for_url("**/markets?ticker=AAPL&show=sma%2Cema&range=1h")


def _seconds_between(href: str) -> float:
    query = parse_qs(urlsplit(href).query)
    start, end = (datetime.fromisoformat(query[k][0]) for k in ("start", "end"))
    return (end - start).total_seconds()


async def test_export_links_download_the_charts_range(stack: Stack, browser: Browser) -> None:
    api = stack.api
    await _watch(api, api.admin, "MSFT")
    async with _opened(browser, api, "/markets?ticker=MSFT&range=15m") as page:
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


def _read(path: Path) -> str:
    return path.read_text()


async def _watched(api: Api, account: Account) -> dict[str, Any]:
    async with api.client(account) as http:
        answer = await http.get("/api/watchlist")
    assert answer.status_code == 200, answer.text
    return {e["ticker"]: e for e in answer.json()["items"]}


def _callback_output(body: str | None) -> str:
    """A Dash callback request's `output` (what it updates); "" for any other request."""
    try:
        return str(json.loads(body or "").get("output", ""))
    except (ValueError, AttributeError):
        return ""


@pytest.mark.parametrize(
    ("found", "button"),
    [
        ("markets-add", True),
        ({"type": "markets-remove", "ticker": "AAPL"}, True),
        ({"type": "markets-save", "ticker": "AAPL"}, True),
        ({"type": "markets-offer", "ticker": "AAPL"}, True),
        # From the browser: anything else is no button, never an edit.
        (None, False),
        ("markets-remove", False),
        ({"type": "markets-remove"}, False),
        ({"type": "markets-remove", "ticker": ["AAPL"]}, False),
        ({"type": "board-remove", "ticker": "AAPL"}, False),
        (["markets-add"], False),
    ],
)
def test_only_the_editors_buttons_are_edits(found: Any, button: bool) -> None:
    assert edits.is_button(found) is button


async def test_watchlist_add_edit_remove_from_the_page(api: Api, browser: Browser) -> None:
    async with api.client(api.admin) as http:
        for ticker in ("AAPL", "MSFT"):
            made = await http.post("/api/stocks", json={"ticker": ticker, "shared": True})
            assert made.status_code == 201, made.text
    async with _opened(browser, api, "/markets?range=1h") as page:
        # Empty: says so and offers the stocks.
        await page.wait_for_selector("text=Your watchlist is empty", timeout=20_000)
        # A load asks no edit: the editor's rows arriving call no server callback (it was
        # called at every load, a request that did nothing).
        outputs: list[str] = []
        page.on("request", lambda r: outputs.append(_callback_output(r.post_data)))
        await page.reload()
        await page.wait_for_selector("text=Your watchlist is empty", timeout=20_000)
        await page.wait_for_selector(".markets-offer >> text=AAPL", timeout=20_000)
        await asyncio.sleep(1)
        assert any(o.startswith("..markets-tape-row.") for o in outputs), outputs
        assert not [o for o in outputs if "markets-watch-version" in o], outputs
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

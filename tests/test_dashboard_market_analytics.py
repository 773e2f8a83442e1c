"""Market analytics on the dashboard in a real Chromium, on a seeded market (ticks written as
the ingester writes them): the watchlist's quotes, the chart's indicators from the API, the
RSI/MACD panels, the scanner page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from playwright.async_api import Browser, Page

from tests.api_support import Api, expect
from tests.browser_support import logged_in
from tests.market_support import Tick, safe_now, walk, write
from tests.stack_support import Stack
from tests.test_market import seeded_market


@contextlib.asynccontextmanager
async def _opened(browser: Browser, api: Api, path: str) -> AsyncIterator[Page]:
    page = await logged_in(browser, api, api.admin, path)
    try:
        yield page
    finally:
        await page.context.close()


async def _watch(api: Api, ticker: str) -> None:
    """`ticker` on the admin's watchlist, once the simulator has registered it."""
    async with api.client(api.admin) as http:
        for _ in range(60):
            answer = await http.post("/api/watchlist", json={"ticker": ticker})
            if answer.status_code in (200, 201):
                return
            await asyncio.sleep(0.5)
    raise AssertionError(answer.text)


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


CHART = "#markets-chart .js-plotly-plot"
#: The indicator traces after the candles and the volume (dashboard/markets/chart.py LINES).
LINES = {
    4: "sma:20",
    5: "ema:20",
    6: "bbands:20:2.bb_upper",
    7: "bbands:20:2.bb_lower",
    8: "rsi:14",
    9: "macd:12:26:9.macd",
    10: "macd:12:26:9.macd_signal",
    11: "macd:12:26:9.macd_hist",
}


def _utc(wall: str) -> datetime:
    return datetime.fromisoformat(wall + "+00:00")


def _positions(body: dict[str, Any]) -> dict[datetime, int]:
    """The indicators answer's times → their index."""
    return {datetime.fromisoformat(t.replace("Z", "+00:00")): i for i, t in enumerate(body["time"])}


async def test_overlays_and_panels_are_the_apis_indicators(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    now = await safe_now()
    await write(db, walk("QIND", now - timedelta(hours=3), now - timedelta(seconds=3), 7, (3, 9)))
    async with api.client(api.admin) as http:
        expect(await http.post("/api/watchlist", json={"ticker": "QIND"}), 201)
    path = "/markets?ticker=QIND&show=sma,bollinger,rsi,macd&tz=utc&range=1h"
    async with _opened(browser, api, path) as page:
        await page.wait_for_selector("#markets-resolution >> text=candles of 15s", timeout=20_000)
        figure = await _wait_for(
            page,
            f"""() => {{ const gd = document.querySelector("{CHART}");
            if (!gd || !gd.data || gd.data.length < 12 || !gd.data[11].y.some((v) => v !== null))
                return false;
            return {{data: gd.data.map((t) => ({{x: t.x, y: t.y, visible: t.visible}})),
                panels: [".xy3", ".xy4"].map((s) => !!gd.querySelector(".subplot" + s))}}; }}""",
        )
        # The RSI and MACD panels are drawn (their own subplots, on the chart's x axis).
        assert figure["panels"] == [True, True]
        visible = {i: figure["data"][i]["visible"] for i in LINES}
        assert visible == {
            4: True,
            5: False,
            6: True,
            7: True,
            8: True,
            9: True,
            10: True,
            11: True,
        }
        times = [_utc(x) for x in figure["data"][4]["x"]]
        params = {
            "names": "sma:20,ema:20,bbands:20:2,rsi:14,macd:12:26:9",
            "interval": "15s",
            "start": times[0].isoformat(),
            "end": (times[-1] + timedelta(seconds=15)).isoformat(),
        }
        async with api.client(api.admin) as http:
            body = expect(await http.get("/api/stocks/QIND/indicators", params=params), 200)
        at = _positions(body)
        compared = 0
        for index, key in LINES.items():
            trace = figure["data"][index]
            assert [_utc(x) for x in trace["x"]] == times
            for when, drawn in zip(times, trace["y"], strict=True):
                want = body["series"][key][at[when]]
                assert (drawn is None) == (want is None), (key, when, drawn, want)
                if want is not None:
                    assert abs(drawn - want) <= 1e-9 * max(1.0, abs(want)), (key, when)
                    compared += 1
        assert compared > 8 * 100
        # A toggle: the MACD panel off, the URL says so, the panel is gone.
        await page.uncheck("#markets-overlays input[value=macd]")
        await page.wait_for_url("**show=sma%2Cbollinger%2Crsi*")
        await _wait_for(
            page,
            f"""() => {{ const gd = document.querySelector("{CHART}");
            return gd.data[9].visible === false
                && !gd.querySelector(".subplot.xy4 .plot path"); }}""",
        )


async def test_an_unknown_show_in_the_url_is_ignored(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    now = await safe_now()
    await write(db, walk("QBAD", now - timedelta(hours=1), now - timedelta(seconds=3), 8, (3, 9)))
    async with api.client(api.admin) as http:
        expect(await http.post("/api/watchlist", json={"ticker": "QBAD"}), 201)
    path = "/markets?ticker=QBAD&show=%3Cscript%3E,rsi,macd:1:2:3,rsi&range=1h"
    async with _opened(browser, api, path) as page:
        await page.wait_for_selector("#markets-resolution >> text=candles of", timeout=20_000)
        shown = await _wait_for(
            page,
            f"""() => {{ const gd = document.querySelector("{CHART}");
            return gd && gd.data && gd.data.length === 12 && gd.data.map((t) => t.visible); }}""",
        )
        assert [i for i in LINES if shown[i] is True] == [8]
        checked = await page.eval_on_selector_all(
            "#markets-overlays input:checked", "(els) => els.map((e) => e.value)"
        )
        assert checked == ["rsi"]


_LISTS = ("gainers", "losers", "most_active", "unusual_volume", "breakouts")


async def _shown_lists(page: Page) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = await page.evaluate(
        """(names) => Object.fromEntries(names.map((n) => [n, Array.from(
            document.querySelectorAll(`#scanner-${n.replace("_", "-")} tr[data-ticker]`))
            .map((tr) => tr.dataset.ticker)]))""",
        list(_LISTS),
    )
    return shown


async def test_the_scanner_lists_the_seeded_market_and_links_to_markets(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    now = await safe_now()
    await write(db, seeded_market(now))
    async with _opened(browser, api, "/scanner?window=5m") as page:
        await page.wait_for_selector("#scanner-breakouts tr[data-ticker]", timeout=20_000)
        # Every list as the API has it (asked again until a poll and the API agree: "now" moves).
        for _ in range(10):
            async with api.client(api.admin) as http:
                params: dict[str, str | int] = {"window": "5m", "limit": 10}
                body = expect(await http.get("/api/market/scanner", params=params), 200)
            want = {n: [i["ticker"] for i in body[n]] for n in _LISTS}
            shown = await _shown_lists(page)
            if shown == want:
                break
            await page.wait_for_timeout(1000)
        assert shown == want
        assert all(shown.values()), shown
        assert "UP" in shown["breakouts"] and shown["unusual_volume"][0] == "BURST"
        overview = await page.inner_text("#scanner-overview")
        assert f"{body['overview']['scanned']} tickers scanned over the last 5 minutes" in overview
        # Another window: in the URL, the lists follow.
        await page.check("#scanner-window input[value='24h']")
        await page.wait_for_url("**/scanner?window=24h*")
        await page.wait_for_selector("#scanner-overview >> text=over the last 24 hours")
        # A ticker opens the markets page charting it.
        # (Over 24 h no ticker has a price 24 h ago, so no change: most active it is.)
        await page.wait_for_selector("#scanner-gainers >> text=No ticker rose over the last 24")
        ticker = (await _shown_lists(page))["most_active"][0]
        await page.click(f"#scanner-most-active tr[data-ticker='{ticker}'] a")
        await page.wait_for_url(f"**/markets?ticker={ticker}*")
        await page.wait_for_selector(f"#markets-title >> text={ticker}", timeout=20_000)


async def test_a_bad_window_reads_as_the_default_and_an_empty_market_says_so(
    api: Api, browser: Browser
) -> None:
    async with _opened(browser, api, "/scanner?window=2h%00%3Cb%3E") as page:
        await page.wait_for_selector("#scanner-overview >> text=No ticker has traded")
        assert await page.is_checked("#scanner-window input[value='1h']")
        for name in ("gainers", "losers", "most-active", "unusual-volume", "breakouts"):
            text = await page.inner_text(f"#scanner-{name} .tw-empty")
            assert text.startswith("No ticker") and text.endswith("1 hour.")
        assert await page.locator(".tw-error").count() == 0


async def test_live_candles_get_the_apis_indicators(stack: Stack, browser: Browser) -> None:
    api = stack.api
    await _watch(api, "AAPL")
    path = "/markets?ticker=AAPL&show=rsi,macd&tz=utc&range=5m"
    async with _opened(browser, api, path) as page:
        await page.wait_for_selector("#markets-resolution >> text=candles of 1s", timeout=30_000)
        # The RSI trace grows live (points asked from the API as candles close), within one
        # history load (markets.js's chart.version names it).
        grown = await _wait_for(
            page,
            f"""() => {{ const gd = document.querySelector("{CHART}");
            const version = window.tickwire_markets.chart.version;
            if (!gd || !gd.data || gd.data.length < 12 || !version) return false;
            const n = gd.data[8].x.length, base = window.__base;
            if (!base || base.version !== version) {{
                window.__base = {{version: version, n: n}}; return false; }}
            if (n < base.n + 5) return false;
            return {{base: base.n, candles: gd.data[0].x,
                lines: [8, 9, 10, 11].map((i) => ({{x: gd.data[i].x, y: gd.data[i].y}}))}}; }}""",
            timeout=60_000,
        )
        live = [
            (_utc(x), [line["y"][i] for line in grown["lines"]])
            for i, x in enumerate(grown["lines"][0]["x"])
        ][grown["base"] :]
        assert {t for t, _ in live} <= {_utc(x) for x in grown["candles"]}
        params = {
            "names": "rsi:14,macd:12:26:9",
            "interval": "1s",
            "start": live[0][0].isoformat(),
            "end": (live[-1][0] + timedelta(seconds=1)).isoformat(),
        }
        async with api.client(api.admin) as http:
            body = expect(await http.get("/api/stocks/AAPL/indicators", params=params), 200)
        at = _positions(body)
        keys = ["rsi:14", "macd:12:26:9.macd", "macd:12:26:9.macd_signal", "macd:12:26:9.macd_hist"]
        for when, drawn in live:
            want = [body["series"][k][at[when]] for k in keys]
            for d, w in zip(drawn, want, strict=True):
                assert (d is None) == (w is None) and (
                    w is None or abs(d - w) <= 1e-6 * max(1.0, abs(w))
                ), (when, drawn, want)

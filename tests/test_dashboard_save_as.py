""" "Save as dashboard" on the device page and the markets page, in a real Chromium against a
real API and database: the copy at /d/<uid> shows the page's panels with the same data and
thresholds, is the user's own and editable; without a login the button says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
from playwright.async_api import Browser, Page

from tests.api_support import Api, expect
from tests.browser_support import logged_in, screenshot
from tests.market_support import safe_now, walk, write
from tests.support import unique, wait_until

#: A plot's traces (x, y) and its threshold lines (horizontal shapes' y).
PLOT = """(sel) => {
  const host = document.querySelector(sel);
  const gd = host && (host.classList.contains("js-plotly-plot")
    ? host : host.querySelector(".js-plotly-plot"));
  if (!gd || !gd.data || !gd.layout) return null;
  return {
    traces: gd.data.map((t) => ({x: Array.from(t.x || []), y: Array.from(t.y || []),
                                 type: t.type || "scatter"})),
    levels: (gd.layout.shapes || []).filter((s) => s.y0 === s.y1).map((s) => s.y0),
  };
}"""


def dash_id(**parts: Any) -> str:
    return json.dumps(dict(sorted(parts.items())), separators=(",", ":"))


async def plot(page: Page, selector: str, traces: int = 1) -> dict[str, Any]:
    """The plot under `selector` once Plotly has drawn at least `traces` traces with data."""
    seen: list[Any] = [None]

    async def drawn() -> bool:
        seen[0] = await page.evaluate(PLOT, selector)
        return (
            bool(seen[0]) and len(seen[0]["traces"]) >= traces and bool(seen[0]["traces"][0]["x"])
        )

    await wait_until(f"{selector} drawn", drawn, timeout=30, interval=0.25)
    found: dict[str, Any] = seen[0]
    return found


async def _device(api: Api, db: asyncpg.Connection) -> tuple[Any, str]:
    """A user's device with an hour of temperature and humidity, and a rule on temperature."""
    owner = await api.register("owner")
    device_id = unique("saved:dev.1")
    async with api.client(owner) as client:
        body = {"device_id": device_id, "name": "Kühlraum ❄"}
        expect(await client.post("/api/devices", json=body), 201)
        rule = {"name": "hot", "kind": "THRESHOLD", "device_id": device_id,
                "metric": "temperature", "operator": ">", "threshold": 24.5}  # fmt: skip
        expect(await client.post("/api/alert-rules", json=rule), 201)
    now = datetime.now(UTC)
    rows = [
        (now - timedelta(seconds=30 * i), device_id, metric, base + (i % 7) * 0.5)
        for metric, base in (("temperature", 21.0), ("humidity", 50.0))
        for i in range(1, 80)
    ]
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)", rows
    )
    return owner, device_id


def _board_panel(panel_id: int) -> str:
    return f"[id='{dash_id(type='board-panel', panel=panel_id)}']"


async def _opened_copy(page: Page, note: str) -> str:
    """The uid of the dashboard the page opened after "Save as dashboard" (else what the
    page's note says)."""

    async def elsewhere() -> bool:
        return "/d/" in page.url

    try:
        await wait_until("the saved dashboard opened", elsewhere, timeout=30, interval=0.25)
    except AssertionError as failed:
        said = await page.locator(note).all_inner_texts()
        raise AssertionError(f"{failed}; the page said {said} at {page.url}") from None
    return page.url.split("/d/")[1].split("?")[0]


async def test_save_as_from_the_device_page_opens_the_same_panels_editable(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    owner, device_id = await _device(api, db)
    page = await logged_in(browser, api, owner, f"/devices/{device_id}?range=1h&tz=utc")
    try:
        charts: dict[str, dict[str, Any]] = {}
        for metric in ("temperature", "humidity"):
            charts[metric] = await plot(
                page, f"[id='{dash_id(type='device-chart', metric=metric)}']"
            )
        # The rule's level is the temperature chart's threshold line (the panel code draws it).
        assert charts["temperature"]["levels"] == [24.5], charts["temperature"]["levels"]
        assert charts["humidity"]["levels"] == []
        await page.click("#device-save-as")
        uid = await _opened_copy(page, "#device-save-note")
        await page.wait_for_selector(".board-panel", timeout=30_000)
        assert await page.locator(".board-panel").count() == 3  # two metrics and the alerts
        titles = []
        for panel_id in (1, 2):
            copy = await plot(page, _board_panel(panel_id))
            metric = await page.inner_text(f"{_board_panel(panel_id)} h3")
            titles.append(metric)
            # The same readings (raw: fewer than either plot's pixels) and the same levels.
            assert copy["traces"][0]["y"] == charts[metric]["traces"][0]["y"], metric
            assert copy["traces"][0]["x"] == charts[metric]["traces"][0]["x"], metric
            assert copy["levels"] == charts[metric]["levels"]
        # In the page's order (the API's: by metric).
        assert titles == ["humidity", "temperature"], titles
        await screenshot(page, "save-as-device")
        # The user's own: editable here, and theirs in the API.
        await page.wait_for_selector("#board-edit", state="visible", timeout=20_000)
    finally:
        await page.context.close()
    async with api.client(owner) as client:
        saved = expect(await client.get(f"/api/dashboards/{uid}"), 200)
    assert saved["title"] == "Kühlraum ❄ (copy)"
    assert saved["meta"]["owner_id"] == owner.id and saved["meta"]["can_edit"] is True
    assert [p["type"] for p in saved["panels"]] == ["timeseries", "timeseries", "alerts"]
    assert saved["panels"][1]["targets"] == [{"device_id": device_id, "metric": "temperature"}]


async def test_save_as_from_the_markets_page_opens_its_ticker_as_a_dashboard(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    ticker = unique("SV").upper()[:12]
    now = await safe_now()
    await write(db, walk(ticker, now - timedelta(hours=1), now, 5))
    user = await api.register("trader")
    page = await logged_in(browser, api, user, f"/markets?ticker={ticker}&range=1h")
    try:
        chart = await plot(page, "#markets-chart")
        candles = next(t for t in chart["traces"] if t["type"] == "candlestick")
        await page.click("#markets-save-as")
        uid = await _opened_copy(page, "#markets-save-note")
        await page.wait_for_selector(".board-panel", timeout=30_000)
        assert await page.locator(".board-panel").count() == 3
        copy = await plot(page, _board_panel(2))
        drawn = next(t for t in copy["traces"] if t["type"] == "candlestick")
        assert len(drawn["x"]) > 5 and len(candles["x"]) > 5
        stat = page.locator(f"{_board_panel(1)} .board-stat")
        await stat.wait_for(timeout=20_000)
        assert (await stat.inner_text()).strip() not in ("", "–")
        await page.wait_for_selector("#board-edit", state="visible", timeout=20_000)
    finally:
        await page.context.close()
    async with api.client(user) as client:
        saved = expect(await client.get(f"/api/dashboards/{uid}"), 200)
    assert saved["title"] == f"{ticker} (copy)" and saved["meta"]["owner_id"] == user.id
    assert {p["type"] for p in saved["panels"]} == {"stat", "candlestick", "alerts"}


async def test_save_as_after_the_login_is_gone_says_so_and_saves_nothing(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    owner, device_id = await _device(api, db)
    page = await logged_in(browser, api, owner, f"/devices/{device_id}?range=1h")
    try:
        await plot(page, f"[id='{dash_id(type='device-chart', metric='temperature')}']")
        await page.context.clear_cookies()
        await page.click("#device-save-as")
        note = page.locator("#device-save-note")
        await wait_until("the note", lambda: _text(note), timeout=20, interval=0.25)
        assert "Log in" in await note.inner_text()
        assert "/d/" not in page.url
    finally:
        await page.context.close()
    async with api.client(owner) as client:
        assert expect(await client.get("/api/dashboards"), 200)["items"] == []


async def _text(locator: Any) -> bool:
    return bool((await locator.inner_text()).strip())


async def test_save_as_of_a_ticker_that_cannot_exist_says_so_and_saves_nothing(
    api: Api, browser: Browser
) -> None:
    user = await api.register("trader")
    hostile = quote("../users/ä", safe="")
    page = await logged_in(browser, api, user, f"/markets?ticker={hostile}&range=1h")
    try:
        await page.wait_for_selector("#markets-chart-error .tw-error", timeout=30_000)
        await page.click("#markets-save-as")
        note = page.locator("#markets-save-note")
        await wait_until("the note", lambda: _text(note), timeout=20, interval=0.25)
        assert await note.inner_text() == "No such ticker."
        assert "/d/" not in page.url
    finally:
        await page.context.close()
    async with api.client(user) as client:
        assert expect(await client.get("/api/dashboards"), 200)["items"] == []

"""What a board's load asks, in a real Chromium against a real API and database: its reads go
to the API in process (dashboard/in_process.py) and show exactly what the API lets the viewer
see (her own device's data; someone else's device is the API's own refusal, word for word, as
over HTTP), still counted on /metrics by route and status as HTTP requests are; dcc.Graph's
code comes with the page (dashboard/browser.py), not after the panels' answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from playwright.async_api import Browser, Page

from dashboard.browser import GRAPH_CHUNK
from tests.api_support import Account, Api, expect, samples
from tests.browser_support import logged_in
from tests.support import unique, wait_until

TELEMETRY = "/api/devices/{device_id}/telemetry"


async def _device(api: Api, db: asyncpg.Connection, owner: Account, last: float) -> str:
    device_id = unique("inproc")
    async with api.client(owner) as client:
        expect(await client.post("/api/devices", json={"device_id": device_id}), 201)
    now = datetime.now(UTC)
    rows = [(now - timedelta(seconds=20 * i), device_id, "temperature", last) for i in range(30)]
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)", rows
    )
    return device_id


def _stat(panel_id: int, device_id: str) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "stat",
        "title": f"stat {panel_id}",
        "grid": {"x": 8 * (panel_id - 1), "y": 0, "w": 8, "h": 4},
        "targets": [{"device_id": device_id, "metric": "temperature"}],
        "options": {"decimals": 2},
    }


async def _telemetry_reads(api: Api) -> dict[str, float]:
    """GETs of the device telemetry route counted on /metrics so far, by status."""
    async with api.client() as client:
        text = (await client.get("/metrics")).text
    counts: dict[str, float] = {}
    for (name, labels), value in samples(text).items():
        found = dict(labels)
        if name == "tickwire_api_requests_total" and found.get("route") == TELEMETRY:
            counts[found["status"]] = counts.get(found["status"], 0.0) + value
    return counts


async def _panel_text(page: Page, panel_id: int) -> str:
    selector = json.dumps({"panel": panel_id, "type": "board-panel"}, separators=(",", ":"))
    return await page.inner_text(f"[id='{selector}']")


async def test_a_board_read_in_process_shows_what_the_api_lets_its_viewer_see(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    hers, his = await _device(api, db, alice, 21.5), await _device(api, db, bob, 77.25)
    model = {"title": "Mine and his", "panels": [_stat(1, hers), _stat(2, his)]}
    async with api.client(alice) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
        # What the API answers alice over HTTP for bob's device: the panel must say the same.
        refused = await client.get(f"/api/devices/{his}/telemetry")
    assert refused.status_code == 404, refused.text
    message = refused.json()["error"]["message"]
    before = await _telemetry_reads(api)
    page = await logged_in(browser, api, alice, f"/d/{uid}?range=1h")
    try:

        async def both_drawn() -> bool:
            return "21.50" in await _panel_text(page, 1) and message in await _panel_text(page, 2)

        await wait_until("her stat and the refusal of his", both_drawn, timeout=20)
        assert "77.25" not in await page.inner_text(".board-grid")
        after = await _telemetry_reads(api)
        # Counted as the HTTP requests are: her device's read a 200, his a 404.
        assert after.get("200", 0) > before.get("200", 0), (before, after)
        assert after.get("404", 0) > before.get("404", 0), (before, after)
        # The graphs' code was asked for with the page, before any callback, and only then.
        asked = await page.evaluate(
            "() => performance.getEntriesByType('resource').map((e) => [e.name, e.startTime])"
        )
        graph = [t for name, t in asked if name.endswith(GRAPH_CHUNK)]
        callbacks = [t for name, t in asked if "_dash-update-component" in name]
        assert len(graph) == 1 and callbacks and graph[0] < min(callbacks), asked
    finally:
        await page.context.close()


def _timeseries(panel_id: int, device_id: str) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": f"chart {panel_id}",
        "grid": {"x": 12 * (panel_id - 1), "y": 0, "w": 12, "h": 8},
        "targets": [{"device_id": device_id, "metric": "temperature"}],
    }


#: Each board chart's drawn size against its div's (what Plotly autosizes to), and whether
#: a resize went through Plotly's relayout (it turns the layout's `autosize` on).
_SIZES = """() => [...document.querySelectorAll('.board-grid .js-plotly-plot')].map((gd) => {
  const style = getComputedStyle(gd);
  return {drawn: [gd._fullLayout.width, gd._fullLayout.height],
          div: [parseFloat(style.width), parseFloat(style.height)],
          autosized: gd.layout.autosize === true}; })"""


def _fits(sizes: list[dict[str, Any]]) -> bool:
    return all(abs(d - v) <= 1 for s in sizes for d, v in zip(s["drawn"], s["div"], strict=True))


async def test_a_board_chart_is_not_resized_to_its_own_size_and_follows_a_real_resize(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    """dcc.Graph's two resizes after a chart is drawn, to the size it has, are skipped
    (assets/boards.js `drawnAtSize`); a panel resized by its corner (the edit mode's drag sets
    its width) and a narrower window still redraw the charts at their new size."""
    alice = await api.register("alice")
    device = await _device(api, db, alice, 21.5)
    model = {"title": "Two charts", "panels": [_timeseries(1, device), _timeseries(2, device)]}
    async with api.client(alice) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    page = await logged_in(browser, api, alice, f"/d/{uid}?range=1h")
    try:
        seen: dict[str, Any] = {}

        async def sized(width_below: float = float("inf"), chart: int = 0) -> bool:
            seen["sizes"] = sizes = await page.evaluate(_SIZES)
            return len(sizes) == 2 and _fits(sizes) and sizes[chart]["drawn"][0] < width_below

        async def drawn() -> bool:
            return await sized()

        await wait_until("both charts drawn", drawn, timeout=20)
        await page.wait_for_timeout(600)  # past dcc.Graph's resizes (50 ms, Plotly's 100 ms)
        sizes = await page.evaluate(_SIZES)
        assert _fits(sizes) and not any(s["autosized"] for s in sizes), sizes
        first = sizes[0]["drawn"][0]

        # The edit mode's corner drag: the panel's own width follows the pointer.
        selector = json.dumps({"panel": 1, "type": "board-panel"}, separators=(",", ":"))
        await page.evaluate(
            "(sel) => { document.querySelector(sel).style.width = '300px'; }", f"[id='{selector}']"
        )

        async def narrower() -> bool:
            return await sized(first - 50, 0)

        await wait_until("chart 1 at its panel's new width", narrower, timeout=10)
        sizes = seen["sizes"]
        assert sizes[0]["drawn"][0] <= 300 and sizes[0]["autosized"], sizes
        second = sizes[1]["drawn"][0]

        await page.set_viewport_size({"width": 900, "height": 800})

        async def follows() -> bool:
            return await sized(second - 50, 1)

        await wait_until("chart 2 at the narrower window's width", follows, timeout=10)
    finally:
        await page.context.close()

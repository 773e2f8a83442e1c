"""Dashboards users build (/d/<uid>) in a real Chromium against a real API and database: the
panels render at their grid positions with data, a variable in the address changes the data,
a viewer cannot edit, and an owner moves a panel and saves (a stale save is refused)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import plotly.graph_objects as go
import pytest
from dash import html
from playwright.async_api import Browser, Page

from dashboard import client
from dashboard.boards import data as boards_data
from dashboard.boards import generated
from dashboard.boards import panels as boards_panels
from dashboard.devices import panels as device_panels
from dashboard.portfolio import view as portfolio_view
from devstack.broker import Mosquitto
from devstack.stack import DEMO_DASHBOARDS
from tests.api_support import Api, expect, running_api
from tests.browser_support import logged_in, screenshot
from tests.market_support import safe_now, walk, write
from tests.support import unique, wait_until
from tickwire import journal
from tickwire.events import price_events, telemetry_events

LAST = {"a": 21.5, "b": 55.25}


async def _devices(api: Api, db: asyncpg.Connection) -> dict[str, str]:
    """Two devices of the admin's whose temperature ends at LAST's values."""
    names = {key: unique(f"board-{key}") for key in LAST}
    now = datetime.now(UTC)
    async with api.client(api.admin) as client:
        for device_id in names.values():
            expect(await client.post("/api/devices", json={"device_id": device_id}), 201)
    rows = [
        (now - timedelta(seconds=20 * i), names[key], "temperature", last - i * 0.1)
        for key, last in LAST.items()
        for i in range(60)
    ]
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)", rows
    )
    return names


def _model(names: dict[str, str]) -> dict[str, Any]:
    target = {"device_id": "$dev", "metric": "temperature"}
    red = [{"value": 0, "color": "#73bf69"}, {"value": 50, "color": "#f2495c"}]
    return {
        "title": "Plant floor",
        "refresh": "2s",
        "variables": [
            {
                "name": "dev",
                "kind": "device",
                "options": list(names.values()),
                "default": names["a"],
            },
        ],
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Temperature",
                "grid": {"x": 0, "y": 0, "w": 16, "h": 8},
                "targets": [target],
                "thresholds": red,
            },
            {
                "id": 2,
                "type": "stat",
                "title": "Now",
                "grid": {"x": 16, "y": 0, "w": 8, "h": 4},
                "targets": [target],
                "thresholds": red,
                "options": {"decimals": 2},
            },
            {
                "id": 3,
                "type": "gauge",
                "title": "Gauge",
                "grid": {"x": 16, "y": 4, "w": 8, "h": 4},
                "targets": [target],
                "thresholds": red,
            },
            {
                "id": 4,
                "type": "table",
                "title": "Latest",
                "grid": {"x": 0, "y": 8, "w": 8, "h": 5},
                "targets": [{"device_id": d, "metric": "temperature"} for d in names.values()],
            },
            {
                "id": 5,
                "type": "candlestick",
                "title": "BRD",
                "grid": {"x": 8, "y": 8, "w": 10, "h": 8},
                "targets": [{"ticker": "BRD"}],
            },
            {
                "id": 6,
                "type": "text",
                "title": "Notes",
                "grid": {"x": 18, "y": 8, "w": 6, "h": 3},
                "options": {"content": "## Shift notes"},
            },
            {
                "id": 7,
                "type": "alerts",
                "title": "Alerts",
                "grid": {"x": 18, "y": 11, "w": 6, "h": 5},
            },
            {
                "id": 8,
                "type": "bar",
                "title": "Both",
                "grid": {"x": 0, "y": 13, "w": 8, "h": 3},
                "targets": [{"device_id": d, "metric": "temperature"} for d in names.values()],
            },
        ],
    }


def _panel(panel_id: int) -> str:
    return json.dumps({"panel": panel_id, "type": "board-panel"}, separators=(",", ":"))


async def _stat(page: Page) -> str:
    text: str = await page.evaluate(
        "(id) => { const e = document.getElementById(id); const s = e && e.querySelector("
        "'.board-stat'); return s ? s.textContent : ''; }",
        _panel(2),
    )
    return text


async def _series_lengths(page: Page) -> list[int]:
    found: list[int] = await page.evaluate(
        "(id) => { const e = document.getElementById(id); const g = e && e.querySelector("
        "'.js-plotly-plot'); return g && g.data ? g.data.map((t) => (t.y || []).length) : []; }",
        _panel(1),
    )
    return found


async def test_panels_render_with_data_and_a_variable_changes_them(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    names = await _devices(api, db)
    now = await safe_now()
    await write(db, walk("BRD", now - timedelta(hours=1), now, 5))
    async with api.client(api.admin) as client:
        made = expect(await client.post("/api/dashboards", json=_model(names)), 201)
    uid = made["uid"]
    page = await logged_in(browser, api, api.admin, f"/d/{uid}?range=1h")
    try:
        await page.wait_for_selector(".board-panel", timeout=20_000)
        assert await page.locator(".board-panel").count() == 8
        await wait_until("the stat of device a", lambda: _has(page, "21.50"), timeout=20)

        async def drawn() -> bool:
            return sum(await _series_lengths(page)) >= 30

        await wait_until("the time series drawn", drawn, timeout=20)
        # The panel sits at its grid position: column 1 / span 16.
        await _placed(page, 1, ["1", "span 16", "1", "span 8"])
        candles = await page.evaluate(
            "(id) => document.getElementById(id).querySelector('.js-plotly-plot').data[0].x.length",
            _panel(5),
        )
        assert candles > 5
        assert "Shift notes" in await page.inner_text(f"[id='{_panel(6)}']")
        table = await page.inner_text(f"[id='{_panel(4)}']")
        assert "55.25" in table and "21.5" in table
        await _sorts_by_last(page)
        await _cells_stay_text(page)
        await screenshot(page, "dashboards")
        # Live (the frame's toggle is on): the stat re-fetches at each `refresh`.
        await db.execute(
            "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)",
            datetime.now(UTC),
            names["a"],
            "temperature",
            33.33,
        )
        await wait_until("the stat follows live data", lambda: _has(page, "33.33"), timeout=20)
        # The variable from the address: device b's data in every $dev panel.
        await page.goto(f"{api.url}/d/{uid}?range=1h&var-dev={names['b']}")
        await wait_until("the stat of device b", lambda: _has(page, "55.25"), timeout=20)
        color = await page.evaluate(
            "(id) => getComputedStyle(document.getElementById(id).querySelector('.board-stat'))"
            ".color",
            _panel(2),
        )
        assert color == "rgb(242, 73, 92)"  # above the 50 threshold: red
        await wait_until("device b's series drawn", drawn, timeout=20)
        # A zoom on one time panel is the page's range: every panel re-fetches it.
        await page.evaluate(
            "(id) => { const s = window.tickwire_shared; const gd = document.getElementById(id)"
            ".querySelector('.js-plotly-plot'); return Plotly.relayout(gd, {'xaxis.range': "
            "[s.wall(Date.now() - 300e3), s.wall(Date.now())]}); }",
            _panel(1),
        )
        await page.wait_for_url("**from=*", timeout=20_000)
        assert "var-dev=" in page.url and "to=" in page.url

        async def finer() -> bool:
            lengths = await _series_lengths(page)
            return bool(lengths) and 5 <= sum(lengths) <= 20

        await wait_until("the zoomed range re-fetched", finer, timeout=20)
    finally:
        await page.context.close()


HOSTILE_CELL = '<img src=x onerror="window.__owned=1"><b>bold</b>'


async def _cells_stay_text(page: Page) -> None:
    """A table panel's cells are drawn by boards.js from data: the worst text a cell can carry
    (a name or an alert message with markup) stays text, and a colour that is not one is
    dropped."""
    spec = {
        "head": [HOSTILE_CELL, "last"],
        "rows": [[{"t": HOSTILE_CELL, "c": "red; background: url(x)"}, {"t": "1"}]],
        "sortable": True,
        "extra": "",
    }
    await page.evaluate(
        "(spec) => { const d = document.createElement('div'); d.className = 'board-table';"
        " d.id = 'hostile-table'; d.setAttribute('data-table', JSON.stringify(spec));"
        " document.body.appendChild(d); }",
        spec,
    )
    await page.wait_for_selector("#hostile-table table", timeout=10_000)
    cells = await page.evaluate(
        "() => { const t = document.getElementById('hostile-table');"
        " return {imgs: t.querySelectorAll('img, b').length, owned: window.__owned === 1,"
        " texts: [...t.querySelectorAll('th, td')].map((c) => c.textContent),"
        " colour: t.querySelector('td').style.cssText}; }"
    )
    assert cells["imgs"] == 0 and not cells["owned"], cells
    assert cells["texts"][0] == HOSTILE_CELL and cells["texts"][2] == HOSTILE_CELL, cells
    assert "url" not in cells["colour"], cells
    await page.evaluate("() => document.getElementById('hostile-table').remove()")


async def test_live_points_extend_a_time_series_through_the_one_stream(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    """Live points reach a time series through the page's one stream, in place: the grid is not
    rendered again (the refresh fetches the stat only), and a point that exists only in the
    stream (never in the telemetry table, so no re-fetch could show it) is on the chart. The
    series marks its device's alert in range (a line at the raise, a span to the clear)."""
    names = await _devices(api, db)
    model = _model(names)
    model["panels"] = model["panels"][:2]  # the time series and the stat, both of $dev (a)
    raised, cleared = await _alerts(db, names)
    async with api.client(api.admin) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    page = await logged_in(browser, api, api.admin, "/dashboards")
    asked = _Requests()
    page.on("request", asked.seen)
    streams, renders, refreshes = asked.streams, asked.renders, asked.refreshes
    try:
        await page.goto(f"{api.url}/d/{uid}?range=1h")

        async def drawn() -> bool:
            return sum(await _series_lengths(page)) >= 30

        await wait_until("the time series drawn", drawn, timeout=30)
        # No request of the board's own as it loads: the page's layout (the Pages router's
        # answer, asked once) carries the drawn panels, so no `render` after it (and no save
        # doing nothing, no refresh intervals or JSON field from the server; refreshes aside).
        board = [o for o in asked.outputs if "board-" in o and "board-body" not in o]
        pages = [o for o in asked.outputs if o.startswith(".._pages_content.children")]
        assert board == [] and len(pages) == 1, asked.outputs
        assert await _marks(page) == await page.evaluate(
            "([a, b]) => [['line', tickwire_shared.wall(a), tickwire_shared.wall(a)],"
            " ['rect', tickwire_shared.wall(a), tickwire_shared.wall(b)]]",
            [raised.isoformat(), cleared.isoformat()],
        )
        await wait_until("the stream open", lambda: _stream_open(page), timeout=20)
        before = await _series_lengths(page)
        grid_renders = len(renders)
        # Stream-only points: in the journal (what the API streams), not in `telemetry`.
        start = datetime.now(UTC)
        for i, value in enumerate((71.25, 72.5)):
            rows = [(start + timedelta(seconds=i), names["a"], "temperature", value)]
            async with db.transaction():
                await journal.append(db, telemetry_events(rows))

        async def arrived() -> bool:
            return await _trace_has(page, 72.5)

        await wait_until("the live points on the time series", arrived, timeout=30)
        assert await _trace_has(page, 71.25)
        assert await _series_lengths(page) == [before[0] + 2]
        # Two refresh ticks later (2 s each): the stat fetched again, the grid never rendered
        # again (that would have dropped the stream-only points), and still one stream.
        ticks = len(refreshes)

        async def ticked() -> bool:
            return len(refreshes) >= ticks + 2

        await wait_until("two refreshes of the other panels", ticked, timeout=30)
        assert len(renders) == grid_renders
        assert await _trace_has(page, 72.5)
        assert len(streams) == 1, streams
        assert await page.evaluate("window.tickwire.live.source.readyState") == 1
    finally:
        await page.context.close()


async def test_stat_and_candlestick_follow_the_one_stream(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    """A stat and a candlestick panel follow live points of the page's one stream, between
    refreshes (`refresh` is an hour, so no re-fetch can be what shows them): a reading that
    exists only in the stream is the stat's value (red now: above the 50 threshold) and the
    end of its sparkline; a price tick is the last candle's close and high, and a tick a
    bucket later closes that candle and starts the next."""
    names = await _devices(api, db)
    now = await safe_now()
    await write(db, walk("BLV", now - timedelta(hours=1), now, 7))
    model = _model(names)
    model["refresh"] = "1h"
    stat, candles = model["panels"][1], model["panels"][4]
    candles["targets"] = [{"ticker": "BLV"}]
    model["panels"] = [stat, candles]
    async with api.client(api.admin) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    page = await logged_in(browser, api, api.admin, "/dashboards")
    asked = _Requests()
    page.on("request", asked.seen)
    try:
        await page.goto(f"{api.url}/d/{uid}?range=1h")
        await wait_until("the stat of device a", lambda: _has(page, "21.50"), timeout=30)

        async def candles_drawn() -> bool:
            return bool(await _last_candle(page))

        await wait_until("the candles drawn", candles_drawn, timeout=30)
        await wait_until("the stream open", lambda: _stream_open(page), timeout=20)
        grid_renders, spark = len(asked.renders), await _spark(page)
        base = await _spark_first(page)
        assert await _stat_color(page) == "rgb(115, 191, 105)"  # 21.5: green
        at = datetime.now(UTC) + timedelta(seconds=1)
        async with db.transaction():
            await journal.append(db, telemetry_events([(at, names["a"], "temperature", 71.25)]))
            await journal.append(db, price_events([(at, "BLV", 777.77, 5.0, "")]))
        await wait_until("the stat follows the stream", lambda: _has(page, "71.25"), timeout=20)
        assert await _stat_color(page) == "rgb(242, 73, 92)"  # above 50: red
        change = boards_panels.change_text(base, 71.25, 2, None)
        assert await _stat_change(page) == change and change.startswith("+")

        async def closed_at_tick() -> bool:
            return await _last_candle(page) == [777.77, 777.77]  # close, high

        await wait_until("the last candle follows the stream", closed_at_tick, timeout=20)
        await _next_candle(page, db, at)
        assert await _spark(page) == [spark[0] + 1, 71.25]
        assert asked.refreshes == [] and len(asked.renders) == grid_renders
        assert len(asked.streams) == 1, asked.streams
    finally:
        await page.context.close()


async def _next_candle(page: Page, db: asyncpg.Connection, at: datetime) -> None:
    """A tick a bucket after `at` closes the candle of 777.77 and starts the next one."""
    closed, interval = await page.evaluate(
        "(id) => { const g = document.getElementById(id).querySelector('.js-plotly-plot');"
        " return [g.data[0].x.length, g.layout.meta.interval_ms]; }",
        _panel(5),
    )
    later = at + timedelta(milliseconds=interval)
    async with db.transaction():
        await journal.append(db, price_events([(later, "BLV", 700.5, 1.0, "")]))

    async def next_candle() -> bool:
        return await _last_candle(page) == [700.5, 700.5]

    await wait_until("a new candle from the stream", next_candle, timeout=20)
    assert await page.evaluate(
        "(id) => { const t = document.getElementById(id).querySelector('.js-plotly-plot')"
        ".data[0]; return [t.x.length, t.close[t.close.length - 1]]; }",
        _panel(5),
    ) == [closed + 1, 777.77]


async def _last_candle(page: Page) -> list[float]:
    """The candlestick panel's current (last) candle's [close, high]: trace 1
    (dashboard/markets/chart.py); [] before it is drawn."""
    found: list[float] = await page.evaluate(
        "(id) => { const e = document.getElementById(id); const g = e && e.querySelector("
        "'.js-plotly-plot'); const t = g && g.data && g.data[1]; return t && t.close && "
        "t.close.length ? [t.close[t.close.length - 1], t.high[t.high.length - 1]] : []; }",
        _panel(5),
    )
    return found


async def _spark(page: Page) -> list[Any]:
    """The stat's sparkline: [its length, its last value]."""
    found: list[Any] = await page.evaluate(
        "(id) => { const y = Array.from(document.getElementById(id).querySelector("
        "'.js-plotly-plot').data[0].y); return [y.length, y[y.length - 1]]; }",
        _panel(2),
    )
    return found


async def _spark_first(page: Page) -> float:
    """The first value of the stat's sparkline (the range's first: what its change is from)."""
    found: float = await page.evaluate(
        "(id) => document.getElementById(id).querySelector('.js-plotly-plot').data[0].y[0]",
        _panel(2),
    )
    return found


async def _sorts_by_last(page: Page) -> None:
    """A click on the table's header sorts its rows by that column (values as numbers),
    again: the other way."""
    last = f"[id='{_panel(4)}'] th:has-text('last')"
    await page.click(last)
    assert await _column(page, 4, 1) == ["21.5", "55.25"]
    await page.click(last)
    assert await _column(page, 4, 1) == ["55.25", "21.5"]


async def _column(page: Page, panel_id: int, column: int) -> list[str]:
    """The texts of a table panel's column, top to bottom."""
    found: list[str] = await page.evaluate(
        "([id, i]) => Array.from(document.getElementById(id).querySelectorAll('tbody tr'))"
        ".map((tr) => tr.cells[i].textContent)",
        [_panel(panel_id), column],
    )
    return found


async def _stat_change(page: Page) -> str:
    found: str = await page.evaluate(
        "(id) => document.getElementById(id).querySelector('div.board-stat-change').textContent",
        _panel(2),
    )
    return found


async def _stat_color(page: Page) -> str:
    color: str = await page.evaluate(
        "(id) => getComputedStyle(document.getElementById(id).querySelector('div.board-stat'))"
        ".color",
        _panel(2),
    )
    return color


async def _alerts(db: asyncpg.Connection, names: dict[str, str]) -> tuple[datetime, datetime]:
    """Device a's cleared alert in the range (returned: raised, cleared), which the time
    series marks; device b's (not on the panel) and a's before the range, which it does not."""
    now = datetime.now(UTC)
    raised, cleared = now - timedelta(minutes=5), now - timedelta(minutes=2)
    await _alert(db, names["a"], raised, cleared)
    await _alert(db, names["b"], now - timedelta(minutes=4), None)
    await _alert(db, names["a"], now - timedelta(hours=3), now - timedelta(hours=2))
    return raised, cleared


async def _alert(
    db: asyncpg.Connection, device_id: str, raised: datetime, cleared: datetime | None
) -> None:
    await db.execute(
        """INSERT INTO alerts (kind, subject, device_id, state, raised_at, cleared_at, message)
           VALUES ('HIGH_TEMP', $1, $1, $2, $3, $4, 'too hot')""",
        device_id,
        "CLEARED" if cleared else "ACTIVE",
        raised,
        cleared,
    )


async def _marks(page: Page) -> list[list[str]]:
    """The time series' vertical shapes (alert annotations) as [type, x0, x1]."""
    found: list[list[str]] = await page.evaluate(
        "(id) => { const g = document.getElementById(id).querySelector('.js-plotly-plot');"
        " return (g.layout.shapes || []).filter((s) => s.xref === 'x')"
        ".map((s) => [s.type, String(s.x0), String(s.x1)]); }",
        _panel(1),
    )
    return found


class _Requests:
    """The page's requests that matter here: stream connections, grid renders, refreshes."""

    def __init__(self) -> None:
        self.streams: list[str] = []
        self.renders: list[str] = []
        self.refreshes: list[str] = []
        self.outputs: list[str] = []
        """Every callback request's outputs (`..board-grid.children...board-title…`)."""

    def seen(self, request: Any) -> None:
        if "/api/stream" in request.url:
            self.streams.append(request.url)
        if "_dash-update-component" not in request.url:
            return
        body = request.post_data or ""
        self.outputs.append(json.loads(body)["output"])
        if "board-grid.children" in body:
            self.renders.append(body)
        if "board-body" in body:
            self.refreshes.append(body)


async def _stream_open(page: Page) -> bool:
    state: Any = await page.evaluate(
        "window.tickwire.live.source ? window.tickwire.live.source.readyState : -1"
    )
    return bool(state == 1)


async def _trace_has(page: Page, value: float) -> bool:
    found: bool = await page.evaluate(
        "([id, v]) => { const e = document.getElementById(id); const g = e && e.querySelector("
        "'.js-plotly-plot'); return !!(g && g.data && g.data[0] && Array.from(g.data[0].y || [])"
        ".includes(v)); }",
        [_panel(1), value],
    )
    return found


async def _has(page: Page, text: str) -> bool:
    return text in await _stat(page)


async def test_viewer_cannot_edit_and_owner_saves_a_move(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    names = await _devices(api, db)
    viewer = await api.register("viewer")
    model = _model(names) | {"shared_with": [viewer.id]}
    async with api.client(api.admin) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    page = await logged_in(browser, api, viewer, f"/d/{uid}?range=1h")
    try:
        await page.wait_for_selector(".board-panel", timeout=20_000)
        assert not await page.is_visible("#board-edit")
    finally:
        await page.context.close()
    page = await logged_in(browser, api, api.admin, f"/d/{uid}?range=1h")
    try:
        await page.wait_for_selector(".board-panel", timeout=20_000)
        await page.click("#board-edit")
        wider = await _move_and_resize(page)
        await _edit_panel_2(page, names["b"])
        await page.click("#board-save")
        await page.wait_for_selector("#board-message:has-text('version 2')", timeout=20_000)
        async with api.client(api.admin) as client:
            saved = expect(await client.get(f"/api/dashboards/{uid}"), 200)
            grids = {p["id"]: p["grid"] for p in saved["panels"]}
            assert grids[1]["w"] == 17 and grids[6]["x"] == 18
            assert grids[7] == {"x": 15, "y": 11, "w": 6, "h": 5}
            assert grids[8] == {"x": 0, "y": 13, "w": 10, "h": 4}
            hot = next(p for p in saved["panels"] if p["id"] == 2)
            assert hot["title"] == "Hot now"
            assert hot["targets"] == [{"device_id": names["b"], "metric": "temperature"}]
            assert hot["thresholds"] == [
                {"value": 0, "color": "#73bf69"},
                {"value": 60, "color": "#f2495c"},
            ]
            # Someone else saves: the page's next save is refused and says so.
            expect(await client.put(f"/api/dashboards/{uid}", json=saved), 200)
        await page.click(f"[id='{wider}']")
        await page.click("#board-save")
        await page.wait_for_selector("#board-message:has-text('someone saved')", timeout=20_000)
        await _leaving_asks(page, uid)
    finally:
        await page.context.close()


async def test_build_a_dashboard_from_empty_save_and_reload(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    """New dashboard → a time series of two devices' temperature, a stat with thresholds, a
    table of latest values, added and filled in the side form; a drag and a resize; Save; a
    reload shows the same panels at the same places with the same data."""
    names = await _devices(api, db)
    page = await logged_in(browser, api, api.admin, "/dashboards")
    try:
        await page.click("#boards-new")
        await page.wait_for_url("**/d/*", timeout=20_000)
        uid = page.url.split("/d/")[1].split("?")[0]
        await page.wait_for_selector("#board-edit", state="visible", timeout=20_000)
        await page.click("#board-edit")
        both = "\n".join(f"device {d} temperature" for d in names.values())
        await _add(page, 1, "timeseries", "Temperatures", both, "")
        await _add(page, 2, "stat", "Now", f"device {names['a']} temperature", "0 green\n20 red")
        await _add(page, 3, "table", "Latest", both, "")
        await wait_until("the stat of device a", lambda: _has(page, "21.5"), timeout=20)
        column = await page.evaluate(
            "() => (document.querySelector('.board-grid').clientWidth - 8 * 23) / 24 + 8"
        )
        await _drag(page, f"[id='{_panel(2)}'] .board-drag", 12 * column, 0)
        await _placed(page, 2, ["13", "span 12", "9", "span 8"])
        await _drag(page, f"[id='{_panel(3)}'] .board-resize", 2 * column, 38)
        await _placed(page, 3, ["1", "span 14", "17", "span 9"])
        before = await _board_state(page)
        await page.click("#board-save")
        await page.wait_for_selector("#board-message:has-text('version 2')", timeout=20_000)
        async with api.client(api.admin) as client:
            saved = expect(await client.get(f"/api/dashboards/{uid}"), 200)
        assert [(p["id"], p["type"], p["grid"]) for p in saved["panels"]] == [
            (1, "timeseries", {"x": 0, "y": 0, "w": 12, "h": 8}),
            (2, "stat", {"x": 12, "y": 8, "w": 12, "h": 8}),
            (3, "table", {"x": 0, "y": 16, "w": 14, "h": 9}),
        ]
        assert saved["panels"][1]["thresholds"] == [
            {"value": 0, "color": "green"},
            {"value": 20, "color": "red"},
        ]
        await page.reload()
        await wait_until("the stat of device a", lambda: _has(page, "21.5"), timeout=20)

        async def same() -> bool:
            return await _board_state(page) == before

        await wait_until("the same dashboard after the reload", same, timeout=20)
    finally:
        await page.context.close()


async def _add(
    page: Page, panel_id: int, kind: str, title: str, targets: str, thresholds: str
) -> None:
    """Add a panel of `kind` (the toolbar's type) and fill it in the side form."""
    await page.click("#board-add-type")
    await page.get_by_role("option", name=kind, exact=True).click()
    await page.click("#board-add")
    await page.wait_for_selector(f"[id='{_panel(panel_id)}'] h3:has-text('New {kind}')")
    pick = json.dumps({"panel": panel_id, "type": "board-pick"}, separators=(",", ":"))
    await page.click(f"[id='{pick}']")

    async def picked() -> bool:
        # Filled only once the form shows the panel: the answer to the click, arriving after
        # the fill, would put the panel's old fields back.
        form = page.locator("#board-form-title")
        return await form.is_visible() and await form.input_value() == f"New {kind}"

    await wait_until(f"panel {panel_id} in the form", picked, timeout=20)
    await page.fill("#board-form-title", title)
    await page.fill("#board-form-targets", targets)
    await page.fill("#board-form-thresholds", thresholds)
    await page.click("#board-form-apply")
    await page.wait_for_selector(f"[id='{_panel(panel_id)}'] h3:has-text('{title}')")


async def _board_state(page: Page) -> list[Any]:
    """Each panel as shown: title, grid place, text, the stat's colour, its plots' traces."""
    found: list[Any] = await page.evaluate(
        """() => Array.from(document.querySelectorAll('.board-panel')).map((e) => {
             const s = getComputedStyle(e), stat = e.querySelector('.board-stat');
             return [e.id, e.querySelector('h3').textContent,
               [s.gridColumnStart, s.gridColumnEnd, s.gridRowStart, s.gridRowEnd],
               e.querySelector('.board-panel-body').innerText,
               stat ? getComputedStyle(stat).color : null,
               Array.from(e.querySelectorAll('.js-plotly-plot')).map((g) =>
                 (g.data || []).map((t) => [t.name || '', (t.y || []).length]))]; })"""
    )
    return found


async def _move_and_resize(page: Page) -> str:
    """Edit the grid with the buttons and by dragging; the id of panel 1's "wider" button."""
    move = json.dumps({"how": "right", "panel": 6, "type": "board-move"}, separators=(",", ":"))
    wider = json.dumps({"how": "wider", "panel": 1, "type": "board-move"}, separators=(",", ":"))
    await page.click(f"[id='{move}']")  # already at the right edge: stays in the grid
    await page.click(f"[id='{wider}']")
    await _placed(page, 1, ["1", "span 17", "1", "span 8"])
    # Drag panel 7 three columns left by its handle; resize panel 8 by its corner.
    column = await page.evaluate(
        "() => (document.querySelector('.board-grid').clientWidth - 8 * 23) / 24 + 8"
    )
    await _drag(page, f"[id='{_panel(7)}'] .board-drag", -3 * column, 0)
    await _placed(page, 7, ["16", "span 6", "12", "span 5"])
    await _drag(page, f"[id='{_panel(8)}'] .board-resize", 2 * column, 38)
    await _placed(page, 8, ["1", "span 10", "14", "span 4"])
    return wider


async def _drag(page: Page, selector: str, dx: float, dy: float) -> None:
    await page.locator(selector).scroll_into_view_if_needed()
    box = await page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x + dx / 2, y + dy / 2, steps=3)
    await page.mouse.move(x + dx, y + dy, steps=3)
    await page.mouse.up()


async def _placed(page: Page, panel_id: int, cells: list[str]) -> None:
    """Wait until the panel sits at `cells` (column start, end, row start, end) on the grid."""

    async def there() -> bool:
        found = await page.evaluate(
            "(id) => { const e = document.getElementById(id); if (!e) return null;"
            " const s = getComputedStyle(e);"
            " return [s.gridColumnStart, s.gridColumnEnd, s.gridRowStart, s.gridRowEnd]; }",
            _panel(panel_id),
        )
        return bool(found == cells)

    await wait_until(f"panel {panel_id} at {cells}", there, timeout=20)


async def test_a_provisioned_dashboard_is_read_only_and_saves_as_a_copy(
    database_url: str, broker: Mosquitto, tmp_path: Path, browser: Browser
) -> None:
    async with running_api(
        database_url, broker.url, tmp_path / "api", dashboards_dir=DEMO_DASHBOARDS
    ) as api:
        user = await api.register("user")
        page = await logged_in(browser, api, user, "/d/fleet?range=1h")
        try:
            await page.wait_for_selector(".board-panel", timeout=20_000)
            assert await page.locator(".board-panel").count() == 12
            assert not await page.is_visible("#board-edit")
            await page.click("#board-save-as")
            await page.wait_for_url("**/d/*", timeout=20_000)

            async def elsewhere() -> bool:
                return "/d/fleet" not in page.url

            await wait_until("the copy opened", elsewhere, timeout=20)
            await page.wait_for_selector("#board-edit", state="visible", timeout=20_000)
            uid = page.url.split("/d/")[1].split("?")[0]
        finally:
            await page.context.close()
        async with api.client(user) as client:
            copy = expect(await client.get(f"/api/dashboards/{uid}"), 200)
            assert copy["title"] == "Demo fleet (copy)" and copy["meta"]["owner_id"] == user.id


async def _edit_panel_2(page: Page, device_id: str) -> None:
    # The side form: panel 2's title, targets and thresholds, previewed before saving.
    pick = json.dumps({"panel": 2, "type": "board-pick"}, separators=(",", ":"))
    await page.click(f"[id='{pick}']")
    await page.wait_for_selector("#board-form", state="visible", timeout=20_000)
    # Wide enough to read a title: Dash 4's input container shrinks to nothing in a label
    # sized by its content (docs/dashboard.md).
    box = await page.locator("#board-form-title").bounding_box()
    assert box is not None and box["width"] >= 200, box
    await page.fill("#board-form-title", "Hot now")
    await page.fill("#board-form-targets", f"device {device_id} temperature")
    await page.fill("#board-form-thresholds", "0 #73bf69\n60 #f2495c")
    await page.click("#board-form-apply")
    await page.wait_for_selector(f"[id='{_panel(2)}'] h3:has-text('Hot now')", timeout=20_000)
    await wait_until("the preview of device b", lambda: _has(page, "55.25"), timeout=20)


async def _leaving_asks(page: Page, uid: str) -> None:
    # Unsaved changes: leaving asks; staying keeps the page.
    asked: list[str] = []

    async def stay(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", stay)
    await page.click("text=← Dashboards")
    assert asked and "unsaved" in asked[0]
    assert f"/d/{uid}" in page.url


def test_variable_values_from_the_address_reach_no_path_unless_ids() -> None:
    targets = [{"device_id": "$dev", "metric": "$m"}, {"ticker": "$t"}]
    values = {
        "dev": ["d-1", "../users", "a/b", "x" * 300],
        "m": ["temp", "a b"],
        "t": ["AAPL", "?x"],
    }
    assert boards_data.expand(targets, values) == [
        {"device_id": "d-1", "metric": "temp"},
        {"ticker": "AAPL"},
    ]
    variable = {"name": "dev", "kind": "device", "multi": False}
    assert boards_data.chosen(variable, "evil", ["d-1", "d-2"]) == ["d-1"]
    assert boards_data.chosen(variable | {"multi": True}, ["d-2", "zz"], ["d-1", "d-2"]) == ["d-2"]


def test_a_time_series_of_two_units_has_two_axes_and_threshold_lines() -> None:
    series = [
        {"name": "d temperature", "x": ["2026-01-01 00:00:00"], "y": [20.0], "unit": "°C"},
        {"name": "d humidity", "x": ["2026-01-01 00:00:00"], "y": [40.0], "unit": "%"},
        {"name": "e temperature", "x": ["2026-01-01 00:00:00"], "y": [21.0], "unit": "°C"},
    ]
    steps: list[dict[str, Any]] = [{"value": 30, "color": "red"}]
    panel = {"id": 1, "thresholds": steps}
    graph = boards_panels.timeseries(panel, series, 200, "r")[1]
    figure = graph.figure
    assert [t.yaxis for t in figure.data] == ["y", "y2", "y"]
    assert figure.layout.yaxis2.title.text == "%" and figure.layout.yaxis.title.text == "°C"
    assert [shape.y0 for shape in figure.layout.shapes] == [30]
    assert boards_panels.threshold_color(steps, 29.9) is None
    assert boards_panels.threshold_color(steps, 30) == "red"


def test_alerts_are_annotations_at_their_raise_and_clear() -> None:
    series = [{"name": "d temperature", "x": ["2026-01-01 00:00:00"], "y": [20.0], "unit": "°C"}]
    marks: list[dict[str, Any]] = [
        {"raised": "2026-01-01 00:05:00.000", "cleared": "2026-01-01 00:09:30.000",
         "text": "d: hot", "severity": "critical"},
        {"raised": "2026-01-01 00:20:00.000", "cleared": None, "text": "d: warm",
         "severity": "nonsense"},
    ]  # fmt: skip
    figure = boards_panels.timeseries({"id": 1}, series, 200, "r", marks)[1].figure
    shapes = [(s.type, s.x0, s.x1, s.line.color or s.fillcolor) for s in figure.layout.shapes]
    assert shapes == [
        ("line", "2026-01-01 00:05:00.000", "2026-01-01 00:05:00.000", "#f2495c"),
        ("rect", "2026-01-01 00:05:00.000", "2026-01-01 00:09:30.000", "#f2495c"),
        ("line", "2026-01-01 00:20:00.000", "2026-01-01 00:20:00.000", "#ff9830"),
    ]


def test_figures_built_without_plotly_validation_are_what_it_would_keep() -> None:
    """`theme.figure` skips plotly's validation (its cost was most of a render's figure time):
    every chart the panels, the device page and the portfolio draw must come out of a
    validating `go.Figure` unchanged (an unknown property would raise, a value it would
    coerce would differ)."""
    walls = ["2026-01-01 00:00:00.000", "2026-01-01 00:01:00.000"]
    band = ([0.5, None], [2.0, 3.0])
    first = {"name": "d temperature", "x": walls, "y": [1.0, None], "last": 1.0, "unit": "°C",
             "subject": {"device_id": "d", "metric": "temperature"}, "band": band}  # fmt: skip
    second = {"name": "e humidity", "x": walls, "y": [40, 41], "last": 41, "unit": "%",
              "subject": {"device_id": "e", "metric": "humidity"}, "color": "#ffffff"}  # fmt: skip
    lone = first | {"x": walls[:1], "y": [5.0], "band": None, "subject": None}
    marks: list[dict[str, Any]] = [
        {"raised": walls[0], "cleared": walls[1], "text": "d: hot", "severity": "critical"},
        {"raised": walls[1], "cleared": None, "text": "d: warm", "severity": "info"},
    ]
    panel = {"id": 1, "thresholds": [{"value": 30, "color": "red"}],
             "options": {"unit": "%", "decimals": 1, "min": 0, "max": 100}}  # fmt: skip
    device = generated.device({"device_id": "d"}, ["temperature"], [])["panels"][0]
    points = [{"min": 0.5, "max": 2.0}, {"min": 2.5, "max": 4.0}]
    bucket = {"metric": "temperature", "method": "bucket", "x": walls, "y": [1.0, 3.0],
              "last": 3.0, "points": points}  # fmt: skip
    holdings = [{"ticker": "ACME", "quantity": 2, "market_value": 5.0}]
    figures = [
        boards_panels.time_figure(panel, [first, second], 200, "r", marks),
        boards_panels.time_figure(panel, [lone], 200, "r", None, (walls[0], walls[1])),
        boards_panels.time_figure({"id": 1}, [], 200, "r"),
        boards_panels.bar(panel, [first, second], 200, "r")[1].figure,
        boards_panels.bar(panel, [first, second] * 8, 200, "r", 300)[1].figure,
        boards_panels.stat(panel, [first], 200)[3].figure,
        boards_panels.stat(panel, [], 200)[3].figure,
        boards_panels.gauge(panel, [second], 200)[1].figure,
        boards_panels.gauge(panel, [], 200)[1].figure,
        device_panels.figure(device, bucket, "r", 0, None, UTC, marks),
        portfolio_view.allocation(holdings),
        portfolio_view.value_figure({"time": ["2026-01-01T00:00:00Z"], "value": [1.0]}, UTC, "r"),
    ]
    for figure in figures:
        drawn = figure.to_plotly_json()
        assert go.Figure(drawn).to_plotly_json() == drawn
        assert drawn["layout"]["template"]["layout"]["paper_bgcolor"]  # the dark style's


def test_a_stat_shows_its_change_over_the_range() -> None:
    """The change from the range's first value to its last, with its percentage; no
    percentage from a first value of 0, nothing without data."""
    series = [
        {"name": "d t", "subject": "d", "x": ["a", "b", "c"], "y": [None, 20.0, 21.5], "last": 21.5}
    ]
    panel = {"id": 1, "options": {"decimals": 2, "unit": "°C"}}
    cells = boards_panels.stat(panel, series, 200)
    assert (cells[1].children, cells[2].children) == ("21.50 °C", "+1.50 °C (+7.5 %)")
    assert cells[3].figure.layout.meta["base"] == 20.0  # what the live change starts from
    assert boards_panels.change_text(-4.0, -5.0, None, None) == "-1 (-25.0 %)"
    assert boards_panels.change_text(0.0, 2.0, 1, None) == "+2.0"
    assert boards_panels.stat(panel, [], 200)[2].children == ""


def test_a_panel_that_fails_says_so_in_its_place_and_the_others_are_drawn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A board's panels are fetched together (`asyncio.gather(..., return_exceptions=True)`):
    one that raised shows what stopped it in its own place, the others are drawn: the API's
    refusal word for word, anything else (a bug meeting some device's values) by its kind,
    logged with its traceback. A cancellation is not a panel's failure and goes on."""
    drawn = html.Div("drawn")
    refused = client.ApiFailed(404, "No such device.")
    with caplog.at_level(logging.ERROR, logger="dashboard.boards.panels"):
        shown = [boards_panels.shown(b) for b in (drawn, refused, ZeroDivisionError("0.0"))]
    assert shown[0] is drawn
    assert (shown[1].children, shown[1].className) == ("No such device.", "tw-error")
    assert shown[2].children == "This panel could not be drawn (ZeroDivisionError)."
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ZeroDivisionError]
    with pytest.raises(asyncio.CancelledError):
        boards_panels.shown(asyncio.CancelledError())

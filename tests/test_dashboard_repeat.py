"""Repeated panels and variables in the address, in a real Chromium against a real API and
database: a time series repeated over a multi variable of three devices is three panels, each
with its own device's data; deselecting one in the dropdown leaves two and writes the address;
a reload restores the choice. The layout itself (Grafana's) is a unit test below."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
from playwright.async_api import Browser, Page

from dashboard.boards import repeat
from tests.api_support import Api, expect
from tests.browser_support import logged_in
from tests.support import unique, wait_until

#: Each device's temperature: its last reading, and 0.1 less per step back.
LAST = (11.5, 22.5, 33.5)


async def _three(api: Api, db: asyncpg.Connection) -> list[str]:
    names = [unique(f"rep-{i}") for i in range(len(LAST))]
    now = datetime.now(UTC)
    async with api.client(api.admin) as client:
        for device_id in names:
            expect(await client.post("/api/devices", json={"device_id": device_id}), 201)
    rows = [
        (now - timedelta(seconds=20 * i), name, "temperature", last - i * 0.1)
        for name, last in zip(names, LAST, strict=True)
        for i in range(30)
    ]
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)", rows
    )
    return names


def _model(names: list[str]) -> dict[str, Any]:
    return {
        "title": "Repeated",
        "variables": [{"name": "devs", "kind": "device", "multi": True, "options": names}],
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Temperature of $devs",
                "grid": {"x": 0, "y": 0, "w": 24, "h": 7},
                "targets": [{"device_id": "$devs", "metric": "temperature"}],
                "options": {"repeat": "devs"},
            },
            {
                "id": 2,
                "type": "text",
                "title": "Below",
                "grid": {"x": 0, "y": 7, "w": 24, "h": 2},
                "options": {"content": "under the copies"},
            },
        ],
    }


_DRAWN_JS = """() => Array.from(document.querySelectorAll('.board-grid .board-timeseries')).map(
    (e) => { const g = e.querySelector('.js-plotly-plot'); const t = g && g.data && g.data[0];
      return { title: e.querySelector('h3').textContent, column: getComputedStyle(e)
        .gridColumnStart, device: t && t.meta ? t.meta.device_id : null,
        last: t && t.y && t.y.length ? t.y[t.y.length - 1] : null }; })"""


async def _drawn(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate(_DRAWN_JS)
    return found


async def _shows(page: Page, names: list[str]) -> bool:
    """One drawn panel per name, in order, each with its own device's last reading."""
    drawn = await _drawn(page)
    want = [(n, LAST[i]) for i, n in enumerate(names)] if names else []
    got = [(d["device"], d["last"]) for d in drawn]
    return got == want and all(n in d["title"] for n, d in zip(names, drawn, strict=True))


def _vars(page: Page) -> list[str]:
    return parse_qs(urlsplit(page.url).query).get("var-devs", [])


async def test_a_panel_repeats_per_value_and_the_dropdown_writes_the_address(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    names = await _three(api, db)
    async with api.client(api.admin) as client:
        uid = expect(await client.post("/api/dashboards", json=_model(names)), 201)["uid"]
    page = await logged_in(browser, api, api.admin, f"/d/{uid}?range=1h")
    try:
        await wait_until("three copies, each its device", lambda: _shows(page, names), timeout=30)
        # Side by side across the row, 8 columns each.
        assert [d["column"] for d in await _drawn(page)] == ["1", "9", "17"]
        dropdown = json.dumps({"name": "devs", "type": "board-var"}, separators=(",", ":"))
        await page.click(f"[id='{dropdown}']")
        await page.get_by_role("option", name=names[2], exact=True).click()
        await page.keyboard.press("Escape")
        await wait_until("two copies", lambda: _shows(page, names[:2]), timeout=30)
        # The choice is in the address (one parameter per value), and a reload keeps it.
        await wait_until("the address", lambda: _async(_vars(page) == names[:2]), timeout=10)
        await page.reload()
        await wait_until("two copies again", lambda: _shows(page, names[:2]), timeout=30)
        # Selecting it again adds its copy back.
        await page.click(f"[id='{dropdown}']")
        await page.get_by_role("option", name=names[2], exact=True).click()
        await page.keyboard.press("Escape")
        await wait_until("three copies again", lambda: _shows(page, names), timeout=30)
        await wait_until("the address again", lambda: _async(_vars(page) == names), timeout=10)
    finally:
        await page.context.close()


async def _async(value: bool) -> bool:
    return value


def test_copies_fill_the_row_wrap_and_push_the_panels_below_down() -> None:
    panels = [
        {"id": 1, "type": "stat", "grid": {"x": 0, "y": 0, "w": 6, "h": 4},
         "options": {"repeat": "d"}, "targets": [{"device_id": "$d"}]},
        {"id": 2, "type": "text", "grid": {"x": 0, "y": 4, "w": 24, "h": 2}},
        {"id": 3, "type": "table", "grid": {"x": 12, "y": 6, "w": 12, "h": 3},
         "options": {"repeat": "d", "max_per_row": 2}},
    ]  # fmt: skip
    values = {"d": ["a", "b", "c", "e", "f"]}
    shown = repeat.laid_out(panels, values)
    grids = {p["id"]: (p["grid"]["x"], p["grid"]["y"], p["grid"]["w"]) for p, _ in shown}
    # Five copies of 6 columns (at most 4 a row): a row of four and one below.
    assert [grids[k] for k in (1, "1-2", "1-3", "1-4", "1-5")] == [
        (0, 0, 6), (6, 0, 6), (12, 0, 6), (18, 0, 6), (0, 4, 6),
    ]  # fmt: skip
    bound = {p["id"]: v["d"] for p, v in shown}
    assert bound[1] == ["a"] and bound["1-5"] == ["f"]
    assert grids[2] == (0, 8, 24)  # pushed down by the added row
    # Two a row (max_per_row 2), 12 wide: three rows of 3, after the 4 rows above were added.
    assert [grids[k][:2] for k in (3, "3-2", "3-3", "3-4", "3-5")] == [
        (0, 10), (12, 10), (0, 13), (12, 13), (0, 16),
    ]  # fmt: skip
    # One value (or none): the panel as it is, the variable as chosen.
    one = repeat.laid_out(panels, {"d": ["a"]})
    assert [p["grid"] for p, _ in one] == [p["grid"] for p in panels]
    # Text does not repeat, whatever its options say.
    text = [{"id": 9, "type": "text", "grid": panels[1]["grid"], "options": {"repeat": "d"}}]
    assert len(repeat.laid_out(text, values)) == 1

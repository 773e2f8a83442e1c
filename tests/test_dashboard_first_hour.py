"""The first hour of a new user (issue 15, "Defects"), in a real Chromium at 1600 × 1000: each
test drives what a user ran into and fails on the defect it names."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page

from dashboard import frame
from dashboard.alerts import query as alerts_query
from dashboard.devices import fleet as devices_fleet
from devstack.broker import Mosquitto
from tests.alerts_support import reading
from tests.api_support import Api, running_api
from tests.browser_support import logged_in, screenshot, watch_csp
from tests.stack_support import Stack
from tests.support import publish, unique, wait_until
from tests.test_dashboard_devices import HISTORY, LATEST, dash_id, requests_by_route
from tests.test_dashboard_markets import _watch

WIDE = {"width": 1600, "height": 1000}
CHART = "#markets-chart .js-plotly-plot"


async def wide(page: Page) -> Page:
    await page.set_viewport_size(WIDE)  # type: ignore[arg-type]
    return page


async def test_root_is_never_a_blank_page(api: Api, browser: Browser) -> None:
    """Defect 1: `/` → login → `/?range=1h` showed nothing (also when logged in already)."""
    async with httpx.AsyncClient(base_url=api.url) as http:
        root = await http.get("/", params={"range": "1h"})
    assert root.status_code == 307, root.text
    assert root.headers["location"] == "/markets?range=1h"
    context = await browser.new_context(viewport=WIDE)  # type: ignore[arg-type]
    page = await context.new_page()
    watch_csp(page)
    try:
        await page.goto(f"{api.url}/?range=1h")
        await page.wait_for_url("**/login?next=*", timeout=15_000)
        await page.fill("#login-email", api.admin.email)
        await page.fill("#login-password", api.admin.password)
        await page.click("#login-submit")
        await page.wait_for_url("**/markets?range=1h", timeout=15_000)
        await page.wait_for_selector("#markets-title", timeout=15_000)
        await screenshot(page, "first-hour-1-root-after-login")
        # Logged in already: the same address, the same page.
        await page.goto(f"{api.url}/?range=1h")
        await page.wait_for_url("**/markets?range=1h", timeout=15_000)
        await page.wait_for_selector("#markets-title", timeout=15_000)
        assert (await page.inner_text(".tw-main")).strip()
    finally:
        await context.close()


async def device_with(api: Api, db: Any, device_id: str, rows: list[tuple[Any, ...]]) -> None:
    """A device of the admin's with telemetry `rows` (time, metric, value)."""
    async with api.client(api.admin) as client:
        created = await client.post("/api/devices", json={"device_id": device_id})
        assert created.status_code == 201, created.text
    await db.executemany(
        "INSERT INTO telemetry (time, device_id, metric, value) VALUES ($1, $2, $3, $4)",
        [(t, device_id, m, v) for t, m, v in rows],
    )


async def opened(browser: Browser, api: Api, path: str) -> Page:
    return await wide(await logged_in(browser, api, api.admin, path))


async def test_a_device_page_logs_no_errors_and_uses_the_width(
    api: Api, db: Any, browser: Browser
) -> None:
    """Defects 5 and 10: no `ReferenceError … device-dot` on the console; the charts share the
    whole width; command times on one line; the resolution jargon in a tooltip."""
    device = unique("wide")
    now = datetime.now(UTC)
    rows = [(now - timedelta(seconds=10 * i), m, 20.0 + i % 7) for i in range(60) for m in "ab"]
    await device_with(api, db, device, rows)
    async with api.client(api.admin) as client:
        sent = await client.post(f"/api/devices/{device}/commands", json={"command": "ping"})
        assert sent.status_code in (200, 201, 202), sent.text
    page = await opened(browser, api, f"/devices/{device}?range=1h")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        await page.reload()
        charts = page.locator("#device-charts .js-plotly-plot")
        await charts.nth(1).wait_for(timeout=15_000)
        await page.wait_for_selector("#device-commands table.device-commands tbody tr")
        await page.wait_for_timeout(1000)
        await screenshot(page, "first-hour-10-device-page")
        assert not [e for e in errors if "nonexistent object" in e or "device-dot" in e], errors
        # Two charts, each half of the row: no empty third column.
        grid = await page.locator("#device-charts").bounding_box()
        boxes = [await charts.nth(i).bounding_box() for i in range(2)]
        assert grid and all(boxes)
        used = sum(b["width"] for b in boxes if b) / grid["width"]
        assert used > 0.9, (used, grid, boxes)
        # A command's time is one line.
        cell = page.locator("#device-commands td.tw-when").first
        box = await cell.bounding_box()
        assert box and box["height"] < 40, box  # one line: 29 px; two: 47
        # No jargon in the chart titles: it is the tooltip.
        title = await page.inner_text("#device-charts h3 >> nth=0")
        assert "points" not in title and "px" not in title, title
        tip = await page.get_attribute("#device-charts h3 .device-res >> nth=0", "title")
        assert tip and "points for" in tip, tip
    finally:
        await page.context.close()


async def test_a_missing_device_is_one_message_and_admin_has_no_time_picker(
    api: Api, browser: Browser
) -> None:
    """Defect 8: a missing or forbidden device page said "no device" four times beside an
    active Send form; the admin page showed a time picker and Live toggle doing nothing."""
    owner = await api.register("owner")
    theirs = unique("theirs")
    async with api.client(owner) as client:
        created = await client.post("/api/devices", json={"device_id": theirs})
        assert created.status_code == 201, created.text
    other = await api.register("other")
    page = await wide(await logged_in(browser, api, other, f"/devices/{theirs}"))
    try:
        for missing in (theirs, unique("nope")):
            await page.goto(f"{api.url}/devices/{missing}")
            await page.wait_for_selector("#device-missing .tw-error", timeout=15_000)
            await page.wait_for_timeout(500)
            assert missing in await page.inner_text("#device-missing")
            assert not await page.is_visible("#device-cmd-send")
            assert not await page.is_visible("#device-save-as")
            assert not await page.is_visible("#device-stats")
            assert await page.locator(".tw-error:visible").count() == 1
        await screenshot(page, "first-hour-8-missing-device")
        assert await page.is_visible("#range")  # a page with a time range shows the picker
    finally:
        await page.context.close()
    admin = await opened(browser, api, "/admin")
    try:
        await admin.wait_for_selector("#admin-body .tw-panel", timeout=30_000)
        await admin.wait_for_function(
            "() => getComputedStyle(document.getElementById('time-controls')).display === 'none'",
            timeout=10_000,
        )
        assert not await admin.is_visible("#range")
        assert not await admin.is_visible("#live")
        await screenshot(admin, "first-hour-8-admin")
    finally:
        await admin.context.close()


async def test_a_callback_that_changes_nothing_is_a_204_not_a_logged_500(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Dash answers PreventUpdate 204: the 500 logger inside Dash's middleware must let it by."""
    body = {
        "output": "devices-changed.data",
        "outputs": {"id": "devices-changed", "property": "data"},
        "inputs": [{"id": "devices-poll", "property": "n_intervals", "value": 1}],
        "state": [
            {"id": "devices-state", "property": "data", "value": None},
            {"id": "devices-changed", "property": "data", "value": 0},
        ],
        "changedPropIds": ["devices-poll.n_intervals"],
    }
    async with httpx.AsyncClient(base_url=api.url) as http:  # no login: the poll's GET fails
        with caplog.at_level(logging.ERROR, logger="api"):
            answered = await http.post("/_dash-update-component", json=body)
    assert answered.status_code == 204, answered.text
    assert not [r for r in caplog.records if r.name.startswith("api")], caplog.records


async def test_a_500_is_logged_and_a_stalled_token_check_is_bounded(
    database_url: str,
    db: Any,
    broker: Mosquitto,
    tmp_path: Path,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Defect 6: a frame callback answered 500 and nothing was logged; its cause, the token's
    revocation lookup, waited for the history timeout (30 s) instead of the login's (2 s)."""
    async with running_api(
        database_url, broker.url, tmp_path / "api", db_timeout_s=1.0, db_query_timeout_s=8.0
    ) as api:
        # A callback that fails inside Dash (no such callback): 500, and logged with its traceback.
        async with httpx.AsyncClient(base_url=api.url) as http:
            body = {"output": "nope.children", "outputs": {"id": "nope", "property": "children"},
                    "inputs": [], "changedPropIds": []}  # fmt: skip
            with caplog.at_level(logging.ERROR, logger="api"):
                failed = await http.post("/_dash-update-component", json=body)
        assert failed.status_code == 500, failed.text
        logged = [r for r in caplog.records if "/_dash-update-component" in r.getMessage()]
        assert logged and logged[0].exc_info is not None, caplog.records
        page = await wide(await logged_in(browser, api, api.admin, "/devices?range=30d"))
        try:
            async with api.client(api.admin) as client, db.transaction():
                await db.execute("LOCK TABLE revoked_tokens IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                me = await client.get("/users/me")
                elapsed = time.monotonic() - started
                assert me.status_code == 503, me.text
                assert me.json()["error"]["code"] == "database_unavailable"
                assert elapsed < 4, elapsed  # the login's bound (1 s here), not the 8 s one
                # The page says the API is not answering; it neither hangs nor logs the user out.
                await page.goto(f"{api.url}/devices?range=30d")
                await page.wait_for_selector("#user .tw-error", timeout=10_000)
                assert "/login" not in page.url
                await screenshot(page, "first-hour-6-database-stalled")
            await page.reload()
            await page.wait_for_selector(f"#user >> text={api.admin.email}", timeout=15_000)
        finally:
            await page.context.close()


FLEET_VIEW = """() => Array.from(document.querySelectorAll(".devices-card"))
  .filter((c) => c.style.display !== "none")
  .sort((a, b) => Number(a.style.order) - Number(b.style.order))
  .map((c) => c.querySelector(".devices-id").textContent)"""
SPARK_PARTS = """(img) => {
  const svg = decodeURIComponent(img.getAttribute("src") || "");
  return (svg.match(/<polyline/g) || []).length + (svg.match(/<circle/g) || []).length;
}"""


async def test_the_fleet_grid_searches_filters_sorts_and_labels_its_sparklines(
    api: Api, broker: Mosquitto, ingester: Any, browser: Browser
) -> None:
    """Defect 9: no search, sort or status filter; the sparkline's metric unlabelled, without
    units, drawn across outages; one history call per card for the first paint."""
    ids = await two_of_four_online(api, broker)
    before = await requests_by_route(api)
    page = await opened(browser, api, "/devices?range=5m")
    try:
        await page.wait_for_function(f"() => ({FLEET_VIEW})().length === 4", timeout=15_000)
        await page.wait_for_timeout(1000)
        after = await requests_by_route(api)
        assert after[LATEST] - before[LATEST] == 1, (before, after)  # one call, every card
        assert after[HISTORY] == before[HISTORY]
        assert await page.evaluate(FLEET_VIEW) == sorted(ids)
        await page.fill("#devices-search", "PUMP")
        await page.wait_for_function(f"() => ({FLEET_VIEW})().length === 2")
        assert await page.evaluate(FLEET_VIEW) == ["pump-1", "pump-2"]
        assert await page.inner_text("#devices-shown") == "2 of 4 shown"
        await page.click("#devices-status")
        await page.get_by_role("option", name="online").click()
        await page.wait_for_function(f"() => ({FLEET_VIEW})().length === 1")
        assert await page.evaluate(FLEET_VIEW) == ["pump-1"]
        await page.fill("#devices-search", "")
        await page.click("#devices-status")
        await page.get_by_role("option", name="any status").click()
        await page.click("#devices-sort")
        await page.get_by_role("option", name="offline first").click()
        await page.wait_for_function(f"() => ({FLEET_VIEW})()[0] === 'fan-2'")
        assert await page.evaluate(FLEET_VIEW) == ["fan-2", "pump-2", "fan-1", "pump-1"]
        await sparklines_are_labelled_and_gapped(page)
        # The view is in the URL: a link to it shows the same.
        await page.wait_for_url("**sort=status*metric=temperature*")
        await page.goto(f"{api.url}/devices?range=5m&q=fan&status=UNKNOWN&sort=status")
        await page.wait_for_function(f"() => ({FLEET_VIEW})().length === 1", timeout=15_000)
        assert await page.evaluate(FLEET_VIEW) == ["fan-2"]
        assert await page.input_value("#devices-search") == "fan"
        await screenshot(page, "first-hour-9-fleet")
    finally:
        await page.context.close()


async def sparklines_are_labelled_and_gapped(page: Page) -> None:
    # The sparkline says what it draws, with its unit; another metric is one choice away.
    label = page.locator(f"[id='{dash_id(type='devices-spark-label', device='pump-1')}']")
    assert (await label.inner_text()).startswith("humidity (%)")
    await page.click("#devices-metric")
    await page.get_by_role("option", name="temperature (°C)").click()
    await page.wait_for_function(
        "(id) => document.getElementById(id).textContent.startsWith('temperature (°C)')",
        arg=dash_id(type="devices-spark-label", device="pump-1"),
        timeout=10_000,
    )
    values = page.locator(f"[id='{dash_id(type='devices-values', device='pump-1')}']")
    assert "temperature 21.50 °C" in await values.inner_text()
    # Readings, an outage longer than the offline timeout (60 s), readings: two lines.
    start = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    burst = [
        {"time": datetime.fromtimestamp(start + s, UTC).isoformat(),
         "values": {"temperature": 20 + s % 3}}
        for s in (*range(0, 10), *range(300, 310))
    ]  # fmt: skip
    await page.evaluate(
        """([device, readings]) => { const live = window.tickwire.live;
             live.pending.push({kind: "telemetry", id: 0,
               data: {device_id: device, readings: readings}});
             live.flush(); }""",
        ["pump-1", burst],
    )
    spark = page.locator(f"[id='{dash_id(type='devices-spark', device='pump-1')}']")
    await page.wait_for_function(
        f"(id) => ({SPARK_PARTS})(document.getElementById(id)) >= 2",
        arg=dash_id(type="devices-spark", device="pump-1"),
        timeout=10_000,
    )
    # The newest reading (now), then 2030: three stretches, never one line across.
    assert await spark.evaluate(SPARK_PARTS) == 3


async def two_of_four_online(api: Api, broker: Mosquitto) -> list[str]:
    """Four devices of the admin's, two of them ONLINE with a temperature and a humidity."""
    ids = ["pump-1", "pump-2", "fan-1", "fan-2"]
    async with api.client(api.admin) as client:
        for device in ids:
            body = {"device_id": device, "name": f"{device} hall", "offline_timeout_s": 60}
            created = await client.post("/api/devices", json=body)
            assert created.status_code == 201, created.text
    live = [reading(d, temperature=21.5, humidity=40.0) for d in ("pump-1", "fan-1")]
    await asyncio.to_thread(publish, broker.url, live)

    async def online() -> bool:
        async with api.client(api.admin) as client:
            items = (await client.get("/api/devices")).json()["items"]
        return sum(d["status"] == "ONLINE" for d in items) == 2  # type: ignore[no-any-return]

    await wait_until("pump-1 and fan-1 ONLINE", online, timeout=15, interval=0.2)
    return ids


AXIS = """(id) => { const gd = document.getElementById(id).querySelector(".js-plotly-plot");
  const ticks = Array.from(gd.querySelectorAll(".xtick text")).map((t) => t.textContent);
  const [a, b] = gd._fullLayout.xaxis.range.map((v) => new Date(v.replace(" ", "T") + "Z"));
  return {ticks: ticks, spanS: (b - a) / 1000, markers: gd.querySelectorAll(".point").length};
}"""


async def test_a_lone_point_is_a_marker_on_a_sensible_axis(
    api: Api, db: Any, browser: Browser
) -> None:
    """Defect 4: one point in range drew an empty chart, its axis "13:59:59.999 … 14:00:00.0005"."""
    device = unique("lone")
    await device_with(api, db, device, [(datetime.now(UTC) - timedelta(minutes=10), "a", 21.5)])
    page = await opened(browser, api, f"/devices/{device}?range=1h&live=0")
    try:
        chart = dash_id(type="device-chart", metric="a")
        await page.wait_for_selector(f"[id='{chart}'] .js-plotly-plot", timeout=15_000)
        await page.wait_for_timeout(500)
        axis = await page.evaluate(AXIS, chart)
        await screenshot(page, "first-hour-4-lone-point")
        assert axis["markers"] == 1, axis
        assert 50 * 60 < axis["spanS"] < 70 * 60, axis  # the hour asked for
        assert not [t for t in axis["ticks"] if "." in t], axis  # no milliseconds
    finally:
        await page.context.close()


LAST_X = """(id) => { const gd = document.getElementById(id).querySelector(".js-plotly-plot");
  return gd.data[0].x[gd.data[0].x.length - 1]; }"""


async def test_one_time_zone_for_the_page_the_browsers_or_utc(
    api: Api, db: Any, browser: Browser
) -> None:
    """Defect 3: the From/To inputs were 18 px wide and in the browser's zone while the charts
    were in UTC. Now every time is in one zone, stated in the bar: the browser's, or UTC."""
    zone = ZoneInfo("America/New_York")
    device = unique("zoned")
    point = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    await device_with(
        api, db, device, [(point - timedelta(minutes=1), "a", 1.0), (point, "a", 2.0)]
    )
    page = await in_new_york(browser, api, f"/devices/{device}%3Frange%3D1h")
    try:
        chart = dash_id(type="device-chart", metric="a")
        await page.wait_for_selector(f"[id='{chart}'] .js-plotly-plot", timeout=15_000)
        assert "America/New_York" in await page.inner_text("#tz")
        wall = point.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        assert (await page.evaluate(LAST_X, chart)).startswith(wall)
        # The custom range: readable inputs, in the same zone as the chart.
        await page.click(".tw-range")
        await page.click("text=Custom range")
        await page.wait_for_url("**from=*")
        start = datetime.fromisoformat(parse_qs(urlsplit(page.url).query)["from"][0])
        box = await page.locator("#range-from").bounding_box()
        assert box and box["width"] >= 140, box
        shown = await page.input_value("#range-from")
        wall = start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        assert shown == (wall[:16] if wall.endswith(":00") else wall), shown
        typed = (point - timedelta(minutes=5)).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        await page.fill("#range-from", typed)
        await page.press("#range-from", "Enter")
        await page.wait_for_function(
            "(t) => new URLSearchParams(location.search).get('from') === t",
            arg=(point - timedelta(minutes=5)).replace(second=0).isoformat().replace("+00:00", "Z")
            .replace("Z", ".000Z"),
        )  # fmt: skip
        await screenshot(page, "first-hour-3-browser-zone")
        # UTC is one click away, and then everything is UTC.
        await page.click("#tz")
        await page.wait_for_url("**tz=utc*")
        await page.wait_for_function(
            "([id, t]) => document.getElementById(id).querySelector('.js-plotly-plot')"
            ".data[0].x.slice(-1)[0].startsWith(t)",
            arg=[chart, point.strftime("%Y-%m-%d %H:%M:%S")],
            timeout=10_000,
        )
        assert "UTC" in await page.inner_text("#tz")
        assert await page.input_value("#range-from") == typed_utc(point)
        await screenshot(page, "first-hour-3-utc")
    finally:
        await page.context.close()


def typed_utc(point: datetime) -> str:
    return (point - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")


async def test_a_zoom_is_the_pages_range_live_off_and_the_toast_clear_of_the_bar(
    stack: Stack, browser: Browser
) -> None:
    """Defect 7: after a zoom the toast covered the bar, the bar said "● live" while the chart
    said paused, and Export took the picker's range. A zoom now sets the page's range."""
    api = stack.api
    await _watch(api, api.admin, "AAPL")
    # 5 minutes: 1 s candles, several to zoom into after a few seconds.
    page = await opened(browser, api, "/markets?ticker=AAPL&range=5m")
    try:
        await page.wait_for_selector("#markets-resolution >> text=candles of", timeout=20_000)
        await page.wait_for_selector("#stream-status >> text=live", timeout=15_000)
        await page.wait_for_timeout(5000)  # a few seconds of ticks to zoom into
        # A drag on the chart, as a user zooms: plotly's own zoom, its own toast.
        plot = await page.locator(f"{CHART} .nsewdrag").first.bounding_box()
        assert plot
        y = plot["y"] + plot["height"] / 2
        await page.mouse.move(plot["x"] + plot["width"] * 0.5, y)
        await page.mouse.down()
        await page.mouse.move(plot["x"] + plot["width"] * 0.95, y, steps=8)
        await page.mouse.up()
        await page.wait_for_url("**from=*", timeout=10_000)
        query = parse_qs(urlsplit(page.url).query)
        assert "range" not in query and query["ticker"] == ["AAPL"]
        start, end = (datetime.fromisoformat(query[k][0]) for k in ("from", "to"))
        await page.wait_for_selector("#markets-resolution >> text=fixed range", timeout=20_000)
        # The bar agrees: a custom range, not live, no stream.
        assert await page.input_value("#range-from")
        assert not await page.is_checked("#live input[type=checkbox]")
        await page.wait_for_function(
            "() => !document.getElementById('stream-status').textContent.includes('live')"
        )
        # Export is the zoomed range.
        href = await page.get_attribute("#markets-export a >> text=CSV", "href") or ""
        asked = parse_qs(urlsplit(href).query)
        assert datetime.fromisoformat(asked["start"][0]) == start
        assert datetime.fromisoformat(asked["end"][0]) == end
        # The toast, if plotly shows one, is clear of the bar.
        bar = await page.locator("#bar").bounding_box()
        toast = page.locator(".plotly-notifier .notifier-note")
        if await toast.count():
            box = await toast.first.bounding_box()
            assert bar and box and box["y"] > bar["y"] + bar["height"], (bar, box)
        await screenshot(page, "first-hour-7-zoomed")
        # Live again means "up to now": the range before the zoom, streaming.
        await page.check("#live input[type=checkbox]")
        await page.wait_for_url("**/markets?ticker=AAPL&range=5m", timeout=10_000)
        await page.wait_for_selector("#stream-status >> text=live", timeout=15_000)
    finally:
        await page.context.close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("UTC", "UTC"),
        (None, "UTC"),
        ("", "UTC"),
        ("a" * 10_000, "UTC"),
        ("../../etc/passwd", "UTC"),
        ("/etc/localtime", "UTC"),
        ("x\x00y", "UTC"),
        ("Europe", "UTC"),
        ("zone.tab", "UTC"),
        (5, "UTC"),
    ],
)
def test_the_pages_zone_is_a_known_name_or_utc(name: Any, expected: str) -> None:
    """The zone comes from the browser (the `timerange` store): any value is a zone or UTC."""
    assert str(frame.zone({"tz": name})) == expected
    zone = frame.zone({"tz": name})
    back = frame.from_wall(frame.wall("2026-07-01T12:00:00Z", zone), zone)
    assert back == "2026-07-01T12:00:00+00:00"


def test_the_alerts_page_says_its_range_in_the_pages_zone() -> None:
    timerange = {"range": "custom", "start": "2026-07-01T12:00:00Z", "end": None}
    query = alerts_query.params(None, None, None, None, timerange | {"tz": "Europe/Berlin"})
    said = alerts_query.describe(query, timerange | {"tz": "Europe/Berlin"})
    assert said == "Raised between 2026-07-01 14:00:00 and now (Europe/Berlin)", said
    said = alerts_query.describe(query, timerange | {"tz": "UTC"})
    assert said == "Raised between 2026-07-01 12:00:00 and now (UTC)", said


def test_the_fleet_view_from_a_hostile_query_is_the_default() -> None:
    hostile = {"q": "x" * 10_000, "status": "<script>", "sort": "../", "metric": ["a"]}
    view = devices_fleet.view(hostile)
    assert view["status"] == "all" and view["sort"] == "id"
    assert len(view["q"]) == 100 and view["metric"] == "['a']"
    good = {"q": "pump", "status": "OFFLINE", "sort": "seen", "metric": "humidity"}
    assert devices_fleet.view(good) == good
    assert devices_fleet.view({}) == {"q": "", "status": "all", "sort": "id", "metric": None}


async def in_new_york(browser: Browser, api: Api, path: str) -> Page:
    """A browser in New York at 1600 × 1000, logged in as the admin, going to `path` (quoted)."""
    context = await browser.new_context(
        viewport=WIDE,  # type: ignore[arg-type]
        timezone_id="America/New_York",
    )
    page = await context.new_page()
    watch_csp(page)
    await page.goto(f"{api.url}/login?next={path}")
    await page.fill("#login-email", api.admin.email)
    await page.fill("#login-password", api.admin.password)
    await page.click("#login-submit")
    return page

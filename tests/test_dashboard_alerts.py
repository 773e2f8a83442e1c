"""The alerts page in a real Chromium: acknowledging an alert changes its state in the page and
in the API; an alert the engine raises appears live; filters (and links with filters) narrow the
table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import asyncpg
from playwright.async_api import Browser, Page

from dashboard.alerts import query as alerts_query
from devstack.broker import Mosquitto
from tests.alerts_support import reading
from tests.api_support import Api
from tests.browser_support import logged_in, screenshot
from tests.ingest_support import RunningIngester
from tests.support import publish, unique


async def add_device(api: Api, device_id: str) -> None:
    async with api.client(api.admin) as client:
        created = await client.post("/api/devices", json={"device_id": device_id})
        assert created.status_code == 201, created.text


async def insert_alert(
    db: asyncpg.Connection, kind: str, device_id: str, state: str = "ACTIVE", ago_s: float = 5
) -> int:
    raised = datetime.now(UTC) - timedelta(seconds=ago_s)
    alert_id: int = await db.fetchval(
        """INSERT INTO alerts (kind, subject, device_id, state, raised_at, message, severity,
               cleared_at)
           VALUES ($1, $2, $2, $3, $4, $5, 'critical',
                   CASE WHEN $3 = 'CLEARED' THEN $4::timestamptz END) RETURNING id""",
        kind,
        device_id,
        state,
        raised,
        f"{kind} on {device_id}",
    )
    return alert_id


async def row_state(page: Page, alert_id: int) -> str | None:
    return await page.get_attribute(f"#alerts-row-{alert_id}", "data-state")


async def test_acknowledge_changes_the_state_in_the_page_and_the_api(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    device = unique("hot")
    await add_device(api, device)
    active = await insert_alert(db, "HIGH_TEMP", device)
    cleared = await insert_alert(db, "OFFLINE", device, state="CLEARED", ago_s=60)
    page = await logged_in(browser, api, api.admin, "/alerts")
    await page.wait_for_selector(f"#alerts-row-{active}", timeout=15_000)
    # The default filter is "open": the cleared alert is not listed.
    assert await page.locator(f"#alerts-row-{cleared}").count() == 0
    assert await row_state(page, active) == "ACTIVE"
    await screenshot(page, "alerts")
    await page.click(f"#alerts-row-{active} .alerts-ack")
    await page.wait_for_selector(f"#alerts-row-{active}[data-state=ACKED]", timeout=10_000)
    assert await page.locator(f"#alerts-row-{active} .alerts-ack").count() == 0
    async with api.client(api.admin) as client:
        alert = (await client.get(f"/api/alerts/{active}")).json()
    assert alert["state"] == "ACKED" and alert["acked_by"] == api.admin.id
    # A reload shows the stored state, not only what the page remembered.
    await page.reload()
    await page.wait_for_selector(f"#alerts-row-{active}[data-state=ACKED]", timeout=15_000)
    await page.context.close()


async def test_filters_narrow_the_table(api: Api, db: asyncpg.Connection, browser: Browser) -> None:
    one, two = unique("dev"), unique("dev")
    await add_device(api, one)
    await add_device(api, two)
    first = await insert_alert(db, "HIGH_TEMP", one)
    second = await insert_alert(db, "OFFLINE", two)
    cleared = await insert_alert(db, "OFFLINE", two, state="CLEARED", ago_s=60)
    page = await logged_in(browser, api, api.admin, "/alerts")
    await page.wait_for_selector(f"#alerts-row-{second}", timeout=15_000)
    await choose(page, "alerts-kind", "OFFLINE")
    await page.wait_for_selector(f"#alerts-row-{first}", state="detached", timeout=10_000)
    assert await page.locator(f"#alerts-row-{second}").count() == 1
    await choose(page, "alerts-state", "Cleared")
    await page.wait_for_selector(f"#alerts-row-{cleared}", timeout=10_000)
    assert await page.locator(f"#alerts-row-{second}").count() == 0
    await choose(page, "alerts-state", "Any state")
    await page.wait_for_selector(f"#alerts-row-{second}", timeout=10_000)
    assert await page.locator(f"#alerts-row-{cleared}").count() == 1
    await choose(page, "alerts-device", one)
    await page.wait_for_selector("#alerts-table >> text=No alerts match", timeout=10_000)
    # The filters are in the address (the frame's range kept), so the view can be shared.
    await page.wait_for_url(f"**/alerts?*device={one}*", timeout=10_000)
    query = parse_qs(urlsplit(page.url).query)
    assert (query["state"], query["kind"], query["device"]) == (["any"], ["OFFLINE"], [one])
    assert "range" in query
    # A link can open the page filtered.
    await page.goto(f"{api.url}/alerts?state=ACTIVE&device={two}")
    await page.wait_for_selector(f"#alerts-row-{second}", timeout=15_000)
    assert await page.locator("tr.alerts-row").count() == 1
    assert await page.inner_text("#alerts-state") == "Active"
    await page.context.close()


async def choose(page: Page, dropdown: str, option: str) -> None:
    await page.click(f"#{dropdown}")
    await page.get_by_role("option", name=option, exact=True).click()


async def test_a_raised_alert_arrives_live(
    api: Api, ingester: RunningIngester, broker: Mosquitto, browser: Browser
) -> None:
    device, other = unique("live"), unique("live")
    await add_device(api, device)
    await add_device(api, other)
    page = await logged_in(browser, api, api.admin, "/alerts")
    await page.wait_for_selector("#alerts-table >> text=No alerts match", timeout=15_000)
    await page.wait_for_selector("#stream-status.live", timeout=10_000)
    assert (await stream_url(page)).endswith("/api/stream?kinds=alert")  # every alert
    await asyncio.to_thread(publish, broker.url, [reading(device, temperature=45.0)])
    row = page.locator("tr.alerts-row", has_text=device)
    await row.wait_for(timeout=15_000)
    assert await row.get_attribute("data-state") == "ACTIVE"
    assert "HIGH_TEMP" in await row.inner_text()
    # Filtered on a device, the page follows only that device's events.
    await choose(page, "alerts-device", other)
    await row.wait_for(state="detached", timeout=10_000)
    await page.wait_for_function(
        "([id]) => { const s = window.tickwire.live.source;"
        " return s && s.url.endsWith('devices=' + id + '&kinds=alert') && s.readyState === 1; }",
        arg=[other],
        timeout=10_000,
    )
    await asyncio.to_thread(publish, broker.url, [reading(other, temperature=45.0)])
    await page.locator("tr.alerts-row", has_text=other).wait_for(timeout=15_000)
    await page.context.close()


async def stream_url(page: Page) -> str:
    url: str = await page.evaluate("window.tickwire.live.source.url")
    return url


def test_the_query_follows_filters_and_range() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    opened = alerts_query.params("open", "OFFLINE", "d1", None, {"range": "5m"}, now)
    assert opened["state"] == "open" and opened["since"] is None  # open: whenever raised
    assert opened["kind"] == "OFFLINE" and opened["device_id"] == "d1" and opened["ticker"] is None
    recent = alerts_query.params("any", None, None, "AAPL", {"range": "15m"}, now)
    assert recent["state"] is None and recent["since"] == (now - timedelta(minutes=15)).isoformat()
    custom = {"range": "custom", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    window = alerts_query.params("CLEARED", None, None, None, custom, now)
    assert (window["since"], window["until"]) == (custom["start"], custom["end"])
    assert alerts_query.stream_filter(None, None) == {
        "tickers": [],
        "devices": [],
        "all": True,
        "kinds": ["alert"],
    }
    assert alerts_query.stream_filter("d1", None) == {
        "tickers": [],
        "devices": ["d1"],
        "kinds": ["alert"],
    }


async def test_acknowledge_all_shown_and_silence_a_device(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    devices = [unique("storm"), unique("storm")]
    for device in devices:
        await add_device(api, device)
    active = [await insert_alert(db, kind, d) for d in devices for kind in ("OFFLINE", "HIGH_TEMP")]
    page = await logged_in(browser, api, api.admin, "/alerts")
    for alert_id in active:
        await page.wait_for_selector(f"#alerts-row-{alert_id}[data-state=ACTIVE]", timeout=15_000)
    await page.click("#alerts-ack-all")
    for alert_id in active:
        await page.wait_for_selector(f"#alerts-row-{alert_id}[data-state=ACKED]", timeout=15_000)
    await page.wait_for_selector("#alerts-notice:has-text('4 acknowledged')", timeout=10_000)
    async with api.client(api.admin) as client:
        for alert_id in active:
            assert (await client.get(f"/api/alerts/{alert_id}")).json()["state"] == "ACKED"
    # Reloaded: the stream's ACKED events re-render the rows meanwhile (a click on a button
    # being replaced is lost, as for a person, who would click again).
    await page.reload()
    await page.wait_for_selector(f"#alerts-row-{active[0]}[data-state=ACKED]", timeout=15_000)
    await page.click(f"#alerts-row-{active[0]} .alerts-silence")
    await page.wait_for_selector(
        f"#alerts-notice:has-text('{devices[0]} silenced')", timeout=10_000
    )
    async with api.client(api.admin) as client:
        [silence] = (await client.get("/api/silences")).json()["items"]
    assert silence["matchers"]["device_id"] == devices[0]
    window = datetime.fromisoformat(silence["ends_at"]) - datetime.fromisoformat(
        silence["starts_at"]
    )
    assert window == timedelta(hours=1)
    await page.context.close()

"""What a board's load asks, in a real Chromium against a real API and database: its reads go
to the API in process (dashboard/in_process.py) and show exactly what the API lets the viewer
see (her own device's data; someone else's device is the API's own refusal, word for word, as
over HTTP), still counted on /metrics by route and status as HTTP requests are; dcc.Graph's
code comes with the page (dashboard/browser.py), not after the panels' answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page

from dashboard import frame
from dashboard.boards import DEFAULT_WIDTH_PX, WIDTH_COOKIE
from dashboard.browser import GRAPH_CHUNK
from dashboard.client import COOKIE_NAME
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
#: Each board chart's margins, its figure's and those Plotly drew it with (l, r, t, b).
_MARGINS = """() => [...document.querySelectorAll('.board-grid .js-plotly-plot')].map((gd) =>
  [gd.layout.margin, gd._fullLayout._size].map((m) => [m.l, m.r, m.t, m.b]))"""


def _fits(sizes: list[dict[str, Any]]) -> bool:
    return all(abs(d - v) <= 1 for s in sizes for d, v in zip(s["drawn"], s["div"], strict=True))


async def test_a_board_chart_is_not_resized_to_its_own_size_and_follows_a_real_resize(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    """dcc.Graph's two resizes after a chart is drawn, to the size it has, are skipped
    (assets/boards.js `drawnAtSize`); a panel resized by its corner (the edit mode's drag sets
    its width) and a narrower window still redraw the charts at their new size. The charts
    are drawn at their figures' margins (automargin widened none: each drawn once)."""
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
        margins = await page.evaluate(_MARGINS)
        assert len(margins) == 2 and all(given == drawn for given, drawn in margins), margins
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


#: The Dash Pages router's request for a page at `pathname` + `search`, as the browser sends it
#: at a page's load (the frame's `timerange` not set yet).
def _router_request(pathname: str, search: str) -> dict[str, Any]:
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname", "_pages_location.search"],
        "state": [{"id": "timerange", "property": "data", "value": None}],
    }


def _store(tree: Any, store_id: str) -> Any:
    """The `data` of the component `store_id` in a Dash layout answer (JSON), or KeyError."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == store_id:
            return props.get("data")
        for value in tree.values():
            with contextlib.suppress(KeyError):
                return _store(value, store_id)
    if isinstance(tree, list):
        for value in tree:
            with contextlib.suppress(KeyError):
                return _store(value, store_id)
    raise KeyError(store_id)


async def _raw_post(url: str, path: str, cookie: bytes, body: bytes) -> tuple[int, bytes]:
    """POST `body` with `cookie` as the Cookie header's bytes, whatever they are (no HTTP
    client would send some of them): the status and the body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode()
        writer.write(head + b"Cookie: " + cookie + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), content


@pytest.mark.parametrize(
    "width",
    [
        b"9" * 3000,  # huge
        b"-1408",
        b"0",
        b"100000",
        b"abc",
        b"1e3",
        b"0x500",
        b"\xd9\xa3\xd9\xa0\xd9\xa0",  # Arabic-Indic digits: digits, not ASCII ones
        b"1408\x00",
        b"\x00",
    ],
)
async def test_a_board_first_answer_takes_no_width_from_a_hostile_cookie(
    api: Api, db: asyncpg.Connection, width: bytes
) -> None:
    """The grid width cookie (`boards.WIDTH_COOKIE`) is believed only as a whole number of
    pixels within bounds: anything else (huge, negative, not a number, a NUL) draws the page
    at the default width, and never fails (a NUL may be refused by the HTTP parser: 400)."""
    alice = await api.register("alice")
    device = await _device(api, db, alice, 21.5)
    model = {"title": "Hostile width", "panels": [_timeseries(1, device)]}
    async with api.client(alice) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    async with httpx.AsyncClient(base_url=api.url) as client:
        login = await client.post(
            "/auth/cookie/login", data={"username": alice.email, "password": alice.password}
        )
        assert login.status_code < 300, login.text
        auth = client.cookies[COOKIE_NAME]
    body = json.dumps(_router_request(f"/d/{uid}", "?range=1h")).encode()
    cookie = f"{COOKIE_NAME}={auth}; {WIDTH_COOKIE}=".encode() + width
    status, content = await _raw_post(api.url, "/_dash-update-component", cookie, body)
    if b"\x00" in width and status == 400:
        return  # refused before the app: no page drawn, no failure either
    assert status == 200, (status, content[:500])
    page = json.loads(content)["response"]["_pages_content"]["children"]
    assert _store(page, "board-width") == DEFAULT_WIDTH_PX
    # The page is drawn all the same: its chart's points are in the answer.
    assert "21.5" in json.dumps(page)
    # And a width that is one is believed.
    good = f"{COOKIE_NAME}={auth}; {WIDTH_COOKIE}=999".encode()
    status, content = await _raw_post(api.url, "/_dash-update-component", good, body)
    assert status == 200
    assert (
        _store(json.loads(content)["response"]["_pages_content"]["children"], "board-width") == 999
    )


async def test_a_board_arrives_drawn_in_its_first_answer_and_is_drawn_again_only_if_it_must(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    """A board's page comes drawn in the Pages router's answer: at the grid width the browser
    reported (`tickwire_width`), for the range the address sets (relative, custom, paused, in
    UTC or in the browser's zone, an unknown one), so no callback of the board's own follows
    it. A width the grid does not have (another window's) draws it again, once, at the grid's;
    a width within a scrollbar's of it does not."""
    alice = await api.register("alice")
    device = await _device(api, db, alice, 21.5)
    model = {"title": "At load", "panels": [_timeseries(1, device), _stat(3, device)]}
    async with api.client(alice) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    page = await logged_in(browser, api, alice, "/dashboards")
    bodies: list[dict[str, Any]] = []
    page.on("request", lambda r: _keep_callback(r, bodies))
    now = datetime.now(UTC)
    start, end = (now - timedelta(minutes=30)).isoformat(), now.isoformat()
    try:
        # The grid's width: the page's less .tw-main's padding.
        grid = await page.evaluate("() => document.documentElement.clientWidth - 32")
        for search in (
            "?range=1h",
            "?range=15m&live=0",  # (a longer range reads rollups these rows are not in yet)
            f"?from={quote(start)}&to={quote(end)}",
            "?range=1h&tz=utc",
            "?range=nonsense",
        ):
            asked = await _loaded(page, f"{api.url}/d/{uid}{search}", bodies)
            outputs = [b["output"] for b in asked]
            board = [o for o in outputs if "board-" in o and "board-body" not in o]
            # The router's requests for this page (a late one of /dashboards' aside).
            routers = [
                b
                for b in asked
                if b["output"].startswith(".._pages_content.children")
                and f'"/d/{uid}"' in json.dumps(b["inputs"])
            ]
            assert board == [] and len(routers) == 1, (search, outputs)
        cookies = {c["name"]: c["value"] for c in await page.context.cookies(api.url)}
        assert cookies[WIDTH_COOKIE] == str(grid), cookies

        # As if another window had reported its width: a cookie the page's script cannot
        # overwrite (HttpOnly), which the router's request carries.
        for width, renders in ((str(grid - 20), 0), (str(grid - 300), 1), ("-1e9", 1)):
            cookie = {"name": WIDTH_COOKIE, "value": width, "url": api.url, "httpOnly": True}
            await page.context.add_cookies([cookie])  # type: ignore[list-item]
            asked = [
                b
                for b in await _loaded(page, f"{api.url}/d/{uid}?range=1h", bodies)
                if b["output"].startswith("..board-grid.children")
            ]
            assert len(asked) == renders, (width, asked)
            if renders:
                inputs = [i for i in asked[0]["inputs"] if isinstance(i, dict)]  # not ALL's
                widths = [i["value"] for i in inputs if i["id"] == "board-width"]
                assert widths == [grid], asked[0]["inputs"]
    finally:
        await page.context.close()


def _keep_callback(request: Any, bodies: list[dict[str, Any]]) -> None:
    if "_dash-update-component" in request.url:
        bodies.append(json.loads(request.post_data or "{}"))


async def _loaded(page: Page, address: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The callback requests of a load of `address` (the stat drawn, and half a second more:
    a render after the load would be asked by then)."""
    bodies.clear()
    await page.goto(address)
    await wait_until(f"the stat drawn at {address}", lambda: _stat_drawn(page), timeout=20)
    await page.wait_for_timeout(500)
    return list(bodies)


async def _stat_drawn(page: Page) -> bool:
    return "21.50" in await _panel_text(page, 3)


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("Etc/GMT+3", "Etc/GMT+3"),
        (None, "UTC"),
        ("", "UTC"),
        ("Not/AZone", "UTC"),
        ("../../../etc/passwd", "UTC"),
        ("/etc/localtime", "UTC"),
        ("Europe/Paris\x00", "UTC"),
        ("E" * 5000, "UTC"),
        ("Europe/Paris; x=1", "UTC"),
    ],
)
def test_the_zone_cookie_is_believed_only_as_a_known_zone(value: str | None, zone: str) -> None:
    assert frame.reported_zone(value) == zone


async def test_a_board_started_at_its_address_goes_to_its_own_request_only(
    api: Api, db: asyncpg.Connection
) -> None:
    """The page a board's address starts (`boards.early`) is handed to the router request of
    the same login, address and cookies only: bob asking the page alice's address started gets
    his own answer (the dashboard is not his to see), and alice's own request gets hers."""
    alice, bob = await api.register("alice"), await api.register("bob")
    device = await _device(api, db, alice, 21.5)
    model = {"title": "Alice's own", "panels": [_timeseries(1, device)]}
    async with api.client(alice) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    cookies = {}
    for account in (alice, bob):
        async with httpx.AsyncClient(base_url=api.url) as client:
            login = await client.post(
                "/auth/cookie/login", data={"username": account.email, "password": account.password}
            )
            assert login.status_code < 300, login.text
            cookies[account.email] = client.cookies[COOKIE_NAME]
    body = _router_request(f"/d/{uid}", "?range=1h")

    async def asked(starter: Account, asker: Account) -> str:
        jar = {WIDTH_COOKIE: "1000", frame.ZONE_COOKIE: "UTC"}
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            client.cookies.update({**jar, COOKIE_NAME: cookies[starter.email]})
            index = await client.get(f"/d/{uid}?range=1h")
            assert index.status_code == 200 and "<html" in index.text.lower()
            client.cookies.update({**jar, COOKIE_NAME: cookies[asker.email]})
            answer = await client.post("/_dash-update-component", json=body)
            assert answer.status_code == 200, answer.text[:500]
            return json.dumps(answer.json()["response"]["_pages_content"]["children"])

    his = await asked(alice, bob)
    assert "Alice's own" not in his and "21.5" not in his
    assert "does not exist or is not shared" in his
    hers = await asked(alice, alice)
    assert "Alice's own" in hers and "21.5" in hers


async def test_a_dashboard_request_shares_its_login_with_its_own_reads_only(
    api: Api, db: asyncpg.Connection
) -> None:
    """The in-process reads of one dashboard request look its login up once among them
    (api.sessions.SharedLogins), and never another request's: bob's request is answered as
    bob after alice's; alice's cookie, logged out after a request of hers, is refused by
    every read of the next one (the lookup kept with one request is not kept for the next)."""
    alice, bob = await api.register("alice"), await api.register("bob")
    device = await _device(api, db, alice, 21.5)
    model = {"title": "Alice's own", "panels": [_timeseries(1, device), _stat(3, device)]}
    async with api.client(alice) as client:
        uid = expect(await client.post("/api/dashboards", json=model), 201)["uid"]
    body = _router_request(f"/d/{uid}", "?range=1h")
    cookies = {}
    for account in (alice, bob):
        async with httpx.AsyncClient(base_url=api.url) as client:
            login = await client.post(
                "/auth/cookie/login", data={"username": account.email, "password": account.password}
            )
            assert login.status_code < 300, login.text
            cookies[account.email] = client.cookies[COOKIE_NAME]

    async def page(account: Account) -> str:
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            client.cookies.set(COOKIE_NAME, cookies[account.email])
            answer = await client.post("/_dash-update-component", json=body)
            assert answer.status_code == 200, answer.text[:500]
            return json.dumps(answer.json()["response"]["_pages_content"]["children"])

    hers = await page(alice)
    assert "Alice's own" in hers and "21.5" in hers
    his = await page(bob)
    assert "Alice's own" not in his and "21.5" not in his
    assert "does not exist or is not shared" in his
    async with httpx.AsyncClient(base_url=api.url) as client:
        client.cookies.set(COOKIE_NAME, cookies[alice.email])
        assert (await client.post("/auth/cookie/logout")).status_code < 300
    gone = await page(alice)
    assert "Alice's own" not in gone and "21.5" not in gone

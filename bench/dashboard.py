"""`python -m bench.dashboard`: does the dashboard stay responsive with 50 devices and 20
tickers live?

Runs the whole stack as `make up` does (`python -m devstack`, embedded PostgreSQL, Mosquitto,
ingester, API + dashboard, simulator with 50 sensors and 20 tickers) under a temporary data
dir, then opens each page in headless Chromium as the admin and, after a warm-up, measures
for `--seconds`: the page's main-thread busy time (Chrome's `TaskDuration`, as % of wall
time), long tasks (> 50 ms), the JS heap, the points held by all the page's charts at the
end (what `extendData`'s cap bounds) and the live stream connections open (must be one).
On a dashboard (`/d/…`) also `load`: milliseconds from the navigation's start to every panel
drawn (each plot drawn by Plotly, every other body filled), as the browser's
`performance.now()` reads it, the median of LOADS loads (the first one in a browser also
loads Dash's and Plotly's code); `--pages d/fleet` measures only the pages whose path has that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from playwright.async_api import Page

from tests.browser_support import chromium
from tests.process_support import service

PAGES = (
    "/markets",
    "/markets?show=sma,bollinger,rsi,macd",
    "/devices",
    "/devices/sim-sensor-1",
    "/alerts",
    "/scanner",
    "/portfolio",
    "/d/fleet",
)
SHOTS = {
    "markets": "/markets?show=sma,bollinger,rsi,macd&range=15m",
    "scanner": "/scanner?window=5m",
    "devices": "/devices?range=15m",
    "device": "/devices/sim-sensor-1?range=15m",
    "alerts": "/alerts?range=24h",
    "admin": "/admin",
    "portfolio": "/portfolio?range=15m",
    "fleet": "/d/fleet?range=15m",
}
PORTFOLIO_TICKERS = 4
"""The admin's portfolio (when it has none): a buy of each of the first tickers, a minute ago."""
ADMIN = "bench@example.com"
DEVICES, TICKERS = 50, 20
LOADS = 3
_POINTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).reduce(
    (n, gd) => n + (gd.data || []).reduce((m, t) => m + (t.x ? t.x.length : 0), 0), 0)"""
#: performance.now() once every panel of a dashboard is drawn, else false (polled each frame).
_LOADED_JS = """() => { const panels = document.querySelectorAll('.board-grid .board-panel');
    if (!panels.length) return false;
    for (const p of panels) {
      const body = p.querySelector('.board-panel-body');
      if (!body || !body.children.length) return false;
      for (const g of body.querySelectorAll('.dash-graph')) {
        const gd = g.querySelector('.js-plotly-plot');
        if (!gd || !gd._fullLayout || !gd.data) return false;
      }
    }
    return performance.now(); }"""
_LONG_TASKS_JS = """() => { window.__long = 0; new PerformanceObserver((list) => {
    window.__long += list.getEntries().length; }).observe({entryTypes: ['longtask']}); }"""


@dataclass
class Sample:
    page: str
    cpu_pct: float
    long_tasks: int
    heap_mb: float
    points: int
    streams: int
    load_ms: float | None = None


@contextlib.contextmanager
def running_stack(
    workdir: Path, port: int, password: str, tree: Path | None = None
) -> Iterator[str]:
    """The `make up` stack (50 devices, 20 tickers) from `tree`'s code (default: this one)."""
    env = {
        "TICKWIRE_DATA_DIR": str(workdir),
        "TICKWIRE_HTTP_PORT": str(port),
        "TICKWIRE_ADMIN_EMAIL": ADMIN,
        "TICKWIRE_ADMIN_PASSWORD": password,
        "TICKWIRE_SIM_DEVICES": str(DEVICES),
        "TICKWIRE_SIM_TICKERS": str(TICKERS),
        "TICKWIRE_LOG_LEVEL": "WARNING",
    }
    url = f"http://127.0.0.1:{port}"
    # SIGINT: the supervisor's Ctrl-C, which stops its children, the broker and the database.
    where = {"cwd": tree} if tree is not None else {}
    with service("devstack", env, workdir / "stack.log", signal.SIGINT, 60, **where) as child:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if child.poll() is not None:
                raise RuntimeError(f"the stack exited; see {workdir / 'stack.log'}")
            time.sleep(0.5)
        yield url


async def measure(page: Page, url: str, path: str, warmup_s: float, seconds: float) -> Sample:
    address = f"{url}{path}{'&' if '?' in path else '?'}range=15m"
    load_ms = await _load_ms(page, address) if path.startswith("/d/") else None
    await page.goto(address)
    await page.wait_for_selector("#nav a")  # the frame rendered, the user known
    await page.evaluate(_LONG_TASKS_JS)
    await asyncio.sleep(warmup_s)
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    before = await _metrics(cdp)
    started = time.monotonic()
    await page.evaluate("() => { window.__long = 0; }")
    await asyncio.sleep(seconds)
    after = await _metrics(cdp)
    wall = time.monotonic() - started
    busy = after["TaskDuration"] - before["TaskDuration"]
    return Sample(
        page=path,
        cpu_pct=round(100 * busy / wall, 1),
        long_tasks=int(await page.evaluate("() => window.__long")),
        heap_mb=round(after["JSHeapUsedSize"] / 2**20, 1),
        points=int(await page.evaluate(_POINTS_JS)),
        streams=await _streams(url),
        load_ms=load_ms,
    )


async def _load_ms(page: Page, address: str) -> float:
    """The median of LOADS loads of a dashboard: navigation start → every panel drawn."""
    times = []
    for _ in range(LOADS):
        await page.goto(address)
        loaded = await page.wait_for_function(_LOADED_JS, polling="raf", timeout=60_000)
        times.append(float(await loaded.json_value()))
    return round(statistics.median(times))


async def _metrics(cdp: object) -> dict[str, float]:
    result = await cdp.send("Performance.getMetrics")  # type: ignore[attr-defined]
    return {m["name"]: float(m["value"]) for m in result["metrics"]}


async def _streams(url: str) -> int:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    for line in text.splitlines():
        if line.startswith("tickwire_stream_clients "):
            return int(float(line.split()[1]))
    return -1


async def watch_every_ticker(url: str, password: str, tickers: int) -> list[str]:
    """Put every simulated stock on the admin's watchlist (the markets page's tape and stream
    follow all of them), waiting for the simulator to have registered them."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        login = await client.post("/auth/jwt/login", data={"username": ADMIN, "password": password})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        deadline = time.monotonic() + 60
        while True:
            stocks = (await client.get("/api/stocks", params={"limit": 500})).json()["items"]
            if len(stocks) >= tickers or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        watched = [s["ticker"] for s in stocks]
        for ticker in watched:
            (await client.post("/api/watchlist", json={"ticker": ticker})).raise_for_status()
    return watched


async def a_portfolio(url: str, password: str, tickers: list[str]) -> None:
    """Give the admin a portfolio of `tickers` (10 of each, bought a minute ago 2 % below the
    price now) unless it has one, so the portfolio page has something live to show."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        login = await client.post("/auth/jwt/login", data={"username": ADMIN, "password": password})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        if (await client.get("/api/portfolios")).json()["total"]:
            return
        made = await client.post("/api/portfolios", json={"name": "Demo"})
        made.raise_for_status()
        quotes = (await client.get("/api/quotes", params={"tickers": ",".join(tickers)})).json()
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        for quote in quotes["items"]:
            if quote["price"] is None:
                continue
            tx = {"ticker": quote["ticker"], "side": "buy", "quantity": 10, "time": at}
            tx["price"] = round(quote["price"] * 0.98, 2)
            path = f"/api/portfolios/{made.json()['id']}/transactions"
            (await client.post(path, json=tx)).raise_for_status()


async def run(
    url: str,
    password: str,
    warmup_s: float,
    seconds: float,
    shots: Path | None,
    pages: tuple[str, ...] = PAGES,
    shown: dict[str, str] = SHOTS,
) -> list[Sample]:
    watched = await watch_every_ticker(url, password, TICKERS)
    await a_portfolio(url, password, watched[:PORTFOLIO_TICKERS])
    print(f"watching {len(watched)} tickers: {' '.join(watched)}", file=sys.stderr)
    samples = []
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        await page.goto(f"{url}/login")
        if shots is not None:
            await page.screenshot(path=str(shots / "login.png"))
        await page.fill("#login-email", ADMIN)
        await page.fill("#login-password", password)
        await page.click("#login-submit")
        await page.wait_for_url("**/markets*")
        for path in pages:
            samples.append(await measure(page, url, path, warmup_s, seconds))
        if shots is not None:
            for name, path in shown.items():
                await page.goto(f"{url}{path}")
                await asyncio.sleep(warmup_s)
                # A dashboard whole, every panel (its grid runs past the window).
                whole = path.startswith("/d/")
                await page.screenshot(path=str(shots / f"{name}.png"), full_page=whole)
    return samples


def table(samples: list[Sample]) -> str:
    head = (
        f"{'page':<40}{'CPU %':>8}{'long tasks':>12}{'heap MB':>10}{'points':>9}{'streams':>9}"
        f"{'load ms':>9}"
    )
    rows = [
        f"{s.page:<40}{s.cpu_pct:>8}{s.long_tasks:>12}{s.heap_mb:>10}{s.points:>9}{s.streams:>9}"
        f"{'–' if s.load_ms is None else s.load_ms:>9}"
        for s in samples
    ]
    return "\n".join([head, "-" * len(head), *rows])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--quick", action="store_true", help="10 s per page, 5 s warm-up")
    parser.add_argument("--screenshots", type=Path, help="also save a PNG of each page here")
    parser.add_argument(
        "--pages", nargs="+", help="only the pages (and screenshots) whose path has one of these"
    )
    args = parser.parse_args(argv)
    pages = tuple(p for p in PAGES if not args.pages or any(a in p for a in args.pages))
    shown = {n: p for n, p in SHOTS.items() if not args.pages or any(a in p for a in args.pages)}
    seconds, warmup = (10.0, 5.0) if args.quick else (args.seconds, args.warmup)
    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), args.port, password) as url:
        samples = asyncio.run(run(url, password, warmup, seconds, args.screenshots, pages, shown))
    print(table(samples))
    print(
        json.dumps(
            {
                "bench": "dashboard",
                "devices": DEVICES,
                "tickers": TICKERS,
                "pages": [asdict(s) for s in samples],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""`python -m bench.board_load`: where a dashboard's load goes, tree against tree.

For each source tree given (`--trees /work/main .`: a before and an after), alternating
`--rounds` times, runs the `make up` stack from that tree (bench.dashboard's, 50 devices and
20 tickers) and, as the admin in headless Chromium, loads `/d/fleet?range=15m` `--loads`
times, each: `load` (navigation start → every panel drawn, bench.dashboard's definition), the
page's main-thread CPU time to then (Chrome's `ThreadTime`, less sensitive than wall time to
the other processes of a shared machine) and to a second after (`settled`: what runs just
after the last panel is drawn, dcc.Graph's resizes of each chart, counted too) and the time
of the `render` callback's request. Then it sends that request (and the `load` callback's,
where the tree still has one) `--replays` times over HTTP and reads the API process's CPU
time for each (its idle rate taken off): the server's cost of the panels, figures and all the
API calls they make, whatever the machine's load. One table, ratios to the first tree, and
one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bench.dashboard import _LOADED_JS, ADMIN, TICKERS, running_stack, watch_every_ticker
from tests.browser_support import chromium
from tests.process_support import REPO, stack_child

PATH = "/d/fleet?range=15m"
#: How long a load may take to be drawn before it counts as missed.
DRAWN_MS = 60_000
#: How long after a load the page's CPU is read again (`settled_cpu_ms`).
SETTLE_MS = 1000
#: Times each Dash callback request in the page (`window.__calls`: output, start, end).
_WRAP_FETCH = """(() => { window.__calls = []; const f = window.fetch;
  window.fetch = async function (url, opts) {
    if (!String(url).includes('_dash-update-component')) return f.apply(this, arguments);
    const t0 = performance.now(); let out = '';
    try { out = JSON.parse(opts.body).output; } catch (e) { /* not JSON */ }
    const answer = await f.apply(this, arguments);
    await answer.clone().arrayBuffer().catch(() => null);
    const t1 = performance.now();
    window.__calls.push({out: out, ms: t1 - t0, end: t1});
    return answer; }; })();"""
#: How the `render` and `load` callbacks' outputs start (a callback's `output` in the request),
#: and the Dash Pages router's (the page's layout).
RENDER, LOAD = "..board-grid.children", "..board-model.data...board-vars.children"
ROUTER = ".._pages_content.children"


@dataclass
class Sample:
    tree: str
    load_ms: float
    browser_cpu_ms: float
    render_request_ms: float
    """The request whose answer brought the panels: `render`, or the router's."""
    server_cpu_ms: float
    """The API process's CPU for the page's first answers: the router's, and `load` and
    `render` after it where the tree has them."""
    server_wall_ms: float
    settled_cpu_ms: float = 0.0
    """The page's main-thread CPU to `SETTLE_MS` after the load: what runs just after the
    last panel is drawn too (dcc.Graph's resizes of each chart)."""
    answered_ms: float = 0.0
    """Navigation start → the panels' answer received: the wall time before the browser
    draws them."""
    requests: float = 0.0
    """Callback requests (`_dash-update-component`) the load made, to every panel drawn."""
    missed: int = 0
    """Loads not drawn within `DRAWN_MS` (their callbacks and the page's errors go to stderr;
    the medians are the drawn loads')."""
    failed: int = 0
    """Loads drawn with a panel saying it could not be drawn (`.tw-error` in its body)."""


def _cpu_ms(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system) * 1000


async def measure(tree: Path, port: int, loads: int, replays: int) -> Sample:
    password = secrets.token_urlsafe(12)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_stack(Path(tmp), port, password, tree) as url,
    ):
        await watch_every_ticker(url, password, TICKERS)
        api = stack_child(os.getpid(), "api")
        if api is None:
            raise RuntimeError("no API process under the stack")
        found = await _loads(url, password, loads)
        async with httpx.AsyncClient(base_url=url, cookies=found.cookies, timeout=60) as http:
            before = _cpu_ms(api)
            await asyncio.sleep(3)
            idle_per_ms = (_cpu_ms(api) - before) / 3000
            walls, used = [], []
            for _ in range(replays):
                started, before = time.perf_counter(), _cpu_ms(api)
                for body in found.bodies:
                    (await http.post("/_dash-update-component", json=body)).raise_for_status()
                wall = (time.perf_counter() - started) * 1000
                walls.append(wall)
                used.append(_cpu_ms(api) - before - idle_per_ms * wall)
    return Sample(
        tree=str(tree),
        load_ms=round(statistics.median(found.times)),
        browser_cpu_ms=round(statistics.median(found.cpus)),
        render_request_ms=round(statistics.median(found.requests)),
        server_cpu_ms=round(statistics.median(used)),
        server_wall_ms=round(statistics.median(walls)),
        settled_cpu_ms=round(statistics.median(found.settled)),
        answered_ms=round(statistics.median(found.answered)),
        requests=statistics.median(found.counts),
        missed=found.missed,
        failed=found.failed,
    )


@dataclass
class Loads:
    """What `_loads` saw: each drawn load's time, main-thread CPU (at the load, and
    `SETTLE_MS` after), panels' request, when their answer arrived and how many callback
    requests it made; the first answers' requests (the router's, `load` and `render` where
    asked) as sent; the login cookies; the loads not drawn, and those drawn with a panel's
    failure."""

    times: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    settled: list[float] = field(default_factory=list)
    requests: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    cookies: dict[str, str] = field(default_factory=dict)
    missed: int = 0
    failed: int = 0


async def _loads(url: str, password: str, loads: int) -> Loads:
    """`loads` loads of `PATH` as the admin, in one browser (`Loads`)."""
    found = Loads()
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        page = await context.new_page()
        await _log_in(page, url, password)
        await page.add_init_script(_WRAP_FETCH)
        sent: dict[str, Any] = {}

        def keep(request: Any) -> None:
            if "_dash-update-component" not in request.url:
                return
            body = json.loads(request.post_data or "{}")
            output = str(body.get("output", ""))
            # The board's router request, not a late one of the login's landing page.
            board = json.dumps(urlsplit(PATH).path) in json.dumps(body.get("inputs"))
            for name in (ROUTER, LOAD, RENDER):
                if output.startswith(name) and name not in sent and (name != ROUTER or board):
                    sent[name] = body

        page.on("request", keep)
        errors = _errors(page)
        cdp = await context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        for _ in range(loads):
            errors.clear()
            await page.goto(f"{url}{PATH}")
            drawn = await _drawn(page, errors)
            if drawn is None:
                found.missed += 1
                continue
            found.failed += bool(await page.query_selector(".board-panel-body .tw-error"))
            found.times.append(drawn)
            found.cpus.append(await _thread_ms(cdp))
            calls = await page.evaluate("() => window.__calls")
            await page.wait_for_timeout(SETTLE_MS)
            found.settled.append(await _thread_ms(cdp))
            panels = [c for c in calls if c["out"].startswith(RENDER)] or [
                c for c in calls if c["out"].startswith(ROUTER)
            ]
            found.requests.append(panels[0]["ms"])
            found.answered.append(panels[0]["end"])
            found.counts.append(len(calls))
        found.cookies = {c["name"]: c["value"] for c in await context.cookies()}
        await context.close()
    found.bodies = [sent[name] for name in (ROUTER, LOAD, RENDER) if name in sent]
    return found


async def _log_in(page: Any, url: str, password: str) -> None:
    await page.goto(f"{url}/login")
    await page.fill("#login-email", ADMIN)
    await page.fill("#login-password", password)
    await page.click("#login-submit")
    await page.wait_for_url("**/markets*")


def _errors(page: Any) -> list[str]:
    """What goes wrong in `page` from now on: console errors, page errors, HTTP errors."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


async def _drawn(page: Any, errors: list[str]) -> float | None:
    """When the load under way drew every panel (ms from navigation start); None when it did
    not within `DRAWN_MS`, said on stderr with its callbacks and `errors`."""
    try:
        loaded = await page.wait_for_function(_LOADED_JS, polling="raf", timeout=DRAWN_MS)
    except PlaywrightTimeout:
        calls = await page.evaluate("() => window.__calls")
        print(f"not drawn in {DRAWN_MS} ms: {calls} {errors}", file=sys.stderr)
        return None
    return float(await loaded.json_value())


async def _thread_ms(cdp: Any) -> float:
    """The page's main-thread CPU so far (Chrome's `ThreadTime`), in ms."""
    metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
    return 1000 * float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))


def table(samples: list[Sample]) -> str:
    head = (
        f"{'tree':<28}{'load ms':>9}{'answered ms':>13}{'browser CPU ms':>16}"
        f"{'panels req ms':>15}{'server CPU ms':>15}{'server wall ms':>16}"
        f"{'settled CPU ms':>16}{'requests':>10}{'missed':>8}{'failed':>8}"
    )
    rows = [
        f"{s.tree[-28:]:<28}{s.load_ms:>9}{s.answered_ms:>13}{s.browser_cpu_ms:>16}"
        f"{s.render_request_ms:>15}{s.server_cpu_ms:>15}{s.server_wall_ms:>16}"
        f"{s.settled_cpu_ms:>16}{s.requests:>10}{s.missed:>8}{s.failed:>8}"
        for s in samples
    ]
    return "\n".join([head, "-" * len(head), *rows])


def ratios(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Per tree, the median of its rounds over the first tree's, for each measure."""
    trees = list(dict.fromkeys(s.tree for s in samples))
    fields = ("load_ms", "answered_ms", "browser_cpu_ms", "server_cpu_ms", "settled_cpu_ms")

    def median(tree: str, field: str) -> float:
        return float(statistics.median(getattr(s, field) for s in samples if s.tree == tree))

    return {
        tree: {f: round(median(tree, f) / max(median(trees[0], f), 1), 2) for f in fields}
        for tree in trees
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.board_load", description=__doc__)
    parser.add_argument("--trees", type=Path, nargs="+", default=[REPO])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--replays", type=int, default=10)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    samples = []
    for _ in range(args.rounds):
        for tree in args.trees:
            sample = asyncio.run(measure(tree.resolve(), args.port, args.loads, args.replays))
            print(table([sample]).splitlines()[-1], file=sys.stderr, flush=True)
            samples.append(sample)
    print(table(samples))
    found = ratios(samples)
    for tree, ratio in found.items():
        print(f"{tree[-28:]:<28} × first tree: {ratio}")
    print(json.dumps({"bench": "board_load", "path": PATH, "samples": [asdict(s) for s in samples],
                      "ratios": found}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""A candlestick panel's `options.indicators` (api/schemas/dashboards.py `Indicator`): refused by
the API with the path of the error and a stable type for every hostile value, kept as sent when
valid, drawn by the panel code with exactly the indicators API's numbers; in a real Chromium,
"Save as dashboard" on /markets keeps the indicators shown and the side form changes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, Page

from dashboard.boards import form as board_form
from dashboard.boards import panels as boards_panels
from dashboard.markets import chart as markets_chart
from tests.api_support import Api, expect
from tests.browser_support import logged_in, screenshot
from tests.market_support import safe_now, walk, write
from tests.support import unique, wait_until
from tickwire.indicators import name_of

AT = ["body", "panels", 0, "options", "indicators"]


def candlestick(indicators: Any, kind: str = "candlestick") -> dict[str, Any]:
    """A dashboard of one panel of `kind` on ACME with `indicators` as its option."""
    return {
        "title": "Trading",
        "panels": [
            {
                "id": 1,
                "type": kind,
                "grid": {"x": 0, "y": 0, "w": 24, "h": 12},
                "targets": [{"ticker": "ACME"}],
                "options": {"indicators": indicators},
            }
        ],
    }


SMA: dict[str, Any] = {"name": "sma", "period": 20}
MACD: dict[str, Any] = {"name": "macd", "fast": 12, "slow": 26, "signal": 9}
EVERY_KIND: list[dict[str, Any]] = [
    SMA,
    {"name": "ema", "period": 50},
    {"name": "bbands", "period": 20, "stddev": 2.5},
    {"name": "vwap"},
    {"name": "rsi", "period": 14},
    MACD,
    {"name": "atr", "period": 14},
    {"name": "obv"},
]

#: (the indicators, the path under `options.indicators`, the detail's type).
HOSTILE: list[tuple[Any, list[Any], str]] = [
    ([{"name": "ichimoku", "period": 9}], [0, "name"], "literal_error"),
    ([{"name": "SMA", "period": 9}], [0, "name"], "literal_error"),
    ([{"name": "x" * 10_000}], [0, "name"], "literal_error"),
    ([{"name": None, "period": 9}], [0, "name"], "literal_error"),
    ([{"period": 9}], [0, "name"], "missing"),
    ([SMA, {"name": "sma", "period": 10**12}], [1, "period"], "less_than_equal"),
    ([{"name": "sma", "period": 501}], [0, "period"], "less_than_equal"),
    ([{"name": "ema", "period": -20}], [0, "period"], "greater_than_equal"),
    ([{"name": "rsi", "period": 0}], [0, "period"], "greater_than_equal"),
    ([{"name": "sma", "period": "20"}], [0, "period"], "int_type"),
    ([{"name": "sma", "period": 20.5}], [0, "period"], "int_type"),
    ([{"name": "sma", "period": True}], [0, "period"], "int_type"),
    ([{"name": "sma", "period": [20]}], [0, "period"], "int_type"),
    ([{"name": "bbands", "period": 20, "stddev": 0}], [0, "stddev"], "greater_than"),
    ([{"name": "bbands", "period": 20, "stddev": 11}], [0, "stddev"], "less_than_equal"),
    ([{"name": "bbands", "period": 20, "stddev": "Infinity"}], [0, "stddev"], "float_type"),
    ([{"name": "sma", "period": 20, "color": "red"}], [0, "color"], "extra_forbidden"),
    ([{"name": "sma", "period": 20, "__proto__": {}}], [0, "__proto__"], "extra_forbidden"),
    # Which parameters a name takes and their ranges: the indicators API's (`parse`).
    ([{"name": "sma"}], [0, "period"], "invalid_indicator"),
    ([{"name": "macd", "fast": 12, "slow": 26}], [0, "signal"], "invalid_indicator"),
    ([{"name": "obv", "period": 14}], [0, "period"], "invalid_indicator"),
    ([{"name": "rsi", "period": 14, "stddev": 2}], [0, "stddev"], "invalid_indicator"),
    ([SMA, MACD | {"fast": 26, "slow": 12}], [1], "invalid_indicator"),
    ([MACD | {"fast": 26}], [0], "invalid_indicator"),
    ([MACD | {"fast": 1}], [0], "invalid_indicator"),
    ([{"name": "bbands", "period": 1, "stddev": 2}], [0], "invalid_indicator"),
    ([SMA, MACD, SMA], [2], "duplicate"),
    ([SMA] * 1000, [], "too_long"),
    ([{"name": "sma", "period": p} for p in range(1, 12)], [], "too_long"),
    ("sma:20", [], "list_type"),
    ({"name": "sma", "period": 20}, [], "list_type"),
    (["sma:20"], [0], "model_attributes_type"),
]


async def test_hostile_indicators_are_422_with_their_path_and_type(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(alice) as client:
        for indicators, path, kind in HOSTILE:
            response = await client.post("/api/dashboards", json=candlestick(indicators))
            details = expect(response, 422, "validation_error")["error"]["details"]
            where = [*AT, *path]
            assert any(d["loc"] == where and d["type"] == kind for d in details), (
                indicators if len(str(indicators)) < 300 else path,
                details[:3],
            )
        # Only candlestick panels draw indicators (an empty list says nothing: accepted).
        for kind in ("timeseries", "stat", "text"):
            response = await client.post("/api/dashboards", json=candlestick([SMA], kind))
            details = expect(response, 422, "validation_error")["error"]["details"]
            assert [(d["loc"], d["type"]) for d in details] == [(AT, "invalid_indicator")]
        expect(await client.post("/api/dashboards", json=candlestick([], "stat")), 201)
        # Nothing refused was stored.
        assert expect(await client.get("/api/dashboards"), 200)["total"] == 1
        # Every kind the indicators API draws, at its extremes, is kept as sent.
        extremes = [
            *EVERY_KIND,
            {"name": "sma", "period": 1},
            {"name": "ema", "period": 500},
            {"name": "bbands", "period": 500, "stddev": 10},
            {"name": "macd", "fast": 2, "slow": 500, "signal": 2},
        ][:10]
        made = expect(await client.post("/api/dashboards", json=candlestick(extremes)), 201)
        kept = made["panels"][0]["options"]["indicators"]
        assert kept == extremes
        got = expect(await client.get(f"/api/dashboards/{made['uid']}"), 200)
        assert got["panels"][0]["options"]["indicators"] == extremes
        # A PUT that changes them is validated the same way.
        got["panels"][0]["options"]["indicators"] = [MACD | {"signal": 0}]
        response = await client.put(f"/api/dashboards/{made['uid']}", json=got)
        details = expect(response, 422, "validation_error")["error"]["details"]
        assert [*AT, 0, "signal"] in [d["loc"] for d in details]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_panel_draws_the_indicators_apis_numbers(
    api: Api, db: asyncpg.Connection
) -> None:
    """The candle figure of a panel with indicators of every kind (two SMAs: one kind twice),
    built from what the panel asks (the candles and its indicators, one call, the same range
    and points): every line equals the indicators API's answer for that indicator alone over
    the same range, and ends one candle before the price."""
    now = await safe_now()
    await write(db, walk("QPAN", now - timedelta(hours=4), now - timedelta(seconds=2), 11, (3, 9)))
    chosen: list[dict[str, Any]] = [*EVERY_KIND, {"name": "sma", "period": 5}]
    panel = candlestick(chosen)["panels"][0]
    start, end = (now - timedelta(hours=1)).isoformat(), now.isoformat()
    span: dict[str, Any] = {"start": start, "end": end, "points": 150}
    names = ",".join(name_of(option) for option in chosen)
    async with api.client(api.admin) as http:
        history = expect(await http.get("/api/stocks/QPAN/history", params=span), 200)
        asked = {**span, "names": names}
        series = expect(await http.get("/api/stocks/QPAN/indicators", params=asked), 200)
        candles = history["candles"]
        fig = boards_panels.candle_figure(panel, "QPAN", candles, UTC, "r", 400, (series, None))
        assert len(candles) > 100, len(candles)
        closed = [_instant(c["time"]) for c in candles[:-1]]
        lines = fig["data"][markets_chart.FIRST_LINE :]
        drawn = markets_chart.lines(chosen)
        assert [t["name"] for t in lines] == [line.label for line in drawn]
        assert all(t["visible"] for t in lines)
        compared = 0
        for option in chosen:
            # The same range (OBV sums from the answer's first candle, which may be one
            # before the history's: the candle holding `start`, whole).
            alone = {**span, "names": name_of(option)}
            body = expect(await http.get("/api/stocks/QPAN/indicators", params=alone), 200)
            at = {_instant(t): i for i, t in enumerate(body["time"])}
            for line, trace in zip(drawn, lines, strict=True):
                if line.name != name_of(option):
                    continue
                # The closed candles' times (the current one has no value yet: live).
                assert [_instant(x + "+00:00") for x in trace["x"]] == closed
                over_price = option["name"] in ("sma", "ema", "bbands", "vwap")
                assert (trace["yaxis"] == "y") == over_price, line
                want = [body["series"][line.key][at[t]] for t in closed]
                for got, expected in zip(trace["y"], want, strict=True):
                    assert (got is None) == (expected is None), (line.key, got, expected)
                    if expected is not None:
                        assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected)), line.key
                        compared += 1
        assert compared > 12 * 50, compared
    # The sub-plots under the volume, one per kind (RSI, MACD, ATR, OBV), the price on top.
    layout = fig["layout"]
    for axis in ("yaxis3", "yaxis4", "yaxis5", "yaxis6"):
        assert layout[axis]["domain"][1] < layout["yaxis2"]["domain"][0], axis
    assert layout["yaxis2"]["domain"][1] < layout["yaxis"]["domain"][0]
    assert layout["xaxis"]["anchor"] == "y6"


def test_the_side_form_reads_and_writes_indicators_as_the_api_takes_them() -> None:
    text = "sma 20\nbbands:20:2.5\n\nMACD 12 26 9\nobv"
    parsed = board_form.parse_indicators(text)
    assert parsed == [
        SMA,
        {"name": "bbands", "period": 20, "stddev": 2.5},
        MACD,
        {"name": "obv"},
    ]
    assert board_form.indicators_text(parsed) == "sma 20\nbbands 20 2.5\nmacd 12 26 9\nobv"
    for wrong, said in [
        ("sma 0", "line 1"),
        ("sma 20\nsma x", "line 2"),
        ("sma 20 3", "line 1"),
        ("ichimoku 9", "names sma"),
        ("macd 26 12 9", "fast period"),
        ("bbands 20 nan", "line 1"),
        ("bbands 20 11", "line 1"),
        ("rsi 9999999999999999999", "line 1"),
        ("<script> 1", "line 1"),
    ]:
        with pytest.raises(ValueError, match=said):
            board_form.parse_indicators(wrong)


#: A plot's traces (name, visible, x, y) and meta, once drawn with candles.
PLOT = """(selector) => {
  const host = document.querySelector(selector);
  const gd = host && (host.classList.contains("js-plotly-plot")
    ? host : host.querySelector(".js-plotly-plot"));
  if (!gd || !gd.data || gd.data.length < 4 || !(gd.data[0].x || []).length) return false;
  return {meta: gd.layout.meta || null,
          traces: gd.data.map((t) => ({name: t.name, visible: t.visible,
            x: Array.from(t.x || []), y: Array.from(t.y || [])}))};
}"""


async def _drawn(page: Page, selector: str, names: list[str]) -> dict[str, Any]:
    """The plot under `selector` once it has a line named each of `names` with values."""
    seen: list[Any] = [None]

    async def ready() -> bool:
        seen[0] = await page.evaluate(PLOT, selector)
        if not seen[0]:
            return False
        lines = {t["name"]: t for t in seen[0]["traces"] if t["visible"] is not False}
        return all(n in lines and any(v is not None for v in lines[n]["y"]) for n in names)

    await wait_until(f"{names} drawn in {selector}", ready, timeout=30, interval=0.25)
    found: dict[str, Any] = seen[0]
    return found


def _panel(panel_id: int) -> str:
    return "[id='" + json.dumps({"panel": panel_id, "type": "board-panel"}).replace(" ", "") + "']"


async def _equal_to_the_api(
    api: Api, user: Any, ticker: str, board: dict[str, Any], keys: dict[str, str]
) -> None:
    """The board's lines `keys` (trace name → the API's key) are the API's numbers on the
    board's own candles (its interval, its range), one candle short of the price."""
    candles = board["traces"][0]["x"]
    interval_ms = board["meta"]["interval_ms"]
    first, last = _instant(candles[0] + "+00:00"), _instant(candles[-1] + "+00:00")
    params = {"names": ",".join(keys.values()), "interval": f"{interval_ms}ms",
              "start": first.isoformat(),
              "end": (last + timedelta(milliseconds=interval_ms)).isoformat()}  # fmt: skip
    async with api.client(user) as http:
        body = expect(await http.get(f"/api/stocks/{ticker}/indicators", params=params), 200)
    at = {_instant(t): i for i, t in enumerate(body["time"])}
    lines = {t["name"]: t for t in board["traces"][4:]}
    compared = 0
    for name, key in keys.items():
        trace = lines[name]
        # The closed candles' (trace 0): the current candle (trace 1) has no value yet.
        assert trace["x"] == candles, name
        for x, got in zip(trace["x"], trace["y"], strict=True):
            want = body["series"][key][at[_instant(x + "+00:00")]]
            assert (got is None) == (want is None), (name, x, got, want)
            if want is not None:
                assert abs(got - want) <= 1e-9 * max(1.0, abs(want)), (name, x)
                compared += 1
    assert compared > 40, compared


async def _change_in_the_form(page: Page) -> None:
    """Panel 2's ✎: the form shows its indicators, refuses what the API would, changes them."""
    await page.click("#board-edit")
    pick = json.dumps({"panel": 2, "type": "board-pick"}, separators=(",", ":"))
    await page.click(f"[id='{pick}']")

    async def picked() -> bool:
        form = page.locator("#board-form-indicators")
        return await form.is_visible() and await form.input_value() == "ema 20\nrsi 14"

    await wait_until("the candlestick panel in the form", picked, timeout=20)
    await page.fill("#board-form-indicators", "ema 20\nsma 0")
    await page.click("#board-form-apply")
    await page.wait_for_selector("#board-message >> text=indicator line 2", timeout=20_000)
    await page.fill("#board-form-indicators", "sma 5")
    # "add an indicator" appends its usual line (then edited, as a user would).
    await page.click("#board-form-add-indicator")
    await page.get_by_role("option", name="MACD (fast, slow, signal): macd 12 26 9").click()

    async def added() -> bool:
        text = await page.locator("#board-form-indicators").input_value()
        return text == "sma 5\nmacd 12 26 9"

    await wait_until("the usual MACD added", added, timeout=20)
    await page.fill("#board-form-indicators", "sma 5\nmacd 5 13 4")
    await page.click("#board-form-apply")
    names = ["SMA 5", "MACD 5/13/4", "MACD 5/13/4 signal", "MACD 5/13/4 histogram"]
    changed = await _drawn(page, _panel(2), names)
    assert [t["name"] for t in changed["traces"][4:]] == names


async def test_save_as_from_markets_keeps_its_indicators_and_the_side_form_changes_them(
    api: Api, db: asyncpg.Connection, browser: Browser
) -> None:
    ticker = unique("IN").upper()[:12]
    now = await safe_now()
    await write(db, walk(ticker, now - timedelta(hours=4), now - timedelta(seconds=2), 13, (3, 9)))
    user = await api.register("trader")
    path = f"/markets?ticker={ticker}&show=ema,rsi&range=1h&tz=utc"
    page = await logged_in(browser, api, user, path)
    try:
        chart = await _drawn(page, "#markets-chart", ["EMA 20", "RSI 14"])
        shown = [t["name"] for t in chart["traces"][4:] if t["visible"] is True]
        assert shown == ["EMA 20", "RSI 14"], shown
        await page.click("#markets-save-as")

        async def opened() -> bool:
            return "/d/" in page.url

        await wait_until("the saved dashboard opened", opened, timeout=30, interval=0.25)
        uid = page.url.split("/d/")[1].split("?")[0]
        board = await _drawn(page, _panel(2), ["EMA 20", "RSI 14"])
        assert [t["name"] for t in board["traces"][4:]] == ["EMA 20", "RSI 14"]
        await _equal_to_the_api(api, user, ticker, board, {"EMA 20": "ema:20", "RSI 14": "rsi:14"})
        async with api.client(user) as http:
            saved = expect(await http.get(f"/api/dashboards/{uid}"), 200)
        assert saved["panels"][1]["options"]["indicators"] == [
            {"name": "ema", "period": 20},
            {"name": "rsi", "period": 14},
        ]
        await _change_in_the_form(page)
        await screenshot(page, "board-candlestick-indicators")
        await page.click("#board-save")

        async def stored() -> bool:
            async with api.client(user) as http:
                got = expect(await http.get(f"/api/dashboards/{uid}"), 200)
            return bool(got["version"] > saved["version"])

        await wait_until("the change saved", stored, timeout=20, interval=0.25)
    finally:
        await page.context.close()
    async with api.client(user) as http:
        final = expect(await http.get(f"/api/dashboards/{uid}"), 200)
    assert final["panels"][1]["options"]["indicators"] == [
        {"name": "sma", "period": 5},
        {"name": "macd", "fast": 5, "slow": 13, "signal": 4},
    ]

"""The device page's and the markets page's dashboard models (dashboard/boards/generated.py):
valid for the API's own model and accepted by POST /api/dashboards for real devices, rules and
tickers, odd-but-valid ids included; an id that cannot exist is refused, never turned into a
model."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from api.schemas.dashboards import Dashboard, problems
from dashboard.boards import data as boards_data
from dashboard.boards import generated
from dashboard.boards import panels as boards_panels
from dashboard.markets import chart as markets_chart
from tests.api_support import Api, expect

ODD_DEVICE_IDS = ["plain", "a:b.c-d_e", "9" + "x" * 63]
ODD_TICKERS = ["ACME", "BRK.B", "A^B", "EUR=X", "Z" * 32]
HOSTILE_IDS = ["a/b", "^GSPC", "../users", "kühl", "", " x", "a\nb", "x" * 65, "$dev"]


def valid(model: dict[str, Any]) -> Dashboard:
    """The model as the API validates it: its fields and what they cannot check alone."""
    parsed = Dashboard.model_validate(model)
    assert problems(parsed) == [], problems(parsed)
    return parsed


async def test_a_device_page_model_is_valid_and_saves_for_real_devices(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(alice) as client:
        for n, device_id in enumerate(ODD_DEVICE_IDS):
            name = ["Kühlraum ❄ 北", None, "x" * 200][n]
            body = {"device_id": device_id, "name": name, "kind": "sensor"}
            expect(await client.post("/api/devices", json=body), 201)
        own = {"name": "hot", "kind": "THRESHOLD", "device_id": ODD_DEVICE_IDS[1],
               "metric": "temperature", "operator": ">", "threshold": 31.5}  # fmt: skip
        fleet = {"name": "fleet", "kind": "HIGH_TEMP", "threshold": 40.0}
        low = {"name": "dry", "kind": "THRESHOLD", "device_id": ODD_DEVICE_IDS[0],
               "metric": "humidity", "operator": "<", "threshold": 20}  # fmt: skip
        for rule in (own, fleet, low):
            expect(await client.post("/api/alert-rules", json=rule), 201)
        rules = expect(await client.get("/api/alert-rules", params={"enabled": "true"}), 200)
        for device_id in ODD_DEVICE_IDS:
            found = expect(await client.get(f"/api/devices/{device_id}"), 200)
            metrics = ["temperature", "humidity", "a.b-c"]
            model = generated.device(found, metrics, rules["items"], {"range": "6h"})
            parsed = valid(model)
            assert parsed.time.from_ == "now-6h"
            series = [p for p in parsed.panels if p.type == "timeseries"]
            assert [p.title for p in series] == metrics
            assert all(p.targets[0].device_id == device_id for p in parsed.panels)
            alerts = [p for p in parsed.panels if p.type == "alerts"]
            assert len(alerts) == 1 and alerts[0].grid.y >= max(p.grid.y for p in series)
            levels = {p.title: [t.value for t in p.thresholds] for p in series}
            # Its own rule and the fleet's HIGH_TEMP on temperature; another device's, not.
            expected_temp = [31.5, 40.0] if device_id == ODD_DEVICE_IDS[1] else [40.0]
            assert levels["temperature"] == expected_temp, levels
            assert levels["humidity"] == ([20.0] if device_id == ODD_DEVICE_IDS[0] else [])
            saved = expect(await client.post("/api/dashboards", json=generated.copy_of(model)), 201)
            assert saved["title"].endswith("(copy)") and len(saved["title"]) <= 200
            assert saved["panels"] == [p.model_dump(mode="json", exclude_none=True)
                                       for p in parsed.panels]  # fmt: skip


async def test_a_markets_model_is_valid_and_saves_for_real_tickers(api: Api) -> None:
    alice = await api.register("alice")
    async with api.client(api.admin) as admin:
        for ticker in ODD_TICKERS:
            expect(await admin.post("/api/stocks", json={"ticker": ticker}), 201)
    async with api.client(alice) as client:
        for ticker in ODD_TICKERS:
            expect(await client.get(f"/api/stocks/{ticker}"), 200)
            custom = {"range": "custom", "start": "2026-01-01T00:00:00+00:00", "end": None}
            every = markets_chart.options([key for key, _ in markets_chart.TOGGLES])
            model = generated.ticker(ticker, custom, every)
            parsed = valid(model)
            candle = next(p for p in parsed.panels if p.type == "candlestick")
            assert [i.given() for i in candle.options.indicators or []] == every
            assert parsed.time.from_ == "2026-01-01T00:00:00+00:00" and parsed.time.to == "now"
            assert {p.type for p in parsed.panels} == {"stat", "candlestick", "alerts"}
            assert all(p.targets[0].ticker == ticker for p in parsed.panels)
            expect(await client.post("/api/dashboards", json=generated.copy_of(model)), 201)


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_an_id_that_cannot_exist_is_refused_not_modelled(hostile: str) -> None:
    with pytest.raises(ValueError, match="not a device id"):
        generated.device({"device_id": hostile, "name": "x"}, ["temperature"], [])
    with pytest.raises(ValueError, match="not a metric"):
        generated.device({"device_id": "ok"}, [hostile], [])
    with pytest.raises(ValueError, match="not a ticker"):
        generated.ticker(hostile)


def test_an_unknown_range_and_control_characters_in_a_name_still_make_a_valid_model() -> None:
    model = generated.device(
        {"device_id": "d-1", "name": "bad\x00name\n"}, ["t"], [], {"range": "../x"}
    )
    parsed = valid(model)
    assert parsed.time.from_ == "now-1h" and "\x00" not in parsed.title
    assert valid(generated.device({"device_id": "d-2", "name": ""}, [], [])).title == "d-2"


def test_the_panel_code_draws_what_the_device_page_needs() -> None:
    """The device page's chart is the time series panel's: a bucket's min–max band behind
    the line (trace 0 stays the line, which live points extend), the rule levels as lines, a
    lone point as a marker on the range's axis."""
    model = generated.device(
        {"device_id": "d-1"},
        ["temperature"],
        [{"kind": "THRESHOLD", "metric": "temperature", "threshold": 30, "device_id": "d-1"}],
    )
    panel = model["panels"][0]
    points = [{"time": "2026-01-01T00:00:00Z", "value": 1.0, "min": 0.5, "max": 2.0},
              {"time": "2026-01-01T00:01:00Z", "value": 3.0, "min": 2.5, "max": 4.0}]  # fmt: skip
    walls = ["2026-01-01 00:00:00", "2026-01-01 00:01:00"]
    bucket = {"metric": "temperature", "method": "bucket", "points": points, "x": walls,
              "y": [1.0, 3.0], "last": 3.0}  # fmt: skip
    drawn = boards_data.metric_series("d-1", bucket)
    fig = boards_panels.time_figure(panel, [drawn], 200, "r")
    assert [t.name for t in fig.data] == ["d-1 temperature", "max", "min"]
    assert list(fig.data[1].y) == [2.0, 4.0] and list(fig.data[2].y) == [0.5, 2.5]
    assert fig.data[2].fill == "tonexty"
    assert [s.y0 for s in fig.layout.shapes] == [30.0]
    lone = drawn | {"x": drawn["x"][:1], "y": [5.0], "band": None}
    span = ("2026-01-01 00:00:00", "2026-01-01 01:00:00")
    fig = boards_panels.time_figure(panel, [lone], 200, "r", span=span)
    assert fig.data[0].mode == "lines+markers" and list(fig.layout.xaxis.range) == list(span)
    assert list(fig.layout.yaxis.range) == [4.0, 6.0]


def test_the_candlestick_panel_draws_the_markets_chart_with_its_thresholds() -> None:
    panel = generated.ticker("ACME")["panels"][1] | {"thresholds": [{"value": 101, "color": "red"}]}
    candles = [{"time": f"2026-01-01T00:0{i}:00Z", "open": 100, "high": 102, "low": 99,
                "close": 101, "volume": 5} for i in range(3)]  # fmt: skip
    fig = boards_panels.candle_figure(panel, "ACME", candles, UTC, "r", 300)
    assert fig["data"][0]["type"] == "candlestick" and len(fig["data"][0]["x"]) == 2
    assert fig["layout"]["height"] == 300
    assert [(s["y0"], s["yref"]) for s in fig["layout"]["shapes"]] == [(101, "y")]
    # The panel's indicators (the markets page's toggles: its model's), from the API's series
    # on the closed candles; every toggle's lines laid out for the page, the others hidden.
    times = [c["time"] for c in candles[:2]]
    series = {"time": times, "series": {line.key: [None, 100.5] for line in markets_chart.LINES}}
    chosen = generated.ticker("ACME", None, markets_chart.options(["sma", "macd"]))["panels"][1]
    offered = list(markets_chart.OFFERED.values())
    fig = boards_panels.candle_figure(chosen, "ACME", candles, UTC, "r", None, (series, offered))
    assert "height" not in fig["layout"]
    lines = fig["data"][markets_chart.FIRST_LINE :]
    assert [t["name"] for t in lines] == [line.label for line in markets_chart.LINES]
    shown = {t["name"]: t["y"] for t in lines if t["visible"]}
    assert list(shown) == ["SMA 20", "MACD 12/26/9", "MACD 12/26/9 signal",
                           "MACD 12/26/9 histogram"]  # fmt: skip
    assert all(y == [None, 100.5] for y in shown.values())
    # A board's panel: only its own indicators, all shown.
    fig = boards_panels.candle_figure(chosen, "ACME", candles, UTC, "r", 300, (series, None))
    assert [t["name"] for t in fig["data"][markets_chart.FIRST_LINE :]] == list(shown)

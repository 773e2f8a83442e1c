"""Charts drawn once: their margins fit what Plotly writes around the plot (tick labels, axis
titles, the legend), so the template's automargin has nothing to add (adding is a second
drawing of the chart), and no label is cut, drawn over the plot or over another label. Each
chart type with axes, from its builder, drawn by Dash's own plotly.js in Chromium, with long
tick labels."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import plotly
import pytest
from playwright.async_api import Browser

from dashboard import theme
from dashboard.boards import generated
from dashboard.boards import panels as boards_panels
from dashboard.devices import panels as device_panels

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

#: Draws each figure in a div of its width, and answers, for each, the margins Plotly ended
#: with and every label (tick labels, axis titles, the legend) outside the chart or over its
#: plot area (a y axis' tick labels are beside it; px rounded, 1 px of slack), and every tick
#: label over another of its axis.
_DRAW = """async (charts) => {
  const out = [];
  for (const [figure, width] of charts) {
    const div = document.createElement('div');
    div.style.width = width + 'px';
    div.style.height = figure.layout.height + 'px';
    document.body.appendChild(div);
    await Plotly.newPlot(div, figure.data, figure.layout, {displaylogo: false});
    const svg = div.querySelector('.main-svg').getBoundingClientRect();
    const plot = div.querySelector('.nsewdrag').getBoundingClientRect();
    const wrong = [];
    const labels = div.querySelectorAll(
      '.xaxislayer-above text, .yaxislayer-above text, .g-xtitle text, .g-ytitle text, ' +
      '.g-y2title text, .g-y3title text, .legend .legendtext');
    for (const label of labels) {
      const box = label.getBoundingClientRect();
      if (!label.textContent || box.width === 0) continue;
      const shown = label.closest('.legend') && label.closest('.legend').querySelector('.bg');
      if (shown) {  // a legend entry scrolled out of its legend's view is not drawn
        const view = shown.getBoundingClientRect();
        if (box.top >= view.bottom || box.bottom <= view.top) continue;
      }
      const out_ = box.left < svg.left - 1 || box.right > svg.right + 1 ||
                   box.top < svg.top - 1 || box.bottom > svg.bottom + 1;
      const tick = label.closest('.yaxislayer-above');
      const over = tick && (box.left + box.right) / 2 < (plot.left + plot.right) / 2
        ? box.right > plot.left + 1 : tick && box.left < plot.right - 1;
      if (out_ || over) wrong.push(label.textContent + (out_ ? ' outside' : ' over the plot'));
    }
    // The legend (its background: what it shows, scrolled or not) beside the plot, not on it.
    const legend = div.querySelector('.legend .bg');
    if (legend) {
      const box = legend.getBoundingClientRect();
      if (box.left < plot.right - 1 && plot.left < box.right - 1 &&
          box.top < plot.bottom - 1 && plot.top < box.bottom - 1) {
        wrong.push('the legend over the plot');
      }
    }
    // A y axis' tick labels over each other (a short axis given too many).
    for (const axis of div.querySelectorAll('.yaxislayer-above')) {
      const boxes = [...axis.querySelectorAll('text')].filter((t) => t.textContent)
        .map((t) => [t.textContent, t.getBoundingClientRect()]);
      boxes.forEach(([text, a], i) => boxes.slice(i + 1).forEach(([other, b]) => {
        if (a.top < b.bottom - 1 && b.top < a.bottom - 1 && a.left < b.right && b.left < a.right)
          wrong.push(text + ' over ' + other);
      }));
    }
    const size = div._fullLayout._size;
    out.push({margin: {l: size.l, r: size.r, t: size.t, b: size.b}, wrong: wrong,
              ticks: div.querySelectorAll('.yaxislayer-above text').length});
    div.remove();
  }
  return out;
}"""

WALLS = [f"2026-12-07 02:36:{second:02d}.000" for second in range(0, 60, 5)]


def _series(name: str, values: list[float], unit: str = "") -> dict[str, Any]:
    y = [values[i % len(values)] for i in range(len(WALLS))]
    return {"name": name, "x": WALLS, "y": y, "last": y[-1], "unit": unit}


def _candles(low: float, volume: float) -> list[dict[str, Any]]:
    return [
        {"time": f"2026-12-07T02:{minute:02d}:00Z", "open": low + minute, "high": low + minute + 2,
         "low": low + minute - 1, "close": low + minute + 1, "volume": volume * (1 + minute % 3)}
        for minute in range(20)
    ]  # fmt: skip


def _charts() -> dict[str, tuple[Any, int]]:
    """Each chart type's figure (its JSON) and the width it is drawn at."""
    hot = {"id": 1, "thresholds": [{"value": 130000.5, "color": "red"}]}
    big = _series("meter-0001 energy", [123456.789, 123460.5, 123458.25], "kWh")
    small = _series("meter-0001 power factor", [-0.00123, 0.0042], "µg/m³")
    names = [_series(f"sim-sensor-{i} humidity", [123456.789 + i]) for i in range(60)]
    device = generated.device({"device_id": "d"}, ["temperature"], [])["panels"][0]
    wide = [{"min": -123456.5, "max": 9.5}] * len(WALLS)
    bucket = {"metric": "temperature", "method": "bucket", "x": WALLS, "y": big["y"],
              "last": big["last"], "points": wide}  # fmt: skip
    figures = {
        "time series, one unit": (boards_panels.time_figure(hot, [big], 252, "r"), 910),
        "time series, two units on two axes": (
            boards_panels.time_figure(hot, [big, small, small | {"name": "x"}], 252, "r"),
            674,
        ),
        "time series, a legend of two rows": (
            boards_panels.time_figure({"id": 2}, names[:6], 252, "r", width=674),
            674,
        ),
        "time series, many series: the legend at the right": (
            boards_panels.time_figure({"id": 2}, names[:20], 252, "r", width=674),
            674,
        ),
        "time series, two units, many series": (
            boards_panels.time_figure(hot, [big, small, *names[:20]], 252, "r", width=674),
            674,
        ),
        "bar, level names": (boards_panels.bar(hot, names[:3], 252, "r", 674)[1].figure, 674),
        "bar, names at 45°": (boards_panels.bar(hot, names[:20], 252, "r", 674)[1].figure, 674),
        "bar, upright names": (boards_panels.bar(hot, names, 252, "r", 674)[1].figure, 674),
        "bar, width unknown": (boards_panels.bar(hot, names[:20], 252, "r")[1].figure, 674),
        "device page": (device_panels.figure(device, bucket, "r", 0, None, UTC), 560),
    }
    drawn = {name: (figure.to_plotly_json(), width) for name, (figure, width) in figures.items()}
    candles = _candles(123456.789, 4_500_000)
    drawn["candlestick"] = (
        boards_panels.candle_figure({"id": 3}, "LONGTICKER", candles, UTC, "r", 252),
        556,
    )
    drawn["markets chart"] = (
        boards_panels.candle_figure({"id": 4}, "AAPL", _candles(0.00123, 12), UTC, "r", 520),
        1100,
    )
    answer: dict[str, tuple[Any, int]] = json.loads(json.dumps(drawn, default=str))
    return answer


@pytest.mark.asyncio
async def test_charts_margins_fit_their_labels_so_automargin_draws_them_once(
    browser: Browser,
) -> None:
    charts = _charts()
    page = await browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        await page.set_content("<!doctype html><html><body></body></html>")
        await page.add_script_tag(path=str(PLOTLY_JS))
        found = await page.evaluate(_DRAW, list(charts.values()))
    finally:
        await page.close()
    for name, (figure, _), drawn in zip(charts, charts.values(), found, strict=True):
        assert drawn["ticks"] > 0, name
        assert drawn["wrong"] == [], name
        given = figure["layout"]["margin"]
        # Automargin widened nothing: the chart was drawn once, with its own margins.
        assert {side: drawn["margin"][side] for side in "lrtb"} == {
            side: given[side] for side in "lrtb"
        }, name


#: A device's worst finite values: the largest floats, subnormal ones, one tiny value alone.
WORST = [
    [0.0, 1.7976931348623157e308],
    [-1.7976931348623157e308, 1.7976931348623157e308],
    [5e-324, 1e-323],
    [1e-300],
    [-0.0],
]


@pytest.mark.parametrize("values", WORST, ids=str)
def test_the_worst_values_get_a_chart_with_bounded_margins(values: list[float]) -> None:
    """A label Plotly writes with an exponent is at most `theme.MOST_TICK_CHARS` long: the
    estimate neither fails (which would show the panel's error instead of its chart) nor
    asks for a margin wider than the chart."""
    assert 0 < theme.tick_chars(values) <= theme.MOST_TICK_CHARS
    widest = theme.MOST_TICK_CHARS * theme.CHAR_PX + 2 * theme.TITLE_PX + 6
    series = _series("d temperature", values, "°C")
    figure = boards_panels.time_figure({"id": 1}, [series, series | {"unit": "kWh"}], 252, "r")
    margin = figure.to_plotly_json()["layout"]["margin"]
    assert margin["l"] <= widest and margin.get("r", 0) <= widest, margin
    bar = boards_panels.bar({"id": 2}, [series], 252, "r", 674)[1].figure
    assert bar.to_plotly_json()["layout"]["margin"]["l"] <= widest
    low = min(values)
    candles = boards_panels.candle_figure({"id": 3}, "T", _candles(low, 1e308), UTC, "r", 252)
    assert candles["layout"]["margin"]["l"] <= widest

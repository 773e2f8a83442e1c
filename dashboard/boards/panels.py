"""A dashboard's panels, one function per type, each answering the panel's body.

Time panels reuse the existing builders: `theme.figure` (the style of every chart),
`markets.chart.figure` (candles + volume + the panel's indicators). Thresholds colour stat and
gauge and are drawn as lines on time series. Markdown is rendered without HTML.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from datetime import tzinfo
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard import client, frame, theme
from dashboard.boards import data
from dashboard.markets import chart as markets_chart
from tickwire.indicators import name_of as indicator_name

log = logging.getLogger(__name__)

#: The grid's row height and gap (px, assets/boards.css), and a panel's chrome (title, padding).
ROW_PX, GAP_PX, CHROME_PX = 30, 8, 44
COLUMNS = 24
#: An alert annotation's colour by severity (an unknown one: warning's).
ALERT_COLORS = {"critical": "#f2495c", "warning": "#ff9830", "info": "#5794f2"}
CANDLE_PX = 6
MARGIN = {"l": 48, "r": 8, "t": 8, "b": 28}
#: A legend of more rows than this above the plot goes beside it, at its right (Grafana's
#: "right" legend, scrolled by Plotly): its rows would take the plot's height.
LEGEND_ROWS = 2
#: A right-hand legend's width at most, a share of the chart's (a longer name runs over).
LEGEND_SHARE = 0.4
#: A chart's width when its page's is not known, px (`pixels`).
UNKNOWN_WIDTH_PX = 600


def pixels(grid: dict[str, Any], page_width: int | None) -> tuple[int | None, int]:
    """The panel's plot width (None: unknown) and height, from its grid cell."""
    height = grid["h"] * ROW_PX + (grid["h"] - 1) * GAP_PX - CHROME_PX
    if not page_width:
        return None, max(height, 60)
    column = (page_width - GAP_PX * (COLUMNS - 1)) / COLUMNS
    width = grid["w"] * column + (grid["w"] - 1) * GAP_PX - 24
    return max(40, round(width)), max(height, 60)


def threshold_color(thresholds: list[dict[str, Any]], value: float | None) -> str | None:
    """The colour of the highest threshold at or below `value` (Grafana's steps)."""
    if value is None:
        return None
    color = None
    for step in sorted(thresholds, key=lambda t: t["value"]):
        if value >= step["value"]:
            color = step["color"]
    return color


def _graph(panel: dict[str, Any], figure: Any, height: int) -> dcc.Graph:
    return dcc.Graph(
        id={"type": "board-graph", "panel": panel["id"]},
        figure=figure,
        style={"height": f"{height}px"},
        config={"displaylogo": False, "responsive": True},
    )


def timeseries(
    panel: dict[str, Any],
    series: list[dict[str, Any]],
    height: int,
    revision: str,
    alerts: list[dict[str, Any]] | None = None,
    width: int | None = None,
) -> Any:
    fig = time_figure(panel, series, height, revision, alerts, width=width)
    return [_errors(series), _graph(panel, fig, height)]


def time_figure(
    panel: dict[str, Any],
    series: list[dict[str, Any]],
    height: int,
    revision: str,
    alerts: list[dict[str, Any]] | None = None,
    span: tuple[str, str] | None = None,
    width: int | None = None,
) -> go.Figure:
    """A time series panel's chart (the device page's too), `width` px wide (None: not known):
    a line per series (trace i: series i, which live points extend), one y axis per unit, a
    series' min–max band when it has one (buckets), the thresholds as lines, the alerts as
    annotations, the series' legend (`legend`). A lone point is a marker on the range's axis
    (`span`, wall clocks), not a line on a 1 ms one.

    Built as one dict for `theme.figure` (plotly's `add_scatter` / `update_layout` one by one
    were most of a render's figure time)."""
    # One y axis per unit: the first on the left, the others on the right (sharing it).
    found = list(dict.fromkeys(s.get("unit") or "" for s in series))
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"height": height, "uirevision": revision, "margin": MARGIN}
    for s in series:
        lone = len(s["x"]) == 1
        # `meta`: the trace's device and metric (or ticker), which live points extend
        # (assets/boards.js `live`).
        trace = {"type": "scatter", "x": s["x"], "y": s["y"],
                 "mode": "lines+markers" if lone else "lines", "name": s["name"],
                 "yaxis": "y" if found.index(s.get("unit") or "") == 0 else "y2",
                 "marker": {"size": 8}}  # fmt: skip
        if s.get("subject") is not None:
            trace["meta"] = s["subject"]
        if s.get("color"):
            trace["line"] = {"color": s["color"]}
        traces.append(trace)
        if lone and len(series) == 1:
            layout |= _lone(float(s["y"][0]), span)
    traces += [band for s in series if s.get("band") for band in _band(s)]
    if len(found) > 1:
        layout |= {
            "yaxis": {"title": {"text": found[0]}},
            "yaxis2": {"title": {"text": ", ".join(found[1:])}, "overlaying": "y",
                       "side": "right", "gridcolor": theme.GRID, "showgrid": False},
        }  # fmt: skip
    layout["margin"] = time_margin(panel, series, found, layout)
    if len(series) > 1:
        layout |= legend([s["name"] for s in series], layout["margin"], width)
    # Layout shapes: Plotly's add_hline / add_vline cost about 35 ms each (a render of 20
    # alerts took 0.7 s), these dicts next to nothing.
    lines = [
        {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": step["value"],
         "y1": step["value"], "line": {"color": step["color"], "dash": "dash", "width": 1}}
        for step in panel.get("thresholds", [])
    ]  # fmt: skip
    marks = [shape for mark in alerts or [] for shape in annotation(mark)]
    if lines or marks:
        layout["shapes"] = [*lines, *marks]
    return theme.figure(traces, **layout)


def time_margin(
    panel: dict[str, Any],
    series: list[dict[str, Any]],
    units: list[str],
    layout: dict[str, Any],
) -> dict[str, int]:
    """Margins that fit what Plotly writes around a time series (`theme`'s estimates, so
    automargin has nothing to add): the left axis' tick labels (its series, bands, thresholds,
    a lone point's range) and title when there are two, the right axis' likewise, the date
    axis' two lines below (the legend's: `legend`)."""
    left: list[float | None] = [step["value"] for step in panel.get("thresholds", [])]
    right: list[float | None] = []
    for s in series:
        values = right if units.index(s.get("unit") or "") else left
        values += s["y"]
        for edge in s.get("band") or []:
            values += edge
    left += layout.get("yaxis", {}).get("range", [])
    titled = len(units) > 1
    margin = MARGIN | {
        "l": max(MARGIN["l"], theme.axis_px(left, titled)),
        "t": max(MARGIN["t"], theme.TOP_PX),
        "b": max(MARGIN["b"], theme.DATE_AXIS_PX),
    }
    if titled:
        margin["r"] = theme.axis_px(right, titled=True)
    return margin


def legend(names: list[str], margin: dict[str, int], width: int | None) -> dict[str, Any]:
    """The layout of a legend of `names` on a chart `width` px wide with `margin` (which it
    widens for it): above the plot (the theme's) in as many rows as the names take, or past
    `LEGEND_ROWS` a list at the plot's right, as wide as its longest entry."""
    wide = width or UNKNOWN_WIDTH_PX
    rows = theme.legend_rows(names, wide - margin["l"] - margin["r"])
    if rows <= LEGEND_ROWS:
        margin["t"] = max(margin["t"], theme.legend_px(rows))
        return {}
    widest = max(theme.LEGEND_ENTRY_PX + theme.text_px(name) for name in names)
    margin["r"] += min(widest, round(wide * LEGEND_SHARE))
    margin["t"] = max(margin["t"], theme.LEGEND_PAD_PX)  # (Plotly keeps its top in the margin)
    # In the chart's top right corner (its container's), past a right axis' labels and title.
    return {"legend": {"orientation": "v", "xref": "container", "x": 1, "xanchor": "right",
                       "yref": "container", "y": 1, "yanchor": "top"}}  # fmt: skip


def _lone(value: float, span: tuple[str, str] | None) -> dict[str, Any]:
    pad = max(abs(value) * 0.1, 1.0)
    axes: dict[str, Any] = {"yaxis": {"range": [value - pad, value + pad]}}
    if span:
        axes["xaxis"] = {"range": list(span)}
    return axes


def _band(s: dict[str, Any]) -> list[dict[str, Any]]:
    """The min–max of each bucket, shaded behind the line (after every line: trace i stays
    series i)."""
    low, high = s["band"]
    return [
        {"type": "scatter", "x": s["x"], "y": high, "mode": "lines", "line": {"width": 0},
         "hoverinfo": "skip", "name": "max", "showlegend": False},
        {"type": "scatter", "x": s["x"], "y": low, "mode": "lines", "line": {"width": 0},
         "fill": "tonexty", "fillcolor": "rgba(87,148,242,0.15)", "hoverinfo": "skip",
         "name": "min", "showlegend": False},
    ]  # fmt: skip


def annotation(mark: dict[str, Any]) -> list[dict[str, Any]]:
    """An alert on a time series (Grafana's annotations) as layout shapes: a line at its
    raise, and a shaded span to its clear when it cleared (an alert still open: the line
    alone)."""
    color = ALERT_COLORS.get(mark["severity"], ALERT_COLORS["warning"])
    shapes: list[dict[str, Any]] = [
        {"type": "line", "xref": "x", "x0": mark["raised"], "x1": mark["raised"],
         "yref": "y domain", "y0": 0, "y1": 1, "line": {"color": color, "width": 1},
         "name": mark["text"]}
    ]  # fmt: skip
    if mark["cleared"]:
        shapes.append(
            {"type": "rect", "xref": "x", "x0": mark["raised"], "x1": mark["cleared"],
             "yref": "y domain", "y0": 0, "y1": 1, "fillcolor": color, "opacity": 0.12,
             "line": {"width": 0}, "layer": "below", "name": mark["text"]}
        )  # fmt: skip
    return shapes


def bar(
    panel: dict[str, Any],
    series: list[dict[str, Any]],
    height: int,
    revision: str,
    width: int | None = None,
) -> Any:
    colors = [threshold_color(panel.get("thresholds", []), s["last"]) for s in series]
    bars = {"type": "bar", "x": [s["name"] for s in series], "y": [s["last"] for s in series],
            "marker": {"color": [c or theme.COLORS[1] for c in colors]}}  # fmt: skip
    margin, angle = bar_labels(panel, series, width)
    fig = theme.figure(
        [bars], height=height, uirevision=revision, margin=margin,
        xaxis={"type": "category", "tickangle": angle},
    )  # fmt: skip
    return [_errors(series), _graph(panel, fig, height)]


def bar_labels(
    panel: dict[str, Any], series: list[dict[str, Any]], width: int | None
) -> tuple[dict[str, int], int]:
    """A bar chart's margins and the angle of its names (`theme`'s estimates; `width`: the
    chart's, None: unknown): the values' tick labels on the left (from 0, where the bars
    start); the names below, level when they fit side by side, else at 45° (down to the
    right of their bar, past the last one: the right margin too) while two of them stay a
    line apart, else upright. The angle is given, not left to Plotly, which chooses it from
    its first drawing's margins, before automargin widens them."""
    values = [0.0, *(s["last"] for s in series), *(t["value"] for t in panel.get("thresholds", []))]
    margin = MARGIN | {"l": max(MARGIN["l"], theme.axis_px(values))}
    longest = max((theme.text_px(s["name"]) for s in series), default=0)
    inner = (width or 600) - margin["l"] - margin["r"]
    count = max(len({s["name"] for s in series}), 1)  # a category axis: one tick a name
    if width is not None and longest + theme.CHAR_PX <= inner / count:
        return margin | {"b": max(margin["b"], theme.LINE_PX + 8)}, 0
    # At 45° the last name runs `longest`·cos 45° right of its bar's middle, which is half a
    # spacing from the plot's edge, the spacing itself narrowed by that margin.
    reach = longest * 0.71 + 8
    right = max(margin["r"], math.ceil((reach - inner / (2 * count)) / (1 - 1 / (2 * count))))
    if (inner - right + margin["r"]) / count * 0.71 >= theme.LINE_PX:
        down = round((longest + theme.LINE_PX) * 0.71) + 8
        return margin | {"b": max(margin["b"], down), "r": right}, 45
    return margin | {"b": max(margin["b"], longest + 8)}, 90


def stat(panel: dict[str, Any], series: list[dict[str, Any]], height: int) -> Any:
    """The last value, coloured by the thresholds, over a sparkline of the range."""
    first = next((s for s in series if s["y"]), None)
    value = first["last"] if first else None
    color = threshold_color(panel.get("thresholds", []), value) or theme.TEXT
    options = panel.get("options", {})
    text = _number(value, options.get("decimals"), options.get("unit"))
    base = next((y for y in first["y"] if y is not None), None) if first else None
    change = change_text(base, value, options.get("decimals"), options.get("unit"))
    look: dict[str, Any] = {"height": max(30, height // 2), "showlegend": False,
                            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
                            "xaxis": {"visible": False}, "yaxis": {"visible": False}}  # fmt: skip
    line: list[dict[str, Any]] = []
    if first:
        line = [{"type": "scatter", "x": first["x"], "y": first["y"], "mode": "lines",
                 "line": {"color": color}}]  # fmt: skip
        # What assets/boards.js `follow` needs to carry the value on from live points.
        look["meta"] = {"subject": first.get("subject"), "thresholds": panel.get("thresholds", []),
                        "decimals": options.get("decimals"), "unit": options.get("unit"),
                        "color": theme.TEXT, "base": base}  # fmt: skip
    spark = theme.figure(line, **look)
    return [
        _errors(series),
        html.Div(text, className="board-stat", style={"color": color}),
        html.Div(change, className="board-stat-change"),
        dcc.Graph(figure=spark, config={"staticPlot": True}, style={"height": f"{height // 2}px"}),
    ]


def gauge(panel: dict[str, Any], series: list[dict[str, Any]], height: int) -> Any:
    first = next((s for s in series if s["y"]), None)
    value = first["last"] if first else None
    options = panel.get("options", {})
    low, high = options.get("min", 0), options.get("max", 100)
    steps = sorted(panel.get("thresholds", []), key=lambda t: t["value"])
    bands = [
        {"range": [step["value"], steps[i + 1]["value"] if i + 1 < len(steps) else high],
         "color": step["color"]}
        for i, step in enumerate(steps)
    ]  # fmt: skip
    color = threshold_color(steps, value) or theme.COLORS[1]
    indicator = {
        "type": "indicator",
        "mode": "gauge+number",
        "number": {"suffix": f" {options['unit']}" if options.get("unit") else ""},
        "gauge": {"axis": {"range": [low, high]}, "bar": {"color": color}, "steps": bands},
    }
    if value is not None:
        indicator["value"] = value
    fig = theme.figure([indicator], height=height, margin={"l": 16, "r": 16, "t": 16, "b": 8})
    return [_errors(series), _graph(panel, fig, height)]


def table(panel: dict[str, Any], series: list[dict[str, Any]]) -> Any:
    """The latest value of every series, sortable by a click on a column header."""
    decimals = panel.get("options", {}).get("decimals")
    steps = panel.get("thresholds", [])
    rows = [
        [{"t": s["name"]},
         {"t": _number(s["last"], decimals, None), "v": s["last"],
          "c": threshold_color(steps, s["last"])}]
        for s in series
    ]  # fmt: skip
    return [_errors(series), drawn_table(["series", "last"], rows, sortable=True)]


def drawn_table(
    head: list[str], rows: list[list[dict[str, Any]]], sortable: bool = False, extra: str = ""
) -> html.Div:
    """A `tw-table` as one Dash component: its cells as data (`data-table`, JSON), drawn by
    assets/boards.js `drawTables` as text nodes (a device name never becomes markup), sorted
    there by a click on a header when `sortable`. A cell: {"t": text, "c": colour, "k": class,
    "v": the value it sorts by (else its text)}. A table of Html components was two Dash
    components a cell, each re-checked by Dash's renderer at every store update (85 cells and
    44 rows of /d/fleet's ~217 components, docs/dashboard.md)."""
    spec = {"head": head, "rows": rows, "sortable": sortable, "extra": extra}
    attributes: dict[str, Any] = {"data-table": json.dumps(spec)}
    return html.Div(className="board-table", **attributes)


def candlestick(
    panel: dict[str, Any],
    ticker: str,
    history: dict[str, Any],
    height: int,
    tz: tzinfo,
    series: dict[str, Any] | None = None,
    why: str | None = None,
) -> Any:
    """Candles and volume, and the panel's indicators (`series`: the API's answer; `why`: why
    there is none); live ticks extend the last candle or start the next one in the browser
    (assets/boards.js `follow`, from the figure's `meta`: markets.js' rules)."""
    candles = history["candles"]
    if not candles:
        return html.Div(f"No prices for {ticker} in this range.", className="tw-empty")
    fig = candle_figure(panel, ticker, candles, tz, f"board-{panel['id']}", height, (series, None))
    last = markets_chart.live_state(candles)["current"]
    fig["layout"]["meta"] = {
        "ticker": ticker,
        "interval_ms": history.get("interval_ms") or 1000,
        "end_ms": _ms(history["end"]),
        "current": {**last, "t": _ms(last["t"])},
    }
    graph = _graph(panel, fig, height)
    return graph if why is None else [failed(f"No indicators: {why}"), graph]


def _ms(iso: str) -> int:
    return int(frame.instant(iso).timestamp() * 1000)


def candle_figure(
    panel: dict[str, Any],
    ticker: str,
    candles: list[dict[str, Any]],
    tz: tzinfo,
    revision: str,
    height: int | None = None,
    indicators: tuple[dict[str, Any] | None, list[dict[str, Any]] | None] = (None, None),
) -> dict[str, Any]:
    """A candlestick panel's chart (the markets page's too): candles and volume
    (`markets.chart.figure`, whose trace order assets/markets.js extends live), the panel's
    `options.indicators` on the closed candles, the thresholds as lines on the price.
    `indicators`: the API's series of them, and indicators laid out hidden unless chosen
    (None: none; the markets page's toggles, so its trace indices stay fixed)."""
    shown = [{**c, "time": frame.wall(c["time"], tz)} for c in candles]
    chosen = indicator_options(panel)
    series, offered = indicators
    fig: dict[str, Any] = markets_chart.figure(
        ticker, candles, shown, chosen, series, revision, offered
    )
    if height is not None:
        fig["layout"]["height"] = height
        markets_chart.fit(fig)
    lines = [
        {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": step["value"],
         "y1": step["value"], "line": {"color": step["color"], "dash": "dash", "width": 1}}
        for step in panel.get("thresholds", [])
    ]  # fmt: skip
    if lines:
        fig["layout"]["shapes"] = [*fig["layout"].get("shapes", []), *lines]
    return fig


def indicator_options(panel: dict[str, Any]) -> list[dict[str, Any]]:
    """A candlestick panel's `options.indicators` (none: [])."""
    found: list[dict[str, Any]] = (panel.get("options") or {}).get("indicators") or []
    return found


def alerts(items: list[dict[str, Any]], tz: tzinfo, empty: str = "No alerts.") -> Any:
    """The alert list panel (the device page's alerts too)."""
    if not items:
        return html.Div(empty, className="tw-empty")
    head = ["kind", "severity", "state", "raised", "message"]
    rows = [
        [{"t": a["kind"]}, {"t": a["severity"], "k": f"sev-{a['severity'].lower()}"},
         {"t": a["state"]}, {"t": frame.when(a["raised_at"], tz), "k": "tw-when"},
         {"t": a["message"]}]
        for a in items
    ]  # fmt: skip
    return drawn_table(head, rows, extra="device-alerts")


def text(panel: dict[str, Any]) -> Any:
    return dcc.Markdown(panel.get("options", {}).get("content", ""), className="board-text")


def failed(message: str) -> html.Div:
    return html.Div(message, className="tw-error")


def shown(body: Any) -> Any:
    """A panel's body as `asyncio.gather(..., return_exceptions=True)` hands it over: drawn, or
    what stopped it said in its place: the API's refusal as it words it; anything else (a bug
    meeting some device's values) logged with its traceback, so one panel never takes the
    board down (a board's layout that raises leaves the page blank). A cancellation goes on."""
    if not isinstance(body, BaseException):
        return body
    if isinstance(body, client.ApiFailed):
        return failed(body.message)
    if not isinstance(body, Exception):
        raise body
    log.error("a board panel could not be drawn", exc_info=body)
    return failed(f"This panel could not be drawn ({type(body).__name__}).")


def _errors(series: list[dict[str, Any]]) -> html.Div:
    wrong = [f"{s['name']}: {s['error']}" for s in series if s.get("error")]
    if not series:
        return html.Div("No data for these targets.", className="tw-empty")
    # Always a Div, never None, so a panel's children keep their places from one render to
    # the next (a stat once showed "No data" in its big font after such a change).
    return html.Div("; ".join(wrong), className="tw-error" if wrong else "board-no-errors")


def change_text(
    base: float | None, value: float | None, decimals: int | None, unit: str | None
) -> str:
    """The stat's change over the range, from its first value to its last: "+1.5 °C (+7.1 %)"
    (no percentage from a first value of 0); "" without both. assets/boards.js `changeText`
    writes the same from live points."""
    if base is None or value is None:
        return ""
    change = value - base
    text = ("+" if change >= 0 else "-") + _number(abs(change), decimals, unit)
    return f"{text} ({change / abs(base) * 100:+.1f} %)" if base else text


def _number(value: float | None, decimals: int | None, unit: str | None) -> str:
    if value is None:
        return "–"
    shown = f"{value:.{decimals}f}" if decimals is not None else f"{value:.4g}"
    return f"{shown} {unit}" if unit else shown


EXTENDED = frozenset({"timeseries", "text"})
"""Types a refresh leaves alone: time series follow live points (assets/boards.js `live`),
text has no data. The others (stat, gauge, table, bar, candlestick, alerts) are fetched again."""

TIME_TYPES = frozenset({"timeseries", "bar", "stat", "gauge", "table"})
"""Types drawn from `data.many` series."""

LATEST_TYPES = frozenset({"bar", "table"})
"""Types that show each series' last value alone: while live, `data.latest` (two calls)."""


async def body(
    panel: dict[str, Any],
    values: dict[str, list[str]],
    window: tuple[str, str],
    page_width: int | None,
    tz: tzinfo,
    revision: str,
    live: bool = False,
) -> Any:
    """The panel's body for the range `window` (ISO) with the variables' `values`; `live`:
    the range ends now (table and bar then read the newest values, not each history)."""
    width, height = pixels(panel["grid"], page_width)
    targets = data.expand(panel.get("targets", []), values)
    kind = panel["type"]
    start, end = window
    points = data.points_for(width)
    if kind in TIME_TYPES:
        if kind == "timeseries":
            series, marks = await asyncio.gather(
                data.many(targets, start, end, points, tz), data.marks(targets, start, end, tz)
            )
            return timeseries(panel, series, height, revision, marks, width)
        newest = live and kind in LATEST_TYPES
        series = await (data.latest if newest else data.many)(targets, start, end, points, tz)
        if kind == "bar":
            return bar(panel, series, height, revision, width)
        if kind == "stat":
            return stat(panel, series, height)
        if kind == "gauge":
            return gauge(panel, series, height)
        return table(panel, series)
    if kind == "candlestick":
        ticker = next((t["ticker"] for t in targets if t.get("ticker")), None)
        if ticker is None:
            return failed("A candlestick panel needs a ticker target.")
        # A candle needs a few pixels to read as one: about one per CANDLE_PX of width.
        points = data.points_for((width or 800) // CANDLE_PX)
        names = [indicator_name(option) for option in indicator_options(panel)]
        history, (series, why) = await asyncio.gather(
            data.candles(ticker, start, end, points),
            data.indicators(ticker, start, end, points, names),
        )
        return candlestick(panel, ticker, history, height, tz, series, why)
    if kind == "alerts":
        options = panel.get("options", {})
        found = await data.alerts(options.get("state"), options.get("limit", 20), targets)
        return alerts(found, tz)
    return text(panel)

"""The candlestick chart (the candlestick panel's, so the markets page's too): candles + volume,
overlays on the price (SMA, EMA, Bollinger, VWAP) and sub-plots under the volume (RSI, MACD,
ATR, OBV), on one x axis, as a plain figure dict laid out for live `extendData`. The
indicators are a panel's `options.indicators`; every value is the API's
(`GET /api/stocks/{ticker}/indicators`, TA-Lib's numbers): nothing here or in the browser
computes one.

Trace order (assets/markets.js and boards.js rely on it): 0 closed candles, 1 the current
candle (the bucket still filling: the live side replaces it with `maxPoints` 1), 2 closed
volume, 3 the current volume, then one trace per indicator line (on the markets page, every
`LINES` entry: 4…11, hidden unless toggled on). Every trace carries the same columns
(`x`, `open`, `high`, `low`, `close`, `y`; the ones a trace type ignores stay empty) because
one `extendData` call extends every listed trace by the same keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dashboard import frame, theme
from tickwire import indicators

UP, DOWN = "#73bf69", "#f2495c"
COLUMNS = ("x", "open", "high", "low", "close", "y")
FIRST_LINE = 4
"""Index of the first indicator trace (after the candles and the volume)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One indicator trace: the API's name it comes from, its label, the API's series key, its
    colour, y axis and trace type."""

    name: str
    label: str
    key: str
    color: str
    axis: str = "y"
    kind: str = "scatter"


#: Indicators drawn in a sub-plot of their own under the volume, bottom up from the last, and
#: their y axes (the price is `y`, the volume `y2`); the others draw over the price.
SUBPLOTS = ("rsi", "macd", "atr", "obv")
_AXES = {kind: f"y{3 + i}" for i, kind in enumerate(SUBPLOTS)}
#: A kind's colour (its first line; a second indicator of the kind takes the palette's next).
_COLORS = {"sma": "#f2cc0c", "ema": "#ff9830", "bbands": "#b877d9", "vwap": "#8ab8ff",
           "rsi": "#5794f2", "macd": "#5794f2", "atr": "#73bf69", "obv": "#5794f2"}  # fmt: skip


def lines(chosen: Sequence[Mapping[str, Any]]) -> list[Line]:
    """The traces of a candlestick panel's `options.indicators` (api/schemas/dashboards.py
    `Indicator`), in their order: one per value drawn (Bollinger: the upper and lower band;
    MACD: the line, its signal and the histogram)."""
    drawn: list[Line] = []
    count: dict[str, int] = {}
    for option in chosen:
        kind = option["name"]
        name = indicators.name_of(option)
        n = count[kind] = count.get(kind, 0) + 1
        color = _COLORS[kind] if n == 1 else theme.COLORS[(n + 1) % len(theme.COLORS)]
        axis = _AXES.get(kind, "y")
        args = name.split(":")[1:]
        if kind == "bbands":
            label = f"Bollinger {args[0]}, {args[1]}σ"
            drawn += [Line(name, f"{label} upper", f"{name}.bb_upper", color),
                      Line(name, f"{label} lower", f"{name}.bb_lower", color)]  # fmt: skip
        elif kind == "macd":
            label = "MACD " + "/".join(args)
            drawn += [Line(name, label, f"{name}.macd", color, axis),
                      Line(name, f"{label} signal", f"{name}.macd_signal", "#ff9830", axis),
                      Line(name, f"{label} histogram", f"{name}.macd_hist", "#8e8e8e", axis,
                           "bar")]  # fmt: skip
        else:
            drawn.append(Line(name, " ".join([kind.upper(), *args]), name, color, axis))
    return drawn


#: The markets page's toggles (the URL's `show=`) and the indicator each draws.
OFFERED: dict[str, dict[str, Any]] = {
    "sma": {"name": "sma", "period": 20},
    "ema": {"name": "ema", "period": 20},
    "bollinger": {"name": "bbands", "period": 20, "stddev": 2},
    "rsi": {"name": "rsi", "period": 14},
    "macd": {"name": "macd", "fast": 12, "slow": 26, "signal": 9},
}
NAMES = tuple(indicators.name_of(option) for option in OFFERED.values())
"""The indicators the chart asks the API for (one call)."""
LINES = tuple(lines(list(OFFERED.values())))
"""The markets chart's indicator traces: every toggle's, hidden unless chosen, so trace indices
stay fixed for assets/markets.js."""
TOGGLES = (
    ("sma", "SMA 20"),
    ("ema", "EMA 20"),
    ("bollinger", "Bollinger 20, 2σ"),
    ("rsi", "RSI 14"),
    ("macd", "MACD 12/26/9"),
)
"""What the chart's checklist offers (and `&show=` in the URL holds)."""
PANELS = ("rsi", "macd")
"""Toggles that are panels under the price (the others draw over it)."""
DEFAULT_SHOW = ("sma",)
_PANEL_HEIGHT, _VOLUME_HEIGHT, _GAP = 0.2, 0.14, 0.04
#: The margins at least.
MARGIN = {"l": 56, "r": 16, "t": 32, "b": 32}
#: The least space between a short axis' tick labels, px (two lines of the 12 px font).
TICK_SPACING_PX = 24


def options(show: Sequence[str]) -> list[dict[str, Any]]:
    """The toggles `show` as a candlestick panel's `options.indicators` (in the toggles' order)."""
    return [dict(OFFERED[key]) for key, _ in TOGGLES if key in show]


def chosen(show: str | None) -> list[str]:
    """The URL's `show=` as toggles: unknown ones dropped, absent → the default."""
    if show is None:
        return list(DEFAULT_SHOW)
    asked = set(show.split(","))
    return [key for key, _ in TOGGLES if key in asked]


def checked(value: Any) -> list[str]:
    """The checklist's value (from the browser) as toggles: anything else dropped."""
    return [k for k in value or [] if k in dict(TOGGLES)]


def height(show: Sequence[str]) -> int:
    """The chart's height in px: the price and volume, and 140 px per panel shown."""
    return 520 + 140 * sum(p in show for p in PANELS)


def _trace(kind: str, **columns: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {"type": kind}
    for column in COLUMNS:
        trace[column] = list(columns.pop(column, []))
    trace.update(columns)
    return trace


def _candles(candles: list[dict[str, Any]], name: str, legend: bool) -> dict[str, Any]:
    return _trace(
        "candlestick",
        x=[c["time"] for c in candles],
        open=[c["open"] for c in candles],
        high=[c["high"] for c in candles],
        low=[c["low"] for c in candles],
        close=[c["close"] for c in candles],
        name=name,
        showlegend=legend,
        legendgroup="price",
        increasing={"line": {"color": UP}},
        decreasing={"line": {"color": DOWN}},
        xaxis="x",
        yaxis="y",
    )


def _volume(candles: list[dict[str, Any]]) -> dict[str, Any]:
    return _trace(
        "bar",
        x=[c["time"] for c in candles],
        y=[c["volume"] or 0 for c in candles],
        name="volume",
        showlegend=False,
        marker={"color": "#5794f2"},
        opacity=0.6,
        xaxis="x",
        yaxis="y2",
    )


def _aligned(
    times: list[str], drawn: Sequence[Line], series: dict[str, Any] | None
) -> dict[str, list[Any]]:
    """The API's series on the chart's candle times (None where it has no value)."""
    if not series:
        return {line.key: [None] * len(times) for line in drawn}
    index = {frame.instant(t): i for i, t in enumerate(series["time"])}
    at = [index.get(frame.instant(t)) for t in times]
    values = series["series"]
    empty: list[Any] = []
    return {
        line.key: [None if i is None else values.get(line.key, empty)[i] for i in at]
        for line in drawn
    }


def indicator_traces(
    times: list[str],
    shown: list[str],
    drawn: Sequence[Line],
    visible: Sequence[str],
    series: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """A trace per line of `drawn`, visible if its indicator's name is in `visible`. `times`
    are the closed candles' instants; `shown`, the same in the page's zone."""
    values = _aligned(times, drawn, series)
    traces = []
    for line in drawn:
        style: dict[str, Any] = (
            {"marker": {"color": line.color}, "opacity": 0.7}
            if line.kind == "bar"
            else {"mode": "lines", "line": {"color": line.color, "width": 1.2}}
        )
        trace = _trace(line.kind, x=shown, y=values[line.key], name=line.label, **style)
        trace.update(visible=line.name in visible, xaxis="x", yaxis=line.axis, showlegend=True)
        traces.append(trace)
    return traces


def _axes(ticker: str, drawn: Sequence[Line], visible: Sequence[str]) -> dict[str, Any]:
    """The y axes stacked bottom up: the sub-plots shown, the volume, the price on top (a
    sub-plot of `drawn` not shown: hidden, flat at the bottom)."""
    kinds = [k for k in SUBPLOTS if any(line.axis == _AXES[k] for line in drawn)]
    shown = [k for k in kinds if any(line.axis == _AXES[k] and line.name in visible
                                     for line in drawn)]  # fmt: skip
    share = min(_PANEL_HEIGHT, 0.45 / len(shown)) if shown else 0.0
    axes: dict[str, Any] = {}
    bottom = 0.0
    for kind in reversed(kinds):
        name = "yaxis" + _AXES[kind][1:]
        if kind not in shown:
            axes[name] = {"visible": False, "domain": [0.0, 0.001]}
            continue
        axes[name] = {
            "domain": [bottom, bottom + share],
            "title": {"text": kind.upper()},
            **({"range": [0, 100], "tickvals": [30, 70]} if kind == "rsi" else {}),
        }
        bottom += share + _GAP
    axes["yaxis2"] = {"domain": [bottom, bottom + _VOLUME_HEIGHT], "title": {"text": "volume"}}
    bottom += _VOLUME_HEIGHT + _GAP
    axes["yaxis"] = {"domain": [bottom, 1.0], "title": {"text": ticker}}
    lowest = _AXES[shown[-1]] if shown else "y2"
    axes["xaxis"] = {"type": "date", "anchor": lowest, "rangeslider": {"visible": False}}
    return axes


def figure(
    ticker: str,
    candles: list[dict[str, Any]],
    shown: list[dict[str, Any]],
    chosen: Sequence[Mapping[str, Any]],
    series: dict[str, Any] | None,
    rev: str,
    offered: Sequence[Mapping[str, Any]] | None = None,
) -> Any:
    """The chart of `candles` (the last one is the current, maybe partial, bucket; `shown` the
    same in the page's zone) with the API's `series` of the `chosen` indicators on the closed
    ones. `offered`: every indicator to lay out a trace for, the ones not chosen hidden (the
    markets page's toggles: fixed trace indices); default the chosen ones."""
    visible = [indicators.name_of(option) for option in chosen]
    drawn = lines(chosen if offered is None else offered)
    fig = theme.figure(
        uirevision=rev,
        margin=dict(MARGIN),
        hovermode="x",
        **_axes(ticker, drawn, visible),
    ).to_dict()
    closed, current = shown[:-1], shown[-1:]
    fig["data"] = [
        _candles(closed, ticker, True),
        _candles(current, "current", False),
        _volume(closed),
        _volume(current),
        *indicator_traces(
            [c["time"] for c in candles[:-1]], [c["time"] for c in closed], drawn, visible, series
        ),
    ]
    # Wide enough for what Plotly writes around the plot (theme's estimates): automargin
    # widening it would draw the chart twice.
    margin = fig["layout"]["margin"]
    margin["l"] = max(margin["l"], theme.left_px(fig["data"], fig["layout"]))
    margin["b"] = max(margin["b"], theme.DATE_AXIS_PX)
    fit(fig)
    return fig


def fit(fig: dict[str, Any]) -> None:
    """The chart `fig` fitted to its height (the layout's, else the markets page's: `height`,
    from the panels shown): the top margin for its legend's row above the plot; the volume's
    and sub-plots' tick labels at most one per `TICK_SPACING_PX` of their axis (a dashboard
    panel's volume, ~30 px tall, had five, written over each other)."""
    layout = fig["layout"]
    shown = [key for key in PANELS if (layout.get("yaxis" + _AXES[key][1:]) or {}).get("title")]
    tall = layout.get("height") or height(shown)
    layout["margin"]["t"] = max(MARGIN["t"], theme.legend_px())
    plot = tall - layout["margin"]["t"] - layout["margin"]["b"]
    for name, axis in layout.items():
        if name.startswith("yaxis") and name != "yaxis" and axis.get("title"):
            low, high = axis["domain"]
            axis["nticks"] = max(2, int((high - low) * plot // TICK_SPACING_PX))


def live_state(candles: list[dict[str, Any]]) -> dict[str, Any]:
    """What the browser needs to continue the current candle live."""
    if not candles:
        return {"current": None}
    c = candles[-1]
    return {
        "current": {
            "t": c["time"],
            "o": c["open"],
            "h": c["high"],
            "l": c["low"],
            "c": c["close"],
            "v": c["volume"] or 0,
        }
    }


def meta(ticker: str, body: dict[str, Any], live: bool) -> dict[str, Any]:
    """The `markets-meta` store: what assets/markets.js needs to continue the chart live (a
    new `version` per history load); `closed_ms`: the last closed candle's start, after which
    the browser asks the API for the indicators of the candles it closes."""
    span_ms = _ms(body["end"]) - _ms(body["start"])
    interval = body.get("interval_ms") or 1000
    candles = body["candles"]
    return {
        "version": uuid.uuid4().hex,
        "ticker": ticker,
        "live": live,
        "interval": body.get("interval"),
        "interval_ms": interval,
        "end_ms": _ms(body["end"]),
        "closed_ms": _ms(candles[-2]["time"]) if len(candles) > 1 else None,
        "max_points": max(len(candles), span_ms // interval),
        **live_state(candles),
    }


def _ms(iso: str) -> int:
    return int(frame.instant(iso).timestamp() * 1000)


def resolution(body: dict[str, Any], fixed: bool) -> str:
    """What the chart shows, in words: how many candles of which width, from where; a fixed
    (custom or zoomed) range is not live."""
    count = len(body["candles"])
    text = f"{count} candles of {body.get('interval') or 'raw'} · from {body['source']}"
    return text + (" · fixed range, not live (double-click: back)" if fixed else "")

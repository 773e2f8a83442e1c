"""The markets page's candlestick chart: candles + volume + overlays (SMA, EMA, Bollinger) and
the RSI and MACD panels under it, on one x axis, as a plain figure dict laid out for live
`extendData`. Every indicator value is the API's (`GET /api/stocks/{ticker}/indicators`,
TA-Lib's numbers): nothing here or in the browser computes one.

Trace order (assets/markets.js relies on it): 0 closed candles, 1 the current candle (the
bucket still filling: the live side replaces it with `maxPoints` 1), 2 closed volume, 3 the
current volume, then one trace per `LINES` entry (4…11). Every trace carries the same columns
(`x`, `open`, `high`, `low`, `close`, `y`; the ones a trace type ignores stay empty) because
one `extendData` call extends every listed trace by the same keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dashboard import frame, theme

UP, DOWN = "#73bf69", "#f2495c"
COLUMNS = ("x", "open", "high", "low", "close", "y")
FIRST_LINE = 4
"""Index of the first indicator trace (after the candles and the volume)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One indicator trace: the toggle that shows it, its name, the API's series key, where."""

    toggle: str
    name: str
    key: str
    color: str
    axis: str = "y"
    kind: str = "scatter"


NAMES = ("sma:20", "ema:20", "bbands:20:2", "rsi:14", "macd:12:26:9")
"""The indicators the chart asks the API for (one call)."""
LINES = (
    Line("sma", "SMA 20", "sma:20", "#f2cc0c"),
    Line("ema", "EMA 20", "ema:20", "#ff9830"),
    Line("bollinger", "Bollinger upper", "bbands:20:2.bb_upper", "#b877d9"),
    Line("bollinger", "Bollinger lower", "bbands:20:2.bb_lower", "#b877d9"),
    Line("rsi", "RSI 14", "rsi:14", "#5794f2", "y3"),
    Line("macd", "MACD", "macd:12:26:9.macd", "#5794f2", "y4"),
    Line("macd", "signal", "macd:12:26:9.macd_signal", "#ff9830", "y4"),
    Line("macd", "histogram", "macd:12:26:9.macd_hist", "#8e8e8e", "y4", "bar"),
)
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
_AXES = {"rsi": "yaxis3", "macd": "yaxis4"}
_PANEL_HEIGHT, _VOLUME_HEIGHT, _GAP = 0.2, 0.14, 0.04


def chosen(show: str | None) -> list[str]:
    """The URL's `show=` as toggles: unknown ones dropped, absent → the default."""
    if show is None:
        return list(DEFAULT_SHOW)
    asked = set(show.split(","))
    return [key for key, _ in TOGGLES if key in asked]


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


def _aligned(times: list[str], series: dict[str, Any] | None) -> dict[str, list[Any]]:
    """The API's series on the chart's candle times (None where it has no value)."""
    if not series:
        return {line.key: [None] * len(times) for line in LINES}
    index = {frame.instant(t): i for i, t in enumerate(series["time"])}
    at = [index.get(frame.instant(t)) for t in times]
    values = series["series"]
    return {line.key: [None if i is None else values[line.key][i] for i in at] for line in LINES}


def indicator_traces(
    times: list[str], shown: list[str], show: Sequence[str], series: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The indicator traces, always all of `LINES` (hidden unless chosen) so trace indices stay
    fixed. `times` are the closed candles' instants; `shown`, the same in the page's zone."""
    values = _aligned(times, series)
    traces = []
    for line in LINES:
        style: dict[str, Any] = (
            {"marker": {"color": line.color}, "opacity": 0.7}
            if line.kind == "bar"
            else {"mode": "lines", "line": {"color": line.color, "width": 1.2}}
        )
        trace = _trace(line.kind, x=shown, y=values[line.key], name=line.name, **style)
        trace.update(visible=line.toggle in show, xaxis="x", yaxis=line.axis, showlegend=True)
        traces.append(trace)
    return traces


def _axes(ticker: str, show: Sequence[str]) -> dict[str, Any]:
    """The y axes stacked bottom up: the panels shown, the volume, the price on top."""
    axes: dict[str, Any] = {}
    bottom = 0.0
    for panel in reversed(PANELS):
        if panel not in show:
            axes[_AXES[panel]] = {"visible": False, "domain": [0.0, 0.001]}
            continue
        axes[_AXES[panel]] = {
            "domain": [bottom, bottom + _PANEL_HEIGHT],
            "title": {"text": panel.upper()},
            **({"range": [0, 100], "tickvals": [30, 70]} if panel == "rsi" else {}),
        }
        bottom += _PANEL_HEIGHT + _GAP
    axes["yaxis2"] = {"domain": [bottom, bottom + _VOLUME_HEIGHT], "title": {"text": "volume"}}
    bottom += _VOLUME_HEIGHT + _GAP
    axes["yaxis"] = {"domain": [bottom, 1.0], "title": {"text": ticker}}
    lowest = next((f"y{2 + PANELS.index(p) + 1}" for p in PANELS[::-1] if p in show), "y2")
    axes["xaxis"] = {"type": "date", "anchor": lowest, "rangeslider": {"visible": False}}
    return axes


def figure(
    ticker: str,
    candles: list[dict[str, Any]],
    shown: list[dict[str, Any]],
    show: list[str],
    series: dict[str, Any] | None,
    rev: str,
) -> Any:
    """The chart of `candles` (the last one is the current, maybe partial, bucket; `shown` the
    same in the page's zone) with the API's indicator `series` on the closed ones."""
    closed, current = shown[:-1], shown[-1:]
    fig = theme.figure(
        uirevision=rev,
        margin={"l": 56, "r": 16, "t": 32, "b": 32},
        hovermode="x",
        legend={"orientation": "h", "y": 1.06},
        **_axes(ticker, show),
    ).to_dict()
    fig["data"] = [
        _candles(closed, ticker, True),
        _candles(current, "current", False),
        _volume(closed),
        _volume(current),
        *indicator_traces(
            [c["time"] for c in candles[:-1]], [c["time"] for c in closed], show, series
        ),
    ]
    return fig


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

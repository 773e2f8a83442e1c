"""The markets page's candlestick chart: candles + volume (a subplot) + SMA/EMA/Bollinger
overlays (`tickwire.indicators`), as a plain figure dict laid out for live `extendData`.

Trace order (assets/markets.js relies on it): 0 closed candles, 1 the current candle (the
bucket still filling: the live side replaces it with `maxPoints` 1), 2 closed volume, 3 the
current volume, then the overlays. Every trace carries the same columns (`x`, `open`, `high`,
`low`, `close`, `y`; the ones a trace type ignores stay empty) because one `extendData` call
extends every listed trace by the same keys.
"""

from __future__ import annotations

import uuid
from typing import Any

from dashboard import frame, theme
from tickwire.indicators import PERIOD, WIDTH_SIGMA, bollinger, ema, sma

OVERLAYS = [
    ("sma", f"SMA {PERIOD}"),
    ("ema", f"EMA {PERIOD}"),
    ("bollinger", f"Bollinger {PERIOD}, {WIDTH_SIGMA:g}σ"),
]
#: Closes the browser keeps to continue the overlays live: the SMA and Bollinger windows need
#: `indicators.PERIOD`; a few windows more.
KEEP_CLOSES = 3 * PERIOD
UP, DOWN = "#73bf69", "#f2495c"
COLUMNS = ("x", "open", "high", "low", "close", "y")


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


def overlay_traces(
    times: list[str], closes: list[float], chosen: list[str]
) -> list[dict[str, Any]]:
    """The overlay lines, always all four (hidden unless chosen) so trace indices stay fixed."""
    upper, lower = bollinger(closes)
    lines = [
        ("sma", f"SMA {PERIOD}", sma(closes), "#f2cc0c"),
        ("ema", f"EMA {PERIOD}", ema(closes), "#ff9830"),
        ("bollinger", "Bollinger upper", upper, "#b877d9"),
        ("bollinger", "Bollinger lower", lower, "#b877d9"),
    ]
    return [
        _trace(
            "scatter",
            x=times,
            y=values,
            name=name,
            mode="lines",
            line={"color": color, "width": 1.2},
            visible=key in chosen,
            xaxis="x",
            yaxis="y",
        )
        for key, name, values, color in lines
    ]


def figure(ticker: str, candles: list[dict[str, Any]], chosen: list[str], rev: str) -> Any:
    """The chart of `candles` (the last one is the current, maybe partial, bucket)."""
    closed, current = candles[:-1], candles[-1:]
    times = [c["time"] for c in closed]
    fig = theme.figure(
        uirevision=rev,
        margin={"l": 56, "r": 16, "t": 32, "b": 32},
        xaxis={"type": "date", "anchor": "y2", "rangeslider": {"visible": False}},
        yaxis={"domain": [0.28, 1.0], "title": {"text": ticker}},
        yaxis2={"domain": [0.0, 0.22], "title": {"text": "volume"}},
        hovermode="x",
    ).to_dict()
    fig["data"] = [
        _candles(closed, ticker, True),
        _candles(current, "current", False),
        _volume(closed),
        _volume(current),
        *overlay_traces(times, [c["close"] for c in closed], chosen),
    ]
    return fig


def live_state(candles: list[dict[str, Any]]) -> dict[str, Any]:
    """What the browser needs to continue the overlays and the current candle live."""
    closes = [c["close"] for c in candles[:-1]]
    last_ema = ema(closes)[-1] if closes else None
    current = None
    if candles:
        c = candles[-1]
        current = {
            "t": c["time"],
            "o": c["open"],
            "h": c["high"],
            "l": c["low"],
            "c": c["close"],
            "v": c["volume"] or 0,
        }
    return {"closes": closes[-KEEP_CLOSES:], "ema": last_ema, "current": current}


def meta(ticker: str, body: dict[str, Any], live: bool) -> dict[str, Any]:
    """The `markets-meta` store: what assets/markets.js needs to continue the chart live (a
    new `version` per history load)."""
    span_ms = _ms(body["end"]) - _ms(body["start"])
    interval = body.get("interval_ms") or 1000
    return {
        "version": uuid.uuid4().hex,
        "ticker": ticker,
        "live": live,
        "interval_ms": interval,
        "end_ms": _ms(body["end"]),
        "max_points": max(len(body["candles"]), span_ms // interval),
        **live_state(body["candles"]),
    }


def _ms(iso: str) -> int:
    return int(frame.instant(iso).timestamp() * 1000)


def resolution(body: dict[str, Any], fixed: bool) -> str:
    """What the chart shows, in words: how many candles of which width, from where; a fixed
    (custom or zoomed) range is not live."""
    count = len(body["candles"])
    text = f"{count} candles of {body.get('interval') or 'raw'} · from {body['source']}"
    return text + (" · fixed range, not live (double-click: back)" if fixed else "")

"""Plotly figure defaults for the dark theme (matching assets/tickwire.css)."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable
from typing import Any

import plotly.graph_objects as go

PAPER = "#181b1f"
GRID = "#2c3235"
TEXT = "#d8d9da"
COLORS = ["#73bf69", "#5794f2", "#f2cc0c", "#ff9830", "#b877d9", "#f2495c", "#8ab8ff", "#96d98d"]


def figure(data: list[dict[str, Any]] | None = None, **layout: Any) -> go.Figure:
    """A figure in the dashboard's dark style: `data` its traces (plain dicts, `type` given),
    `layout` overrides.

    Not validated by plotly (`_validate=False`): validating the `plotly_dark` template took
    ~20 ms a figure, most of a dashboard render's CPU. The style is validated once (`_style`);
    what callers add must already be what plotly's validation would keep (tests compare a
    figure's JSON with the validated figure of the same JSON, `validated`)."""
    if any("_" in key for key in layout):  # plotly's magic underscores (`xaxis_title`)
        fig = go.Figure(data=data, layout=copy.deepcopy(_style()), _validate=False)
        fig.update_layout(**layout)
        return fig
    merged = copy.deepcopy(_style())
    _merge(merged, layout)
    return go.Figure(data=data, layout=merged, _validate=False)


def _merge(target: dict[str, Any], over: dict[str, Any]) -> None:
    """`over` into `target` as plotly's `update_layout` does it: dicts merged key by key,
    anything else replaced (by a copy: `over` is the caller's)."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


#: The legend's place: above the plot, its bottom on the plot's top edge. (Plotly anchors a
#: legend placed above 2/3 of the plot at its top unless told: its rows hung over the plot.)
LEGEND = {"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom"}


@functools.cache
def _style() -> dict[str, Any]:
    """The theme's layout, the template filled in, as plotly validates it (built once)."""
    fig = go.Figure()
    fig.update_layout(
        template="plotly_dark",
        paper_bgcolor=PAPER,
        plot_bgcolor=PAPER,
        font={"color": TEXT, "size": 12},
        margin={"l": 48, "r": 16, "t": 24, "b": 32},
        colorway=COLORS,
        xaxis={"gridcolor": GRID, "type": "date"},
        yaxis={"gridcolor": GRID},
        legend=LEGEND,
        uirevision="keep",
    )
    style: dict[str, Any] = fig.layout.to_plotly_json()
    return style


# Margins wide enough for what Plotly writes around a plot. The template's `automargin` grows
# a margin that is too narrow for its tick labels, the legend or a title, but by drawing the
# chart a second time (35 % of a dashboard's drawing); a figure whose margins already fit is
# drawn once, and automargin stays on as the net under these estimates (a label never cut).
#: A tick label character's width at most (12 px: a digit is 6.7 px in Arial, 7.6 in
#: Verdana, two of Plotly's fonts) and a line of them (px).
CHAR_PX, LINE_PX = 8, 16
#: The longest tick label Plotly writes with an exponent, "−1.79769e+308": what `tick_chars`
#: answers at most (more digits than that are written so).
MOST_TICK_CHARS = 13
#: A label's character (a device's name) on average at most: 5.6 px in Arial, 6.6 in Verdana.
TEXT_CHAR_PX = 7
#: What an axis title adds beside its tick labels (its font and standoffs), px.
TITLE_PX = 30
#: Below a date axis: its two lines (the time, the date under the first).
DATE_AXIS_PX = 2 * LINE_PX + 12
#: Above the plot: half a y tick label (the top one).
TOP_PX = LINE_PX
#: Between a y axis' tick labels and the plot, px.
TICK_GAP_PX = 6
#: A horizontal legend's row, and the padding around its rows with what Plotly keeps above it
#: (8–12 px as measured: a top margin less than that is pushed, a second drawing), px.
LEGEND_ROW_PX, LEGEND_PAD_PX = 19, 22
#: A legend entry beside its name: its line's sample and the gaps, px.
LEGEND_ENTRY_PX = 40


def legend_rows(names: Iterable[str], width: float) -> int:
    """The rows a horizontal legend of `names` takes over `width` px (the plot's), as Plotly
    wraps its entries."""
    rows, used = 1, 0.0
    for name in names:
        entry = LEGEND_ENTRY_PX + text_px(name)
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return rows


def legend_px(rows: int = 1) -> int:
    """The top margin a horizontal legend of `rows` rows above the plot (`LEGEND`) takes."""
    return rows * LEGEND_ROW_PX + LEGEND_PAD_PX


def tick_chars(values: Iterable[float | None]) -> int:
    """The longest tick label Plotly's linear axis writes over `values`' range (0: none): its
    step at most a tenth of the range (Plotly: 4–10 ticks, steps of 1, 2, 5 × 10ⁿ), decimals
    to that step, k/M/G/T past 10⁴ (exponentformat "B"), a sign below 0. At most
    `MOST_TICK_CHARS`: where floats run out (a span past the largest float, a subnormal one),
    or the count would pass it, Plotly writes an exponent instead."""
    found = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not found:
        return 0
    low, high = min(found), max(found)
    try:
        span = high - low or abs(high) or 1.0
        power = 10.0 ** math.floor(math.log10(span / 10) + 1e-9)
        step = max(s * power for s in (1, 2, 5) if s * power <= span / 10)
        biggest = max(abs(low), abs(high)) + step
        scale = 10 ** (3 * (math.floor(math.log10(biggest)) // 3)) if biggest >= 1e4 else 1
        decimals = max(0, -math.floor(math.log10(step / scale) + 1e-9))
        digits = len(str(int(biggest / scale)))
    except (ArithmeticError, ValueError):
        return MOST_TICK_CHARS
    chars = digits + (decimals + 1 if decimals else 0) + (scale > 1) + (low < 0)
    return min(chars, MOST_TICK_CHARS)


def tick_px(values: Iterable[float | None]) -> int:
    """The width of the longest tick label over `values`' range, px."""
    return tick_chars(values) * CHAR_PX


def axis_px(values: Iterable[float | None], titled: bool = False) -> int:
    """The margin beside a y axis over `values`: its longest tick label, its title's when it
    has one, and the gap between the labels and the plot."""
    return tick_px(values) + (TITLE_PX if titled else 0) + TICK_GAP_PX


def text_px(text: str) -> int:
    """The width of a label `text` (a category's name) at most, px."""
    return len(text) * TEXT_CHAR_PX


def left_px(traces: list[dict[str, Any]], layout: dict[str, Any]) -> int:
    """The left margin the y axes of `traces` need (their tick labels and titles, the widest
    of them; axes on the right not counted): each axis' values, its visible traces' `y` (a
    bar's from 0) or `high` and `low`, or its `tickvals` when it has them."""
    values: dict[str, list[float | None]] = {}
    for trace in traces:
        if trace.get("visible") is False:
            continue
        found = values.setdefault(trace.get("yaxis") or "y", [])
        for column in ("y", "high", "low"):
            found += trace.get(column) or []
        if trace.get("type") == "bar":
            found.append(0.0)
    widest = 0
    for axis, found in values.items():
        spec = layout.get("yaxis" + axis[1:]) or {}
        if spec.get("visible") is False or spec.get("side") == "right":
            continue
        titled = bool((spec.get("title") or {}).get("text"))
        widest = max(widest, axis_px(spec.get("tickvals") or found, titled))
    return widest

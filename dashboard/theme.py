"""Plotly figure defaults for the dark theme (matching assets/tickwire.css)."""

from __future__ import annotations

import copy
import functools
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
        legend={"orientation": "h", "y": 1.08},
        uirevision="keep",
    )
    style: dict[str, Any] = fig.layout.to_plotly_json()
    return style

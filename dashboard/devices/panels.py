"""The device page's panels: one chart per metric (with its resolution and export links),
rolling averages, alerts and commands."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any, NamedTuple

import plotly.graph_objects as go
from dash import dcc, html

from dashboard import frame, theme
from dashboard.boards import data as boards_data
from dashboard.boards import panels as boards_panels
from dashboard.devices import data as devices_data

#: The charts' grid: panels at least this wide (px), this far apart; the panel's padding and
#: the figure's margins around each plot (assets/devices.css, theme.figure).
PANEL_MIN, GAP, AROUND_PLOT = 420, 12, 26 + 56
HEIGHT = 260


def plot_width(page: int | None, charts: int) -> int | None:
    """How wide each plot will be on a page `page` px wide with `charts` charts: the grid
    fits as many 420 px+ columns as it can, but never more than there are charts."""
    if not page:
        return None
    columns = max(1, min((page + GAP) // (PANEL_MIN + GAP), max(charts, 1)))
    panel = (page - GAP * (columns - 1)) / columns
    return max(50, round(panel - AROUND_PLOT))


def figure(
    panel: dict[str, Any],
    series: dict[str, Any],
    revision: str,
    index: int,
    span: tuple[str, str] | None = None,
    tz: tzinfo = UTC,
    marks: list[dict[str, Any]] | None = None,
) -> go.Figure:
    """A metric's chart: the time series panel's (dashboard/boards/panels.py), its line
    (trace 0, extended live) in the metric's colour, the zone named under the axis."""
    drawn = boards_data.metric_series(panel["targets"][0]["device_id"], series)
    drawn["color"] = theme.COLORS[index % len(theme.COLORS)]
    shown = (frame.wall(span[0], tz), frame.wall(span[1], tz)) if span else None
    fig = boards_panels.time_figure(panel, [drawn], HEIGHT, revision, marks, shown)
    # Under the date axis' two lines, the zone's name (its line and standoff).
    below = fig.layout.margin.b + theme.LINE_PX + 6
    fig.update_layout(
        showlegend=False,
        margin={"b": below},
        xaxis={"title": {"text": str(tz), "standoff": 4}},
    )
    return fig


def exports(device_id: str, metric: str, start: str, end: str) -> list[Any]:
    links: list[Any] = ["export"]
    for fmt in devices_data.EXPORT_FORMATS:
        href = devices_data.export_href(device_id, metric, start, end, fmt)
        links.append(html.A(fmt.upper(), href=href, download="", className="device-export-link"))
    return links


class Drawing(NamedTuple):
    """What every chart of one load shares: the answer's range, revision, plot width, zone and
    the device's alerts in the range."""

    answer: dict[str, Any]
    revision: str
    width: int | None
    tz: tzinfo
    marks: list[dict[str, Any]]


def chart(panel: dict[str, Any], series: dict[str, Any], index: int, how: Drawing) -> html.Div:
    device_id, metric = panel["targets"][0]["device_id"], series["metric"]
    key = {"metric": metric}
    answer, tz = how.answer, how.tz
    span = (answer["start"], answer["end"])
    return html.Div(
        className="tw-panel",
        children=[
            html.H3(
                [
                    panel["title"],
                    # How the API answered (resolution, points per pixel): a tooltip, not a title.
                    html.Span(
                        "i",
                        id={"type": "device-res", **key},
                        title=devices_data.label(answer, how.width),
                        className="device-res",
                    ),
                ]
            ),
            dcc.Store(id={"type": "device-zoom", **key}),
            dcc.Loading(
                dcc.Graph(
                    id={"type": "device-chart", **key},
                    figure=figure(panel, series, how.revision, index, span, tz, how.marks),
                    config={"displaylogo": False, "responsive": True},
                ),
                type="dot",
                delay_show=300,
            ),
            html.Div(
                exports(device_id, metric, answer["start"], answer["end"]),
                id={"type": "device-export", **key},
                className="device-export",
            ),
        ],
    )


def charts(
    model: dict[str, Any],
    answer: dict[str, Any],
    revision: str,
    width: int | None,
    tz: tzinfo = UTC,
    marks: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """The model's time series panels (dashboard/boards/generated.py `device`), each drawn
    from its metric's series in `answer`."""
    by_metric = {s["metric"]: s for s in answer["series"]}
    drawn = [
        (panel, by_metric[panel["targets"][0]["metric"]])
        for panel in model["panels"]
        if panel["type"] == "timeseries" and panel["targets"][0].get("metric") in by_metric
    ]
    if not drawn:
        return [
            html.Div(
                "No readings in this range — pick a longer range above, or check that the "
                "device is sending (its status and last seen are at the top).",
                className="tw-panel wide tw-empty",
            )
        ]
    how = Drawing(answer, revision, width, tz, marks or [])
    return [chart(panel, series, i, how) for i, (panel, series) in enumerate(drawn)]


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def stats(table: dict[str, dict[str, dict[str, Any]]]) -> Any:
    if not table:
        return html.Div("No readings in the last 24 hours.", className="tw-empty")
    head = html.Tr([html.Th("metric")] + [html.Th(f"avg {w}") for w in devices_data.WINDOWS])
    rows = []
    for metric in sorted(table):
        cells = [html.Td(metric)]
        for w in devices_data.WINDOWS:
            row = table[metric].get(w)
            text = _num(row["avg"]) if row else "–"
            hint = (
                f"min {_num(row['min'])} · max {_num(row['max'])} · n {row['count']}" if row else ""
            )
            cells.append(html.Td(text, title=hint))
        rows.append(html.Tr(cells))
    return html.Table([html.Thead(head), html.Tbody(rows)], className="tw-table")


def commands(items: list[dict[str, Any]], tz: tzinfo = UTC) -> Any:
    if not items:
        return html.Div("No commands sent yet.", className="tw-empty")
    head = html.Tr([html.Th(h) for h in ("command", "args", "status", "sent", "acked", "detail")])
    rows = [
        html.Tr(
            [
                html.Td(c["command"]),
                html.Td(", ".join(f"{k}={v}" for k, v in c["args"].items())),
                html.Td(c["status"], className=f"status-{c['status']} device-cmd-status"),
                html.Td(frame.when(c["created_at"], tz), className="tw-when"),
                html.Td(frame.when(c["acked_at"], tz), className="tw-when"),
                html.Td(c["detail"] or ""),
            ]
        )
        for c in items
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="tw-table device-commands")

"""The device page's panels: one chart per metric (with its resolution and export links),
rolling averages, alerts and commands."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from dashboard import frame, theme
from dashboard.devices import data as devices_data

#: The charts' grid: panels at least this wide (px), this far apart; the panel's padding and
#: the figure's margins around each plot (assets/devices.css, theme.figure).
PANEL_MIN, GAP, AROUND_PLOT = 420, 12, 26 + 64


def plot_width(page: int | None, charts: int) -> int | None:
    """How wide each plot will be on a page `page` px wide with `charts` charts: the grid
    fits as many 420 px+ columns as it can, but never more than there are charts."""
    if not page:
        return None
    columns = max(1, min((page + GAP) // (PANEL_MIN + GAP), max(charts, 1)))
    panel = (page - GAP * (columns - 1)) / columns
    return max(50, round(panel - AROUND_PLOT))


def figure(
    series: dict[str, Any],
    revision: str,
    index: int,
    span: tuple[str, str] | None = None,
    tz: tzinfo = UTC,
) -> go.Figure:
    """A metric's chart: the line (trace 0, extended live) and, for buckets, a min–max band.
    A lone point is a marker on the range's axis (`span`, ISO), not a line on a 1 ms one."""
    fig = theme.figure(
        height=260,
        uirevision=revision,
        showlegend=False,
        xaxis={"type": "date", "title": {"text": str(tz), "standoff": 4}},
    )
    color = theme.COLORS[index % len(theme.COLORS)]
    lone = len(series["x"]) == 1
    fig.add_scatter(
        x=series["x"],
        y=series["y"],
        mode="lines+markers" if lone else "lines",
        marker={"size": 8},
        name=series["metric"],
        line={"color": color},
    )
    if lone:
        value = float(series["y"][0])
        pad = max(abs(value) * 0.1, 1.0)
        fig.update_yaxes(range=[value - pad, value + pad])
        if span:
            fig.update_xaxes(range=[frame.wall(span[0], tz), frame.wall(span[1], tz)])
    if series["method"] == "bucket":
        points = series["points"]
        fig.add_scatter(x=series["x"], y=[p["max"] for p in points], mode="lines",
                        line={"width": 0}, hoverinfo="skip", name="max")  # fmt: skip
        fig.add_scatter(x=series["x"], y=[p["min"] for p in points], mode="lines",
                        line={"width": 0}, fill="tonexty", fillcolor="rgba(87,148,242,0.15)",
                        hoverinfo="skip", name="min")  # fmt: skip
    return fig


def exports(device_id: str, metric: str, start: str, end: str) -> list[Any]:
    links: list[Any] = ["export"]
    for fmt in devices_data.EXPORT_FORMATS:
        href = devices_data.export_href(device_id, metric, start, end, fmt)
        links.append(html.A(fmt.upper(), href=href, download="", className="device-export-link"))
    return links


def chart(device_id: str, answer: dict[str, Any], series: dict[str, Any], index: int,
          revision: str, width: int | None, tz: tzinfo) -> html.Div:  # fmt: skip
    metric = series["metric"]
    key = {"metric": metric}
    return html.Div(
        className="tw-panel",
        children=[
            html.H3(
                [
                    metric,
                    # How the API answered (resolution, points per pixel): a tooltip, not a title.
                    html.Span(
                        "i",
                        id={"type": "device-res", **key},
                        title=devices_data.label(answer, width),
                        className="device-res",
                    ),
                ]
            ),
            dcc.Store(id={"type": "device-zoom", **key}),
            dcc.Loading(
                dcc.Graph(
                    id={"type": "device-chart", **key},
                    figure=figure(series, revision, index, (answer["start"], answer["end"]), tz),
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
    device_id: str, answer: dict[str, Any], revision: str, width: int | None, tz: tzinfo = UTC
) -> list[Any]:
    found = [s for s in answer["series"]]
    if not found:
        return [
            html.Div(
                "No readings in this range — pick a longer range above, or check that the "
                "device is sending (its status and last seen are at the top).",
                className="tw-panel wide tw-empty",
            )
        ]
    return [chart(device_id, answer, s, i, revision, width, tz) for i, s in enumerate(found)]


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


def alerts(items: list[dict[str, Any]], tz: tzinfo = UTC) -> Any:
    if not items:
        return html.Div("No alerts for this device.", className="tw-empty")
    head = html.Tr([html.Th(h) for h in ("kind", "severity", "state", "raised", "message")])
    rows = [
        html.Tr(
            [
                html.Td(a["kind"]),
                html.Td(a["severity"], className=f"sev-{a['severity'].lower()}"),
                html.Td(a["state"]),
                html.Td(frame.when(a["raised_at"], tz), className="tw-when"),
                html.Td(a["message"]),
            ]
        )
        for a in items
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="tw-table device-alerts")


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

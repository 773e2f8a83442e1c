"""The markets page's components: the ticker tape's panel, the chart's panel (title, overlay and
panel toggles, resolution, export links, the graph) and the watchlist editor's panel, with the
page's stores."""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboard import frame, theme
from dashboard.markets import chart

CONFIG: Any = {"displaylogo": False, "scrollZoom": False}
STORES = ("selected", "tape", "tape-drawn", "meta", "zoom")


def _tape_panel() -> html.Div:
    return html.Div(
        className="tw-panel wide",
        children=[
            html.Div(id="markets-watch-error"),
            dcc.Loading(
                delay_show=300,
                children=html.Div(id="markets-tape-row", className="markets-tape"),
            ),
        ],
    )


def _chart_panel(show: list[str]) -> html.Div:
    return html.Div(
        className="tw-panel wide",
        children=[
            html.Div(
                className="markets-head",
                children=[
                    html.H3(id="markets-title", children="Chart"),
                    dcc.Checklist(
                        id="markets-overlays",
                        options=[{"label": f" {n}", "value": k} for k, n in chart.TOGGLES],
                        value=show,
                        inline=True,
                        className="markets-overlays",
                    ),
                    html.Span(id="markets-resolution", className="markets-resolution"),
                    html.Span(id="markets-export", className="markets-export"),
                    html.Button(
                        "Save as dashboard",
                        id="markets-save-as",
                        className="tw-button",
                        title="Start a dashboard of your own from this ticker's panels",
                    ),
                    html.Span(id="markets-save-note", className="tw-quiet"),
                ],
            ),
            html.Div(id="markets-chart-error"),
            dcc.Loading(
                delay_show=300,
                children=dcc.Graph(
                    id="markets-chart",
                    figure=theme.figure(),
                    config=CONFIG,
                    style={"height": f"{chart.height(show)}px"},
                ),
            ),
        ],
    )


def _watch_panel() -> html.Div:
    return html.Div(
        className="tw-panel wide",
        children=[
            html.H3("Watchlist"),
            html.Div(
                className="markets-add",
                children=[
                    dcc.Dropdown(
                        id="markets-add-ticker",
                        placeholder="stock…",
                        className="markets-add-ticker",
                    ),
                    dcc.Input(
                        id="markets-add-above",
                        type="number",
                        placeholder="alert above",
                        className="tw-input markets-level",
                    ),
                    dcc.Input(
                        id="markets-add-below",
                        type="number",
                        placeholder="alert below",
                        className="tw-input markets-level",
                    ),
                    html.Button("Add", id="markets-add", className="tw-button primary"),
                    html.Span(id="markets-watch-message"),
                ],
            ),
            dcc.Loading(delay_show=300, children=html.Div(id="markets-editor")),
        ],
    )


def page(show: list[str]) -> html.Div:
    """The page, with the overlays and panels `show` chosen (the URL's `show=`)."""
    return html.Div(
        [
            frame.live_filter("markets"),
            frame.going("markets"),
            dcc.Store(id="markets-watch-version", data=0),
            dcc.Store(id="markets-watch-do"),
            *(dcc.Store(id=f"markets-{name}") for name in STORES),
            html.Div(
                className="tw-grid",
                children=[_tape_panel(), _chart_panel(show), _watch_panel()],
            ),
        ]
    )


def export_links(links: list[tuple[str, str]]) -> list[Any]:
    """The chart's export links (format, href), after "Export"."""
    anchors = [html.A(f, href=h, download="", className="tw-button") for f, h in links]
    return ["Export ", *anchors]

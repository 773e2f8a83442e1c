"""/dashboards: the dashboards the user may view (their own, shared with them, provisioned),
and a button to start a new one."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
from dash import Input, Output, dcc, html

from dashboard import client, frame
from dashboard.boards import data

dash.register_page(
    __name__,
    path="/dashboards",
    title="tickwire · dashboards",
    name="Dashboards",
    order=2.5,
    nav=True,
    untimed=True,
)


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="boards-page",
        children=[
            frame.going("boards"),
            html.Div(
                className="board-head",
                children=[
                    html.H2("Dashboards"),
                    html.Button("New dashboard", id="boards-new", className="tw-button primary"),
                    html.Span(id="boards-message", className="tw-error"),
                ],
            ),
            html.Div(id="boards-list", className="tw-panel"),
        ],
    )


def _kind(item: dict[str, Any]) -> str:
    meta = item.get("meta") or {}
    if meta.get("provisioned"):
        return "provisioned (read-only)"
    return "yours" if meta.get("can_edit") else "shared with you"


@dash.callback(Output("boards-list", "children"), Input("boards-list", "id"))
async def listed(_id: str) -> Any:
    try:
        items = await data.dashboards()
    except client.ApiFailed as failed:
        return html.Div(failed.message, className="tw-error")
    if not items:
        return html.Div("No dashboards yet: start one with New dashboard.", className="tw-empty")
    head = html.Tr([html.Th(h) for h in ("title", "tags", "", "version")])
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(d["title"], href=f"/d/{quote(d['uid'], safe='')}")),
                html.Td(", ".join(d.get("tags", []))),
                html.Td(_kind(d), className="tw-quiet"),
                html.Td(str(d["version"])),
            ]
        )
        for d in items
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="tw-table boards-list")


@dash.callback(
    Output({"type": "go", "page": "boards"}, "data"),
    Output("boards-message", "children"),
    Input("boards-new", "n_clicks"),
    prevent_initial_call=True,
)
async def new(clicks: int | None) -> tuple[Any, Any]:
    """A new empty dashboard of the user's, opened for editing."""
    if not clicks:
        return dash.no_update, dash.no_update
    try:
        made = await client.request("POST", "/api/dashboards", json={"title": "New dashboard"})
    except client.ApiFailed as failed:
        return dash.no_update, failed.message
    return f"/d/{made['uid']}", ""

"""/admin/users: every account by email (`GET /api/admin/users`) — make or unmake an admin,
deactivate or reactivate (`PATCH /users/{id}`; the API keeps the last admin and audits each
change). Admins only."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
from dash import ALL, Input, Output, State, callback, dcc, html

from dashboard import client

dash.register_page(
    __name__,
    path="/admin/users",
    title="tickwire · users",
    name="Users",
    order=4.5,
    nav=True,
    admins_only=True,
    untimed=True,
)

#: Per flag the button's text when the flag is (off, on).
TOGGLES = {
    "is_superuser": ("Make admin", "Remove admin"),
    "is_active": ("Reactivate", "Deactivate"),
}

layout = html.Div(
    className="tw-grid users-page",
    children=[
        dcc.Store(id="users-changed", data=0),
        html.Div(
            className="tw-panel wide",
            children=[
                html.H3("Users"),
                html.Div(
                    className="admin-actions",
                    children=[
                        dcc.Input(
                            id="users-search",
                            type="search",
                            placeholder="email contains…",
                            debounce=True,
                            className="tw-input",
                            style={"width": "320px", "flex": "none"},
                        ),
                        html.Span(id="users-count", className="tw-quiet"),
                        html.Span(id="users-message", className="admin-message"),
                    ],
                ),
                dcc.Loading(html.Div(id="users-table", className="admin-table"), delay_show=300),
            ],
        ),
    ],
)


def _row(user: dict[str, Any], me: str | None) -> html.Tr:
    buttons = [
        html.Button(
            TOGGLES[flag][bool(user[flag])],
            id={"type": "users-toggle", "user": user["id"], "flag": flag},
            className="tw-button" + (" admin-delete" if user[flag] else ""),
            disabled=user["id"] == me,  # not yourself: ask another admin
        )
        for flag in TOGGLES
    ]
    cells = [
        user["email"],
        "admin" if user["is_superuser"] else "user",
        "active" if user["is_active"] else "deactivated",
        str(user["devices"]),
        user["created_at"][:10],
    ]
    return html.Tr(
        className="admin-row" + ("" if user["is_active"] else " tw-quiet"),
        children=[*(html.Td(c) for c in cells), html.Td(buttons, className="admin-row-actions")],
    )


def table(users: list[dict[str, Any]], me: str | None) -> Any:
    if not users:
        return html.Div("No account matches.", className="tw-empty")
    head = html.Tr(
        [html.Th(t) for t in ("Email", "Role", "State", "Devices", "Since")] + [html.Th("")]
    )
    body = html.Tbody([_row(user, me) for user in users])
    return html.Table(className="tw-table admin", children=[html.Thead(head), body])


@callback(
    Output("users-table", "children"),
    Output("users-count", "children"),
    Input("users-changed", "data"),
    Input("users-search", "value"),
    Input("me", "data"),
)
async def load(_changed: int, search: str | None, me: dict[str, Any] | None) -> Any:
    if me is None:
        return dash.no_update, dash.no_update
    if not me.get("is_superuser"):
        return html.Div("Admins only: this page manages every account.", className="tw-empty"), ""
    try:
        page = await client.get("/api/admin/users", limit=1000, email=search or None)
    except client.ApiFailed as failed:
        return html.Div(failed.message, className="tw-error"), ""
    return table(page["items"], me.get("id")), f"{page['total']} accounts"


@callback(
    Output("users-message", "children"),
    Output("users-changed", "data"),
    Input({"type": "users-toggle", "user": ALL, "flag": ALL}, "n_clicks"),
    State("users-changed", "data"),
    prevent_initial_call=True,
)
async def toggle(clicks: list[int | None], changed: int) -> Any:
    target = dash.ctx.triggered_id
    if not isinstance(target, dict) or not any(clicks):
        return dash.no_update, dash.no_update
    fired = next((f for f in dash.ctx.triggered if f.get("value")), None)  # not a redraw
    if fired is None:
        return dash.no_update, dash.no_update
    user_id, flag = quote(str(target["user"]), safe=""), target["flag"]
    if flag not in TOGGLES:
        return dash.no_update, dash.no_update
    try:
        user = await client.get(f"/users/{user_id}")
        updated = await client.request("PATCH", f"/users/{user_id}", json={flag: not user[flag]})
    except client.ApiFailed as failed:
        return html.Span(failed.message, className="tw-error"), dash.no_update
    what = {
        ("is_superuser", True): "is now an admin",
        ("is_superuser", False): "is no longer an admin",
        ("is_active", True): "is active again",
        ("is_active", False): "is deactivated",
    }[(flag, bool(updated[flag]))]
    return html.Span(f"{updated['email']} {what}.", className="admin-done"), changed + 1

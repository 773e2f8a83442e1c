"""/audit: the audit log and the accounts locked out by failed logins (admins only; the API
refuses others anyway). An admin may clear a lockout from here."""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, dcc, html

from dashboard import client
from tickwire.audit_actions import AuditAction

dash.register_page(
    __name__,
    path="/audit",
    title="tickwire · audit",
    name="Audit",
    order=5,
    nav=True,
    admins_only=True,
    untimed=True,  # no time range here: the frame hides its picker
)

#: Entries shown at once, newest first.
SHOWN = 200
COLUMNS = (("at", "When"), ("action", "Action"), ("actor", "By"), ("subject", "On"))


def layout(**_query: Any) -> html.Div:
    return html.Div(
        className="tw-grid",
        children=[
            dcc.Store(id="audit-changed", data=0),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Locked-out accounts"),
                    html.Div(id="audit-lockouts"),
                    html.Span(id="audit-message", className="admin-message"),
                ],
            ),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Audit log"),
                    dcc.Dropdown(
                        id="audit-action",
                        options=[action.value for action in AuditAction],
                        placeholder="every action",
                    ),
                    html.Div(id="audit-log"),
                ],
            ),
        ],
    )


@callback(
    Output("audit-lockouts", "children"),
    Output("audit-log", "children"),
    Input("me", "data"),
    Input("audit-action", "value"),
    Input("audit-changed", "data"),
)
async def show(me: dict[str, Any] | None, action: str | None, _changed: int) -> Any:
    if me is None:
        return dash.no_update, dash.no_update
    if not me.get("is_superuser"):
        denied = html.Div("Admins only: the audit log.", className="tw-empty admin-denied")
        return denied, None
    try:
        lockouts = await client.get("/api/admin/lockouts")
        page = await client.get("/api/admin/audit", limit=SHOWN, action=action)
    except client.ApiFailed as failed:
        return html.Div(f"Could not load: {failed.message}", className="tw-error"), None
    return lockout_table(lockouts), log_table(page["items"], page["total"])


def lockout_table(lockouts: list[dict[str, Any]]) -> Any:
    if not lockouts:
        return html.Div("No account is locked out.", className="tw-empty")
    head = html.Tr([html.Th(t) for t in ("Account", "Failures", "Locked until", "")])
    rows = [
        html.Tr(
            id=f"lockout-{item['user_id']}",
            children=[
                html.Td(item["email"]),
                html.Td(str(item["failures"])),
                html.Td(item["locked_until"]),
                html.Td(
                    html.Button(
                        "Unlock",
                        id={"type": "audit-unlock", "user": item["user_id"]},
                        className="tw-button",
                    )
                ),
            ],
        )
        for item in lockouts
    ]
    return html.Table(className="tw-table", children=[html.Thead(head), html.Tbody(rows)])


def log_table(items: list[dict[str, Any]], total: int) -> Any:
    if not items:
        return html.Div("Nothing recorded yet.", className="tw-empty")
    head = html.Tr([html.Th(label) for _, label in COLUMNS] + [html.Th("From"), html.Th("")])
    rows = [
        html.Tr(
            className="audit-row",
            children=[
                *(html.Td(item.get(key) or "") for key, _ in COLUMNS),
                html.Td(item.get("address") or ""),
                html.Td(_details(item["details"])),
            ],
        )
        for item in items
    ]
    caption = html.Caption(f"newest {len(items)} of {total}")
    return html.Table(
        className="tw-table",
        id="audit-table",
        children=[caption, html.Thead(head), html.Tbody(rows)],
    )


def _details(details: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in details.items())


@callback(
    Output("audit-message", "children"),
    Output("audit-changed", "data"),
    Input({"type": "audit-unlock", "user": ALL}, "n_clicks"),
    State("audit-changed", "data"),
    prevent_initial_call=True,
)
async def unlock(clicks: list[int | None], changed: int) -> Any:
    target = dash.ctx.triggered_id
    if not any(clicks) or not isinstance(target, dict):
        return dash.no_update, dash.no_update
    try:
        await client.request("DELETE", f"/api/admin/lockouts/{target['user']}")
    except client.ApiFailed as failed:
        return html.Span(failed.message, className="tw-error"), dash.no_update
    return "Unlocked.", (changed or 0) + 1

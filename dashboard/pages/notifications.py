"""/notifications: a user's own notification channels (webhook, email) with a test send, and
silences (issue 18). Everything goes through the API (`/api/notification-channels`,
`/api/silences`), which keeps each user to their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, dcc, html

from dashboard import client
from tickwire import alert_kinds

dash.register_page(
    __name__,
    path="/notifications",
    title="tickwire · notifications",
    name="Notifications",
    order=3.6,
    nav=True,
    untimed=True,
)

_SEVERITIES = ["info", "warning", "critical"]
_EVENTS = ["raised", "acked", "cleared"]


def _input(name: str, placeholder: str, **kwargs: Any) -> dcc.Input:
    return dcc.Input(id=name, placeholder=placeholder, className="tw-input", **kwargs)


def layout(**_query: Any) -> html.Div:
    kinds = list(alert_kinds.NAMES)
    return html.Div(
        className="tw-grid notifications-page",
        children=[
            dcc.Store(id="notif-changed", data=0),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Notification channels"),
                    html.P(
                        "Where your alerts go: a webhook (signed JSON POST) or an email. "
                        "Empty filters mean everything.",
                        className="tw-quiet",
                    ),
                    html.Div(id="notif-channels"),
                    html.Div(
                        className="admin-fields",
                        children=[
                            _input("notif-name", "Name"),
                            dcc.Dropdown(
                                id="notif-kind",
                                options=["webhook", "email"],
                                value="webhook",
                                clearable=False,
                            ),
                            _input("notif-url", "https://… (webhook)"),
                            _input("notif-secret", "secret, 16+ characters", type="password"),
                            _input("notif-to", "you@example.com (email)"),
                            dcc.Dropdown(
                                id="notif-kinds", options=kinds, multi=True, placeholder="Kinds"
                            ),
                            dcc.Dropdown(
                                id="notif-severity", options=_SEVERITIES, placeholder="Min severity"
                            ),
                            dcc.Checklist(
                                id="notif-events",
                                options=_EVENTS,
                                value=[],
                                inline=True,
                                className="notif-events",
                                inputClassName="notif-event",
                            ),
                        ],
                    ),
                    html.Button("Add channel", id="notif-save", className="tw-button primary"),
                    html.Span(id="notif-message", className="admin-message"),
                ],
            ),
            html.Div(
                className="tw-panel wide",
                children=[
                    html.H3("Silences"),
                    html.P(
                        "Alerts matching a silence are still stored and shown, but not sent.",
                        className="tw-quiet",
                    ),
                    html.Div(id="notif-silences"),
                    html.Div(
                        className="admin-fields",
                        children=[
                            _input("silence-device", "Device"),
                            dcc.Dropdown(id="silence-kind", options=kinds, placeholder="Kind"),
                            _input("silence-ticker", "Ticker"),
                            _input("silence-hours", "Hours", type="number", value=1, min=0.1),
                            _input("silence-comment", "Comment"),
                        ],
                    ),
                    html.Button("Add silence", id="silence-save", className="tw-button primary"),
                    html.Span(id="silence-message", className="admin-message"),
                ],
            ),
        ],
    )


def _target(channel: dict[str, Any]) -> str:
    return str(channel["url"] or channel["to"] or "")


def _filter(f: dict[str, Any]) -> str:
    parts = [
        ", ".join(f["kinds"] or []) or "any kind",
        f"≥ {f['min_severity']}" if f["min_severity"] else "any severity",
        ", ".join(f["events"] or []) or "every event",
    ]
    return " · ".join(parts)


def _channels(items: list[dict[str, Any]]) -> Any:
    if not items:
        return html.Div("No channels yet.", className="tw-empty")
    rows = [
        html.Tr(
            id=f"notif-channel-{c['id']}",
            children=[
                html.Td(c["name"]),
                html.Td(c["kind"]),
                html.Td(_target(c)),
                html.Td(_filter(c["filter"])),
                html.Td(
                    [
                        html.Button(
                            "Send test",
                            id={"type": "notif-test", "channel": c["id"]},
                            className="tw-button notif-test",
                        ),
                        html.Button(
                            "Delete",
                            id={"type": "notif-delete", "channel": c["id"]},
                            className="tw-button admin-delete notif-delete",
                        ),
                    ]
                ),
            ],
        )
        for c in items
    ]
    head = html.Tr([html.Th(t) for t in ("Name", "Kind", "To", "Filter", "")])
    return html.Table(className="tw-table", children=[html.Thead(head), html.Tbody(rows)])


def _silences(items: list[dict[str, Any]]) -> Any:
    if not items:
        return html.Div("No silences.", className="tw-empty")
    rows = [
        html.Tr(
            id=f"notif-silence-{s['id']}",
            children=[
                html.Td(", ".join(f"{k} {v}" for k, v in s["matchers"].items() if v)),
                html.Td(f"{s['starts_at'][:16]} → {s['ends_at'][:16]}"),
                html.Td(s["comment"]),
                html.Td(
                    html.Button(
                        "Delete",
                        id={"type": "silence-delete", "silence": s["id"]},
                        className="tw-button admin-delete silence-delete",
                    )
                ),
            ],
        )
        for s in items
    ]
    head = html.Tr([html.Th(t) for t in ("Matches", "When (UTC)", "Comment", "")])
    return html.Table(className="tw-table", children=[html.Thead(head), html.Tbody(rows)])


@callback(
    Output("notif-channels", "children"),
    Output("notif-silences", "children"),
    Input("notif-changed", "data"),
)
async def load(_changed: int) -> tuple[Any, Any]:
    try:
        channels = await client.get("/api/notification-channels", limit=1000)
        silences = await client.get("/api/silences", limit=1000)
    except client.ApiFailed as failed:
        message = html.Div(f"Could not load: {failed.message}", className="tw-error")
        return message, message
    return _channels(channels["items"]), _silences(silences["items"])


async def _change(
    changed: int | None, method: str, path: str, done: str, refused: str = "Failed", **kwargs: Any
) -> tuple[str, Any]:
    """Send one change to the API: the message to show (`done` formatted with the API's answer)
    and the bumped change counter that reloads the lists, left as it is when the API refused."""
    try:
        answer = await client.request(method, path, **kwargs)
    except client.ApiFailed as failed:
        return f"{refused}: {failed.message}", dash.no_update
    return done.format_map(answer if isinstance(answer, dict) else {}), (changed or 0) + 1


def _clicked() -> dict[str, Any] | None:
    """The id of the row button that was clicked, or None when a list re-render fired the
    callback (its buttons arrive with n_clicks None)."""
    target = dash.ctx.triggered_id
    if not any(t.get("value") for t in dash.ctx.triggered) or not isinstance(target, dict):
        return None
    return dict(target)


@callback(
    Output("notif-message", "children"),
    Output("notif-changed", "data", allow_duplicate=True),
    Input("notif-save", "n_clicks"),
    State("notif-name", "value"),
    State("notif-kind", "value"),
    State("notif-url", "value"),
    State("notif-secret", "value"),
    State("notif-to", "value"),
    State("notif-kinds", "value"),
    State("notif-severity", "value"),
    State("notif-events", "value"),
    State("notif-changed", "data"),
    prevent_initial_call=True,
)
async def add_channel(clicks: int | None, *values: Any) -> tuple[str, Any]:
    if not clicks:
        return "", dash.no_update
    name, kind, url, secret, to, kinds, severity, events, changed = values
    body: dict[str, Any] = {"name": name or "", "kind": kind}
    body |= {"url": url or "", "secret": secret or ""} if kind == "webhook" else {"to": to or ""}
    body["filter"] = {"kinds": kinds or None, "min_severity": severity, "events": events or None}
    path = "/api/notification-channels"
    return await _change(changed, "POST", path, "Added channel {name}.", "Not added", json=body)


@callback(
    Output("notif-message", "children", allow_duplicate=True),
    Output("notif-changed", "data", allow_duplicate=True),
    Input({"type": "notif-test", "channel": ALL}, "n_clicks"),
    Input({"type": "notif-delete", "channel": ALL}, "n_clicks"),
    State("notif-changed", "data"),
    prevent_initial_call=True,
)
async def channel_action(_tests: Any, _deletes: Any, changed: int | None) -> tuple[Any, Any]:
    target = _clicked()
    if target is None:
        return dash.no_update, dash.no_update
    path = f"/api/notification-channels/{int(target['channel'])}"
    if target["type"] == "notif-delete":
        return await _change(changed, "DELETE", path, "Channel deleted.")
    message, _ = await _change(
        changed, "POST", f"{path}/test", "Test queued (delivery {delivery_id})."
    )
    return message, dash.no_update  # a test send changes no list


@callback(
    Output("silence-message", "children"),
    Output("notif-changed", "data", allow_duplicate=True),
    Input("silence-save", "n_clicks"),
    State("silence-device", "value"),
    State("silence-kind", "value"),
    State("silence-ticker", "value"),
    State("silence-hours", "value"),
    State("silence-comment", "value"),
    State("notif-changed", "data"),
    prevent_initial_call=True,
)
async def add_silence(clicks: int | None, *values: Any) -> tuple[str, Any]:
    if not clicks:
        return "", dash.no_update
    device, kind, ticker, hours, comment, changed = values
    matchers = {"device_id": device or None, "kind": kind, "ticker": ticker or None}
    now = datetime.now(UTC)
    body = {
        "matchers": {k: v for k, v in matchers.items() if v},
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(hours=float(hours or 1))).isoformat(),
        "comment": comment or "",
    }
    return await _change(changed, "POST", "/api/silences", "Silence added.", "Not added", json=body)


@callback(
    Output("silence-message", "children", allow_duplicate=True),
    Output("notif-changed", "data", allow_duplicate=True),
    Input({"type": "silence-delete", "silence": ALL}, "n_clicks"),
    State("notif-changed", "data"),
    prevent_initial_call=True,
)
async def delete_silence(_deletes: Any, changed: int | None) -> tuple[Any, Any]:
    target = _clicked()
    if target is None:
        return dash.no_update, dash.no_update
    path = f"/api/silences/{int(target['silence'])}"
    return await _change(changed, "DELETE", path, "Silence deleted.")

"""/admin: devices, stocks and alert rules — list, create, edit, delete (admins only; others get
a clear "admins only" message, and the API refuses them anyway).

One set of callbacks serves the three sections: their component ids carry `entity`, matched
with MATCH; the entities themselves are data (`dashboard/admin/specs.py`).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, MATCH, Input, Output, State, callback, html
from dash.exceptions import PreventUpdate

from dashboard import client
from dashboard.admin import specs as admin_specs
from dashboard.admin import view as admin_view
from dashboard.admin.specs import ENTITIES, Entity

dash.register_page(
    __name__,
    path="/admin",
    title="tickwire · admin",
    name="Admin",
    order=4,
    nav=True,
    admins_only=True,
    untimed=True,  # no time range here: the frame hides its picker
)


def _id(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": f"admin-{kind}", "entity": MATCH, **more}


def layout(**_query: Any) -> html.Div:
    return html.Div(id="admin-body", className="tw-grid", children=html.Div(className="tw-empty"))


@callback(Output("admin-body", "children"), Input("me", "data"))
async def show(me: dict[str, Any] | None) -> Any:
    if me is None:
        return dash.no_update  # the frame is still asking who this is (or redirects to login)
    if not me.get("is_superuser"):
        return admin_view.denied()
    return [admin_view.section(entity) for entity in ENTITIES.values()]


def _entity() -> Entity:
    """The entity of the section whose callback runs (from any MATCH output's id)."""
    outputs = dash.ctx.outputs_list
    first = outputs[0] if isinstance(outputs[0], dict) else outputs[0][0]
    return ENTITIES[first["id"]["entity"]]


@callback(
    Output(_id("table"), "children"),
    Output(_id("rows"), "data"),
    Input(_id("changed"), "data"),
)
async def load(_changed: int) -> tuple[Any, Any]:
    entity = _entity()
    try:
        page = await client.get(entity.path, limit=1000)
    except client.ApiFailed as failed:
        return html.Div(
            f"Could not load {entity.title.lower()}: {failed.message}", className="tw-error"
        ), []
    items = page["items"]
    if entity is admin_specs.DEVICES:
        await _owners_by_email(items)
    return admin_view.table(entity, items), items


async def _owners_by_email(devices: list[dict[str, Any]]) -> None:
    """Each device's `owner_email` (shown for its owner id), from the accounts list."""
    try:
        users = (await client.get("/api/admin/users", limit=1000))["items"]
    except client.ApiFailed:
        return  # ids then
    emails = {user["id"]: user["email"] for user in users}
    for device in devices:
        device["owner_email"] = emails.get(device.get("owner_id"))


@callback(
    Output(_id("field", field=ALL), "value"),
    Output(_id("field", field=ALL), "disabled"),
    Output(_id("editing"), "data"),
    Output(_id("form-title"), "children"),
    Input(_id("edit", key=ALL), "n_clicks"),
    Input(_id("new"), "n_clicks"),
    Input(_id("changed"), "data"),
    State(_id("rows"), "data"),
    prevent_initial_call=True,
)
async def form(_edits: Any, _new: Any, _changed: Any, rows: list[dict[str, Any]] | None) -> Any:
    """Fill the form with the item to edit, or empty it for a new one (also after a change)."""
    entity = _entity()
    names = [o["id"]["field"] for o in dash.ctx.outputs_list[0]]
    specs = [entity.field(name) for name in names]
    edit = _clicked("admin-edit")
    if edit is not None:
        item = next((r for r in rows or [] if r[entity.key] == edit["key"]), None)
        if item is None:
            raise PreventUpdate
        values = [admin_specs.form_value(spec, item.get(spec.name)) for spec in specs]
        disabled = [spec.create_only for spec in specs]
        return values, disabled, item[entity.key], f"Edit {entity.singular} {item[entity.key]}"
    if _clicked("admin-new") is None and _clicked("admin-changed") is None:
        raise PreventUpdate
    return (
        [admin_specs.blank(s) for s in specs],
        [False] * len(specs),
        None,
        f"New {entity.singular}",
    )


def _clicked(kind: str) -> dict[str, Any] | None:
    """The id of the component of `kind` whose change fired this callback (a click: a value;
    a row's buttons drawn anew fire with none)."""
    for fired in dash.ctx.triggered:
        if not fired.get("value"):
            continue
        found = dash.ctx.triggered_prop_ids.get(fired["prop_id"])
        if isinstance(found, dict) and found.get("type") == kind:
            return found
    return None


@callback(
    Output(_id("confirm"), "displayed"),
    Output(_id("confirm"), "message"),
    Output(_id("pending"), "data"),
    Input(_id("delete", key=ALL), "n_clicks"),
    prevent_initial_call=True,
)
async def ask(_clicks: Any) -> Any:
    target = _clicked("admin-delete")
    if target is None:
        return dash.no_update, dash.no_update, dash.no_update
    entity = ENTITIES[target["entity"]]
    return True, f"Delete {entity.singular} {target['key']}? This cannot be undone.", target["key"]


@callback(
    Output(_id("message"), "children"),
    Output(_id("changed"), "data"),
    inputs={
        "_save": Input(_id("save"), "n_clicks"),
        "_confirm": Input(_id("confirm"), "submit_n_clicks"),
    },
    state={
        "_fields": State(_id("field", field=ALL), "value"),
        "editing": State(_id("editing"), "data"),
        "pending": State(_id("pending"), "data"),
        "changed": State(_id("changed"), "data"),
    },
    prevent_initial_call=True,
)
async def write(
    _save: Any, _confirm: Any, _fields: list[Any], editing: Any, pending: Any, changed: int
) -> tuple[Any, Any]:
    """Save the form (create or update) or delete the confirmed item; say what happened. The
    form's values come with their field names (`ctx.args_grouping`)."""
    entity = _entity()
    target = dash.ctx.triggered_id
    kind = target.get("type") if isinstance(target, dict) else None
    try:
        if kind == "admin-confirm":
            await client.request("DELETE", f"{entity.path}/{pending}")
            done = f"Deleted {entity.singular} {pending}."
        else:
            values = {s["id"]["field"]: s.get("value") for s in dash.ctx.args_grouping["_fields"]}
            body = admin_specs.body(entity, values, editing is None)
            done = await _create_or_update(entity, editing, body)
    except client.ApiFailed as failed:
        return html.Span(failed.message, className="tw-error"), dash.no_update
    except ValueError as bad:
        return html.Span(f"Invalid value: {bad}", className="tw-error"), dash.no_update
    return html.Span(done, className="admin-done"), (changed or 0) + 1


async def _create_or_update(entity: Entity, editing: Any, body: dict[str, Any]) -> str:
    if editing is None:
        item = await client.request("POST", entity.path, json=body)
        return f"Created {entity.singular} {item[entity.key]}."
    await client.request("PATCH", f"{entity.path}/{editing}", json=body)
    return f"Saved {entity.singular} {editing}."

"""The admin page's components: per entity a table of items (edit / delete per row) and a form
that creates a new item or edits the chosen one. Ids carry the entity so one set of callbacks
(pattern-matching on `entity`) serves devices, stocks and rules alike."""

from __future__ import annotations

from typing import Any, Final

from dash import dcc, html

from dashboard.admin.specs import ON, Entity, Field, cell

EMPTY: Final = {
    "devices": "No devices yet — create one here, or start the simulator with "
    "`python -m simulator` (its devices register themselves).",
    "stocks": "No stocks yet — create one here; the simulator's feed registers its tickers.",
    "rules": "No alert rules yet — create one here (built-in OFFLINE / HIGH_TEMP alerts apply "
    "without rules).",
}


def ident(kind: str, entity: Entity, **more: Any) -> dict[str, Any]:
    return {"type": f"admin-{kind}", "entity": entity.name, **more}


def section(entity: Entity) -> html.Div:
    return html.Div(
        className="tw-panel wide admin-section",
        id=f"admin-{entity.name}",
        children=[
            dcc.Store(id=ident("rows", entity)),
            dcc.Store(id=ident("changed", entity), data=0),
            dcc.Store(id=ident("editing", entity)),
            dcc.Store(id=ident("pending", entity)),
            dcc.ConfirmDialog(id=ident("confirm", entity)),
            html.H3(entity.title),
            dcc.Loading(
                html.Div(id=ident("table", entity), className="admin-table"), delay_show=300
            ),
            _form(entity),
        ],
    )


def _form(entity: Entity) -> html.Div:
    return html.Div(
        className="admin-form",
        children=[
            html.H4(f"New {entity.singular}", id=ident("form-title", entity)),
            html.Div(className="admin-fields", children=[_field(entity, f) for f in entity.fields]),
            html.Div(
                className="admin-actions",
                children=[
                    html.Button("Save", id=ident("save", entity), className="tw-button primary"),
                    html.Button(
                        f"New {entity.singular}", id=ident("new", entity), className="tw-button"
                    ),
                    html.Span(id=ident("message", entity), className="admin-message"),
                ],
            ),
        ],
    )


def _field(entity: Entity, spec: Field) -> html.Label:
    fid = ident("field", entity, field=spec.name)
    control: Any
    if spec.type == "bool":
        control = dcc.Checklist(
            id=fid,
            options=[{"label": f" {spec.label}", "value": ON}],
            value=[ON] if spec.name == "enabled" else [],
        )
        return html.Label(className="admin-field admin-bool", children=[control])
    if spec.type == "select":
        control = dcc.Dropdown(id=fid, options=list(spec.options), placeholder=spec.label)
    else:
        control = dcc.Input(
            id=fid,
            type="number" if spec.type == "number" else "text",
            placeholder=spec.hint,
            className="tw-input",
        )
    return html.Label(className="admin-field", children=[html.Span(spec.label), control])


def table(entity: Entity, items: list[dict[str, Any]]) -> Any:
    if not items:
        return html.Div(EMPTY[entity.name], className="tw-empty")
    head = html.Tr([html.Th(label) for _, label in entity.columns] + [html.Th("")])
    rows = [_row(entity, item) for item in items]
    return html.Table(className="tw-table admin", children=[html.Thead(head), html.Tbody(rows)])


def _row(entity: Entity, item: dict[str, Any]) -> html.Tr:
    key = item[entity.key]
    buttons = html.Td(
        className="admin-row-actions",
        children=[
            html.Button("Edit", id=ident("edit", entity, key=key), className="tw-button"),
            html.Button(
                "Delete", id=ident("delete", entity, key=key), className="tw-button admin-delete"
            ),
        ],
    )
    cells = [html.Td(_cell(entity, item, column)) for column, _ in entity.columns]
    return html.Tr(
        id=f"admin-{entity.name}-{key}", className="admin-row", children=[*cells, buttons]
    )


def _cell(entity: Entity, item: dict[str, Any], column: str) -> Any:
    text = cell(entity, item, column)
    if column == "status":
        return [html.Span(className=f"tw-dot {text}"), text]
    return text


def denied() -> html.Div:
    return html.Div(
        "Admins only: this page manages every user's devices, stocks and alert rules. "
        "Ask an administrator if you need a change.",
        className="tw-empty admin-denied",
    )

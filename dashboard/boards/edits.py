"""Editing a dashboard in the page: the toolbar (add a panel, the model as JSON, save, save as)
and each panel's buttons (move, resize, remove) on the 24-column grid; the side form of one
panel (✎) is dashboard/boards/form.py.

Its callbacks are registered by the page module (dashboard/pages/board.py): page modules are
re-executed for every Dash app, other modules are not (docs/dashboard.md). Every edit changes
the page's working copy (`board-model`), which the page re-renders; only
Save and Save as reach the API. The API validates the result (panels inside the grid,
variables declared): its 422 is shown as is.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import dash
from dash import ctx, dcc, html

from dashboard import client
from dashboard.boards import form as panel_form

COLUMNS = 24
TYPES = panel_form.TYPES
#: (button, label, what it does to the grid).
MOVES: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("left", "◀", {"x": -1}),
    ("right", "▶", {"x": 1}),
    ("up", "▲", {"y": -1}),
    ("down", "▼", {"y": 1}),
    ("narrower", "w−", {"w": -1}),
    ("wider", "w+", {"w": 1}),
    ("shorter", "h−", {"h": -1}),
    ("taller", "h+", {"h": 1}),
)


def toolbar() -> html.Div:
    return html.Div(
        id="board-toolbar",
        className="tw-panel board-toolbar",
        style={"display": "none"},
        children=[
            html.Div(
                className="board-toolbar-row",
                children=[
                    dcc.Dropdown(
                        id="board-add-type",
                        options=[{"label": t, "value": t} for t in TYPES],
                        value="timeseries",
                        clearable=False,
                        className="board-add-type",
                    ),
                    html.Button("Add panel", id="board-add", className="tw-button"),
                    html.Button("Save", id="board-save", className="tw-button primary"),
                    html.Span(id="board-message", className="board-message"),
                ],
            ),
            panel_form.form(),
            html.Details(
                [
                    html.Summary("JSON (edit titles, targets, types, thresholds; import)"),
                    dcc.Textarea(id="board-json", className="board-json"),
                    html.Button("Apply JSON", id="board-apply", className="tw-button"),
                    html.Button("Import as new", id="board-import", className="tw-button"),
                ]
            ),
        ],
    )


def drag_handle() -> html.Span:
    return html.Span("⠿", className="board-drag", title="drag to move")


def resize_handle() -> html.Span:
    return html.Span("◢", className="board-resize", title="drag to resize")


def panel_buttons(panel_id: int) -> html.Span:
    return html.Span(
        className="board-panel-tools",
        children=[
            *(
                html.Button(
                    label,
                    id={"type": "board-move", "panel": panel_id, "how": how},
                    className="tw-button tw-quiet",
                    title=how,
                )
                for how, label, _ in MOVES
            ),
            html.Button(
                "✎",
                id={"type": "board-pick", "panel": panel_id},
                className="tw-button tw-quiet",
                title="edit title, type, targets, thresholds",
            ),
            html.Button(
                "✕",
                id={"type": "board-remove", "panel": panel_id},
                className="tw-button tw-quiet",
                title="remove",
            ),
        ],
    )


def moved(model: dict[str, Any], panel_id: int, how: str) -> dict[str, Any]:
    """`model` with the panel moved or resized one step, kept inside the 24 columns."""
    changed = copy.deepcopy(model)
    step = next(change for name, _, change in MOVES if name == how)
    for panel in changed["panels"]:
        if panel["id"] == panel_id:
            grid = panel["grid"]
            for key, delta in step.items():
                grid[key] += delta
            grid["w"] = min(max(grid["w"], 1), COLUMNS)
            grid["h"] = min(max(grid["h"], 1), 100)
            grid["x"] = min(max(grid["x"], 0), COLUMNS - grid["w"])
            grid["y"] = max(grid["y"], 0)
    return changed


def dragged(model: dict[str, Any], drag: dict[str, Any]) -> dict[str, Any]:
    """`model` after a drag (`resize`: the corner) of `dx` columns and `dy` rows, kept inside
    the 24 columns (assets/boards.js sends it)."""
    changed = copy.deepcopy(model)
    dx, dy = int(drag.get("dx", 0)), int(drag.get("dy", 0))
    for panel in changed["panels"]:
        if panel["id"] == drag.get("panel"):
            grid = panel["grid"]
            if drag.get("resize"):
                grid["w"] = min(max(grid["w"] + dx, 1), COLUMNS - grid["x"])
                grid["h"] = min(max(grid["h"] + dy, 1), 100)
            else:
                grid["x"] = min(max(grid["x"] + dx, 0), COLUMNS - grid["w"])
                grid["y"] = max(grid["y"] + dy, 0)
    return changed


def added(model: dict[str, Any], kind: str) -> dict[str, Any]:
    """`model` with a new panel of `kind` below the others, half the width."""
    changed = copy.deepcopy(model)
    bottom = max((p["grid"]["y"] + p["grid"]["h"] for p in changed["panels"]), default=0)
    next_id = max((p["id"] for p in changed["panels"]), default=0) + 1
    panel: dict[str, Any] = {
        "id": next_id,
        "type": kind,
        "title": f"New {kind}",
        "grid": {"x": 0, "y": bottom, "w": 12, "h": 8},
        "targets": [],
    }
    if kind == "text":
        panel["options"] = {"content": "Write **Markdown** here."}
    changed["panels"].append(panel)
    return changed


def removed(model: dict[str, Any], panel_id: int) -> dict[str, Any]:
    changed = copy.deepcopy(model)
    changed["panels"] = [p for p in changed["panels"] if p["id"] != panel_id]
    return changed


def stored(model: dict[str, Any]) -> dict[str, Any]:
    """What is sent to the API: the model without `meta` (the server's, not the user's)."""
    return {k: v for k, v in model.items() if k != "meta"}


def edit(
    _moves: Any,
    _removes: Any,
    _add: Any,
    _apply: Any,
    drag: dict[str, Any] | None,
    kind: str,
    text: str | None,
    model: dict[str, Any] | None,
) -> tuple[Any, Any]:
    """A change to the working copy (nothing is saved)."""
    fired = ctx.triggered_id
    if model is None or fired is None or not ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update
    if fired == "board-add":
        return added(model, kind), "Panel added (not saved)."
    if fired == "board-drag":
        return dragged(model, drag or {}), ""
    if fired == "board-apply":
        try:
            given = json.loads(text or "")
        except ValueError as wrong:
            return dash.no_update, f"Not JSON: {wrong}"
        if not isinstance(given, dict) or not isinstance(given.get("panels"), list):
            return dash.no_update, "The JSON must be a dashboard (an object with panels)."
        return given | {"uid": model.get("uid"), "meta": model.get("meta")}, "Applied (not saved)."
    if fired["type"] == "board-remove":
        return removed(model, fired["panel"]), "Panel removed (not saved)."
    after = moved(model, fired["panel"], fired["how"])
    if after == model:
        # Nothing moved (a panel at the grid's edge): no new working copy, so the grid is not
        # drawn again, and a click on another panel's button now is not lost in the redraw.
        return dash.no_update, dash.no_update
    return after, ""


async def save(
    _save: Any, _save_as: Any, _import: Any, model: dict[str, Any] | None, text: str | None
) -> tuple[Any, ...]:
    """Save (PUT with the version read: 409 → say so), save as a copy, or import the JSON."""
    fired = ctx.triggered_id
    if model is None or not ctx.triggered[0]["value"]:
        # Not PreventUpdate: raised in an async callback, Dash 4.4's FastAPI backend answers
        # it with a 500 (docs/dashboard.md).
        return dash.no_update, dash.no_update, dash.no_update
    try:
        if fired == "board-save":
            uid = model["uid"]
            answer = await client.request("PUT", f"/api/dashboards/{uid}", json=stored(model))
            return answer, f"Saved: version {answer['version']}.", dash.no_update
        body = stored(model) if fired == "board-save-as" else json.loads(text or "")
        if fired == "board-save-as":
            body = {k: v for k, v in body.items() if k not in ("uid", "version")}
            body["title"] = f"{body['title']} (copy)"[:200]
            body["shared_with"] = []
        answer = await client.request("POST", "/api/dashboards", json=body)
    except client.ApiFailed as failed:
        if failed.status == 409 and fired == "board-save":
            note = (
                "Not saved: someone saved this dashboard since you opened it. "
                "Reload to see their version (your changes are lost), or Save as copy."
            )
            return dash.no_update, note, dash.no_update
        return dash.no_update, f"Not saved: {failed.message}", dash.no_update
    except ValueError as wrong:
        return dash.no_update, f"Not JSON: {wrong}", dash.no_update
    return dash.no_update, "Saved as a new dashboard.", f"/d/{answer['uid']}"

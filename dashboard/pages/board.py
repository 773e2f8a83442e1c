"""/d/<uid>: a dashboard users build (DESIGN.md "Dashboards"): its panels on a 24-column grid
at their grid positions, its variables as dropdowns (`?var-<name>=` in the address), the
frame's range and live toggle driving every panel.

Editing works on a working copy (`board-model`): per-panel move/resize/remove buttons, add a
panel, the whole model as JSON (edit, import); Save PUTs it with the version it was read at
(409: someone saved in between, the page says so), Save as POSTs a copy.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import dash
from dash import ALL, Input, Output, State, dcc, html
from dash.backends._fastapi import get_current_request

from dashboard import boards, client, frame
from dashboard.boards import DEFAULT_REFRESH_S, data, early, panels, repeat
from dashboard.boards import edits as board_edits
from dashboard.boards import form as board_form

dash.register_page(__name__, path_template="/d/<uid>", title="tickwire · dashboard")


async def layout(
    uid: str | None = None, timerange: dict[str, Any] | None = None, **query: Any
) -> html.Div:
    """The page, drawn as the browser asked for its address when that is what this request
    asks (`boards.early`: a page load), else now (`draw_page`)."""
    if timerange is None and uid:
        started = await early.claimed(get_current_request(), uid, query)
        if started is not None:
            return started  # type: ignore[no-any-return]
    return await draw_page(uid, timerange, **query)


async def draw_page(
    uid: str | None = None, timerange: dict[str, Any] | None = None, **query: Any
) -> html.Div:
    """The page with its panels drawn: the dashboard read and every panel fetched here, so
    the page's first answer is the whole board, with no `render` round trip after it. For
    the range the frame will set (`frame.timerange_at_load`: the address's, or `timerange`,
    the range before a link within the app), in the browser's zone (`frame.ZONE_COOKIE`), at
    the grid width it last reported (`boards.WIDTH_COOKIE`). `render` draws them again when
    the view changes, and at load (assets/boards.js `pageWidth`) when the grid's width or the
    range differ from what they were drawn for (`board-width`, `board-drawn`)."""
    asked = {k[4:]: v for k, v in query.items() if k.startswith("var-")}
    width = boards.reported_width(client.request_cookie(boards.WIDTH_COOKIE))
    zone = frame.reported_zone(client.request_cookie(frame.ZONE_COOKIE))
    view = frame.timerange_at_load(query, timerange, zone)
    model, dropdowns, missing, href, chosen = await load(uid, asked)
    following = frame.live_filter("board")
    cells, title, version = None, None, None
    if model:
        cells, title, version, stream = await _drawn(model, chosen, view, width, False)
        following = dcc.Store(id={"type": "live-filter", "page": "board"}, data=stream)
    return html.Div(
        className="board-page",
        children=[
            following,
            dcc.Store(id="board-uid", data=uid),
            dcc.Store(id="board-asked", data=asked),
            dcc.Store(id="board-model", data=model),
            dcc.Store(id="board-width", data=width),
            dcc.Store(id="board-drawn", data=view),
            dcc.Store(id="board-drag"),
            frame.going("board"),
            html.Button(id="board-drag-go", style={"display": "none"}),
            dcc.Interval(id="board-tick", interval=DEFAULT_REFRESH_S * 1000, disabled=True),
            dcc.Interval(id="board-flush", interval=DEFAULT_REFRESH_S * 1000, disabled=True),
            html.Div(
                className="board-head",
                children=[
                    dcc.Link("← Dashboards", href="/dashboards", className="tw-link"),
                    html.H2(title, id="board-title"),
                    html.Span(version, id="board-version", className="tw-quiet"),
                    html.A(
                        "Export JSON",
                        href=href,
                        id="board-export",
                        download="",
                        className="tw-link",
                    ),
                    # For everyone who sees it: a viewer's way to start their own from it.
                    html.Button("Save as copy", id="board-save-as", className="tw-button"),
                    html.Button(
                        "Edit", id="board-edit", className="tw-button", style={"display": "none"}
                    ),
                ],
            ),
            board_edits.toolbar(),
            html.Div(dropdowns, id="board-vars", className="board-vars"),
            html.Div(missing, id="board-missing"),
            html.Div(cells, id="board-grid", className="board-grid"),
        ],
    )


def _variable(variable: dict[str, Any], options: list[str], values: list[str]) -> html.Label:
    multi = bool(variable.get("multi"))
    return html.Label(
        className="board-var",
        children=[
            html.Span(variable["name"]),
            dcc.Dropdown(
                id={"type": "board-var", "name": variable["name"]},
                options=[{"label": o, "value": o} for o in options],
                value=values if multi else (values[0] if values else None),
                multi=multi,
                clearable=False,
                className="board-var-select",
            ),
        ],
    )


async def load(uid: str | None, asked: dict[str, Any] | None) -> tuple[Any, ...]:
    """The dashboard, its variables' dropdowns (values from the address, else defaults) and
    those values: (model, dropdowns, missing, export href, chosen); model None when there is
    none to show (`missing` says why)."""
    if not uid:
        return None, [], panels.failed("No dashboard given."), None, {}
    try:
        model = await data.dashboard(uid)
        options = await asyncio.gather(*(data.choices(v) for v in model["variables"]))
    except client.ApiFailed as failed:
        text = failed.message
        if failed.status == 404:
            text = f"No dashboard “{uid}” that you can see: it does not exist or is not shared."
        return None, [], panels.failed(text), None, {}
    asked = asked or {}
    variables = model["variables"]
    values = [
        data.chosen(v, asked.get(v["name"]), o) for v, o in zip(variables, options, strict=True)
    ]
    dropdowns = [_variable(v, o, c) for v, o, c in zip(variables, options, values, strict=True)]
    chosen = {v["name"]: c for v, c in zip(variables, values, strict=True)}
    return model, dropdowns, None, f"/api/dashboards/{quote(uid, safe='')}", chosen


@dash.callback(
    output=[
        Output("board-grid", "children"),
        Output("board-title", "children"),
        Output("board-version", "children"),
        Output({"type": "live-filter", "page": "board"}, "data"),
        Output("board-model", "data"),
        Output("board-vars", "children"),
        Output("board-missing", "children"),
        Output("board-export", "href"),
    ],
    inputs={
        "page": {
            "uid": Input("board-uid", "data"),
            "model": Input("board-model", "data"),
            "asked": State("board-asked", "data"),
        },
        "timerange": Input("timerange", "data"),
        "_reset": Input("live-reset", "data"),
        "width": Input("board-width", "data"),
        "variables": {
            "values": Input({"type": "board-var", "name": ALL}, "value"),
            "ids": State({"type": "board-var", "name": ALL}, "id"),
        },
        "editing": Input("board-edit", "n_clicks"),
    },
    # The page's layout drew the panels: at load, only a width or range other than the one
    # they were drawn at (assets/boards.js `pageWidth`) draws them again.
    prevent_initial_call=True,
)
async def render(
    page: dict[str, Any],
    timerange: dict[str, Any] | None,
    _reset: Any,
    width: int | None,
    variables: dict[str, Any],
    editing: int | None,
) -> list[Any]:
    """Every panel, fetched at once, over the frame's range with the variables' values, when
    the view changes after the page's first answer (`layout` drew the panels at first; no
    model there: the dashboard read again). `page`: the page's stores (uid, model, the
    address's variables). The dropdowns it puts in the page do not fire it again (Dash fires
    no callback for the components its own answer added)."""
    model = page["model"]
    loaded: tuple[Any, ...] = (dash.no_update,) * 4
    if not model:
        model, dropdowns, missing, href, chosen = await load(page["uid"], page["asked"])
        loaded = (model, dropdowns, missing, href)
        if not model:
            return [dash.no_update] * 4 + list(loaded)
    else:
        chosen = _chosen(variables["values"], variables["ids"])
    edit = bool(editing and editing % 2)
    return [*await _drawn(model, chosen, timerange, width, edit), *loaded]


async def _drawn(
    model: dict[str, Any],
    chosen: dict[str, list[str]],
    timerange: dict[str, Any] | None,
    width: int | None,
    edit: bool,
) -> list[Any]:
    """The grid's cells, title, version and stream filter of `model` with the variables'
    `chosen` values, over the frame's range, at the grid's `width`."""
    window = frame.window(timerange)
    tz = frame.zone(timerange)
    revision = f"{window[0]}|{window[1]}|{tz}"
    live = bool((timerange or {}).get("live"))
    shown = repeat.laid_out(model["panels"], chosen)
    bodies = await asyncio.gather(
        *(panels.body(p, v, window, width, tz, revision, live) for p, v in shown),
        return_exceptions=True,
    )
    cells = [
        # A repeated panel's copies (ids "<id>-<n>") are edited through the first one.
        _cell(p, panels.shown(b), edit and isinstance(p["id"], int), v)
        for (p, v), b in zip(shown, bodies, strict=True)
    ]
    subjects = [data.expand(p.get("targets", []), v) for p, v in shown]
    devices = sorted({t["device_id"] for ts in subjects for t in ts if t.get("device_id")})
    tickers = sorted({t["ticker"] for ts in subjects for t in ts if t.get("ticker")})
    version = f"version {model.get('version')}"
    # "direct": the stream manager hands batches to assets/boards.js, not through Dash.
    stream = {"tickers": tickers, "devices": devices, "all": False, "direct": "board"}
    return [cells, model["title"], version, stream]


def _chosen(values: list[Any], ids: list[dict[str, str]]) -> dict[str, list[str]]:
    return {
        i["name"]: [str(x) for x in (v if isinstance(v, list) else [v]) if x is not None]
        for i, v in zip(ids, values, strict=True)
    }


@dash.callback(
    Output({"type": "board-body", "panel": ALL}, "children"),
    Input("board-tick", "n_intervals"),
    State("board-model", "data"),
    State("timerange", "data"),
    State("board-width", "data"),
    State({"type": "board-var", "name": ALL}, "value"),
    State({"type": "board-var", "name": ALL}, "id"),
    prevent_initial_call=True,
)
async def refresh(
    _tick: Any,
    model: dict[str, Any] | None,
    timerange: dict[str, Any] | None,
    width: int | None,
    values: list[Any],
    ids: list[dict[str, str]],
) -> list[Any]:
    """While live, at each `refresh`: the panels live points cannot extend, fetched again
    (time series follow the stream through `extendData`, assets/boards.js `live`; text is
    left alone)."""
    shown = [o["id"]["panel"] for o in dash.ctx.outputs_list]
    if not model:
        return [dash.no_update for _ in shown]
    chosen = _chosen(values, ids)
    window = frame.window(timerange)
    tz = frame.zone(timerange)
    revision = f"{window[0]}|{window[1]}|{tz}"
    live = bool((timerange or {}).get("live"))
    by_id = {p["id"]: (p, v) for p, v in repeat.laid_out(model["panels"], chosen)}
    again = [
        by_id[i] if i in by_id and by_id[i][0]["type"] not in panels.EXTENDED else None
        for i in shown
    ]
    bodies = await asyncio.gather(
        *(panels.body(p[0], p[1], window, width, tz, revision, live) for p in again if p),
        return_exceptions=True,
    )
    fetched = iter(bodies)
    return [dash.no_update if p is None else panels.shown(next(fetched)) for p in again]


def _cell(panel: dict[str, Any], body: Any, edit: bool, chosen: dict[str, list[str]]) -> html.Div:
    """A drawn panel (a repeated one's copy too) at its grid cell."""
    grid = panel["grid"]
    return html.Div(
        id={"type": "board-panel", "panel": panel["id"]},
        className=f"tw-panel board-panel board-{panel['type']}",
        style={
            "gridColumn": f"{grid['x'] + 1} / span {grid['w']}",
            "gridRow": f"{grid['y'] + 1} / span {grid['h']}",
        },
        children=[
            html.Div(
                className="board-panel-head",
                children=[
                    board_edits.drag_handle() if edit else None,
                    html.H3(data.titled(panel.get("title") or "", chosen)),
                    board_edits.panel_buttons(panel["id"]) if edit else None,
                ],
            ),
            html.Div(
                body, id={"type": "board-body", "panel": panel["id"]}, className="board-panel-body"
            ),
            board_edits.resize_handle() if edit else None,
        ],
    )


# While live, at the dashboard's `refresh` (else DEFAULT_REFRESH_S): the panels live points
# cannot extend re-fetch, and the time series get the live points kept since the last one.
# In the browser (assets/boards.js `intervals`): no round trip as the model arrives.
dash.clientside_callback(
    dash.ClientsideFunction("boards", "intervals"),
    Output("board-tick", "disabled"),
    Output("board-tick", "interval"),
    Output("board-flush", "disabled"),
    Output("board-flush", "interval"),
    Input("timerange", "data"),
    Input("board-model", "data"),
)


# Live points: the page's one stream's batches (kept by assets/boards.js, outside Dash) extend
# the time series in place at each `refresh` (board-flush).
dash.clientside_callback(
    dash.ClientsideFunction("boards", "live"),
    Output({"type": "board-graph", "panel": ALL}, "extendData"),
    Input("board-flush", "n_intervals"),
    prevent_initial_call=True,
)

# At load: the grid's width (and the range) differing from what the layout drew the panels at
# draws them again (render), at the measured width.
dash.clientside_callback(
    dash.ClientsideFunction("boards", "pageWidth"),
    Output("board-width", "data"),
    Input("board-uid", "data"),
    State("board-width", "data"),
    State("board-drawn", "data"),
    State("timerange", "data"),
)

# The variables' values in the address (`?var-<name>=`), so a link shows the same view.
dash.clientside_callback(
    dash.ClientsideFunction("boards", "varsToUrl"),
    Output("url", "search", allow_duplicate=True),
    Input({"type": "board-var", "name": ALL}, "value"),
    State({"type": "board-var", "name": ALL}, "id"),
    State("url", "search"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("boards", "dropped"),
    Output("board-drag", "data"),
    Input("board-drag-go", "n_clicks"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    dash.ClientsideFunction("boards", "zoom"),
    Output("url", "search", allow_duplicate=True),
    Input({"type": "board-graph", "panel": ALL}, "relayoutData"),
    State("url", "search"),
    prevent_initial_call=True,
)


# The edit mode's callbacks (dashboard/boards/edits.py, form.py), registered here: see edits.py.
dash.callback(
    Output("board-model", "data", allow_duplicate=True),
    Output("board-message", "children"),
    Input({"type": "board-move", "panel": ALL, "how": ALL}, "n_clicks"),
    Input({"type": "board-remove", "panel": ALL}, "n_clicks"),
    Input("board-add", "n_clicks"),
    Input("board-apply", "n_clicks"),
    Input("board-drag", "data"),
    State("board-add-type", "value"),
    State("board-json", "value"),
    State("board-model", "data"),
    prevent_initial_call=True,
)(board_edits.edit)
dash.callback(
    Output("board-model", "data", allow_duplicate=True),
    Output("board-message", "children", allow_duplicate=True),
    Output({"type": "go", "page": "board"}, "data"),
    Input("board-save", "n_clicks"),
    Input("board-save-as", "n_clicks"),
    Input("board-import", "n_clicks"),
    State("board-model", "data"),
    State("board-json", "value"),
    prevent_initial_call=True,
)(board_edits.save)
# The working copy as JSON (edits.py `stored`: without `meta`), in the browser: no request
# as the model arrives.
dash.clientside_callback(
    dash.ClientsideFunction("boards", "json"),
    Output("board-json", "value"),
    Input("board-model", "data"),
    Input("board-edit", "n_clicks"),
)
dash.callback(
    Output("board-picked", "data"),
    Output("board-form-title", "value"),
    Output("board-form-type", "value"),
    Output("board-form-targets", "value"),
    Output("board-form-thresholds", "value"),
    Output("board-form-indicators", "value"),
    Output("board-form", "style"),
    Input({"type": "board-pick", "panel": ALL}, "n_clicks"),
    State("board-model", "data"),
    prevent_initial_call=True,
)(board_form.picked)
dash.callback(
    Output("board-form-indicators", "value", allow_duplicate=True),
    Output("board-form-add-indicator", "value"),
    Input("board-form-add-indicator", "value"),
    State("board-form-indicators", "value"),
    prevent_initial_call=True,
)(board_form.add_indicator)
dash.callback(
    Output("board-model", "data", allow_duplicate=True),
    Output("board-message", "children", allow_duplicate=True),
    inputs={"clicks": Input("board-form-apply", "n_clicks")},
    state={
        "panel_id": State("board-picked", "data"),
        "fields": {
            field: State(f"board-form-{field}", "value")
            for field in ("title", "type", "targets", "thresholds", "indicators")
        },
        "model": State("board-model", "data"),
    },
    prevent_initial_call=True,
)(board_form.apply_form)
dash.clientside_callback(
    dash.ClientsideFunction("boards", "editing"),
    Output("board-toolbar", "style"),
    Output("board-edit", "children"),
    Output("board-edit", "style"),
    Input("board-edit", "n_clicks"),
    Input("board-model", "data"),
)


# What `boards.early` starts when the browser asks for a board's address (this module is run
# again for every app: the newest app's).
early.draw[:] = [draw_page]

"""Strict queries: a query parameter a route does not define is a 422 `unknown_parameter`.

A client written from an old document (`alert_type` for `kind`, `deviceId`, `page_size`) would
otherwise get 200 and silently unfiltered data. One dependency, set on the app (api/main.py), so
every route is covered, the routes added later included: it compares the request's parameter
names with the ones the route reads, as FastAPI itself resolves them (aliases, alias choices,
parameters of sub-dependencies, of the routers' dependencies and of query models). Routes
outside the OpenAPI document (the dashboard's pages with their `?var-…=`, Dash's own routes, the
404 catch-alls) are not the API's contract and are left alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI

# FastAPI's own resolution of a parameter's request names and of query models: private, so
# FastAPI is pinned; tests/test_strict_query.py proves aliases and models on this version.
from fastapi._compat import ModelField, get_cached_model_fields
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _get_param_aliases, _get_param_model
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import HTTPConnection

from api.error_codes import ErrorCode
from api.errors import Invalid

#: At most this many unknown names, each cut to NAME_CHARS, are echoed back.
SHOWN = 20
NAME_CHARS = 100

#: id of a route → the query names it reads; built at the first request, when every route is in.
Table = dict[int, frozenset[str]]


def refuse_unknown(connection: HTTPConnection) -> None:
    """The app-wide dependency: 422 `unknown_parameter` naming what the route does not define.
    (An `HTTPConnection`: Dash's websocket route has app-wide dependencies too.)"""
    allowed = _table(connection.app).get(id(connection.scope.get("route")))
    if allowed is None:  # not a documented route
        return
    unknown = sorted({name for name in connection.query_params if name not in allowed})
    if unknown:
        shown = [name[:NAME_CHARS] for name in unknown[:SHOWN]]
        more = f" (and {len(unknown) - SHOWN} more)" if len(unknown) > SHOWN else ""
        takes = ", ".join(sorted(allowed)) or "no query parameters"
        raise Invalid(
            f"unknown query parameter(s): {', '.join(shown)}{more}; this route takes: {takes}",
            code=ErrorCode.UNKNOWN_PARAMETER,
            details={"unknown": shown, "allowed": sorted(allowed)},
        )


def _table(app: FastAPI) -> Table:
    table: Table | None = getattr(app.state, "query_names", None)
    if table is None:
        table = query_names(app)
        app.state.query_names = table
    return table


def query_names(app: FastAPI) -> Table:
    """The query names of every documented route of `app`, as included (a route included twice
    takes the names of both)."""
    table: dict[int, set[str]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.include_in_schema:
            table.setdefault(id(route), set()).update(declared(context.dependant))
    return {key: frozenset(names) for key, names in table.items()}


def declared(dependant: Dependant) -> frozenset[str]:
    """Every query parameter name a route with this `dependant` reads."""
    names: set[str] = set()
    for field in _query_fields(dependant):
        model = _get_param_model(field)
        fields = get_cached_model_fields(model) if model is not None else [field]
        for each in fields:
            names.update(request_name for _, request_name in _get_param_aliases(each))
    return frozenset(names)


def _query_fields(dependant: Dependant) -> Iterator[ModelField]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)

"""Strict queries (api/strict_query.py): a query parameter a route does not define is a 422
`unknown_parameter` naming it, on every route of the OpenAPI document.

The requests are generated from the document the API serves, so a route added later is tried
without editing this file: each operation with a seed document's names (`alert_type`,
`deviceId`, `page_size`) and the hostile ones (a NUL, an empty name, a 5 000-character name),
then with every query parameter it documents (none of them may be refused as unknown: the
aliases `format` and `interval` included). The mechanism's own cases (alias choices, query
models, a router's dependency, routes outside the document) run on a small app of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import AliasChoices, BaseModel

from api import errors, strict_query
from tests.api_support import Account, Api, expect

OLD_NAMES = ("alert_type", "deviceId", "page_size")
LONG_NAME = "n" * 5000
HOSTILE_NAMES = ("nul\x00name", "", LONG_NAME)


@dataclass
class Operation:
    method: str
    path: str
    operation: dict[str, Any]

    def query_names(self) -> list[str]:
        return [p["name"] for p in self.operation.get("parameters", []) if p["in"] == "query"]

    def url(self, values: dict[str, str]) -> str:
        url = self.path
        for p in self.operation.get("parameters", []):
            if p["in"] == "path":
                value = quote(values.get(p["name"], "1"), safe="")
                url = url.replace(f"{{{p['name']}}}", value)
        return url

    def body(self) -> dict[str, Any] | None:
        """`{}` where the route takes JSON, so the request gets as far as its query."""
        content = self.operation.get("requestBody", {}).get("content", {})
        return {} if "application/json" in content else None


def operations(spec: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def sample(schema: dict[str, Any]) -> str:
    """A value of the parameter's type (a wrong one is a 422 `validation_error`, which is fine:
    the point is that the name is not refused as unknown)."""
    for part in [schema, *schema.get("anyOf", [])]:
        if "enum" in part:
            return str(part["enum"][0])
        kind = part.get("type")
        if kind == "integer":
            return str(part.get("minimum", 1))
        if kind == "boolean":
            return "true"
    return "x"


async def spec_and_values(api: Api) -> tuple[list[Operation], dict[str, str]]:
    async with api.client(api.admin) as client:
        spec = expect(await client.get("/openapi.json"), 200)
        expect(await client.post("/api/stocks", json={"ticker": "STRQ", "shared": True}), 201)
        expect(await client.post("/api/devices", json={"device_id": "strict-probe"}), 201)
    values = {"device_id": "strict-probe", "ticker": "STRQ", "id": api.admin.id}
    return operations(spec), values


async def send(
    client: httpx.AsyncClient, op: Operation, values: dict[str, str], query: dict[str, str]
) -> tuple[int, Any]:
    # Streamed: a live stream that accepted the request would otherwise never end.
    async with client.stream(op.method, op.url(values), params=query, json=op.body()) as response:
        if response.status_code < 400:
            return response.status_code, None
        await response.aread()
        return response.status_code, response.json()


async def test_every_route_refuses_an_unknown_parameter_naming_it(api: Api) -> None:
    ops, values = await spec_and_values(api)
    assert len(ops) > 40  # every route of the document, fastapi-users' included
    assert {"POST /auth/jwt/login", "PATCH /users/{id}", "GET /metrics"} <= {
        f"{op.method} {op.path}" for op in ops
    }
    # Refused before authentication too: the document naming the parameters is public.
    accounts: list[Account | None] = [api.admin, None]
    for account in accounts:
        async with api.client(account) as client:
            for op in ops:
                query = dict.fromkeys(OLD_NAMES, "1")
                status, body = await send(client, op, values, query)
                assert status == 422, (op.method, op.path, status, body)
                assert body["error"]["code"] == "unknown_parameter", (op.method, op.path, body)
                assert body["error"]["details"]["unknown"] == sorted(OLD_NAMES)
                assert body["error"]["details"]["allowed"] == sorted(op.query_names())
                for name in OLD_NAMES:
                    assert name in body["error"]["message"]


async def test_every_documented_parameter_is_taken(api: Api) -> None:
    """The other half: what the document names is never refused as unknown."""
    ops, values = await spec_and_values(api)
    tried = 0
    async with api.client(api.admin) as client:
        for op in ops:
            parameters = [p for p in op.operation.get("parameters", []) if p["in"] == "query"]
            if not parameters:
                continue
            query = {p["name"]: sample(p["schema"]) for p in parameters}
            _, body = await send(client, op, values, query)
            code = body["error"]["code"] if body else None
            assert code != "unknown_parameter", (op.method, op.path, query, body)
            tried += 1
    assert tried >= 10
    names = {name for op in ops for name in op.query_names()}
    assert {"format", "interval", "last_event_id"} <= names  # aliases and a Depends() class


async def test_the_hostile_names_are_refused_and_echoed_bounded(api: Api) -> None:
    async with api.client(api.admin) as client:
        for name in HOSTILE_NAMES:
            body = expect(await client.get("/api/devices", params={name: "1"}), 422)
            assert body["error"]["code"] == "unknown_parameter"
            assert body["error"]["details"]["unknown"] == [name[: strict_query.NAME_CHARS]]
        many = {f"p{i:04d}": "1" for i in range(1000)}
        body = expect(await client.get("/api/alerts", params=many), 422, "unknown_parameter")
        assert len(body["error"]["details"]["unknown"]) == strict_query.SHOWN
        assert "(and 980 more)" in body["error"]["message"]
        # A known name next to an unknown one: only the unknown one is named.
        query = {"kind": "HIGH_TEMP", "alert_type": "HIGH_TEMP"}
        body = expect(await client.get("/api/alerts", params=query), 422, "unknown_parameter")
        assert body["error"]["details"]["unknown"] == ["alert_type"]
        # A Python name behind an alias is not a parameter name.
        query = {"format": "csv", "format_": "csv"}
        body = expect(await client.get("/api/export/prices", params=query), 422)
        assert body["error"]["details"]["unknown"] == ["format_"]
        expect(await client.get("/api/alerts", params={"kind": "HIGH_TEMP"}), 200)


async def test_the_dashboard_pages_keep_their_own_query(api: Api) -> None:
    """Not the API's contract: a dashboard address carries `?var-<name>=` and range."""
    async with api.client() as client:
        page = await client.get("/markets", params={"var-device": "x", "from": "now-6h"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        expect(await client.get("/api/no-such-route", params={"x": "1"}), 404, "not_found")


# The mechanism on routes tickwire does not have (yet): FastAPI's own name resolution.


class Window(BaseModel):
    size: int = 10
    step_s: int = Query(default=1, alias="step")


def _page(offset: Annotated[int, Query(alias="from")] = 0) -> int:
    return offset


def mechanism_app() -> FastAPI:
    app = FastAPI(dependencies=[Depends(strict_query.refuse_unknown)])
    errors.install(app)
    paged = APIRouter(dependencies=[Depends(_page)])

    @paged.get("/choices")
    async def choices(
        who: Annotated[str, Query(validation_alias=AliasChoices("who", "user"))] = "",
    ) -> str:
        return who

    @app.get("/model")
    async def model(window: Annotated[Window, Query()]) -> int:
        return window.size + window.step_s

    @app.get("/hidden", include_in_schema=False)
    async def hidden() -> str:
        return "anything goes"

    app.include_router(paged, prefix="/paged")
    return app


async def mechanism_get(url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=mechanism_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://strict") as client:
        return await client.get(url)


async def test_alias_choices_router_dependencies_and_query_models() -> None:
    for url in ("/paged/choices?who=a&from=2", "/paged/choices?user=a", "/model?size=2&step=3"):
        assert (await mechanism_get(url)).status_code == 200, url
    assert (await mechanism_get("/hidden?whatever=1")).status_code == 200
    for url, unknown in (
        ("/paged/choices?offset=1", "offset"),  # the Python name behind `from`
        ("/paged/choices?users=a", "users"),
        ("/model?step_s=3", "step_s"),
        ("/model?window=1", "window"),
    ):
        response = await mechanism_get(url)
        assert response.status_code == 422, url
        assert response.json()["error"]["details"]["unknown"] == [unknown]

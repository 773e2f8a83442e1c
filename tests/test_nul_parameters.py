"""A NUL in any text parameter of any route is a 4xx in the error shape, never a 500.

PostgreSQL text cannot hold NUL: a NUL that reaches a query makes asyncpg raise. Every path and
query parameter of type string in the OpenAPI document is tried, the others holding real values
(an existing device and stock) so the NUL gets as far as it can. The login form is in
test_auth; JSON bodies are the fuzz run's and each route's own tests' (strict models).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx

from tests.api_support import Account, Api

NUL = "nul\x00byte"


def is_text(schema: dict[str, Any]) -> bool:
    types = [schema.get("type"), *(part.get("type") for part in schema.get("anyOf", []))]
    items = [schema.get("items", {}), *(part.get("items", {}) for part in schema.get("anyOf", []))]
    return "string" in types or any(item.get("type") == "string" for item in items)


async def existing(api: Api) -> dict[str, str]:
    """Real values for every path parameter, so a request gets past its 404."""
    async with api.client(api.admin) as client:
        stock = await client.post("/api/stocks", json={"ticker": "NULT", "shared": True})
        assert stock.status_code == 201, stock.text
        device = await client.post("/api/devices", json={"device_id": "nul-probe"})
        assert device.status_code == 201, device.text
    return {
        "device_id": "nul-probe",
        "ticker": "NULT",
        "id": "1",
        "command_id": str(uuid.uuid4()),
    }


Request = tuple[str, str, dict[str, str], dict[str, Any] | None]


def requests(spec: dict[str, Any], values: dict[str, str]) -> list[Request]:
    """(method, url, query, body) with a NUL in one text parameter each; the smallest JSON body
    (`{}`) where the route takes one, so a PATCH gets as far as its path's lookup."""
    tried: list[Request] = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            parameters = [p for p in operation.get("parameters", []) if p["in"] != "header"]
            for target in parameters:
                if not is_text(target["schema"]):
                    continue
                filled = {
                    p["name"]: values.get(p["name"], "x") for p in parameters if p["required"]
                }
                filled[target["name"]] = NUL
                url = path
                query = {}
                for p in parameters:
                    if p["name"] not in filled:
                        continue
                    if p["in"] == "path":
                        url = url.replace(f"{{{p['name']}}}", quote(filled[p["name"]], safe=""))
                    else:
                        query[p["name"]] = filled[p["name"]]
                json_body = "application/json" in operation.get("requestBody", {}).get(
                    "content", {}
                )
                tried.append((method.upper(), url, query, {} if json_body else None))
    return tried


def refused(response: httpx.Response) -> bool:
    return 400 <= response.status_code < 500 and isinstance(response.json()["error"]["code"], str)


async def test_a_nul_in_any_text_parameter_is_a_4xx(api: Api) -> None:
    values = await existing(api)
    async with api.client() as client:
        spec = (await client.get("/openapi.json")).json()
    tried = requests(spec, values)
    assert len(tried) > 30  # every route's text parameters, not a handful
    user = await api.register("nul")
    accounts: list[Account] = [api.admin, user]
    for account in accounts:
        async with api.client(account) as client:
            for method, url, query, body in tried:
                # Streamed: a live stream that accepted the NUL would otherwise never end.
                async with client.stream(method, url, params=query, json=body) as response:
                    await response.aread()
                    assert refused(response), (method, url, query, body, response.text)

"""Property-based run over the whole OpenAPI schema (schemathesis), the account routes included:
no input makes the API fail with a 5xx, and every response is what the document says (status,
content type, headers, body schema). Bounded and seeded, as a plain user and as the admin."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api_support import Account, Api, login

#: Examples per operation and phase; `TICKWIRE_FUZZ_EXAMPLES=200` for a longer run by hand.
MAX_EXAMPLES = int(os.environ.get("TICKWIRE_FUZZ_EXAMPLES", "12"))
ST = Path(sys.executable).parent / "st"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


async def fuzz(api: Api, account: Account, seed: int) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(seed),
        "--workers",
        "1",  # one request at a time: the same seed gives the same run
        "--generation-database",
        "none",  # nor does a previous run's failure replay into this one
        "--header",
        f"Authorization: Bearer {account.token}",
        "--exclude-path",
        "/api/stream",  # a 200 never ends (server-sent events): covered in test_stream
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.skipif(not ST.exists() and not shutil.which("st"), reason="schemathesis missing")
@pytest.mark.parametrize(("role", "seed"), [("user", 2), ("admin", 1)])
async def test_no_input_makes_the_api_fail_or_break_its_schema(
    api: Api, role: str, seed: int
) -> None:
    """As a plain user and as the admin, each on an API of its own (two tests: the suite's
    workers run them side by side; one after the other they were its longest test, 2 min)."""
    account = await api.register("fuzz") if role == "user" else api.admin
    code, output = await fuzz(api, account, seed)
    assert code == 0, output[-8000:]


async def test_every_route_is_documented(api: Api) -> None:
    async with api.client() as client:
        spec = (await client.get("/openapi.json")).json()
        assert (await client.get("/docs")).status_code == 200
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if not operation.get("summary") or not operation.get("description")
    ]
    assert undocumented == []
    for path in ("/api/devices/{device_id}/telemetry", "/api/export/prices", "/health"):
        assert path in spec["paths"]


def error_examples(operation: dict[str, Any], status: int) -> dict[str, Any]:
    content = operation["responses"][str(status)]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    if "example" in content:
        return {"example": content["example"]}
    return {name: example["value"] for name, example in content["examples"].items()}


async def test_error_bodies_are_documented_as_sent(api: Api) -> None:
    """Every error status of every route is `ErrorBody`, fastapi-users' included, and the
    documented examples are the bodies the API sends."""
    async with api.client() as client:
        spec = (await client.get("/openapi.json")).json()
    assert not {"ErrorModel", "HTTPValidationError"} & set(spec["components"]["schemas"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (
                        method,
                        path,
                        status,
                    )
    paths = spec["paths"]
    async with api.client() as client:
        wrong = {"username": api.admin.email, "password": "wrong password"}
        for route in ("/auth/jwt/login", "/auth/cookie/login"):
            sent = (await client.post(route, data=wrong)).json()
            assert sent == error_examples(paths[route]["post"], 400)["LOGIN_BAD_CREDENTIALS"]
        short = {"email": "short@example.com", "password": "short"}
        sent = (await client.post("/auth/register", json=short)).json()
        documented = error_examples(paths["/auth/register"]["post"], 400)
        assert sent == documented["REGISTER_INVALID_PASSWORD"]
        for route in ("/auth/jwt/logout", "/auth/cookie/logout"):
            # 422: a query parameter it does not take (api/strict_query.py), as on every route.
            assert set(paths[route]["post"]["responses"]) == {"204", "401", "422"}
        again = await login(client, api.admin.email, api.admin.password, api.admin.id)
        logout = await client.post("/auth/jwt/logout", headers=again.headers)
        assert logout.status_code == 204
    async with api.client(api.admin) as client:
        sent = (await client.delete(f"/users/{api.admin.id}")).json()
        assert sent == error_examples(paths["/users/{id}"]["delete"], 409)["example"]
        sent = (await client.get("/api/watchlist", params={"page_size": 10})).json()
        for path, operations in paths.items():
            for method, operation in operations.items():
                documented = error_examples(operation, 422)
                assert documented["unknown_parameter"] == sent, (method, path)

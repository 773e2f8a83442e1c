"""What browsers are told (api/browser_policy.py): security headers on every response, the
dashboard's CSP on its pages (its inline scripts by their hashes), and CORS only for the
origins `TICKWIRE_CORS_ORIGINS` names. The CSP in a real Chromium: tests/test_dashboard_csp.py."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from api.settings import ApiSettings
from devstack.broker import Mosquitto
from tests.api_support import Api, running_api

SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL)
ALLOWED = "https://app.example"


def directives(csp: str) -> dict[str, list[str]]:
    parts = (part.split() for part in csp.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


def inline_scripts(html: str) -> list[str]:
    """The inline scripts a browser would run (not `src=`, not a JSON data element, not the
    one inside an IE conditional comment)."""
    html = re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL)
    return [
        m["body"]
        for m in SCRIPT.finditer(html)
        if "src=" not in m["attrs"] and "application/json" not in m["attrs"]
    ]


def sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


async def test_every_response_has_the_headers_and_pages_the_csp(api: Api) -> None:
    async with api.client() as client:
        responses = {
            "page": await client.get("/markets"),
            "login page": await client.get("/login"),
            "json": await client.get("/api/devices"),  # 401
            "health": await client.get("/health"),
            "docs": await client.get("/docs"),
            "asset": await client.get("/assets/tickwire.js"),
        }
    for name, response in responses.items():
        assert response.headers["X-Content-Type-Options"] == "nosniff", name
        assert response.headers["X-Frame-Options"] == "DENY", name
        assert response.headers["Referrer-Policy"] == "same-origin", name
    for name in ("json", "health", "docs", "asset"):  # no page of the dashboard's
        assert "Content-Security-Policy" not in responses[name].headers, name
    page = responses["page"]
    assert page.headers["content-type"].startswith("text/html")
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    script_src = policy["script-src"]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    # Every inline script the page carries is allowed by its hash, and nothing else is.
    scripts = inline_scripts(page.text)
    assert len(scripts) >= 2  # Dash's renderer start and its clientside callbacks
    assert sorted(sha256(script) for script in scripts) == sorted(script_src[1:])
    assert (
        responses["login page"].headers["Content-Security-Policy"]
        == (page.headers["Content-Security-Policy"])
    )


async def test_cors_is_off_by_default(api: Api) -> None:
    async with api.client(api.admin) as client:
        read = await client.get("/api/devices", headers={"Origin": ALLOWED})
        assert read.status_code == 200
        assert "Access-Control-Allow-Origin" not in read.headers
        preflight = await client.options("/api/devices", headers=preflight_headers(ALLOWED))
        assert "Access-Control-Allow-Origin" not in preflight.headers
        assert preflight.status_code == 405


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


HOSTILE_ORIGINS = (
    "https://evil.example",
    "https://app.example.evil.example",
    "https://app.example:8443",  # another port is another origin
    "http://app.example",  # and another scheme
    "HTTPS://APP.EXAMPLE",
    "null",  # a sandboxed frame or a file:// page
    "https://" + "a" * 4000,
)


async def test_cors_for_the_configured_origins_with_bearer_tokens_only(
    database_url: str, broker: Mosquitto, tmp_path: Path
) -> None:
    async with (
        running_api(database_url, broker.url, tmp_path, cors_origins=[ALLOWED]) as api,
        api.client(api.admin) as client,
    ):
        preflight = await client.options("/api/devices/x", headers=preflight_headers(ALLOWED))
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "DELETE" in preflight.headers["Access-Control-Allow-Methods"]
        allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert {"authorization", "content-type"} <= set(allowed_headers.split(", "))
        read = await client.get("/api/devices", headers={"Origin": ALLOWED})
        assert read.status_code == 200
        assert read.headers["Access-Control-Allow-Origin"] == ALLOWED
        # Never the login cookie across origins: no credentials.
        assert "Access-Control-Allow-Credentials" not in read.headers
        # Errors are readable by the consumer too, with their Retry-After and the like.
        error = await client.get("/api/devices?page_size=1", headers={"Origin": ALLOWED})
        assert error.status_code == 422
        assert error.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "Retry-After" in error.headers["Access-Control-Expose-Headers"]
        for origin in HOSTILE_ORIGINS:
            await refused_origin(client, origin)


async def refused_origin(client: httpx.AsyncClient, origin: str) -> None:
    preflight = await client.options("/api/devices", headers=preflight_headers(origin))
    assert preflight.status_code == 400, origin
    assert "Access-Control-Allow-Origin" not in preflight.headers, origin
    read = await client.get("/api/devices", headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in read.headers, origin


@pytest.mark.parametrize(
    "value",
    [
        "https://app.example/",  # a trailing slash never matches what browsers send
        "https://app.example/path",
        "app.example",
        "javascript:alert(1)",
        "https://app.example, ftp://files.example",
        "https://app example",
    ],
)
def test_an_origin_browsers_never_send_is_refused_at_start(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWIRE_CORS_ORIGINS", value)
    with pytest.raises(ValidationError, match="not an origin"):
        ApiSettings()


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        (
            " https://a.example , http://127.0.0.1:3000,http://[::1]:8",
            ["https://a.example", "http://127.0.0.1:3000", "http://[::1]:8"],
        ),
        ("", []),
        ("*", ["*"]),
    ],
)
def test_origins_are_a_comma_separated_list(
    value: str, origins: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWIRE_CORS_ORIGINS", value)
    assert ApiSettings().cors_origins == origins

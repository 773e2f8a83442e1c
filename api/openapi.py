"""Summaries for the routes fastapi-users generates, so /docs documents every route."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ACCOUNT_DOCS: dict[tuple[str, str], tuple[str, str]] = {
    ("post", "/auth/jwt/login"): (
        "Log in for a bearer token",
        "Form fields `username` (the email) and `password`; answers "
        '`{"access_token": …, "token_type": "bearer"}`. Send it as `Authorization: Bearer …`.',
    ),
    ("post", "/auth/jwt/logout"): ("Log out (bearer)", "JWTs are stateless: drop the token."),
    ("post", "/auth/cookie/login"): (
        "Log in with a cookie",
        "Same form as the bearer login; sets the `tickwire_auth` cookie the dashboard and the "
        "live stream use (same origin). 204 on success.",
    ),
    ("post", "/auth/cookie/logout"): ("Log out (cookie)", "Clears the `tickwire_auth` cookie."),
    ("post", "/auth/register"): (
        "Create an account",
        "Body `{email, password}` (at least 8 characters). New accounts are plain users; "
        "`is_superuser` and the like are ignored here.",
    ),
    ("get", "/users/me"): ("The caller's account", "Id, email and flags of the current user."),
    ("patch", "/users/me"): ("Change the caller's account", "Email and/or password."),
    ("get", "/users/{id}"): ("One account (admin)", "Superusers only."),
    ("patch", "/users/{id}"): ("Change an account (admin)", "Superusers only."),
    ("delete", "/users/{id}"): ("Delete an account (admin)", "Superusers only."),
}


def install(app: FastAPI) -> None:
    """Generate the schema once, with the account routes' summaries filled in."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for (method, path), (summary, text) in _ACCOUNT_DOCS.items():
                operation = schema["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation["summary"], operation["description"] = summary, text
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

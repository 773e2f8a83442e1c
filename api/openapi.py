"""The OpenAPI document, made to say what the API sends.

Every error leaves through api/errors.py as `ErrorBody` in JSON, but fastapi-users documents
its 400s as `{"detail": …}` and some 401/403/404s without a body, and a route with its own
media type (the live stream) would document its errors in that type. fastapi-users' logout and
cookie-login routes answer 204 where FastAPI documents 200. Here every error status becomes
`ErrorBody` in JSON (fastapi-users' examples rendered as they are sent), and each account
operation gets a summary, its real success status and the statuses tickwire adds
(409 `last_admin`, 429 `too_many_attempts` with `Retry-After`; 422 `unknown_parameter`
on every route, api/strict_query.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import last_admin
from api.error_codes import ErrorCode
from api.errors import error_body, http_error_body
from api.users import PASSWORD_RULE

ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}
UNKNOWN_EXAMPLE = error_body(
    ErrorCode.UNKNOWN_PARAMETER,
    "unknown query parameter(s): page_size; this route takes: limit, offset",
    {"unknown": ["page_size"], "allowed": ["limit", "offset"]},
)
_LAST_ADMIN = {
    "description": "Conflict: it is the last active admin.",
    "example": error_body(last_admin.CODE, last_admin.MESSAGE),
}

_THROTTLED = {
    "description": "Too many attempts: wait `Retry-After` seconds (api/throttle.py).",
    "example": error_body(
        ErrorCode.TOO_MANY_ATTEMPTS,
        "too many failed logins for this account: 10 in 15 minutes; try again later",
        {"retry_after_s": 840},
    ),
    "headers": {
        "Retry-After": {
            "description": "seconds until an attempt is allowed again",
            "schema": {"type": "integer"},
        }
    },
}
_LOGIN_RULES = (
    "The 11th failed login for one account within 15 minutes → 429 `too_many_attempts` with "
    "`Retry-After`, even with the right password, until the window passes; also after 100 "
    "failed logins from one client address in that window. A NUL in `username` → 422."
)
_LOGOUT = (
    "Revokes the token: it gets 401 from then on, on every API replica (the caller's other "
    "logins stay valid)."
)


@dataclass(frozen=True)
class AccountRoute:
    summary: str
    description: str
    no_content: bool = False
    """Answers 204 without a body (FastAPI documents its default 200)."""
    added: tuple[tuple[int, dict[str, Any]], ...] = ()
    """Statuses tickwire sends that fastapi-users does not document."""


ACCOUNT_ROUTES: dict[tuple[str, str], AccountRoute] = {
    ("post", "/auth/jwt/login"): AccountRoute(
        "Log in for a bearer token",
        "Form fields `username` (the email) and `password`; answers "
        '`{"access_token": …, "token_type": "bearer"}`. Send it as `Authorization: Bearer …`. '
        + _LOGIN_RULES,
        added=((429, _THROTTLED),),
    ),
    ("post", "/auth/jwt/logout"): AccountRoute("Log out (bearer)", _LOGOUT, no_content=True),
    ("post", "/auth/cookie/login"): AccountRoute(
        "Log in with a cookie",
        "Same form as the bearer login; sets the `tickwire_auth` cookie the dashboard and the "
        "live stream use (same origin; `HttpOnly`, `SameSite` and `Secure` per "
        "TICKWIRE_COOKIE_*). 204 on success. " + _LOGIN_RULES,
        no_content=True,
        added=((429, _THROTTLED),),
    ),
    ("post", "/auth/cookie/logout"): AccountRoute(
        "Log out (cookie)", _LOGOUT + " Clears the `tickwire_auth` cookie.", no_content=True
    ),
    ("post", "/auth/register"): AccountRoute(
        "Create an account",
        "Body `{email, password}` (at least 8 characters). New accounts are plain users; "
        "`is_superuser` and the like are ignored here. At most TICKWIRE_REGISTER_LIMIT (20) "
        "attempts per client address per TICKWIRE_REGISTER_WINDOW_S (an hour): then 429 "
        "`too_many_attempts` with `Retry-After`.",
        added=((429, _THROTTLED),),
    ),
    ("get", "/users/me"): AccountRoute(
        "The caller's account", "Id, email and flags of the current user."
    ),
    ("patch", "/users/me"): AccountRoute(
        "Change the caller's account",
        "Email and/or password; a field left out is unchanged, `null` is a 422. A new password "
        "ends every login made before it, this one included: log in again.",
    ),
    ("get", "/users/{id}"): AccountRoute("One account (admin)", "Superusers only."),
    ("patch", "/users/{id}"): AccountRoute(
        "Change an account (admin)",
        "Superusers only; a field left out is unchanged, `null` is a 422. Demoting or "
        "deactivating the last active admin → 409 `last_admin`.",
        added=((409, _LAST_ADMIN),),
    ),
    ("delete", "/users/{id}"): AccountRoute(
        "Delete an account (admin)",
        "Superusers only. Deleting the last active admin → 409 `last_admin`.",
        added=((409, _LAST_ADMIN),),
    ),
}


def install(app: FastAPI) -> None:
    """Generate the schema once: every error as `ErrorBody` in JSON (as api/errors.py sends
    it, whatever the route's own media type), the account routes described as they behave."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path, operations in schema["paths"].items():
                for method, operation in operations.items():
                    route = ACCOUNT_ROUTES.get((method, path))
                    if route is not None:
                        _describe(operation, route)
                    for status, response in operation["responses"].items():
                        if int(status) >= 400:
                            _error_content(int(status), response)
                    _unknown_parameter(operation)
            _drop_unused_schemas(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe(operation: dict[str, Any], route: AccountRoute) -> None:
    operation["summary"], operation["description"] = route.summary, route.description
    responses: dict[str, Any] = operation["responses"]
    if route.no_content:
        responses.pop("200", None)
        responses["204"] = {"description": "No Content"}
    for code, added in route.added:
        responses[str(code)] = {
            "description": added["description"],
            "content": {"application/json": {"example": added["example"]}},
        }
        if "headers" in added:
            responses[str(code)]["headers"] = added["headers"]


def _unknown_parameter(operation: dict[str, Any]) -> None:
    """Every route answers 422 `unknown_parameter` to a query parameter it does not define
    (api/strict_query.py), whether or not it has parameters of its own."""
    response = operation["responses"].setdefault("422", {"description": "Unprocessable Content"})
    response["description"] += "; `unknown_parameter`: a query parameter this route does not take"
    content = response.setdefault("content", {}).setdefault("application/json", {})
    content["schema"] = ERROR_SCHEMA
    if "example" not in content:
        content.setdefault("examples", {})["unknown_parameter"] = {"value": UNKNOWN_EXAMPLE}


def _error_content(status: int, response: dict[str, Any]) -> None:
    """`ErrorBody` in JSON as the body, fastapi-users' `{"detail": …}` examples as sent."""
    content = response.get("content", {}).get("application/json", {})
    content["schema"] = ERROR_SCHEMA
    response["content"] = {"application/json": content}
    for example in content.get("examples", {}).values():
        detail = example["value"].get("detail")
        if isinstance(detail, dict) and str(detail.get("code")).endswith("INVALID_PASSWORD"):
            detail = {**detail, "reason": PASSWORD_RULE}  # not fastapi-users' sample reason
        example["value"] = http_error_body(status, detail)


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    """fastapi-users' `ErrorModel` and FastAPI's `HTTPValidationError` are no longer used."""
    components: dict[str, Any] = schema["components"]["schemas"]
    used: set[str] = set()
    pending: list[Any] = [schema["paths"]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in used:
                    used.add(name)
                    pending.append(components.get(name))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for name in set(components) - used:
        del components[name]

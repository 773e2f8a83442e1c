"""/api/users/preferences: one JSON object of dashboard preferences per user.

The body is read here rather than by FastAPI so its size is bounded before it is parsed,
and so every way a JSON document can be unstorable (NaN, NUL, lone surrogates, deep nesting)
is a 4xx.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from api.crud.writes import commit
from api.deps import CurrentUser, SessionDep
from api.error_codes import ErrorCode
from api.errors import ApiError, ErrorBody, Invalid
from api.jsonb import unstorable
from api.models import Preferences

router = APIRouter()

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32


class TooLarge(ApiError):
    status, code = 413, "too_large"


@router.get(
    "/users/preferences",
    response_model=dict[str, Any],
    summary="The caller's dashboard preferences",
    description="A JSON object; `{}` until the first PUT.",
)
async def get_preferences(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    query = select(Preferences.preferences).where(Preferences.user_id == user.id)
    stored: dict[str, Any] | None = await session.scalar(query)
    return stored if stored is not None else {}


@router.put(
    "/users/preferences",
    response_model=dict[str, Any],
    summary="Replace the caller's dashboard preferences",
    description=(
        f"The body (a JSON object of at most {MAX_BYTES // 1024} KiB, nested at most "
        f"{MAX_DEPTH} deep) replaces what was stored and is returned. Too large → 413 "
        "`too_large`; not JSON → 422 `invalid_json`; not an object, or holding what cannot be "
        "stored (NUL characters) → 422 `invalid_preferences`."
    ),
    responses={413: {"model": ErrorBody, "description": "too large"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def put_preferences(
    request: Request, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    preferences = parse_preferences(await _bounded_body(request))
    upsert = insert(Preferences).values(user_id=user.id, preferences=preferences)
    upsert = upsert.on_conflict_do_update(
        index_elements=[Preferences.user_id],
        set_={"preferences": upsert.excluded.preferences, "updated_at": func.now()},
    )
    stored: dict[str, Any] = (
        await session.execute(upsert.returning(Preferences.preferences))
    ).scalar_one()
    await commit(session)
    return stored


async def _bounded_body(request: Request) -> bytes:
    """The request body, refused (413) as soon as it exceeds MAX_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise _too_large()
    return bytes(body)


def _too_large() -> TooLarge:
    return TooLarge(f"preferences are limited to {MAX_BYTES} bytes")


def parse_preferences(body: bytes) -> dict[str, Any]:
    """The JSON object in `body`, checked to be storable as PostgreSQL jsonb."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise Invalid(
            f"the body is not valid JSON: {str(exc)[:200]}", code=ErrorCode.INVALID_JSON
        ) from None
    if not isinstance(value, dict):
        raise Invalid("preferences must be a JSON object", code=ErrorCode.INVALID_PREFERENCES)
    _check_storable(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is out of range")
    return number


def _check_storable(document: dict[str, Any]) -> None:
    """Invalid unless every string is storable (no NUL, valid UTF-8) and nesting is bounded."""
    problem = unstorable(document, MAX_DEPTH)
    if problem is not None:
        raise Invalid(f"preferences {problem}", code=ErrorCode.INVALID_PREFERENCES)

"""One JSON error shape with stable machine-readable codes, translated at the edge.

`{"error": {"code": "not_found", "message": "…", "details": …}}` for every 4xx and 5xx,
including FastAPI's validation errors and fastapi-users' own codes (lower-cased).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.db import unavailable
from api.error_codes import ErrorCode

log = logging.getLogger("api.errors")

_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_ERROR,
    429: ErrorCode.TOO_MANY_REQUESTS,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}
_UPPER_CODE = re.compile(r"[A-Z][A-Z0-9_]+")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


#: `responses=` for routers, so the OpenAPI schema documents the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")}
    for status, code in _STATUS_CODES.items()
    if status in (400, 401, 403, 404, 409, 422, 503)
}


class ApiError(Exception):
    """A caller's mistake or a refused action: raised by routes, rendered by the handler."""

    status = 400
    code: str = ErrorCode.BAD_REQUEST

    def __init__(self, message: str, *, code: ErrorCode | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers: dict[str, str] = {}
        if code is not None:
            self.code = code


class NotFound(ApiError):
    status, code = 404, ErrorCode.NOT_FOUND


class Forbidden(ApiError):
    status, code = 403, ErrorCode.FORBIDDEN


class Conflict(ApiError):
    status, code = 409, ErrorCode.CONFLICT


class Invalid(ApiError):
    status, code = 422, ErrorCode.VALIDATION_ERROR


class NotAcceptable(ApiError):
    status, code = 406, ErrorCode.NOT_ACCEPTABLE


class BrokerDown(ApiError):
    """The broker did not take a command or an account change (`tickwire.mqtt.BrokerUnavailable`
    and the broker admin's errors, translated)."""

    status, code = 503, ErrorCode.BROKER_UNAVAILABLE


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error shape (`ErrorBody`) as JSON."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(jsonable_encoder(error_body(code, message, details)), status_code=status)


def http_error_body(status: int, detail: Any) -> dict[str, Any]:
    """The body sent for an HTTPException with `detail` (fastapi-users' codes lower-cased);
    api/openapi.py documents fastapi-users' examples with it."""
    if isinstance(detail, str) and _UPPER_CODE.fullmatch(detail):
        return error_body(detail.lower(), detail.replace("_", " ").lower())
    if isinstance(detail, dict) and isinstance(detail.get("code"), str):
        raw = str(getattr(detail["code"], "value", detail["code"]))
        return error_body(raw.lower(), str(detail.get("reason", raw)))
    code = _STATUS_CODES.get(status, "error")
    return error_body(code, detail if isinstance(detail, str) else code.replace("_", " "))


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    response.headers.update(exc.headers)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    return error_response(422, ErrorCode.VALIDATION_ERROR, "the request is not valid", details)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    body = http_error_body(exc.status_code, exc.detail)
    response = JSONResponse(jsonable_encoder(body), status_code=exc.status_code)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, ErrorCode.INTERNAL_ERROR, "an internal error occurred")


#: Seconds a client is asked to wait after `database_unavailable`.
DATABASE_RETRY_AFTER_S = 5


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """503 `database_unavailable` when the database did not answer in time, refused or dropped
    the connection (api/db.py); any other error of these types is a bug: 500."""
    reason = unavailable(exc)
    if reason is None:
        return await _unexpected(request, exc)
    log.warning("%s %s: %s (%s)", request.method, request.url.path, reason, type(exc).__name__)
    response = error_response(503, ErrorCode.DATABASE_UNAVAILABLE, reason)
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # What a stalled or unreachable database raises (TimeoutError is an OSError).
    for kind in (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, SQLAlchemyError):
        app.add_exception_handler(kind, _database_error)
    app.add_exception_handler(Exception, _unexpected)

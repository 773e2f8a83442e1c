"""Database access for the API: an asyncpg pool for the hot paths, SQLAlchemy for CRUD.

Both are bounded in time, so that a stalled or unreachable server costs a request seconds, not
forever: taking a connection (from the pool or a new one) waits at most `db_timeout_s`, a CRUD
or login statement runs at most `db_timeout_s`, a history / stats / export statement at most
`db_query_timeout_s` (client side, and as the server's `statement_timeout`). What that raises
is recognised by `unavailable()` and answered 503 `database_unavailable` (api/errors.py).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from api.settings import ApiSettings

_DRIVERS = tuple(str(Path(module.__file__ or "").parent) for module in (asyncpg, sqlalchemy))


def async_url(url: str) -> str:
    """postgresql://… as SQLAlchemy's asyncpg URL (unix-socket `?host=` is kept)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _server_settings(timeout_s: float) -> dict[str, str]:
    return {"statement_timeout": str(int(timeout_s * 1000))}


class Pool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg is untyped
    """An asyncpg pool whose `acquire()` waits at most `acquire_timeout` by default; asyncpg
    applies the same bound to the release (which may wait for a cancelled statement)."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(url: str, settings: ApiSettings) -> asyncpg.Pool:
    pool = Pool(
        url,
        acquire_timeout=settings.db_timeout_s,
        min_size=1,
        max_size=settings.db_pool_max,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=settings.db_timeout_s,  # connecting
        command_timeout=settings.db_query_timeout_s,
        server_settings=_server_settings(settings.db_query_timeout_s),
    )
    return await pool


def create_engine(url: str, pool_size: int, timeout_s: float | None = None) -> AsyncEngine:
    """The SQLAlchemy engine; with `timeout_s`, checkout, connect and statements bounded."""
    if timeout_s is None:
        return create_async_engine(async_url(url), pool_size=pool_size, pool_pre_ping=True)
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        pool_pre_ping=True,
        pool_timeout=timeout_s,
        connect_args={
            "timeout": timeout_s,
            "command_timeout": timeout_s,
            "server_settings": _server_settings(timeout_s),
        },
    )


def session_maker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


def unavailable(exc: BaseException) -> str | None:
    """Why the database could not serve this request, when `exc` (or what it wraps) says it
    did not answer, refused or dropped the connection, or ran past a timeout; None for any
    other error (a bug stays a 500)."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        reason = _reason(seen)
        if reason:
            return reason
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return None


def _reason(exc: BaseException) -> str | None:
    if isinstance(exc, sqlalchemy.exc.TimeoutError):
        return "no database connection was free in time"
    if isinstance(exc, asyncpg.QueryCanceledError):
        return "the statement ran past its timeout"
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError):
        return f"the database connection failed ({type(exc).__name__})"
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return "the database connection was closed"
    if isinstance(exc, OSError) and _raised_in_driver(exc.__traceback__):
        if isinstance(exc, TimeoutError):
            return "the database did not answer in time"
        return f"the database is unreachable ({type(exc).__name__})"
    return None


def _raised_in_driver(traceback: TracebackType | None) -> bool:
    """Raised inside asyncpg or SQLAlchemy (an OSError elsewhere is not the database's)."""
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename.startswith(_DRIVERS):
            return True
        traceback = traceback.tb_next
    return False

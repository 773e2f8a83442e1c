"""Database access for the API: an asyncpg pool for the hot paths, SQLAlchemy for CRUD."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """postgresql://… as SQLAlchemy's asyncpg URL (unix-socket `?host=` is kept)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def create_engine(url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(async_url(url), pool_size=pool_size, pool_pre_ping=True)


def session_maker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)

"""Which backend a database is: detected once at migration time, then kept in schema_info."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Connection, text

Backend = Literal["postgres", "timescaledb"]


def recorded(conn: Connection) -> Backend | None:
    """The backend the schema was created for, or None before the first migration."""
    exists = conn.execute(text("SELECT to_regclass('schema_info') IS NOT NULL")).scalar_one()
    if not exists:
        return None
    value = conn.execute(text("SELECT value FROM schema_info WHERE key = 'backend'")).scalar()
    return None if value is None else _checked(value)


def detect(conn: Connection, wanted: str) -> Backend:
    """`wanted` is auto|postgres|timescaledb; auto takes TimescaleDB when the server offers it."""
    if wanted != "auto":
        return _checked(wanted)
    # Installed files are not enough: CREATE EXTENSION fails unless the library is preloaded,
    # and an Apache-2-only build has no continuous aggregates or policies.
    usable = conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
            " AND strpos(current_setting('shared_preload_libraries'), 'timescaledb') > 0"
            " AND coalesce(current_setting('timescaledb.license', true), 'timescale')"
            " = 'timescale'"
        )
    ).scalar_one()
    return "timescaledb" if usable else "postgres"


def _checked(value: str) -> Backend:
    if value == "postgres":
        return "postgres"
    if value == "timescaledb":
        return "timescaledb"
    raise ValueError(f"unknown database backend {value!r} (auto, postgres or timescaledb)")

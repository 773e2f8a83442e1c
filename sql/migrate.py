"""`python -m sql upgrade|current`: apply the schema to the configured database.

Re-runnable: alembic records what is applied, and the TimescaleDB retention policy (a setting,
not a revision) is re-applied on every run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import field_validator
from sqlalchemy import Connection, create_engine, text

from sql import backend
from tickwire.logs import setup_logging
from tickwire.settings import CommonSettings

log = logging.getLogger("sql")

#: The 1-day rollup policy refreshes 30 days back; raw data must outlive that window.
MIN_RETENTION_DAYS = 31


class MigrateSettings(CommonSettings):
    db_backend: str = "auto"
    retention_days: int = 0
    """Drop raw rows older than this many days (TimescaleDB only); 0 keeps everything."""

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value and value < MIN_RETENTION_DAYS:
            raise ValueError(f"retention_days must be 0 or >= {MIN_RETENTION_DAYS}")
        return value


def sqlalchemy_url(url: str) -> str:
    """postgresql://… as SQLAlchemy's psycopg 3 URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def upgrade(database_url: str, wanted_backend: str = "auto", retention_days: int = 0) -> str:
    """Apply every revision; return the backend the database runs."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            chosen = backend.recorded(conn) or backend.detect(conn, wanted_backend)
            conn.commit()
            config = _config(conn, chosen)
            command.upgrade(config, "head")
            if chosen == "timescaledb":
                _apply_retention(conn, retention_days)
            conn.commit()
        return chosen
    finally:
        engine.dispose()


def current(database_url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision of this package's scripts."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    return ScriptDirectory.from_config(config).get_current_head()


def _config(conn: Connection, chosen: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    config.attributes["backend"] = chosen
    return config


def _apply_retention(conn: Connection, days: int) -> None:
    for table in ("prices", "telemetry"):
        conn.execute(text(f"SELECT remove_retention_policy('{table}', if_exists => TRUE)"))
        if days:
            conn.execute(
                text(f"SELECT add_retention_policy('{table}', make_interval(days => :d))"),
                {"d": days},
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sql", description=__doc__)
    parser.add_argument("action", nargs="?", default="upgrade", choices=["upgrade", "current"])
    args = parser.parse_args(argv)
    settings = MigrateSettings()
    setup_logging("sql", settings.log_level)
    url = settings.resolved_database_url()
    if args.action == "current":
        print(current(url) or "empty")
        return 0
    chosen = upgrade(url, settings.db_backend, settings.retention_days)
    log.info("schema at head on %s (%s)", chosen, _redacted(url))
    return 0


def _redacted(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    return f"{head.split(':')[0]}://…@{tail}" if sep else url

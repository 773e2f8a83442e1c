"""`python -m sql upgrade|current`: apply the schema to the configured database.

Re-runnable: alembic records what is applied, and the TimescaleDB retention and compression
policies (settings, not revisions: `sql.policies`) are re-applied on every run.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import field_validator, model_validator
from sqlalchemy import Connection, create_engine

from sql import backend
from sql.policies import DEFAULT_COMPRESS_DAYS, Policies, apply, default_1m_retention
from tickwire.logs import setup_logging
from tickwire.settings import CommonSettings

log = logging.getLogger("sql")


class MigrateSettings(CommonSettings):
    db_backend: str = "auto"
    retention_days: int = 0
    """Drop raw rows older than this many days (TimescaleDB only); 0 keeps everything."""
    retention_1m_days: int | None = None
    """Drop 1-minute rollups older than this; unset: 0 (keep) while raw rows are kept, else
    max(retention_days, 365). Each level must outlive the one below (`sql.policies`)."""
    retention_1h_days: int = 0
    retention_1d_days: int = 0
    compress_1m_after_days: int = DEFAULT_COMPRESS_DAYS["1m"]
    """Compress 1-minute rollups older than this many days (TimescaleDB only); 0 never."""
    compress_1h_after_days: int = DEFAULT_COMPRESS_DAYS["1h"]
    compress_1d_after_days: int = DEFAULT_COMPRESS_DAYS["1d"]

    @field_validator("retention_1m_days", mode="before")
    @classmethod
    def _unset(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset variable as ""

    @model_validator(mode="after")
    def _policies(self) -> MigrateSettings:
        self.policies()  # refuses inconsistent days
        return self

    def policies(self) -> Policies:
        one_minute = self.retention_1m_days
        if one_minute is None:
            one_minute = default_1m_retention(self.retention_days)
        return Policies(
            retention={
                "raw": self.retention_days,
                "1m": one_minute,
                "1h": self.retention_1h_days,
                "1d": self.retention_1d_days,
            },
            compress={
                "1m": self.compress_1m_after_days,
                "1h": self.compress_1h_after_days,
                "1d": self.compress_1d_after_days,
            },
        )


def sqlalchemy_url(url: str) -> str:
    """postgresql://… as SQLAlchemy's psycopg 3 URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def upgrade(
    database_url: str,
    wanted_backend: str = "auto",
    policies: Policies | None = None,
    revision: str = "head",
) -> str:
    """Apply the revisions up to `revision`; return the backend the database runs."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            chosen = backend.recorded(conn) or backend.detect(conn, wanted_backend)
            conn.commit()
            config = _config(conn, chosen)
            command.upgrade(config, revision)
            if chosen == "timescaledb" and revision == "head":
                apply(conn, policies or Policies())
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
    chosen = upgrade(url, settings.db_backend, settings.policies())
    log.info("schema at head on %s (%s)", chosen, _redacted(url))
    return 0


def _redacted(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    return f"{head.split(':')[0]}://…@{tail}" if sep else url

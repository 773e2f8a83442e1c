"""Reading the SQL files of this package, and running TimescaleDB's one statement at a time."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

SQL_DIR = Path(__file__).parent
#: TimescaleDB's background jobs change its catalog rows too: a refresh policy running on an
#: aggregate a statement drops ends that statement with "tuple concurrently deleted" (XX000).
#: The job is cancelled by then, and each statement is re-runnable, so it is simply run again.
#: A job holding a lock the statement needs while waiting for one the statement holds is a
#: deadlock, which PostgreSQL ends by rolling one of them back: when that is the statement,
#: it is run again as well.
CONCURRENT_CATALOG_CHANGE = (
    "tuple concurrently deleted",
    "tuple concurrently updated",
    "deadlock detected",
)
ATTEMPTS = 5
FIRST_PAUSE_S = 0.2


def read(name: str) -> str:
    return (SQL_DIR / name).read_text()


def statements(name: str) -> list[str]:
    """Statements of a file written one per block, blocks separated by a line holding ';'."""
    blocks = read(name).split("\n;\n")
    return [b.strip() for b in blocks if b.strip() and not _only_comments(b)]


def execute_each(bind: Connection, each: Iterable[str]) -> None:
    """Run statements one by one outside a transaction (in an alembic `autocommit_block`), a
    statement that met a background job's concurrent catalog change run again after a pause."""
    for statement in each:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                bind.exec_driver_sql(statement)
                break
            except DBAPIError as error:
                if attempt == ATTEMPTS or not _met_a_job(error):
                    raise
                time.sleep(FIRST_PAUSE_S * 2 ** (attempt - 1))


def _met_a_job(error: DBAPIError) -> bool:
    return any(message in str(error.orig) for message in CONCURRENT_CATALOG_CHANGE)


def _only_comments(block: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in block.splitlines())

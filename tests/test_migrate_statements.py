"""TimescaleDB's statements run one at a time outside a transaction, and its background jobs may
change a catalog row under one of them (a refresh policy running on an aggregate the upgrade
drops: "tuple concurrently deleted"). Such a statement is run again; any other error is not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import DBAPIError

from sql.files import ATTEMPTS, execute_each
from sql.migrate import sqlalchemy_url


def failing(times: int, message: str) -> str:
    """A statement that fails its first `times` runs with `message` as XX000, then inserts a row
    (the sequence counts runs: it is not rolled back with the failed statement)."""
    return f"""DO $$ BEGIN
        IF nextval('tw_runs') <= {times} THEN
            RAISE EXCEPTION '{message}' USING ERRCODE = 'XX000';
        END IF;
        INSERT INTO tw_done VALUES (1);
    END $$"""


@pytest.fixture
def autocommit(database_url: str) -> Iterator[Connection]:
    engine = create_engine(sqlalchemy_url(database_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SEQUENCE IF EXISTS tw_runs; CREATE SEQUENCE tw_runs")
        conn.exec_driver_sql("DROP TABLE IF EXISTS tw_done; CREATE TABLE tw_done (n int)")
        yield conn
        conn.exec_driver_sql("DROP SEQUENCE tw_runs; DROP TABLE tw_done")
    engine.dispose()


def runs(conn: Connection) -> tuple[int, int]:
    done = conn.exec_driver_sql("SELECT count(*) FROM tw_done").scalar_one()
    ran = conn.exec_driver_sql("SELECT last_value FROM tw_runs").scalar_one()
    return int(ran), int(done)


@pytest.mark.parametrize(
    "message", ["tuple concurrently deleted", "tuple concurrently updated", "deadlock detected"]
)
def test_a_statement_a_background_job_got_in_the_way_of_runs_again(
    autocommit: Connection, message: str
) -> None:
    execute_each(autocommit, [failing(2, message), "INSERT INTO tw_done VALUES (2)"])
    assert runs(autocommit) == (3, 2)  # two failures, the third run and the next statement


def test_it_gives_up_after_its_attempts(autocommit: Connection) -> None:
    with pytest.raises(DBAPIError, match="concurrently deleted"):
        execute_each(autocommit, [failing(ATTEMPTS, "tuple concurrently deleted")])
    assert runs(autocommit) == (ATTEMPTS, 0)


def test_any_other_error_is_raised_at_once(autocommit: Connection) -> None:
    with pytest.raises(DBAPIError, match="division by zero"):
        execute_each(autocommit, ["SELECT 1 / 0", "INSERT INTO tw_done VALUES (2)"])
    with pytest.raises(DBAPIError, match="relation is locked"):
        execute_each(autocommit, [failing(1, "relation is locked")])
    assert runs(autocommit) == (1, 0)

"""Rollups that are never lost (issue 12): pending refresh windows on both backends; on
TimescaleDB the continuous aggregates rebuilt (avg = sum / count, open / close by
(time, source), a chunk interval per level, compression) keeping the history retention already
dropped from raw; on plain PostgreSQL the rollups' open / close ties broken by source.

Revision ID: 0004
"""

from alembic import context, op

from sql.files import execute_each, read, statements

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(read("0004_rollups.sql"))
    if context.config.attributes["backend"] == "timescaledb":
        with context.get_context().autocommit_block():
            execute_each(bind, statements("timescaledb/0004_rollups.sql"))
    else:
        bind.exec_driver_sql(read("postgres/0004_rollups.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""Initial schema: core tables, raw series and their 1m/1h/1d rollups.

Revision ID: 0001
"""

from alembic import context, op

from sql.files import execute_each, read, statements

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    backend = context.config.attributes["backend"]
    bind = op.get_bind()
    bind.exec_driver_sql(read("0001_core.sql"))
    bind.exec_driver_sql(
        "INSERT INTO schema_info (key, value) VALUES ('backend', %(b)s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {"b": backend},
    )
    if backend == "timescaledb":
        bind.exec_driver_sql(read("timescaledb/0001_hypertables.sql"))
        with context.get_context().autocommit_block():
            execute_each(bind, statements("timescaledb/0001_rollups.sql"))
    else:
        bind.exec_driver_sql(read("postgres/0001_rollups.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""Rollup partials appended by batches and merged by the ingester (issue 20); both backends.
On plain PostgreSQL the rollup tables keep room for in-place (HOT) updates.

Revision ID: 0012
"""

from alembic import context, op

from sql.files import read

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(read("0012_rollup_delta.sql"))
    if context.config.attributes["backend"] != "timescaledb":
        bind.exec_driver_sql(read("postgres/0012_rollups.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""Rollup partials appended by batches and merged by the ingester (issue 20); both backends.

Revision ID: 0012
"""

from alembic import op

from sql.files import read

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0012_rollup_delta.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

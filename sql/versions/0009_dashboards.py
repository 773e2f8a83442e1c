"""Dashboards users build (issue 17); both backends.

Revision ID: 0009
"""

from alembic import op

from sql.files import read

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0009_dashboards.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""Portfolios and their transactions (issue 16); both backends.

Revision ID: 0008
"""

from alembic import op

from sql.files import read

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0008_portfolios.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

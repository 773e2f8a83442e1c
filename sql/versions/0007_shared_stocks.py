"""Stocks are shared market data (issue 14): the owner column of stocks goes, so the stocks
users added become readable by everyone; both backends.

Revision ID: 0007
"""

from alembic import op

from sql.files import read

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0007_shared_stocks.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

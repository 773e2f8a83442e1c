"""The alert vocabulary in the database (issue 13): CHECK constraints on the kinds of alerts and
rules (`tickwire.alert_kinds`) and the states of an alert's history; both backends.

Revision ID: 0005
"""

from alembic import op

from sql.files import read

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0005_alert_kinds.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

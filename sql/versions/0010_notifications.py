"""Notification channels, silences and the delivery outbox (issue 18); both backends.

Revision ID: 0010
"""

from alembic import op

from sql.files import read

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0010_notifications.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

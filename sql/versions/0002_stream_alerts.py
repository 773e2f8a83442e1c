"""Live stream journal, per-owner alerts, configuration-change notifications.

Revision ID: 0002
"""

from alembic import op

from sql.files import read

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0002_stream_alerts.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

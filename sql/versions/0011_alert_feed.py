"""The alert engine's feed, cursor and threshold runs; ingesters' heartbeats (issue 19).

Revision ID: 0011
"""

from alembic import op

from sql.files import read

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0011_alert_feed.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""The `devices` table keeps room in its pages for in-place (HOT) updates of last_seen and
status (issue 20); both backends.

Revision ID: 0014
"""

from alembic import op

from sql.files import read

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0014_devices_fillfactor.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""Device changes notify the alert engine and the writers per row, naming the device (issue 20).

Revision ID: 0013
"""

from alembic import op

from sql.files import read

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0013_device_config_rows.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

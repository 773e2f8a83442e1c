"""Dead-letter bounds and replay, device-id tombstones (issue 11).

Revision ID: 0003
"""

from alembic import op

from sql.files import read

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0003_hardening.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

"""Sessions, throttles and the audit log (issue 14): revoked tokens, throttle events (failed
logins per account, registrations per address) and `audit_log`; both backends.

Revision ID: 0006
"""

from alembic import op

from sql.files import read

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(read("0006_sessions.sql"))


def downgrade() -> None:
    raise NotImplementedError("tickwire migrations are forward-only")

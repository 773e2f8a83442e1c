"""What the audit log records, defined once: the API writes and lists these actions, the
dashboard's audit page offers them, and the database refuses any other (the CHECK constraint
of schema revision 0006, `sql/0006_sessions.sql`)."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    LOGIN_FAILED = "login_failed"
    """A wrong password for an existing account (names that are no account are not written)."""
    ACCOUNT_LOCKED = "account_locked"
    """That failure filled the account's window: its logins are refused until it passes."""
    LOCKOUT_CLEARED = "lockout_cleared"
    """An admin cleared an account's failed logins."""
    LOGOUT = "logout"
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_CHANGED = "account_changed"
    """Email or flags changed (the flags' new values in `details`)."""
    ACCOUNT_DELETED = "account_deleted"
    DEVICE_CREDENTIALS_ISSUED = "device_credentials_issued"
    """A device's MQTT password rotated (the old one stops working)."""
    DEVICE_DELETED = "device_deleted"
    STOCK_ADDED = "stock_added"
    """An admin added a stock (market data every user reads)."""
    STOCK_CHANGED = "stock_changed"
    """An admin changed a stock's description (the fields in `details`)."""
    STOCK_DELETED = "stock_deleted"
    DEAD_LETTER_REPLAYED = "dead_letter_replayed"
    """An admin asked for a dead letter's replay (its topic and reason in `details`)."""

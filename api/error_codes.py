"""Every `error.code` the API answers with: stable, machine-readable, documented once.

Routes raise `api.errors` exceptions with one of these; clients may rely on the values (they
are the strings on the wire). fastapi-users' own codes (`register_user_already_exists`, …) come
lower-cased from its exceptions and are not listed here.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # Generic, one per HTTP status (also what FastAPI's and Starlette's own errors become).
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    REQUEST_TIMEOUT = "request_timeout"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_ERROR = "validation_error"
    TOO_MANY_REQUESTS = "too_many_requests"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    DATABASE_UNAVAILABLE = "database_unavailable"
    BROKER_UNAVAILABLE = "broker_unavailable"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    # 404: absent, or not readable by the caller (api/access.py: the two look alike).
    DEVICE_NOT_FOUND = "device_not_found"
    STOCK_NOT_FOUND = "stock_not_found"
    ALERT_NOT_FOUND = "alert_not_found"
    ALERT_RULE_NOT_FOUND = "alert_rule_not_found"
    COMMAND_NOT_FOUND = "command_not_found"
    DEAD_LETTER_NOT_FOUND = "dead_letter_not_found"
    WATCHLIST_ENTRY_NOT_FOUND = "watchlist_entry_not_found"
    LOCKOUT_NOT_FOUND = "lockout_not_found"
    PORTFOLIO_NOT_FOUND = "portfolio_not_found"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    NOTIFICATION_CHANNEL_NOT_FOUND = "notification_channel_not_found"
    SILENCE_NOT_FOUND = "silence_not_found"
    DASHBOARD_NOT_FOUND = "dashboard_not_found"
    # 409: the change conflicts with what is stored.
    DEVICE_EXISTS = "device_exists"
    STOCK_EXISTS = "stock_exists"
    USERNAME_TAKEN = "username_taken"
    DEVICE_ID_RETIRED = "device_id_retired"
    ALERT_CLEARED = "alert_cleared"
    CONCURRENT_CHANGE = "concurrent_change"
    LAST_ADMIN = "last_admin"
    DASHBOARD_EXISTS = "dashboard_exists"
    VERSION_CONFLICT = "version_conflict"
    # 429: throttled (api/throttle.py), with Retry-After.
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # 403: only an admin may.
    OWNER_ADMIN_ONLY = "owner_admin_only"
    SHARED_STOCK_ADMIN_ONLY = "shared_stock_admin_only"
    # 403: a dashboard the caller may view but not change (shared with them, or provisioned).
    DASHBOARD_READ_ONLY = "dashboard_read_only"
    # 422: a parameter or body the server refuses.
    INVALID_ALERT_RULE = "invalid_alert_rule"
    INVALID_CHANNEL = "invalid_channel"
    INVALID_WEBHOOK_URL = "invalid_webhook_url"
    EMAIL_NOT_CONFIGURED = "email_not_configured"
    INSUFFICIENT_QUANTITY = "insufficient_quantity"
    INVALID_FORMAT = "invalid_format"
    INVALID_INDICATOR = "invalid_indicator"
    INVALID_INTERVAL = "invalid_interval"
    INVALID_JSON = "invalid_json"
    INVALID_KIND = "invalid_kind"
    INVALID_LAST_EVENT_ID = "invalid_last_event_id"
    INVALID_METRIC = "invalid_metric"
    INVALID_PREFERENCES = "invalid_preferences"
    INVALID_RANGE = "invalid_range"
    INVALID_TIME = "invalid_time"
    INVALID_WINDOW = "invalid_window"
    PAYLOAD_TRUNCATED = "payload_truncated"
    POINTS_AND_INTERVAL = "points_and_interval"
    TOO_MANY_POINTS = "too_many_points"
    TOO_MANY_SUBJECTS = "too_many_subjects"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_OWNER = "unknown_owner"
    UNKNOWN_PARAMETER = "unknown_parameter"
    UNKNOWN_TICKER = "unknown_ticker"
    UNKNOWN_USER = "unknown_user"

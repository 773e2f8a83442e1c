-- Issue 14: sessions that can be ended, throttled logins and registrations, an audit log.
-- Portable (plain tables on both backends). Applied by sql/versions/0006_sessions.py.
-- An applied file is never edited: add a revision.

-- A token ended by logout (api/sessions.py): refused until it would have expired anyway, on
-- every API replica, since each request looks its `jti` up here. Rows past `expires_at` are
-- purged as new ones come.
CREATE TABLE revoked_tokens (
    jti        uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);

-- A password change ends every login made before it: tokens issued (`iat`) before this time
-- are refused. NULL: none refused this way.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;

-- Counted events of the throttles (api/throttle.py), one row per event, kept for one window:
-- `login_failure` keyed by account (its id, or a digest of a name that is no account) and
-- `registration` keyed by client address. Shared by every API replica.
CREATE TABLE throttle_events (
    id    bigserial PRIMARY KEY,
    scope text NOT NULL CHECK (scope IN ('login_failure', 'registration')),
    key   text NOT NULL CHECK (length(key) <= 200),
    at    timestamptz NOT NULL
);
CREATE INDEX throttle_events_key ON throttle_events (scope, key, at);
CREATE INDEX throttle_events_age ON throttle_events (scope, at);

-- Who did what to accounts, credentials and devices (api/audit.py). Never a password, a
-- token or a login name that matched no account (it may be a mistyped password).
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    action   text NOT NULL CHECK (action IN (
                 'login_failed', 'account_locked', 'lockout_cleared', 'logout',
                 'password_changed', 'account_changed', 'account_deleted',
                 'device_credentials_issued', 'device_deleted', 'stock_added',
                 'stock_changed', 'stock_deleted', 'dead_letter_replayed')),
    actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
    actor    text,
    subject  text,
    address  text,
    details  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_action ON audit_log (action, id);

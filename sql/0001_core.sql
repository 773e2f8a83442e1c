-- tickwire core schema, portable (plain PostgreSQL >= 15 and TimescaleDB alike).
-- Applied by sql/versions/0001_initial.py. An applied file is never edited: add a revision.

CREATE TABLE IF NOT EXISTS schema_info (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- fastapi-users' SQLAlchemyBaseUserTableUUID columns, under a non-reserved name.
CREATE TABLE IF NOT EXISTS users (
    id              uuid PRIMARY KEY,
    email           varchar(320) NOT NULL,
    hashed_password varchar(1024) NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    is_superuser    boolean NOT NULL DEFAULT false,
    is_verified     boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (lower(email));

CREATE TABLE IF NOT EXISTS user_preferences (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS devices (
    device_id         text PRIMARY KEY,
    name              text NOT NULL,
    kind              text NOT NULL DEFAULT 'sensor',
    owner_id          uuid REFERENCES users (id) ON DELETE SET NULL,
    status            text NOT NULL DEFAULT 'UNKNOWN'
                      CHECK (status IN ('ONLINE', 'OFFLINE', 'UNKNOWN')),
    last_seen         timestamptz,
    offline_timeout_s double precision NOT NULL DEFAULT 10 CHECK (offline_timeout_s > 0),
    auto_registered   boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devices_owner ON devices (owner_id);

CREATE TABLE IF NOT EXISTS stocks (
    ticker     text PRIMARY KEY,
    name       text,
    exchange   text,
    currency   text,
    owner_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The tickers a device (a price feed) monitors.
CREATE TABLE IF NOT EXISTS device_tickers (
    device_id text NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    ticker    text NOT NULL REFERENCES stocks (ticker) ON DELETE CASCADE,
    PRIMARY KEY (device_id, ticker)
);
CREATE INDEX IF NOT EXISTS device_tickers_ticker ON device_tickers (ticker);

CREATE TABLE IF NOT EXISTS watchlist (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ticker      text NOT NULL REFERENCES stocks (ticker) ON DELETE CASCADE,
    alert_above double precision,
    alert_below double precision,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, ticker)
);

CREATE TABLE IF NOT EXISTS alert_rules (
    id          bigserial PRIMARY KEY,
    owner_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL,             -- HIGH_TEMP, OFFLINE, PRICE_MOVE, THRESHOLD, ...
    device_id   text REFERENCES devices (device_id) ON DELETE CASCADE,
    ticker      text REFERENCES stocks (ticker) ON DELETE CASCADE,
    metric      text,
    operator    text CHECK (operator IN ('>', '>=', '<', '<=')),
    threshold   double precision,
    duration_s  double precision NOT NULL DEFAULT 0,
    window_s    double precision,
    hysteresis  double precision NOT NULL DEFAULT 0,
    severity    text NOT NULL DEFAULT 'warning' CHECK (severity IN ('info', 'warning', 'critical')),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_rules_owner ON alert_rules (owner_id);

CREATE TABLE IF NOT EXISTS alerts (
    id         bigserial PRIMARY KEY,
    rule_id    bigint REFERENCES alert_rules (id) ON DELETE SET NULL,
    kind       text NOT NULL,
    subject    text NOT NULL,               -- a device id or a ticker
    device_id  text,
    ticker     text,
    severity   text NOT NULL DEFAULT 'warning',
    state      text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'ACKED', 'CLEARED')),
    message    text NOT NULL DEFAULT '',
    value      double precision,
    raised_at  timestamptz NOT NULL DEFAULT now(),
    acked_at   timestamptz,
    acked_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    cleared_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- One active (ACTIVE or ACKED) alert per (rule, subject); rule-less built-ins key on kind.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open
    ON alerts (kind, coalesce(rule_id, 0), subject) WHERE state <> 'CLEARED';
CREATE INDEX IF NOT EXISTS alerts_device ON alerts (device_id, raised_at);
CREATE INDEX IF NOT EXISTS alerts_ticker ON alerts (ticker, raised_at);

-- Every state change of an alert, in order.
CREATE TABLE IF NOT EXISTS alert_events (
    id       bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    state    text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    detail   text
);

CREATE TABLE IF NOT EXISTS device_commands (
    id         uuid PRIMARY KEY,
    device_id  text NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    command    text NOT NULL,
    args       jsonb NOT NULL DEFAULT '{}'::jsonb,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'error', 'timeout')),
    detail     text,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    acked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS device_commands_device ON device_commands (device_id, created_at);

-- Payloads the ingester could not accept: kept whole, with the reason.
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, received_at);

-- Counters of each ingester instance, updated in the transaction of every batch it commits.
CREATE TABLE IF NOT EXISTS ingest_status (
    instance        text PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    last_commit_at  timestamptz,
    received        bigint NOT NULL DEFAULT 0,
    committed_rows  bigint NOT NULL DEFAULT 0,
    duplicates      bigint NOT NULL DEFAULT 0,
    dead_lettered   bigint NOT NULL DEFAULT 0,
    batches         bigint NOT NULL DEFAULT 0,
    batch_seconds   double precision NOT NULL DEFAULT 0
);

-- Raw time series. Natural keys make redelivered and replayed messages idempotent.
CREATE TABLE IF NOT EXISTS prices (
    time   timestamptz NOT NULL,
    ticker text NOT NULL,
    price  double precision NOT NULL,
    volume double precision,
    source text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS prices_key ON prices (ticker, time, source);

CREATE TABLE IF NOT EXISTS telemetry (
    time      timestamptz NOT NULL,
    device_id text NOT NULL,
    metric    text NOT NULL,
    value     double precision NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS telemetry_key ON telemetry (device_id, metric, time);

-- Rollups on plain PostgreSQL: ordinary tables under the names TimescaleDB gives its
-- continuous aggregates. The ingester merges the rows each batch inserted into exactly the
-- buckets they touch, in the batch's transaction (ingest/rollup.py); raw rows are insert-only,
-- so the merge equals a re-aggregation of those buckets. Buckets: date_bin(width, time, origin
-- 2000-01-03 00:00 UTC), the same as TimescaleDB's time_bucket.

CREATE INDEX IF NOT EXISTS prices_time ON prices USING brin (time);
CREATE INDEX IF NOT EXISTS telemetry_time ON telemetry USING brin (time);

CREATE TABLE IF NOT EXISTS prices_1m (
    bucket     timestamptz NOT NULL,
    ticker     text NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision,
    count      bigint NOT NULL,
    open_time  timestamptz NOT NULL,
    close_time timestamptz NOT NULL,
    PRIMARY KEY (ticker, bucket)
);

CREATE TABLE IF NOT EXISTS telemetry_1m (
    bucket    timestamptz NOT NULL,
    device_id text NOT NULL,
    metric    text NOT NULL,
    avg       double precision GENERATED ALWAYS AS (sum / count) STORED,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    last      double precision NOT NULL,
    last_time timestamptz NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
);

CREATE TABLE IF NOT EXISTS prices_1h (
    bucket     timestamptz NOT NULL,
    ticker     text NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision,
    count      bigint NOT NULL,
    open_time  timestamptz NOT NULL,
    close_time timestamptz NOT NULL,
    PRIMARY KEY (ticker, bucket)
);

CREATE TABLE IF NOT EXISTS telemetry_1h (
    bucket    timestamptz NOT NULL,
    device_id text NOT NULL,
    metric    text NOT NULL,
    avg       double precision GENERATED ALWAYS AS (sum / count) STORED,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    last      double precision NOT NULL,
    last_time timestamptz NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
);

CREATE TABLE IF NOT EXISTS prices_1d (
    bucket     timestamptz NOT NULL,
    ticker     text NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision,
    count      bigint NOT NULL,
    open_time  timestamptz NOT NULL,
    close_time timestamptz NOT NULL,
    PRIMARY KEY (ticker, bucket)
);

CREATE TABLE IF NOT EXISTS telemetry_1d (
    bucket    timestamptz NOT NULL,
    device_id text NOT NULL,
    metric    text NOT NULL,
    avg       double precision GENERATED ALWAYS AS (sum / count) STORED,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    last      double precision NOT NULL,
    last_time timestamptz NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
);

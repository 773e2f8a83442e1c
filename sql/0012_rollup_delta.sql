-- Issue 20 (fleet size does not cost throughput). Portable (both backends; only the plain
-- PostgreSQL ingester writes them). Applied by sql/versions/0012_rollup_delta.py.
-- An applied file is never edited: add a revision.

-- 1-minute rollup partials a batch appended instead of merging them into prices_1m/1h/1d and
-- telemetry_1m/1h/1d itself (ingest/rollup.py, `Upkeep.DEFER`). The batch records their
-- window in rollup_pending in the same transaction, so readers read raw rows there until the
-- ingester's merger (ingest/merger.py) folds them into the rollups and deletes both, in one
-- statement. No index: rows are only appended, and read and deleted all at once.
CREATE TABLE IF NOT EXISTS rollup_delta_telemetry (
    bucket    timestamptz NOT NULL,
    device_id text NOT NULL,
    metric    text NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    count     bigint NOT NULL,
    sum       double precision NOT NULL,
    last      double precision NOT NULL,
    last_time timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS rollup_delta_prices (
    bucket       timestamptz NOT NULL,
    ticker       text NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       double precision,
    count        bigint NOT NULL,
    open_time    timestamptz NOT NULL,
    close_time   timestamptz NOT NULL,
    open_source  text NOT NULL,
    close_source text NOT NULL
);

-- TimescaleDB only (issue 12): the continuous aggregates rebuilt right, history kept.
-- Applied by sql/versions/0004_rollups.py after sql/0004_rollups.sql. Each statement runs on
-- its own outside a transaction (a refresh cannot run in one); statements are separated by
-- ';' lines. Re-runnable: a migration stopped half-way is finished by running it again.
--
-- What changes, and nothing else:
--   * avg is sum / count at every level (avg(value) overflowed float8 past ~1e154 in a bucket
--     and made every refresh of that window fail, for every device);
--   * open / close are the first / last tick by (time, source), as in the raw answers and on
--     plain PostgreSQL (first(price, time) picked any of several ticks at one instant). Not
--     first(price, (time, source)): an anonymous record cannot be read back from a partial
--     aggregate, so any parallel plan over the raw rows (a refresh, a real-time read) fails
--     with "input of anonymous composite types is not implemented";
--   * each level has a chunk interval of its own and may be compressed (policies: sql/policies.py).
--
-- History: a rebuilt aggregate can only recompute buckets whose raw rows are still there.
-- The old aggregates are kept aside (renamed *_0003) while the new ones are built; then, level
-- by level, the new one is refreshed from the oldest raw chunk on, and every (series, bucket)
-- the refresh could not produce (raw rows dropped by retention) is copied from the old one.
-- So no bucket is lost: buckets with raw rows are recomputed (avg and ties fixed), older ones
-- are kept as they were (their avg re-derived as sum / count).

-- The old aggregates aside, unless this already ran (the new ones carry the comment below).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['prices_1m', 'prices_1h', 'prices_1d',
                                'telemetry_1m', 'telemetry_1h', 'telemetry_1d'] LOOP
        IF to_regclass(name) IS NOT NULL
           AND to_regclass(name || '_0003') IS NULL
           AND obj_description(to_regclass(name), 'pg_class') IS DISTINCT FROM 'tickwire rollup v4'
        THEN
            EXECUTE 'ALTER MATERIALIZED VIEW ' || quote_ident(name)
                 || ' RENAME TO ' || quote_ident(name || '_0003');
        END IF;
    END LOOP;
END $$
;
CREATE MATERIALIZED VIEW IF NOT EXISTS prices_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '7 days') AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, ticker,
       (array_agg(price ORDER BY time, source))[1] AS open, max(price) AS high,
       min(price) AS low, (array_agg(price ORDER BY time DESC, source DESC))[1] AS close,
       sum(volume) AS volume, count(*) AS count
FROM prices
GROUP BY time_bucket(INTERVAL '1 minute', time), ticker
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS prices_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '90 days') AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, ticker,
       first(open, bucket) AS open, max(high) AS high, min(low) AS low,
       last(close, bucket) AS close, sum(volume) AS volume, sum(count)::bigint AS count
FROM prices_1m
GROUP BY time_bucket(INTERVAL '1 hour', bucket), ticker
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS prices_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '365 days') AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, ticker,
       first(open, bucket) AS open, max(high) AS high, min(low) AS low,
       last(close, bucket) AS close, sum(volume) AS volume, sum(count)::bigint AS count
FROM prices_1h
GROUP BY time_bucket(INTERVAL '1 day', bucket), ticker
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '7 days') AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, device_id, metric,
       sum(value) / count(*) AS avg, min(value) AS min, max(value) AS max,
       count(*) AS count, sum(value) AS sum, last(value, time) AS last
FROM telemetry
GROUP BY time_bucket(INTERVAL '1 minute', time), device_id, metric
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '90 days') AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, device_id, metric,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(count)::bigint AS count, sum(sum) AS sum, last(last, bucket) AS last
FROM telemetry_1m
GROUP BY time_bucket(INTERVAL '1 hour', bucket), device_id, metric
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false,
      timescaledb.chunk_interval = '365 days') AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, device_id, metric,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(count)::bigint AS count, sum(sum) AS sum, last(last, bucket) AS last
FROM telemetry_1h
GROUP BY time_bucket(INTERVAL '1 day', bucket), device_id, metric
WITH NO DATA
;
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['prices_1m', 'prices_1h', 'prices_1d',
                                'telemetry_1m', 'telemetry_1h', 'telemetry_1d'] LOOP
        EXECUTE 'COMMENT ON VIEW ' || quote_ident(name) || ' IS '
                 || quote_literal('tickwire rollup v4');
    END LOOP;
END $$
;
-- Level by level, finest first (a level is refreshed from the one below): copy the old
-- buckets older than the oldest raw chunk, refresh from there up to what the policies would
-- materialise (floor(now - width)), then copy every old (series, bucket) the refresh did not
-- produce. Copies skip what is already there, so a second run adds nothing. The first copy
-- comes before the refresh so that the refresh's watermark covers it.
DO $$
DECLARE
    level record;
    matched text;
    columns text;
    copied text;
    new_mat text;
    old_mat text;
    oldest timestamptz;
    horizon timestamptz;
    upto timestamptz;
    copy text;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES
            ('prices', '1m', INTERVAL '1 minute', 1), ('prices', '1h', INTERVAL '1 hour', 2),
            ('prices', '1d', INTERVAL '1 day', 3), ('telemetry', '1m', INTERVAL '1 minute', 1),
            ('telemetry', '1h', INTERVAL '1 hour', 2), ('telemetry', '1d', INTERVAL '1 day', 3)
        ) AS l(kind, suffix, width, rank) ORDER BY kind, rank
    LOOP
        IF to_regclass(level.kind || '_' || level.suffix || '_0003') IS NULL THEN
            CONTINUE;  -- already finished by an earlier run
        END IF;
        IF level.kind = 'prices' THEN
            matched := 'n.ticker = o.ticker';
            columns := 'bucket, ticker, open, high, low, close, volume, count';
            copied := columns;
        ELSE
            matched := 'n.device_id = o.device_id AND n.metric = o.metric';
            columns := 'bucket, device_id, metric, avg, min, max, count, sum, last';
            copied := 'bucket, device_id, metric, sum / count, min, max, count, sum, last';
        END IF;
        SELECT quote_ident(materialization_hypertable_schema) || '.'
               || quote_ident(materialization_hypertable_name)
          INTO new_mat FROM timescaledb_information.continuous_aggregates
         WHERE view_schema = current_schema() AND view_name = level.kind || '_' || level.suffix;
        SELECT quote_ident(materialization_hypertable_schema) || '.'
               || quote_ident(materialization_hypertable_name)
          INTO old_mat FROM timescaledb_information.continuous_aggregates
         WHERE view_schema = current_schema()
           AND view_name = level.kind || '_' || level.suffix || '_0003';
        upto := time_bucket(level.width, now() - level.width);
        SELECT min(range_start) INTO oldest FROM timescaledb_information.chunks
         WHERE hypertable_schema = current_schema() AND hypertable_name = level.kind;
        -- No raw rows at all: keep every old bucket but the last, refresh that one.
        horizon := least(time_bucket(level.width, coalesce(oldest, upto)), upto - level.width);
        copy := 'INSERT INTO ' || new_mat || ' (' || columns || ') SELECT ' || copied
             || ' FROM ' || old_mat || ' o WHERE o.bucket >= $1 AND o.bucket < $2'
             || ' AND NOT EXISTS (SELECT 1 FROM ' || new_mat || ' n'
             || ' WHERE n.bucket = o.bucket AND ' || matched || ')';
        EXECUTE copy USING '-infinity'::timestamptz, horizon;
        COMMIT;
        CALL refresh_continuous_aggregate(level.kind || '_' || level.suffix, horizon, upto);
        COMMIT;
        EXECUTE copy USING horizon, upto;
        COMMIT;
    END LOOP;
END $$
;
DROP MATERIALIZED VIEW IF EXISTS prices_1d_0003
;
DROP MATERIALIZED VIEW IF EXISTS prices_1h_0003
;
DROP MATERIALIZED VIEW IF EXISTS prices_1m_0003
;
DROP MATERIALIZED VIEW IF EXISTS telemetry_1d_0003
;
DROP MATERIALIZED VIEW IF EXISTS telemetry_1h_0003
;
DROP MATERIALIZED VIEW IF EXISTS telemetry_1m_0003
;
-- Compression of each level (when: sql/policies.py, a setting): a segment per series, as the
-- API reads them (the default would be none), in time order.
ALTER MATERIALIZED VIEW prices_1m SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'ticker', timescaledb.compress_orderby = 'bucket')
;
ALTER MATERIALIZED VIEW prices_1h SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'ticker', timescaledb.compress_orderby = 'bucket')
;
ALTER MATERIALIZED VIEW prices_1d SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'ticker', timescaledb.compress_orderby = 'bucket')
;
ALTER MATERIALIZED VIEW telemetry_1m SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'device_id, metric', timescaledb.compress_orderby = 'bucket')
;
ALTER MATERIALIZED VIEW telemetry_1h SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'device_id, metric', timescaledb.compress_orderby = 'bucket')
;
ALTER MATERIALIZED VIEW telemetry_1d SET (timescaledb.compress = true,
    timescaledb.compress_segmentby = 'device_id, metric', timescaledb.compress_orderby = 'bucket')
;
-- Refresh policies as before: each level materialises up to one bucket ago, over a window
-- (3 h, 3 days, 30 days) that late rows older than it do not reach; the ingester refreshes
-- those itself (ingest/refresher.py).
SELECT add_continuous_aggregate_policy('prices_1m', start_offset => INTERVAL '3 hours',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute',
       if_not_exists => TRUE)
;
SELECT add_continuous_aggregate_policy('telemetry_1m', start_offset => INTERVAL '3 hours',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute',
       if_not_exists => TRUE)
;
SELECT add_continuous_aggregate_policy('prices_1h', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes',
       if_not_exists => TRUE)
;
SELECT add_continuous_aggregate_policy('telemetry_1h', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes',
       if_not_exists => TRUE)
;
SELECT add_continuous_aggregate_policy('prices_1d', start_offset => INTERVAL '30 days',
       end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour',
       if_not_exists => TRUE)
;
SELECT add_continuous_aggregate_policy('telemetry_1d', start_offset => INTERVAL '30 days',
       end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour',
       if_not_exists => TRUE)

-- TimescaleDB only: the rollups as (hierarchical) continuous aggregates, real-time enabled.
-- Each statement runs on its own outside a transaction (alembic's autocommit block):
-- continuous aggregates cannot be created inside one. Statements are separated by ';' lines.
-- Buckets come from time_bucket, whose origin (2000-01-03 UTC) plain PostgreSQL's date_bin
-- uses too, so both backends bucket identically.

CREATE MATERIALIZED VIEW IF NOT EXISTS prices_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, ticker,
       first(price, time) AS open, max(price) AS high, min(price) AS low,
       last(price, time) AS close, sum(volume) AS volume, count(*) AS count
FROM prices
GROUP BY time_bucket(INTERVAL '1 minute', time), ticker
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS prices_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, ticker,
       first(open, bucket) AS open, max(high) AS high, min(low) AS low,
       last(close, bucket) AS close, sum(volume) AS volume, sum(count)::bigint AS count
FROM prices_1m
GROUP BY time_bucket(INTERVAL '1 hour', bucket), ticker
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS prices_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, ticker,
       first(open, bucket) AS open, max(high) AS high, min(low) AS low,
       last(close, bucket) AS close, sum(volume) AS volume, sum(count)::bigint AS count
FROM prices_1h
GROUP BY time_bucket(INTERVAL '1 day', bucket), ticker
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, device_id, metric,
       avg(value) AS avg, min(value) AS min, max(value) AS max, count(*) AS count,
       sum(value) AS sum, last(value, time) AS last
FROM telemetry
GROUP BY time_bucket(INTERVAL '1 minute', time), device_id, metric
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, device_id, metric,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(count)::bigint AS count, sum(sum) AS sum, last(last, bucket) AS last
FROM telemetry_1m
GROUP BY time_bucket(INTERVAL '1 hour', bucket), device_id, metric
WITH NO DATA
;
CREATE MATERIALIZED VIEW IF NOT EXISTS telemetry_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, device_id, metric,
       sum(sum) / sum(count) AS avg, min(min) AS min, max(max) AS max,
       sum(count)::bigint AS count, sum(sum) AS sum, last(last, bucket) AS last
FROM telemetry_1h
GROUP BY time_bucket(INTERVAL '1 day', bucket), device_id, metric
WITH NO DATA
;
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

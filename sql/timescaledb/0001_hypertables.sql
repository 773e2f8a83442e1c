-- TimescaleDB only: raw tables become hypertables, compressed after a week.
-- Applied by sql/versions/0001_initial.py after 0001_core.sql, in its transaction.

CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('prices', by_range('time', INTERVAL '1 day'),
                         create_default_indexes => FALSE, if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('telemetry', by_range('time', INTERVAL '1 day'),
                         create_default_indexes => FALSE, if_not_exists => TRUE, migrate_data => TRUE);

ALTER TABLE prices SET (timescaledb.compress,
                        timescaledb.compress_segmentby = 'ticker',
                        timescaledb.compress_orderby = 'time DESC, source');
ALTER TABLE telemetry SET (timescaledb.compress,
                           timescaledb.compress_segmentby = 'device_id, metric',
                           timescaledb.compress_orderby = 'time DESC');

SELECT add_compression_policy('prices', compress_after => INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_compression_policy('telemetry', compress_after => INTERVAL '7 days', if_not_exists => TRUE);

-- Plain PostgreSQL only (issue 20). Applied by sql/versions/0012_rollup_delta.py.
-- A merge updates a rollup row in place many times (each device's current bucket at every
-- level): free room on its page lets PostgreSQL make each update a HOT one (no new index
-- entry; none of the updated columns is indexed). Measured 1.5x faster merges of 10 000
-- devices' rows (docs/ingest.md); the tables take up to twice the space. New pages only:
-- existing rows move to roomier pages as they are updated.
ALTER TABLE telemetry_1m SET (fillfactor = 50);
ALTER TABLE telemetry_1h SET (fillfactor = 50);
ALTER TABLE telemetry_1d SET (fillfactor = 50);
ALTER TABLE prices_1m SET (fillfactor = 50);
ALTER TABLE prices_1h SET (fillfactor = 50);
ALTER TABLE prices_1d SET (fillfactor = 50);

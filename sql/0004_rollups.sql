-- Issue 12 (no rollup is ever lost). Portable (both backends). Applied by
-- sql/versions/0004_rollups.py, before the backend's own 0004 file.
-- An applied file is never edited: add a revision.

-- Rollup windows committed rows still wait for (TimescaleDB: rows older than what the refresh
-- policies materialise). A batch records its windows in its own transaction; the ingester's
-- refresher (ingest/refresher.py) has them refreshed and deletes them, so a window is never
-- forgotten, not even by a crash. Until then the API reads raw rows there (api/resolution.py).
-- Plain PostgreSQL merges rollups in the batch's transaction: nothing is ever pending there.
CREATE TABLE IF NOT EXISTS rollup_pending (
    id           bigserial PRIMARY KEY,
    relation     text NOT NULL,                 -- prices_1m … telemetry_1d
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL CHECK (window_end > window_start),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    ready_at     timestamptz,                   -- since when its rows are committed and the
                                                -- finer levels it is refreshed from are done:
                                                -- a policy run started later covers it
    attempts     integer NOT NULL DEFAULT 0,    -- refreshes that failed (not counting waits
    last_error   text,                          -- for a concurrent refresh)
    retry_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rollup_pending_relation ON rollup_pending (relation, window_start);

-- The alert engine as its own role (issue 19): a durable feed of what each committed batch
-- changed, the engine's cursor in it, and the ingesters' health the engine reads. Portable.
-- Applied by sql/versions/0011_alert_feed.py. An applied file is never edited: add a revision.

-- One row: the newest feed id handed out. A batch appends its feed row near the end of its
-- transaction, updating this row, whose lock orders appends by commit: gap-free, commit order.
CREATE TABLE IF NOT EXISTS alert_feed_state (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id  bigint NOT NULL DEFAULT 0
);
INSERT INTO alert_feed_state DEFAULT VALUES ON CONFLICT DO NOTHING;

-- One row per committed batch: the rows it inserted, the devices it heard from and set
-- ONLINE (ingest/feed.py encodes `data`). Pruned once consumed (or too old: ingest/pruner.py).
CREATE TABLE IF NOT EXISTS alert_feed (
    id   bigint PRIMARY KEY,
    at   timestamptz NOT NULL DEFAULT now(),
    data text NOT NULL
);

-- One row: the last feed id whose alert changes are committed (moved in the same
-- transaction as those changes), and who leads.
CREATE TABLE IF NOT EXISTS alert_engine (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    cursor     bigint NOT NULL DEFAULT 0,
    leader     text,
    leading_since timestamptz
);
INSERT INTO alert_engine DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Threshold runs in progress: since when a rule's condition has held (reading time, epoch s),
-- for rules with a duration; written with the cursor, so a new leader resumes the run.
CREATE TABLE IF NOT EXISTS alert_runs (
    key   text PRIMARY KEY,
    since double precision NOT NULL
);

-- Each ingester says every second whether it hears the broker, writes and is caught up.
ALTER TABLE ingest_status ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;
ALTER TABLE ingest_status ADD COLUMN IF NOT EXISTS attentive boolean NOT NULL DEFAULT false;
ALTER TABLE ingest_status ADD COLUMN IF NOT EXISTS stopped boolean NOT NULL DEFAULT false;

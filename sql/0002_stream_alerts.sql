-- The live stream's journal and what the alert engine needs. Portable (both backends).
-- Applied by sql/versions/0002_stream_alerts.py. An applied file is never edited: add a revision.

-- One row: the newest stream event id handed out. A transaction that appends events updates
-- it last, so the row lock orders appends by commit: ids are gap-free and in commit order.
CREATE TABLE IF NOT EXISTS stream_state (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id  bigint NOT NULL DEFAULT 0
);
INSERT INTO stream_state DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Committed changes as the live stream sends them: a bounded window (the ingester prunes it)
-- from which a client reconnecting with Last-Event-ID gets exactly what it missed.
CREATE TABLE IF NOT EXISTS stream_events (
    id       bigint PRIMARY KEY,
    kind     text NOT NULL CHECK (kind IN ('price', 'telemetry', 'device_status', 'alert')),
    subject  text NOT NULL,                 -- a ticker or a device id
    audience uuid,                          -- only this user (and admins); null: who reads subject
    data     text NOT NULL,                 -- the event's JSON, sent as is
    at       timestamptz NOT NULL DEFAULT now()
);

-- Alerts of user-specific conditions (rules, watchlist levels) belong to that user; two users'
-- PRICE_ABOVE on one ticker are two alerts. Null: a built-in alert, seen by the subject's readers.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS owner_id uuid REFERENCES users (id) ON DELETE CASCADE;
DROP INDEX IF EXISTS alerts_one_open;
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open_per_owner
    ON alerts (kind, coalesce(rule_id, 0), subject,
               coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid))
    WHERE state <> 'CLEARED';
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (state) WHERE state <> 'CLEARED';
CREATE INDEX IF NOT EXISTS alerts_raised ON alerts (raised_at);
CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id, at);

-- The alert engine reloads its configuration when what it depends on changes, whoever
-- changed it (the API, psql). Statement-level: one notification per statement.
CREATE OR REPLACE FUNCTION tickwire_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tickwire_config', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS config_changed ON alert_rules;
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alert_rules
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();
DROP TRIGGER IF EXISTS config_changed ON watchlist;
CREATE TRIGGER config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON watchlist
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();
-- The ingester updates last_seen/status on every batch: only the columns the engine reads fire.
DROP TRIGGER IF EXISTS config_changed ON devices;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF owner_id, offline_timeout_s ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();

-- Issue 11 (never stops, never leaks): dead-letter bounds and replay, device-id tombstones.
-- Portable (both backends). Applied by sql/versions/0003_hardening.py.
-- An applied file is never edited: add a revision.

-- A dead letter keeps at most a bounded prefix of an oversized payload; `payload_size` is the
-- size of the payload as received (null on rows written before this revision: kept whole).
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS payload_size integer;

-- A deleted device id is retired: its history stays with its last owner and is never handed
-- to someone who creates the same id later (only that owner or an admin may re-create it).
CREATE TABLE IF NOT EXISTS device_tombstones (
    device_id  text PRIMARY KEY,
    owner_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    deleted_at timestamptz NOT NULL DEFAULT now()
);

-- Identity (issue 11): devices deleted before tombstones existed left their history under ids
-- anyone could register again. Retire every id that has telemetry but no device; its owner is
-- unknown, so only an admin may create it again (the coarsest rollup names every id that has
-- data, and is far smaller than the raw table).
INSERT INTO device_tombstones (device_id, owner_id)
SELECT DISTINCT r.device_id, NULL::uuid FROM telemetry_1d r
WHERE NOT EXISTS (SELECT FROM devices d WHERE d.device_id = r.device_id)
ON CONFLICT (device_id) DO NOTHING;

-- Ingest hardening (poison messages, retained messages, dead-letter retention and replay).
-- An admin's replay request (`POST /api/admin/dead-letters/{id}/replay`), picked up by the
-- ingester (`ingest/replay.py`) and settled in the transaction that wrote what it carried.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_requested_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replayed_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_outcome text
    CHECK (replay_outcome IN ('ingested', 'rejected'));
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_rows integer;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_duplicates integer;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS replay_detail text;
CREATE INDEX IF NOT EXISTS dead_letters_replay_requested ON dead_letters (replay_requested_at)
    WHERE replay_requested_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS dead_letters_topic ON dead_letters (topic, received_at);
-- Retained messages a broker sent for a subscription: acknowledged, not ingested.
ALTER TABLE ingest_status ADD COLUMN IF NOT EXISTS retained_ignored bigint NOT NULL DEFAULT 0;

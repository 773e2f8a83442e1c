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

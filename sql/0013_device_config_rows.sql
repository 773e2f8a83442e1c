-- Device changes are notified one device at a time (issue 20), on `tickwire_config`:
-- · a device registered, deleted, or given another owner, timeout or kind:
--   'devices:<TG_OP>:<device_id>'. The alert engine reads only that device again instead of
--   its whole configuration; the ingester's writers forget what they know of its row.
-- · a device's status set to anything but ONLINE, or its last_seen moved back or emptied
--   (the alert engine's OFFLINE, an admin's psql): 'devices:STATUS:<device_id>'. The
--   writers, which skip the devices statement for devices they wrote ONLINE and fresh
--   (`ingest/fresh.py`), write that device with its next message; the engine ignores it.
--   The writers' own updates (ONLINE, last_seen forward) do not fire it.
-- TRUNCATE (no rows to name), and an id too long for a notification (only psql can write
-- one), notify 'devices': everything is read again. The other tables keep their
-- statement-level notifications (payload: the table's name).
CREATE OR REPLACE FUNCTION tickwire_device_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    id text := CASE WHEN TG_OP = 'DELETE' THEN OLD.device_id ELSE NEW.device_id END;
BEGIN
    PERFORM pg_notify('tickwire_config',
                      CASE WHEN octet_length(id) > 4000 THEN 'devices'
                           ELSE 'devices:' || coalesce(TG_ARGV[0], TG_OP) || ':' || id END);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS config_changed ON devices;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE OR UPDATE OF owner_id, offline_timeout_s, kind ON devices
    FOR EACH ROW EXECUTE FUNCTION tickwire_device_config_changed();
DROP TRIGGER IF EXISTS status_changed ON devices;
CREATE TRIGGER status_changed AFTER UPDATE OF status, last_seen ON devices
    FOR EACH ROW
    WHEN (NEW.status <> 'ONLINE' OR NEW.last_seen IS NULL OR NEW.last_seen < OLD.last_seen)
    EXECUTE FUNCTION tickwire_device_config_changed('STATUS');
DROP TRIGGER IF EXISTS config_truncated ON devices;
CREATE TRIGGER config_truncated AFTER TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();

-- The alert engine follows device changes one device at a time (issue 20): a device
-- registered, deleted, or given another owner, timeout or kind notifies `tickwire_config`
-- with 'devices:<TG_OP>:<device_id>' (one notification per row), and the engine reads only
-- that device again instead of its whole configuration. TRUNCATE (no rows to name) still
-- notifies 'devices': everything is read again. The other tables keep their statement-level
-- notifications (payload: the table's name).
CREATE OR REPLACE FUNCTION tickwire_device_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    id text := CASE WHEN TG_OP = 'DELETE' THEN OLD.device_id ELSE NEW.device_id END;
BEGIN
    -- An id too long for a notification (only psql can write one): read everything again.
    PERFORM pg_notify('tickwire_config',
                      CASE WHEN octet_length(id) > 4000 THEN 'devices'
                           ELSE 'devices:' || TG_OP || ':' || id END);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS config_changed ON devices;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE OR UPDATE OF owner_id, offline_timeout_s, kind ON devices
    FOR EACH ROW EXECUTE FUNCTION tickwire_device_config_changed();
DROP TRIGGER IF EXISTS config_truncated ON devices;
CREATE TRIGGER config_truncated AFTER TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();

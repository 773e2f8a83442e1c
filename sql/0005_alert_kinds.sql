-- Issue 13: the alert vocabulary, once. Portable (alerts, alert_rules and alert_events are
-- plain tables on both backends). Applied by sql/versions/0005_alert_kinds.py.
-- An applied file is never edited: add a revision.
--
-- The kinds are those of `AlertKind` (tickwire/alert_kinds.py; tests/test_schema.py checks
-- that the lists agree): an alert has one of them, a rule one but ONLINE (raised by the
-- built-in only). An alert's history holds the states the alerts table allows.
--
-- tickwire never wrote anything else; a row that holds another value was written by hand, and
-- what it meant is unknown. The upgrade then stops, naming such rows (nothing is applied), so
-- that they are fixed or deleted before it is run again.

DO $$
DECLARE
    strays text;
BEGIN
    SELECT string_agg(stray, '; ') INTO strays FROM (
        SELECT 'alerts ' || id || ' kind ' || quote_literal(kind) AS stray FROM alerts
        WHERE kind NOT IN ('HIGH_TEMP', 'THRESHOLD', 'OFFLINE', 'ONLINE',
                           'PRICE_MOVE', 'PRICE_ABOVE', 'PRICE_BELOW')
        UNION ALL
        SELECT 'alert_rules ' || id || ' kind ' || quote_literal(kind) FROM alert_rules
        WHERE kind NOT IN ('HIGH_TEMP', 'THRESHOLD', 'OFFLINE',
                           'PRICE_MOVE', 'PRICE_ABOVE', 'PRICE_BELOW')
        UNION ALL
        SELECT 'alert_events ' || id || ' state ' || quote_literal(state) FROM alert_events
        WHERE state NOT IN ('ACTIVE', 'ACKED', 'CLEARED')
        ORDER BY 1
        LIMIT 20
    ) found;
    IF strays IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            MESSAGE = 'rows outside the alert vocabulary (revision 0005): ' || strays,
            HINT = 'fix or delete these rows (tickwire never writes such values), then upgrade again';
    END IF;
END $$;

ALTER TABLE alerts ADD CONSTRAINT alerts_kind_known CHECK (
    kind IN ('HIGH_TEMP', 'THRESHOLD', 'OFFLINE', 'ONLINE',
             'PRICE_MOVE', 'PRICE_ABOVE', 'PRICE_BELOW'));
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_known CHECK (
    kind IN ('HIGH_TEMP', 'THRESHOLD', 'OFFLINE',
             'PRICE_MOVE', 'PRICE_ABOVE', 'PRICE_BELOW'));
ALTER TABLE alert_events ADD CONSTRAINT alert_events_state_known CHECK (
    state IN ('ACTIVE', 'ACKED', 'CLEARED'));

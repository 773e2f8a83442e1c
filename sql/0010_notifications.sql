-- Issue 18: alerts that reach people. Portable (plain tables on both backends). Applied by
-- sql/versions/0010_notifications.py. An applied file is never edited: add a revision.
--
-- The path of one alert change (tickwire/alert_changes.py, notify/):
--   the change's transaction also appends a row to notification_outbox (so a crash between the
--   change and the send loses nothing) →
--   the notifier moves each outbox row, in one transaction, into one notification_deliveries
--   row per channel whose owner may see the alert, whose filter passes and which no silence of
--   its owner matches at the time of the change →
--   a sender claims due deliveries (FOR UPDATE SKIP LOCKED: several senders may run) and logs
--   every attempt in notification_attempts; back-off until `give_up_at`, then `failed`, kept.

-- Channels: where a user's alerts go. `kinds` / `min_severity` / `events` null: everything.
CREATE TABLE notification_channels (
    id           bigserial PRIMARY KEY,
    owner_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind         text NOT NULL CHECK (kind IN ('webhook', 'email')),
    url          text,
    secret       text,
    email_to     text,
    kinds        text[],
    min_severity text CHECK (min_severity IN ('info', 'warning', 'critical')),
    events       text[] CHECK (events <@ ARRAY['raised', 'acked', 'cleared']),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'webhook' OR (url IS NOT NULL AND secret IS NOT NULL)),
    CHECK (kind <> 'email' OR email_to IS NOT NULL)
);
CREATE INDEX notification_channels_owner ON notification_channels (owner_id, id);

-- Silences: a user's channels stay quiet for the alerts that match every given matcher while
-- the change happens within [starts_at, ends_at). The alerts are still stored and streamed.
CREATE TABLE silences (
    id         bigserial PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text CHECK (kind IN ('HIGH_TEMP', 'THRESHOLD', 'OFFLINE', 'ONLINE',
                                    'PRICE_MOVE', 'PRICE_ABOVE', 'PRICE_BELOW')),
    device_id  text,
    ticker     text,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    comment    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at < ends_at),
    CHECK (kind IS NOT NULL OR device_id IS NOT NULL OR ticker IS NOT NULL)
);
CREATE INDEX silences_owner ON silences (owner_id, ends_at);

-- Alert changes not yet fanned out to channels, written in the change's transaction.
-- `alert` is the alert as the API shows it after the change (tickwire.events.alert_json).
CREATE TABLE notification_outbox (
    id       bigserial PRIMARY KEY,
    alert_id bigint NOT NULL,
    event    text NOT NULL CHECK (event IN ('raised', 'acked', 'cleared')),
    alert    jsonb NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);

-- The notifier wakes up at commit instead of on its next poll. Statement-level: one per batch.
CREATE FUNCTION tickwire_outbox_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tickwire_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_written AFTER INSERT ON notification_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_outbox_written();

-- One change for one channel; `id` is the X-Tickwire-Delivery header, the same on every retry.
-- `test`: what POST /api/notification-channels/{id}/test sends (alert_id 0, a sample alert).
CREATE TABLE notification_deliveries (
    id         uuid PRIMARY KEY,
    channel_id bigint NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    alert_id   bigint NOT NULL,
    event      text NOT NULL CHECK (event IN ('raised', 'acked', 'cleared', 'test')),
    alert      jsonb NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts   integer NOT NULL DEFAULT 0,
    next_at    timestamptz NOT NULL DEFAULT now(),
    give_up_at timestamptz NOT NULL,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_at)
    WHERE status = 'pending';
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at);

-- Every attempt at a delivery: when, and what came back (an HTTP status or an error).
CREATE TABLE notification_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES notification_deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    ok          boolean NOT NULL,
    status_code integer,
    error       text
);
CREATE INDEX notification_attempts_delivery ON notification_attempts (delivery_id, at);

-- Fleet-wide rules: a device rule without `device_id` covers every device its owner may read
-- (an admin's: every device), narrowed to one device kind by `device_kind`; one alert per
-- (rule, device). The engine reloads when a device's kind changes too.
ALTER TABLE alert_rules ADD COLUMN device_kind text
    CHECK (device_kind ~ '^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$');
DROP TRIGGER IF EXISTS config_changed ON devices;
CREATE TRIGGER config_changed
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF owner_id, offline_timeout_s, kind ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();
DROP TRIGGER IF EXISTS config_changed ON users;
CREATE TRIGGER config_changed AFTER INSERT OR DELETE OR UPDATE OF is_superuser ON users
    FOR EACH STATEMENT EXECUTE FUNCTION tickwire_config_changed();

-- Issue 17: dashboards users build (the model of DESIGN.md "Dashboards"), one row each.
-- Portable (a plain table on both backends). Applied by sql/versions/0009_dashboards.py.
-- An applied file is never edited: add a revision.
--
-- The model is validated by the API (api/schemas/dashboards.py) and kept whole as jsonb;
-- the columns beside it are what queries filter on. Provisioned dashboards
-- (TICKWIRE_DASHBOARDS_DIR) are not stored: each API process reads them at start.

CREATE TABLE dashboards (
    uid         text PRIMARY KEY CHECK (uid ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$'),
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    model       jsonb NOT NULL,
    shared_with uuid[] NOT NULL DEFAULT '{}',
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboards_owner ON dashboards (owner_id, uid);
CREATE INDEX dashboards_shared ON dashboards USING gin (shared_with);

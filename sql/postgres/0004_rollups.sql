-- Plain PostgreSQL only (issue 12): open / close are the first / last tick by (time, source).
-- Applied by sql/versions/0004_rollups.py. Ticks of several sources at one instant were a tie
-- the merge broke by arrival (a later batch never replaced the open it tied with); the source
-- of the open and close ticks is kept now, and the merge (ingest/rollup.py) compares
-- (time, source). Existing rows get both from the raw ticks at their open_time / close_time.

ALTER TABLE prices_1m ADD COLUMN IF NOT EXISTS open_source text NOT NULL DEFAULT '',
                      ADD COLUMN IF NOT EXISTS close_source text NOT NULL DEFAULT '';
ALTER TABLE prices_1h ADD COLUMN IF NOT EXISTS open_source text NOT NULL DEFAULT '',
                      ADD COLUMN IF NOT EXISTS close_source text NOT NULL DEFAULT '';
ALTER TABLE prices_1d ADD COLUMN IF NOT EXISTS open_source text NOT NULL DEFAULT '',
                      ADD COLUMN IF NOT EXISTS close_source text NOT NULL DEFAULT '';

DO $$
DECLARE
    level text;
BEGIN
    FOREACH level IN ARRAY ARRAY['prices_1m', 'prices_1h', 'prices_1d'] LOOP
        EXECUTE replace($sql$
            UPDATE rollup r SET (open, open_source) = (
                SELECT p.price, p.source FROM prices p
                WHERE p.ticker = r.ticker AND p.time = r.open_time ORDER BY p.source LIMIT 1)
            WHERE EXISTS (SELECT 1 FROM prices p WHERE p.ticker = r.ticker AND p.time = r.open_time);
            UPDATE rollup r SET (close, close_source) = (
                SELECT p.price, p.source FROM prices p
                WHERE p.ticker = r.ticker AND p.time = r.close_time ORDER BY p.source DESC LIMIT 1)
            WHERE EXISTS (SELECT 1 FROM prices p WHERE p.ticker = r.ticker AND p.time = r.close_time)
        $sql$, 'rollup', level);
    END LOOP;
END $$;

-- Issue 16: portfolios, private to their owner, and their buy/sell transactions. Portable
-- (plain tables on both backends). Applied by sql/versions/0008_portfolios.py.
-- An applied file is never edited: add a revision.
--
-- Holdings, average cost and P&L are not stored: they are replayed from the transactions in
-- (time, id) order on every read (api/market/holdings.py), so a transaction entered in the
-- past changes everything after it, and nothing can go stale.

CREATE TABLE portfolios (
    id         bigserial PRIMARY KEY,
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portfolios_owner ON portfolios (owner_id, id);

CREATE TABLE portfolio_transactions (
    id           bigserial PRIMARY KEY,
    portfolio_id bigint NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    ticker       text NOT NULL REFERENCES stocks (ticker) ON DELETE CASCADE,
    side         text NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity     double precision NOT NULL CHECK (quantity > 0 AND quantity < 'Infinity'),
    price        double precision NOT NULL CHECK (price > 0 AND price < 'Infinity'),
    fee          double precision NOT NULL DEFAULT 0 CHECK (fee >= 0 AND fee < 'Infinity'),
    time         timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portfolio_transactions_order ON portfolio_transactions (portfolio_id, time, id);
-- The stream finds the portfolios holding a ticker that moved.
CREATE INDEX portfolio_transactions_ticker ON portfolio_transactions (ticker, portfolio_id);

-- Issue 14: stocks are market data, shared by everyone. Portable (stocks is a plain table on
-- both backends). Applied by sql/versions/0007_shared_stocks.py.
-- An applied file is never edited: add a revision.
--
-- Until now a user could add a stock of their own, which nobody else could read: a ticker
-- claimed that way hid that market's prices from every other user. From now on only an admin
-- adds, changes or deletes a stock (api/routes/stocks.py), and every user reads every one
-- (api/access.py). A stock has no owner any more: the column goes, and with it every claim.
-- The stocks users added stay, with everything that refers to them (prices, device links,
-- watchlists, alert rules, alerts), now readable by all; nothing is deleted.

ALTER TABLE stocks DROP COLUMN owner_id;

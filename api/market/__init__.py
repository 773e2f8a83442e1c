"""Market analytics in plain SQL (asyncpg): quotes, the scanner, indicators' candles, and
portfolios' holdings and value, all from the price rollups and the raw tail."""

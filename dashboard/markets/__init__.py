"""The markets page's helpers (`pages/markets.py`): what it reads from the API, its chart, its
watchlist."""

"""The alerts page's helpers (`pages/alerts.py`): its query of the API."""

"""The HTTP API (FastAPI): accounts and sessions, devices and their credentials, alert rules,
commands to devices, history and candles, exports, the live stream (SSE), health and metrics;
it also serves the dashboard (`dashboard.attach`)."""

"""Routers, one module per resource: under /api, plus `/health` and `/metrics` (ops)."""

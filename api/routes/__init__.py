"""Routers under /api, one module per resource."""

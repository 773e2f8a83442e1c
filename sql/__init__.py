"""The schema: plain SQL files applied by alembic revisions, on PostgreSQL or TimescaleDB."""

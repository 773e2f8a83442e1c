"""The HTTP API (FastAPI): health now; CRUD, history, export and the live stream to come."""

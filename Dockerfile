# One image for every Python service: `python -m ingest | api | simulator | sql upgrade`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
COPY tickwire tickwire
COPY ingest ingest
COPY api api
COPY dashboard dashboard
COPY sql sql
COPY simulator simulator
COPY bench bench
RUN pip install --no-cache-dir -c requirements.lock .
ENV TICKWIRE_DATA_DIR=/data
USER nobody

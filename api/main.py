"""The API process: one FastAPI app whose lifespan opens every external resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import asyncpg
import uvicorn
from fastapi import FastAPI

from api import health
from api.settings import ApiSettings
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress

log = logging.getLogger("api")


class State(TypedDict):
    pool: asyncpg.Pool
    mqtt: MqttAddress


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        pool = await asyncpg.create_pool(
            settings.resolved_database_url(), min_size=1, max_size=settings.db_pool_max
        )
        try:
            yield {"pool": pool, "mqtt": MqttAddress(settings.resolved_mqtt_url())}
        finally:
            await pool.close()

    app = FastAPI(title="tickwire", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    return app


def main(settings: ApiSettings) -> None:
    setup_logging("api", settings.log_level)
    log.info("listening on http://%s:%d", settings.http_host, settings.http_port)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )

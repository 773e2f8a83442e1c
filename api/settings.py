"""The API's settings (`TICKWIRE_*`)."""

from __future__ import annotations

from tickwire.settings import CommonSettings


class ApiSettings(CommonSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    db_pool_max: int = 10

"""`python -m tickwire.brokerauth setup`: the ingester's and the API's broker accounts."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import Field

from tickwire.brokerauth import API_ACCOUNT, INGEST_ACCOUNT, BrokerAuthError, emqx, setup
from tickwire.logs import setup_logging
from tickwire.mqtt import BrokerUnavailable
from tickwire.settings import CommonSettings

log = logging.getLogger("tickwire.brokerauth")


class SetupSettings(CommonSettings):
    """`python -m tickwire.brokerauth setup`: the admin's URL and the services' passwords."""

    mqtt_admin_url: str | None = Field(default=None, repr=False)
    """Mosquitto's dynamic-security admin (`mqtt://admin:…@host:port`) or EMQX's REST API
    (`http://<key>:<secret>@host:18083`)."""
    mqtt_ingest_password: str | None = Field(default=None, repr=False)
    mqtt_api_password: str | None = Field(default=None, repr=False)
    setup_wait_s: float = 60.0
    """How long setup waits for the broker to accept the admin."""


MIN_PASSWORD_LENGTH = 12
_PLACEHOLDERS = frozenset({"change-me", "changeme", "changethis", "password", "secret"})


def _checked_password(name: str, value: str | None) -> str:
    if not value or value.lower() in _PLACEHOLDERS or len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"TICKWIRE_{name} is unset, a placeholder or shorter than {MIN_PASSWORD_LENGTH} "
            "characters: set a long random value"
        )
    return value


def main(argv: list[str]) -> int:
    if argv != ["setup"]:
        print("usage: python -m tickwire.brokerauth setup", file=sys.stderr)
        return 2
    settings = SetupSettings()
    setup_logging("tickwire", settings.log_level)
    if not settings.mqtt_admin_url:
        log.error("TICKWIRE_MQTT_ADMIN_URL is unset: nothing to set up")
        return 2
    try:
        ingest = _checked_password("MQTT_INGEST_PASSWORD", settings.mqtt_ingest_password)
        api = _checked_password("MQTT_API_PASSWORD", settings.mqtt_api_password)
        if emqx.is_rest_url(settings.mqtt_admin_url):  # EMQX's REST API
            url = settings.mqtt_admin_url
            asyncio.run(emqx.setup(url, ingest, api, settings.setup_wait_s))
        else:
            admin = settings.mqtt_address(settings.mqtt_admin_url)
            asyncio.run(setup(admin, ingest, api, settings.setup_wait_s))
    except (ValueError, BrokerAuthError, BrokerUnavailable) as exc:
        log.error("broker setup failed: %s", exc)
        return 1
    log.info("broker accounts %s and %s are set up", INGEST_ACCOUNT, API_ACCOUNT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

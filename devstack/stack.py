"""`make up`: the whole stack on one machine, embedded defaults unless configured otherwise.

Starts the database (embedded PostgreSQL unless TICKWIRE_DATABASE_URL), the broker (Mosquitto
if installed, else amqtt, unless TICKWIRE_MQTT_URL), applies the migrations, then runs the
ingester, the API and the simulator as child processes (`python -m …`). Any of them, the
embedded broker and the embedded database included, is restarted when it dies, with back-off
(devstack/supervisor.py). Ctrl-C stops them all, then the broker and the database; the data
stays under TICKWIRE_DATA_DIR for the next run.

The embedded Mosquitto runs with dynamic security: the admin, ingest and API passwords are kept
in the data dir (broker/accounts.json), each service logs in with its own account, the API
issues device credentials, and the simulator provisions its devices through the API. The
embedded broker also listens over TLS (a local CA and server certificate under broker/tls/):
the ingester and the API stay on the plain loopback port, the simulator's devices use TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from devstack import demo
from devstack.broker import Accounts, Mosquitto, embedded_broker
from devstack.embedded_pg import EmbeddedPostgres, embedded_server
from devstack.supervisor import Service, Unit, Watched, supervise
from sql.migrate import MigrateSettings, upgrade
from tickwire import brokerauth
from tickwire.logs import setup_logging
from tickwire.settings import MqttAddress

log = logging.getLogger("tickwire")
#: Dashboards `make up` provisions (read-only) when TICKWIRE_DASHBOARDS_DIR is unset.
DEMO_DASHBOARDS = Path(__file__).resolve().parent.parent / "deploy" / "dashboards"


class StackSettings(MigrateSettings):
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    simulator: bool = True
    dashboards_dir: Path | None = None
    embedded_mqtt_port: int = 1883
    """Where the embedded broker listens (127.0.0.1), when TICKWIRE_MQTT_URL is unset."""
    embedded_mqtts_port: int = 8883
    """Where it also listens over TLS (127.0.0.1)."""


@dataclass
class Login:
    """The admin account, and where the API answers on this machine."""

    email: str
    password: str | None
    generated: bool
    """True: generated and kept in the data dir, so printed; else TICKWIRE_ADMIN_PASSWORD."""
    api_url: str

    def __str__(self) -> str:
        shown = self.password if self.generated else "(TICKWIRE_ADMIN_PASSWORD)"
        return f"{self.email} / {shown}"


async def up(settings: StackSettings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        units: list[Unit] = []
        database_url = settings.database_url
        if not database_url:
            database = stack.enter_context(embedded_server(settings.embedded_pg_dir))
            units.append(_database_unit(database))
            database_url = database.url
        mqtt_url, broker_kind, accounts = settings.mqtt_url or "", "external", None
        tls: tuple[str, Path] | None = None
        if not mqtt_url:
            accounts = Accounts.kept(settings.embedded_broker_dir)
            embedded = await stack.enter_async_context(
                embedded_broker(
                    settings.embedded_broker_dir,
                    settings.embedded_mqtt_port,
                    admin=(accounts.admin_user, accounts.admin),
                    tls_port=settings.embedded_mqtts_port,
                )
            )
            mqtt_url, broker_kind = embedded.url, embedded.kind
            tls = (embedded.tls_url, embedded.ca_file)
            if embedded.mosquitto is not None:
                units.append(_broker_unit(embedded.mosquitto))
        backend = await asyncio.to_thread(
            upgrade, database_url, settings.db_backend, settings.policies()
        )
        login = await _ensure_admin(settings, database_url)
        analyst = await demo.ensure_analyst(database_url, settings.data_dir)
        env = {
            **os.environ,
            "TICKWIRE_DATABASE_URL": database_url,
            "TICKWIRE_MQTT_URL": mqtt_url,
            "TICKWIRE_DATA_DIR": str(settings.data_dir),
            # The demo fleet dashboard (/d/fleet), unless a folder of one's own is set.
            "TICKWIRE_DASHBOARDS_DIR": str(settings.dashboards_dir or DEMO_DASHBOARDS),
        }
        if broker_kind == "amqtt":
            env["TICKWIRE_MQTT_PROTOCOL"] = "311"  # amqtt speaks MQTT 3.1.1 only
        envs = {name: env for name in ("ingest", "api", "notify", "simulator")}
        if accounts is not None:
            envs = await child_environments(env, mqtt_url, broker_kind, accounts, login, tls)
        services = _services(envs, settings.simulator)
        await _start(services, login.api_url, stop)
        children = [s.name for s in services]
        _banner(settings, backend, (broker_kind, mqtt_url, tls), children, login, analyst)
        if settings.simulator and login.password:
            demo.hand_devices_later(login.api_url, (login.email, login.password), analyst, stop)
            demo.demo_portfolio_later(login.api_url, (login.email, login.password), stop)
        await supervise([*units, *services], services, stop)
    log.info("stopped; data kept in %s", settings.data_dir)
    return 0


def _services(envs: dict[str, dict[str, str]], simulator: bool) -> list[Service]:
    """The children `make up` runs: the ingester and the API first (see `_start`)."""
    services = [Service("ingest", envs["ingest"]), Service("api", envs["api"])]
    # Alert notifications (webhooks, email): its own process, so that a slow endpoint
    # never slows ingest (issue 18). Needs no broker.
    services.append(Service("notify", envs["notify"]))
    if simulator:
        # Status 0: it ran the duration or message count it was given (TICKWIRE_SIM_*).
        services.append(Service("simulator", envs["simulator"], restart="on-failure"))
    return services


async def _start(services: list[Service], api_url: str, stop: asyncio.Event) -> None:
    """The ingester and the API, then (once the API answers: its first requests would fail)
    the simulator."""
    for service in services[:2]:
        await service.start()
    if not await demo.answering(f"{api_url}/health", stop):
        log.warning("the API does not answer %s/health yet; starting the rest anyway", api_url)
    for service in services[2:]:
        await service.start()


def _database_unit(database: EmbeddedPostgres) -> Unit:
    return Watched(
        "postgresql", database.pid, database.running, lambda: asyncio.to_thread(database.restart)
    )


def _broker_unit(mosquitto: Mosquitto) -> Unit:
    return Watched(
        "mosquitto",
        mosquitto.pid,
        mosquitto.running,
        lambda: asyncio.to_thread(mosquitto.start),
        mosquitto.exit_status,
    )


async def child_environments(
    env: dict[str, str],
    mqtt_url: str,
    kind: str,
    accounts: Accounts,
    login: Login,
    tls: tuple[str, Path] | None = None,
) -> dict[str, dict[str, str]]:
    """Each child's environment for the embedded broker: with dynamic security, its own
    account (the API also the admin's, to issue device credentials); the simulator provisions
    its devices through the API. Anonymous otherwise (no credential management). With `tls`
    (the TLS listener's URL and CA file) the simulator's devices connect over TLS; the
    ingester and the API stay on the plain loopback port."""
    envs = await _service_environments(env, mqtt_url, kind, accounts, login)
    if tls is not None:
        envs["simulator"] = {
            **envs["simulator"],
            "TICKWIRE_MQTT_URL": tls[0],  # each device logs in as itself
            "TICKWIRE_MQTT_CA_FILE": str(tls[1]),
        }
        # What the dashboard tells a user's devices (docs/broker.md, GET /api/broker).
        device = {"TICKWIRE_DEVICE_MQTT_URL": tls[0], "TICKWIRE_DEVICE_CA_FILE": str(tls[1])}
        envs["api"] = {**envs["api"], **device}
    return envs


async def _service_environments(
    env: dict[str, str], mqtt_url: str, kind: str, accounts: Accounts, login: Login
) -> dict[str, dict[str, str]]:
    if kind != "mosquitto-dynsec":
        no_admin = {**env, "TICKWIRE_MQTT_ADMIN_URL": ""}
        return {"ingest": no_admin, "api": no_admin, "notify": no_admin, "simulator": no_admin}
    address = MqttAddress(mqtt_url)
    where = f"@{address.host}:{address.port}"
    admin_url = f"mqtt://{accounts.admin_user}:{quote(accounts.admin, safe='')}{where}"
    await brokerauth.setup(admin_url, accounts.ingest, accounts.api, wait=10)
    base = {k: v for k, v in env.items() if not k.startswith("TICKWIRE_MQTT_ADMIN")}
    simulator = {**base, "TICKWIRE_SIM_API_URL": login.api_url, "TICKWIRE_ADMIN_EMAIL": login.email}
    if login.password:
        simulator["TICKWIRE_ADMIN_PASSWORD"] = login.password
    return {
        "ingest": {
            **base,
            "TICKWIRE_MQTT_URL": (
                f"mqtt://{brokerauth.INGEST_ACCOUNT}:{quote(accounts.ingest, safe='')}{where}"
            ),
        },
        "api": {
            **base,
            "TICKWIRE_MQTT_URL": (
                f"mqtt://{brokerauth.API_ACCOUNT}:{quote(accounts.api, safe='')}{where}"
            ),
            "TICKWIRE_MQTT_ADMIN_URL": admin_url,
        },
        "notify": base,
        "simulator": simulator,
    }


async def _ensure_admin(settings: StackSettings, database_url: str) -> Login:
    from api.admin import ensure_admin  # the API's own account logic
    from api.settings import ApiSettings

    api_settings = ApiSettings(
        database_url=database_url,
        data_dir=settings.data_dir,
        http_host=settings.http_host,
        http_port=settings.http_port,
    )
    email, generated = await ensure_admin(api_settings)
    password = generated or api_settings.admin_password
    return Login(email, password, generated is not None, api_settings.loopback_url())


BROKER_KINDS = {
    "mosquitto-dynsec": "Mosquitto, dynamic security: devices log in with the credentials the "
    "API issues; service accounts in broker/accounts.json",
    "mosquitto": "Mosquitto, anonymous: no dynamic-security plugin, so 127.0.0.1 only",
    "amqtt": "amqtt, anonymous: no Mosquitto installed, so 127.0.0.1 only",
}


def _banner(
    settings: StackSettings,
    backend: str,
    broker: tuple[str, str, tuple[str, Path] | None],
    children: list[str],
    login: Login,
    analyst: demo.Analyst | None = None,
) -> None:
    """What runs where; `broker` is (kind, URL, the TLS listener's URL and CA file or None)."""
    kind, mqtt_url, tls = broker
    url = f"http://{settings.http_host}:{settings.http_port}"
    lines = [
        "tickwire is up",
        f"  API + dashboard   {url}   (health: {url}/health, OpenAPI: {url}/docs)",
        f"  MQTT broker       {MqttAddress(mqtt_url)!r}   ({BROKER_KINDS.get(kind, kind)})",
        *([f"  MQTT over TLS     {tls[0]}   (devices; CA certificate: {tls[1]})"] if tls else []),
        f"  database          {backend}"
        + ("" if settings.database_url else f" (embedded, {settings.embedded_pg_dir})"),
        f"  services          {', '.join(children)}",
        f"  admin login       {login!s}",
        *([f"  analyst login     {analyst!s}"] if analyst else []),
        f"  data directory    {settings.data_dir}",
        "  Ctrl-C stops everything; the data stays for the next `make up`.",
    ]
    for line in lines:
        log.info(line)


def main() -> int:
    settings = StackSettings()
    setup_logging("tickwire", settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(up(settings))
    return 0

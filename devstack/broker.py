"""The embedded default broker: Mosquitto when installed, else amqtt (pure Python) in-process.

Mosquitto is configured for an ingester that acknowledges late (after commit) and may be down
for a while: many QoS 1 messages in flight, a deep per-client queue, sessions kept on disk.
Given an admin account it runs the dynamic-security plugin (every client logs in; accounts and
topic ACLs are managed over `$CONTROL/dynamic-security/v1`, see tickwire/brokerauth/);
without one it is anonymous, on loopback only. A user's own broker needs the same settings
(see docs/broker.md).

Beside the plain listener (loopback services) it listens over TLS (devices): a second port
served with the server certificate of a local CA made under its directory (tickwire/certs/).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from devstack.ports import port_free, wait_for_port
from tickwire.certs import BrokerTls, ensure

log = logging.getLogger("devstack.broker")

MOSQUITTO_CONF = """\
# Written by tickwire on every start; edit devstack/broker.py instead.
listener {port} {host}
{auth}user root
persistence true
persistence_location {data}/
autosave_interval 5
persistent_client_expiration 7d
max_inflight_messages 0
max_queued_messages 2000000
max_queued_bytes 0
message_size_limit {message_limit}
max_packet_size {packet_limit}
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
log_type notice
connection_messages false
"""


#: Payloads over this are dropped by the broker: its QoS flow is completed, so the sender's
#: session moves on (an MQTT 5 sender gets reason 0x95); above the ingester's own limit
#: (TICKWIRE_MAX_PAYLOAD_BYTES, 256 KiB), which dead-letters a prefix as `oversized`.
MESSAGE_SIZE_LIMIT = 1024 * 1024
#: A packet over this disconnects its sender before the broker reads it into memory.
MAX_PACKET_SIZE = 2 * MESSAGE_SIZE_LIMIT

#: A second listener, over TLS (the same accounts and ACLs: per_listener_settings is false).
TLS_LISTENER = """\
listener {port} {host}
certfile {cert}
keyfile {key}
"""

ANONYMOUS = "allow_anonymous true\n"
DYNSEC = """\
allow_anonymous false
plugin {plugin}
plugin_opt_config_file {config}
"""
DYNSEC_FILE = "dynamic-security.json"
ACCOUNTS_FILE = "accounts.json"


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def dynsec_plugin_path() -> str | None:
    """Mosquitto's dynamic-security plugin where distributions and `make install` put it."""
    for pattern in (
        "/usr/lib/*/mosquitto_dynamic_security.so",
        "/usr/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/mosquitto_dynamic_security.so",
        "/usr/local/lib/*/mosquitto_dynamic_security.so",
        "/opt/homebrew/lib/mosquitto_dynamic_security.so",
    ):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


def dynsec_available() -> bool:
    """Mosquitto, its dynamic-security plugin and `mosquitto_ctrl` (to initialise it)."""
    return bool(mosquitto_path() and dynsec_plugin_path() and shutil.which("mosquitto_ctrl"))


@dataclass(frozen=True)
class Accounts:
    """The embedded broker's own accounts: its dynamic-security admin and the two services."""

    admin: str
    ingest: str
    api: str
    admin_user: str = "admin"

    @classmethod
    def kept(cls, directory: Path) -> Accounts:
        """Passwords generated on first use and kept (mode 600) in `directory`/accounts.json.

        New passwords mean the plugin's file (made with the old admin password) is stale: it is
        removed, and made again on the broker's start.
        """
        path = directory / ACCOUNTS_FILE
        if path.exists():
            return cls(**json.loads(path.read_text()))
        accounts = cls(*(secrets.token_urlsafe(24) for _ in range(3)))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / DYNSEC_FILE).unlink(missing_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            json.dump(asdict(accounts), out, indent=2)
        return accounts


def init_dynsec(config: Path, admin_user: str, admin_password: str) -> None:
    """`mosquitto_ctrl dynsec init`: the plugin's file with only its admin (mode 600)."""
    ctrl = shutil.which("mosquitto_ctrl")
    if ctrl is None:
        raise FileNotFoundError("mosquitto_ctrl is not installed")
    subprocess.run(
        [ctrl, "dynsec", "init", str(config), admin_user, admin_password],
        check=True,
        capture_output=True,
        timeout=30,
    )
    config.chmod(0o600)


@dataclass(frozen=True)
class TlsListener:
    """Where the broker also listens over TLS, and the certificate it serves there."""

    port: int
    files: BrokerTls


class Mosquitto:
    """A Mosquitto process on 127.0.0.1 with its config and persistence under `directory`.

    With `admin` (username, password) it runs the dynamic-security plugin, its file made on
    first start with that admin; without, it is anonymous. With `tls` it also listens on
    `tls.port` over TLS.
    """

    def __init__(
        self,
        directory: Path,
        port: int,
        host: str = "127.0.0.1",
        admin: tuple[str, str] | None = None,
        tls: TlsListener | None = None,
    ) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self.admin = admin
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str | None:
        """`mqtts://` of the TLS listener (None: there is none)."""
        return None if self.tls is None else f"mqtts://{self.host}:{self.tls.port}"

    def url_for(self, username: str, password: str, *, tls: bool = False) -> str:
        """The URL logging in as `username`, on the TLS listener when `tls`."""
        if tls and self.tls is None:
            raise ValueError("this broker has no TLS listener")
        scheme, port = ("mqtts", self.tls.port) if tls and self.tls else ("mqtt", self.port)
        return (
            f"{scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{self.host}:{port}"
        )

    @property
    def admin_url(self) -> str | None:
        return self.url_for(*self.admin) if self.admin else None

    def _auth(self) -> str:
        if self.admin is None:
            return ANONYMOUS
        plugin = dynsec_plugin_path()
        if plugin is None:
            raise FileNotFoundError("Mosquitto's dynamic-security plugin is not installed")
        config = self.directory / DYNSEC_FILE
        if not config.exists():
            init_dynsec(config, *self.admin)
        return DYNSEC.format(plugin=plugin, config=config)

    def start(self, timeout: float = 10.0) -> None:
        executable = mosquitto_path()
        if executable is None:
            raise FileNotFoundError("mosquitto is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            MOSQUITTO_CONF.format(
                port=self.port,
                host=self.host,
                data=self.directory,
                auth=self._auth(),
                message_limit=MESSAGE_SIZE_LIMIT,
                packet_limit=MAX_PACKET_SIZE,
            )
            + self._tls_listener()
        )
        log_file = (self.directory / "mosquitto.log").open("ab")
        # Its own session: Ctrl-C in the terminal must not stop the broker before the
        # ingester has committed and acknowledged its last batch; the supervisor stops it last.
        self.process = subprocess.Popen(
            [executable, "-c", str(conf)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # the plugin rewrites its file (password hashes) on every change
        )
        wait_for_port(self.host, self.port, timeout, self.process)
        if self.tls is not None:
            wait_for_port(self.host, self.tls.port, timeout, self.process)

    def _tls_listener(self) -> str:
        if self.tls is None:
            return ""
        files = self.tls.files
        return TLS_LISTENER.format(
            port=self.tls.port, host=self.host, cert=files.server_cert, key=files.server_key
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_status(self) -> int | None:
        """The process's exit status once it ended (negative: the signal that killed it)."""
        return None if self.process is None else self.process.poll()

    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None


class EmbeddedBroker(NamedTuple):
    url: str
    kind: str
    """'mosquitto-dynsec' (every client logs in), else 'mosquitto' or 'amqtt' (anonymous)."""
    mosquitto: Mosquitto | None
    """The Mosquitto process, to watch and restart (None: amqtt runs in this process)."""
    tls_url: str
    """`mqtts://` of the TLS listener, whose certificate `ca_file` signed."""
    ca_file: Path


@contextlib.asynccontextmanager
async def embedded_broker(
    directory: Path,
    port: int = 1883,
    admin: tuple[str, str] | None = None,
    tls_port: int = 8883,
) -> AsyncIterator[EmbeddedBroker]:
    """Run the embedded broker on `port`, and over TLS on `tls_port` (the CA and server
    certificate made or renewed under `directory`/tls); yield its URLs, kind and process.

    kind is 'mosquitto-dynsec' (given `admin` and the plugin is installed: every client logs
    in), else 'mosquitto' or 'amqtt', both anonymous and on 127.0.0.1 only.
    """
    taken = [p for p in (port, tls_port) if not port_free(p)]
    if taken:
        raise RuntimeError(
            f"127.0.0.1:{taken[0]} is taken (a system Mosquitto service? `systemctl disable --now "
            "mosquitto`): free it, choose other ports (TICKWIRE_EMBEDDED_MQTT_PORT, "
            "TICKWIRE_EMBEDDED_MQTTS_PORT), or point TICKWIRE_MQTT_URL at that broker (see "
            "README for the settings the ingester needs)"
        )
    tls = TlsListener(tls_port, await asyncio.to_thread(ensure, directory / "tls"))
    if mosquitto_path():
        secured = admin is not None and dynsec_available()
        if admin is not None and not secured:
            log.warning("no dynamic-security plugin or mosquitto_ctrl: Mosquitto is anonymous")
        broker = Mosquitto(directory, port, admin=admin if secured else None, tls=tls)
        await asyncio.to_thread(broker.start)
        log.info("Mosquitto listening on %s and %s", broker.url, broker.tls_url)
        kind = "mosquitto-dynsec" if secured else "mosquitto"
        try:
            yield EmbeddedBroker(broker.url, kind, broker, str(broker.tls_url), tls.files.ca_cert)
        finally:
            await asyncio.to_thread(broker.stop)
        return
    async with amqtt_broker(port, tls) as (url, tls_url):
        log.warning("mosquitto not installed: using the slower pure-Python amqtt on %s", url)
        yield EmbeddedBroker(url, "amqtt", None, tls_url, tls.files.ca_cert)


@contextlib.asynccontextmanager
async def amqtt_broker(port: int, tls: TlsListener) -> AsyncIterator[tuple[str, str]]:
    """amqtt on 127.0.0.1: `port` plain, `tls.port` over TLS; yields both URLs."""
    from amqtt.broker import Broker  # only when Mosquitto is missing

    config: dict[str, Any] = {
        "listeners": {
            "default": {"type": "tcp", "bind": f"127.0.0.1:{port}"},
            "tls": {
                "type": "tcp",
                "bind": f"127.0.0.1:{tls.port}",
                "ssl": True,
                "certfile": str(tls.files.server_cert),
                "keyfile": str(tls.files.server_key),
            },
        },
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield f"mqtt://127.0.0.1:{port}", f"mqtts://127.0.0.1:{tls.port}"
    finally:
        await broker.shutdown()

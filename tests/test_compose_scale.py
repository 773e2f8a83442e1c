"""compose.yaml's profile `scale` holds together: EMQX with the same accounts and ACLs as
Mosquitto, three ingesters on one shared subscription, an alert engine and its standby, two
API replicas behind nginx passing the stream unbuffered. No Docker engine and no EMQX here: the
structure is checked (and against the Compose Specification's schema), deploy/emqx/emqx-prepare.sh
runs locally. deploy/nginx.conf runs in test_nginx_proxy.py, the EMQX admin client in
test_emqx_admin.py."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml  # type: ignore[import-untyped]

from api.schemas.devices import TickerList
from ingest.settings import IngestSettings
from tickwire import certs
from tickwire.brokerauth import API_ACCOUNT, INGEST_ACCOUNT, emqx
from tickwire.brokerauth.acls import API_ACLS, INGEST_ACLS, Acl, device_acls, emqx_rules
from tickwire.contract import SUBSCRIPTIONS

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ["python", "-m", "ingest", "--alerts-only"]
SHARED = {"timescaledb", "broker-certs", "migrate", "notify"}


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    found = loaded["services"]
    assert isinstance(found, dict)
    return found


def profile(services: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile NAME` runs (those without a profile too)."""
    return {n: s for n, s in services.items() if name in s.get("profiles", [name])}


def ingesters(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in profile(services, "scale").items()
        if s.get("command") == ["python", "-m", "ingest"]
    }


def nginx_conf() -> str:
    return (ROOT / "deploy" / "nginx.conf").read_text()


def emqx_conf() -> str:
    return (ROOT / "deploy" / "emqx" / "emqx.conf").read_text()


def block(text: str, head: str) -> str:
    """The body of the `head { … }` block (no nested braces inside)."""
    match = re.search(re.escape(head) + r"\s*\{([^{}]*)\}", text)
    assert match, f"no block {head!r}"
    return match[1]


def seconds(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smh]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]


def hocon_keys(text: str) -> dict[str, str]:
    """Each setting of emqx.conf by its full path (`a.b.c`; an array of objects as `a[].b`),
    for the subset of HOCON the file uses: `key = value`, `key {`, `key = [`, `{`, `}`, `]`.
    A line outside that subset fails, so nothing is skipped unread."""
    found: dict[str, str] = {}
    stack: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()  # (no value in the file holds a `#`)
        if not line:
            continue
        if opened := re.fullmatch(r"([\w.]+)\s*=?\s*\{", line):
            stack.append(opened[1])
        elif listed := re.fullmatch(r"([\w.]+)\s*=\s*\[", line):
            stack.append(listed[1] + "[]")
        elif line == "{":
            stack.append("")
        elif line in ("}", "]", "},"):
            stack.pop()
        elif setting := re.fullmatch(r"([\w.]+)\s*=\s*(\S.*)", line):
            found[".".join(part for part in [*stack, setting[1]] if part)] = setting[2]
        else:
            raise AssertionError(f"emqx.conf:{number}: not understood: {raw!r}")
    assert not stack, f"unclosed {stack}"
    return found


# The keys EMQX 5.8.9 accepts where emqx.conf sets any, read from its schema at tag v5.8.9 of
# github.com/emqx/emqx; `*` is a name of the user's choosing (a listener's, a zone's):
# - apps/emqx/src/emqx_schema.erl: mqtt_general(), mqtt_session() (`mqtt`, and a zone's `mqtt`
#   through apps/emqx/src/emqx_zone_schema.erl), base_listener(), mqtt_listener(),
#   fields("mqtt_ssl_listener"), common_ssl_opts_schema(), server_ssl_opts_schema(),
#   authz_fields() and fields("authz_cache");
# - apps/emqx_conf/src/emqx_conf_schema.erl: fields("node"), fields("cluster");
# - apps/emqx_dashboard/src/emqx_dashboard_schema.erl: listeners.http.bind;
# - apps/emqx_management/src/emqx_mgmt_api_key_schema.erl: api_key.bootstrap_file;
# - apps/emqx_auth_mnesia/src/emqx_authn_mnesia_schema.erl,
#   apps/emqx_auth/src/emqx_authn/emqx_authn_password_hashing.erl (fields(simple)),
#   apps/emqx_auth_mnesia/src/emqx_authz_mnesia_schema.erl (fields(builtin_db): max_rules).
EMQX_MQTT_KEYS = [
    "idle_timeout",
    "max_packet_size",
    "max_clientid_len",
    "max_topic_levels",
    "max_topic_alias",
    "retain_available",
    "wildcard_subscription",
    "shared_subscription",
    "shared_subscription_strategy",
    "shared_subscription_initial_sticky_pick",
    "exclusive_subscription",
    "ignore_loop_deliver",
    "strict_mode",
    "response_information",
    "server_keepalive",
    "keepalive_backoff",
    "keepalive_multiplier",
    "keepalive_check_interval",
    "retry_interval",
    "use_username_as_clientid",
    "peer_cert_as_username",
    "peer_cert_as_clientid",
    "client_attrs_init",
    "clientid_override",
    "session_expiry_interval",
    "message_expiry_interval",
    "max_awaiting_rel",
    "max_qos_allowed",
    "mqueue_priorities",
    "mqueue_default_priority",
    "mqueue_store_qos0",
    "max_mqueue_len",
    "max_inflight",
    "max_subscriptions",
    "upgrade_qos",
    "await_rel_timeout",
]
EMQX_LISTENER_KEYS = [
    "enable",
    "bind",
    "acceptors",
    "max_connections",
    "mountpoint",
    "zone",
    "limiter",
    "enable_authn",
    "access_rules",
    "proxy_protocol",
    "proxy_protocol_timeout",
    "tcp_options",
]
EMQX_SSL_KEYS = [
    "cacertfile",
    "cacerts",
    "certfile",
    "keyfile",
    "verify",
    "reuse_sessions",
    "depth",
    "password",
    "versions",
    "ciphers",
    "secure_renegotiate",
    "log_level",
    "hibernate_after",
    "dhfile",
    "fail_if_no_peer_cert",
    "honor_cipher_order",
    "client_renegotiation",
    "handshake_timeout",
    "gc_after_handshake",
    "ocsp",
    "enable_crl_check",
]
EMQX_KEYS = {
    *(f"mqtt.{key}" for key in EMQX_MQTT_KEYS),
    *(f"zones.*.mqtt.{key}" for key in EMQX_MQTT_KEYS),
    *(f"listeners.{kind}.*.{key}" for kind in ("tcp", "ssl") for key in EMQX_LISTENER_KEYS),
    *(f"listeners.ssl.*.ssl_options.{key}" for key in EMQX_SSL_KEYS),
    "listeners.ws.*.enable",
    "listeners.wss.*.enable",
    "node.name",
    "node.cookie",
    "node.data_dir",
    "cluster.name",
    "cluster.discovery_strategy",
    "dashboard.listeners.http.bind",
    "api_key.bootstrap_file",
    *(
        f"authentication[].{key}"
        for key in [
            "mechanism",
            "backend",
            "enable",
            "user_id_type",
            "bootstrap_file",
            "bootstrap_type",
            "password_hash_algorithm.name",
            "password_hash_algorithm.salt_position",
        ]
    ),
    "authorization.no_match",
    "authorization.deny_action",
    *(f"authorization.cache.{key}" for key in ("enable", "max_size", "ttl", "excludes")),
    *(f"authorization.sources[].{key}" for key in ("type", "enable", "max_rules")),
}


def schema_key(path: str) -> str:
    """The path with the user's names (a listener's, a zone's) as `*`."""
    parts = path.split(".")
    if parts[0] == "zones" and len(parts) > 1:
        parts[1] = "*"
    if parts[0] == "listeners" and len(parts) > 2:
        parts[2] = "*"
    return ".".join(parts)


# --- The file as the Compose Specification defines it ------------------------------------------


def compose_schema_errors(path: Path) -> str:
    """check-jsonschema's complaints about `path` against its copy of the Compose
    Specification's schema ('' when it conforms)."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    done = subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_compose_yaml_conforms_to_the_compose_specification(tmp_path: Path) -> None:
    assert compose_schema_errors(ROOT / "compose.yaml") == ""
    # The check sees a misspelt key (the control: it can fail).
    text = (ROOT / "compose.yaml").read_text()
    broken = tmp_path / "compose.yaml"
    broken.write_text(text.replace("    profiles: [scale]\n", "    profile: [scale]\n", 1))
    assert "'profile' was unexpected" in compose_schema_errors(broken)


# --- Which services run in which profile -------------------------------------------------------


def test_each_profile_runs_one_broker_and_one_alert_engine_role(
    services: dict[str, dict[str, Any]],
) -> None:
    default, scale = profile(services, "default"), profile(services, "scale")
    assert set(default) & set(scale) == SHARED
    assert {"mosquitto", "broker-setup", "ingest", "api", "simulator"} <= set(default)
    assert not {"emqx", "proxy", "mosquitto"} & set(default) - {"mosquitto"}
    assert "mosquitto" not in scale and "emqx" in scale
    assert {"emqx-prepare", "emqx", "emqx-setup", "proxy"} <= set(scale)
    for name, service in services.items():
        assert service.get("profiles", []) in ([], ["default"], ["scale"]), name
    # The default profile's ingester runs the engine itself; no other service of it does.
    assert [n for n, s in default.items() if s.get("command") == ENGINE] == []


def test_the_scale_profile_pins_emqx_5_and_the_proxy(services: dict[str, dict[str, Any]]) -> None:
    scale = profile(services, "scale")
    assert re.fullmatch(r"emqx/emqx:5\.\d+\.\d+", scale["emqx"]["image"])
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?", scale["proxy"]["image"])
    # One database for both profiles: the same TimescaleDB service and image.
    assert "timescaledb" in scale and "profiles" not in services["timescaledb"]
    for name, service in scale.items():
        if "build" not in service:
            assert not service["image"].endswith(":latest"), name


def test_three_ingesters_split_one_shared_subscription(
    services: dict[str, dict[str, Any]],
) -> None:
    found = ingesters(services)
    assert len(found) == 3
    environments = [s["environment"] for s in found.values()]
    groups = {e["TICKWIRE_INGEST_SHARE"] for e in environments}
    assert len(groups) == 1
    client_ids = [e["TICKWIRE_INGEST_CLIENT_ID"] for e in environments]
    instances = [e["TICKWIRE_INGEST_INSTANCE"] for e in environments]
    assert len(set(client_ids)) == 3 and len(set(instances)) == 3
    for environment in environments:
        assert environment["TICKWIRE_ALERTS_ENABLED"] == "false"
        assert "@emqx:1883" in environment["TICKWIRE_MQTT_URL"]
        assert environment["TICKWIRE_MQTT_URL"].startswith(f"mqtt://{INGEST_ACCOUNT}:")
        settings = IngestSettings(
            ingest_share=environment["TICKWIRE_INGEST_SHARE"],
            ingest_client_id=environment["TICKWIRE_INGEST_CLIENT_ID"],
            alerts_enabled=False,
        )
        # The id compose sets is the one the broker sees (its persistent session).
        assert settings.client_id() == environment["TICKWIRE_INGEST_CLIENT_ID"]
        group = environment["TICKWIRE_INGEST_SHARE"]
        assert settings.subscriptions() == tuple(f"$share/{group}/{t}" for t in SUBSCRIPTIONS)


def test_an_alert_engine_and_its_standby_and_no_other_engine(
    services: dict[str, dict[str, Any]],
) -> None:
    scale = profile(services, "scale")
    engines = {n: s for n, s in scale.items() if s.get("command") == ENGINE}
    assert set(engines) == {"alerts", "alerts-standby"}
    first, second = engines.values()
    assert first["environment"] == second["environment"]
    for service in engines.values():
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    # Nothing else in the profile runs the engine: the ingesters have it off.
    for name, service in scale.items():
        if service.get("command") == ["python", "-m", "ingest"]:
            assert service["environment"]["TICKWIRE_ALERTS_ENABLED"] == "false", name


def test_migrate_runs_once_before_every_service_that_uses_the_database(
    services: dict[str, dict[str, Any]],
) -> None:
    scale = profile(services, "scale")
    assert scale["migrate"]["restart"] == "no"
    users = [
        n
        for n, s in scale.items()
        if "TICKWIRE_DATABASE_URL" in s.get("environment", {}) and n != "migrate"
    ]
    assert len(users) >= 8  # 3 ingesters, 2 engines, 2 APIs, notify
    for name in users:
        depends = scale[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
    # The broker accounts exist before anything logs in with them.
    for name, service in scale.items():
        if "@emqx:1883" in str(service.get("environment", {}).get("TICKWIRE_MQTT_URL", "")):
            condition = service["depends_on"]["emqx-setup"]["condition"]
            assert condition == "service_completed_successfully", name
    assert scale["emqx-setup"]["depends_on"]["emqx"] == {"condition": "service_healthy"}


# --- The API replicas behind the proxy ---------------------------------------------------------


def test_the_proxy_spreads_requests_over_exactly_the_api_replicas(
    services: dict[str, dict[str, Any]],
) -> None:
    scale = profile(services, "scale")
    replicas = {n: s for n, s in scale.items() if s.get("command") == ["python", "-m", "api"]}
    assert len(replicas) == 2
    upstream = block(nginx_conf(), "upstream tickwire_api")
    servers = re.findall(r"^\s*server (\S+)", upstream, re.M)
    assert sorted(servers) == sorted(
        f"{name}:{s['environment']['TICKWIRE_HTTP_PORT']}" for name, s in replicas.items()
    )
    for name, replica in replicas.items():
        assert "ports" not in replica, f"{name} is reachable around the proxy"
        assert scale["proxy"]["depends_on"][name] == {"condition": "service_healthy"}
        # Per-address limits see the client the proxy names, not the proxy.
        assert replica["environment"]["FORWARDED_ALLOW_IPS"]
        assert replica["environment"]["TICKWIRE_MQTT_ADMIN_URL"].startswith("http://")
        assert replica["environment"]["TICKWIRE_MQTT_URL"].startswith(f"mqtt://{API_ACCOUNT}:")
    assert re.search(r"proxy_set_header X-Forwarded-For \$remote_addr;", nginx_conf())
    assert scale["proxy"]["ports"] == ["${HTTP_PUBLISH:-8000}:8000"]
    assert re.search(r"^\s*listen 8000;", nginx_conf(), re.M)
    # nginx drops an idle upstream connection before uvicorn does (TICKWIRE_HTTP_KEEPALIVE_S).
    keepalive = seconds(re.search(r"keepalive_timeout (\w+);", upstream)[1])  # type: ignore[index]
    api_keepalive = replicas["api-1"]["environment"]["TICKWIRE_HTTP_KEEPALIVE_S"]
    assert keepalive < int(re.search(r":-(\d+)\}", api_keepalive)[1])  # type: ignore[index]


def test_the_stream_passes_the_proxy_unbuffered_and_stays_open() -> None:
    from api.settings import ApiSettings
    from api.stream.response import HEADERS

    stream = block(nginx_conf(), "location = /api/stream")
    assert re.search(r"^\s*proxy_buffering off;", stream, re.M)
    assert re.search(r"^\s*proxy_pass http://tickwire_api;", stream, re.M)
    keepalive = ApiSettings.model_fields["stream_keepalive_s"].default
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        value = re.search(rf"{directive} (\w+);", stream)
        assert value and seconds(value[1]) >= 10 * keepalive, directive
    # HTTP/1.1 to the replicas with the hop-by-hop Connection header cleared (keep-alive).
    assert "proxy_http_version 1.1;" in nginx_conf()
    assert HEADERS["X-Accel-Buffering"] == "no"  # the API asks any proxy for the same


# --- EMQX: TLS for devices, accounts and ACLs as Mosquitto's ------------------------------------


def test_devices_reach_emqx_only_over_tls_with_broker_certs_certificate(
    services: dict[str, dict[str, Any]],
) -> None:
    scale = profile(services, "scale")
    published = [p for s in scale.values() for p in s.get("ports", [])]
    assert sorted(published) == ["${HTTP_PUBLISH:-8000}:8000", "${MQTT_PUBLISH:-8883}:8883"]
    assert "emqx" in services["broker-certs"]["command"][4:]
    ssl = block(emqx_conf(), "ssl_options")
    mount = next(v for v in scale["emqx"]["volumes"] if v.startswith("emqx-etc:"))
    target = mount.split(":")[1]
    assert f'certfile = "{target}/server.crt"' in ssl
    assert f'keyfile = "{target}/server.key"' in ssl
    assert re.search(r'listeners.ssl.default \{\s*bind = "0.0.0.0:8883"', emqx_conf())
    assert "emqx-etc:/emqx" in scale["emqx-prepare"]["volumes"]


def test_emqx_logs_everyone_in_and_denies_what_no_rule_allows() -> None:
    conf = emqx_conf()
    authn = conf.split("authentication = [", 1)[1].split("\n]", 1)[0]
    assert "mechanism = password_based" in authn and "backend = built_in_database" in authn
    assert "user_id_type = username" in authn
    authz = conf.split("\nauthorization {", 1)[1]
    assert re.search(r"^\s*no_match = deny$", authz, re.M)
    assert re.search(r"^\s*deny_action = ignore$", authz, re.M)  # as Mosquitto: stay connected
    sources = authz.split("sources = [", 1)[1].split("\n  ]", 1)[0]
    assert re.findall(r"type = (\w+)", sources) == ["built_in_database"]


def test_every_emqx_conf_key_is_one_emqx_5_8_9_accepts() -> None:
    keys = hocon_keys(emqx_conf())
    assert len(keys) > 20  # the parser read the file
    unknown = sorted(path for path in keys if schema_key(path) not in EMQX_KEYS)
    assert not unknown, f"not in EMQX 5.8.9's schema: {unknown}"


def test_a_misspelt_or_misplaced_emqx_key_is_caught() -> None:
    for wrong in (
        "mqtt.max_packet_size_bytes = 2MB",
        "authorization { sources = [\n{\n max_rule = 5\n}\n]\n}",
        "zones.devices.use_username_as_clientid = true",
        "listeners.ssl.default.ssl_options.cert_file = x",
    ):
        text = wrong.replace("{ ", "{\n")
        keys = hocon_keys(text)
        assert [p for p in keys if schema_key(p) not in EMQX_KEYS], wrong
    with pytest.raises(AssertionError):
        hocon_keys("mqtt max_packet_size 2MB")


def test_a_device_s_client_id_is_its_username_the_services_keep_their_own(
    services: dict[str, dict[str, Any]],
) -> None:
    """The TLS listener (devices) is in a zone where EMQX replaces the client id by the
    username before authentication, so a device cannot take another device's session; the
    plain listener (ingesters, APIs: tickwire-ingest-N) stays in zone `default`."""
    keys = hocon_keys(emqx_conf())
    assert keys["listeners.ssl.default.zone"] == "devices"
    assert keys["zones.devices.mqtt.use_username_as_clientid"] == "true"
    assert keys.get("listeners.tcp.default.zone", "default") == "default"
    assert keys.get("mqtt.use_username_as_clientid", "false") == "false"
    assert not [p for p in keys if p.startswith("zones.") and not p.startswith("zones.devices.")]
    ids = {s["environment"]["TICKWIRE_INGEST_CLIENT_ID"] for s in ingesters(services).values()}
    assert len(ids) == 3 and INGEST_ACCOUNT not in ids  # own ids, not the shared username


def test_emqx_holds_the_rules_of_a_device_with_the_most_tickers_the_api_allows() -> None:
    field = get_args(TickerList)[1]  # the API's limit on a device's tickers
    limit = next(m.max_length for m in field.metadata if hasattr(m, "max_length"))
    tickers = [f"T{n}" for n in range(limit)]
    most = max(len(emqx_rules(acls)) for acls in (device_acls("d", tickers), INGEST_ACLS, API_ACLS))
    max_rules = int(hocon_keys(emqx_conf())["authorization.sources[].max_rules"])
    assert max_rules >= most
    assert max_rules < most + 10  # no more than that: a cap still


def test_tickwire_holds_the_api_key_emqx_prepare_gives_emqx(
    services: dict[str, dict[str, Any]],
) -> None:
    bootstrap = re.search(r'api_key.bootstrap_file = "([^"]+)"', emqx_conf())
    assert bootstrap and bootstrap[1] == "/opt/emqx/etc/tickwire/api-keys"
    script = (ROOT / "deploy" / "emqx" / "emqx-prepare.sh").read_text()
    key = re.search(r"printf '(\w+):%s\\n' \"\$EMQX_API_SECRET\"", script)
    assert key
    secret = "${EMQX_API_SECRET:?set EMQX_API_SECRET in .env}"
    for name in ("emqx-setup", "api-1", "api-2"):
        url = services[name]["environment"]["TICKWIRE_MQTT_ADMIN_URL"]
        assert url == f"http://{key[1]}:{secret}@emqx:18083"
        assert emqx.is_rest_url(url)
    assert services["emqx-setup"]["command"] == ["python", "-m", "tickwire.brokerauth", "setup"]
    holders = {n for n, s in services.items() if "EMQX_API_SECRET" in str(s.get("environment"))}
    assert holders == {"emqx-prepare", "emqx-setup", "api-1", "api-2"}


def _allowed(acls: list[Acl], acltype: str) -> set[str]:
    return {str(acl["topic"]) for acl in acls if acl["acltype"] == acltype}


@pytest.mark.parametrize(
    "acls",
    [
        device_acls("dev-1", ["AAPL", "BRK.B", "^GSPC"]),
        device_acls("a:b.c_d-1", []),
        INGEST_ACLS,
        API_ACLS,
    ],
    ids=["device", "device-odd-id", INGEST_ACCOUNT, API_ACCOUNT],
)
def test_emqx_rules_allow_exactly_what_the_mosquitto_acls_allow(acls: list[Acl]) -> None:
    rules = emqx_rules(acls)
    assert all(rule["permission"] == "allow" for rule in rules)
    publish = {r["topic"] for r in rules if r["action"] == "publish"}
    subscribe = {r["topic"] for r in rules if r["action"] == "subscribe"}
    assert {r["action"] for r in rules} <= {"publish", "subscribe"}
    assert publish == _allowed(acls, "publishClientSend")
    literal = {f"eq {t}" for t in _allowed(acls, "subscribeLiteral")}
    patterns = {t for t in _allowed(acls, "subscribePattern") if not t.startswith("$share/")}
    assert subscribe == literal | patterns
    # A shared subscription is checked by EMQX as its filter: each `$share/+/F` has F.
    for topic in _allowed(acls, "subscribePattern"):
        if topic.startswith("$share/"):
            assert topic.removeprefix("$share/+/") in patterns
    assert len(rules) == len(publish) + len(subscribe)


def test_the_ingest_account_may_subscribe_to_what_the_ingester_subscribes() -> None:
    """Every filter the ingester subscribes to, plain or through its share group (EMQX
    checks `$share/<group>/F` as F), is covered by one of its EMQX subscribe rules."""
    import paho.mqtt.client as mqtt

    rules = [r["topic"] for r in emqx_rules(INGEST_ACLS) if r["action"] == "subscribe"]
    for wanted in SUBSCRIPTIONS:
        assert any(mqtt.topic_matches_sub(rule, wanted) for rule in rules), wanted


@pytest.mark.parametrize(
    "acl",
    [
        {"acltype": "publishClientReceive", "topic": "devices/+/commands", "allow": True},
        {"acltype": "publishClientSend", "topic": "devices/x/telemetry", "allow": False},
        {"acltype": "subscribePattern", "topic": "$share/+/devices/+/secret", "allow": True},
    ],
    ids=["unknown-type", "deny", "share-without-its-filter"],
)
def test_an_acl_emqx_rules_cannot_express_is_refused(acl: Acl) -> None:
    with pytest.raises(ValueError):
        emqx_rules([acl])


# --- deploy/emqx/emqx-prepare.sh, run locally -----------------------------------------------


def prepare(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The script as compose runs it, with /tls and /emqx moved under tmp_path."""
    tls = certs.ensure(tmp_path / "tls", ["emqx", "localhost"])
    script = (ROOT / "deploy" / "emqx" / "emqx-prepare.sh").read_text()
    script = script.replace("out=/emqx", f"out={tmp_path / 'emqx'}")
    script = script.replace("/tls/", f"{tls.ca_cert.parent}/")
    if os.geteuid() != 0:
        script = script.replace('chown "$owner"', ": chown")
    (tmp_path / "prepare.sh").write_text(script)
    return subprocess.run(
        ["/bin/sh", str(tmp_path / "prepare.sh")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_emqx_prepare_gives_emqx_its_key_and_certificate_readable_by_it_alone(
    tmp_path: Path,
) -> None:
    done = prepare(tmp_path, {"EMQX_API_SECRET": "s3cret-with-%-and-."})
    assert done.returncode == 0, done.stderr
    out = tmp_path / "emqx"
    assert (out / "api-keys").read_text() == "tickwire:s3cret-with-%-and-.\n"
    assert emqx_bootstrap_line("tickwire:s3cret-with-%-and-.") == (
        "tickwire",
        "s3cret-with-%-and-.",
    )
    key = (tmp_path / "tls" / "server.key").read_bytes()
    assert (out / "server.key").read_bytes() == key
    assert (out / "server.crt").read_bytes() == (tmp_path / "tls" / "server.crt").read_bytes()
    for path in (out / "api-keys", out / "server.key", out / "server.crt"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        if os.geteuid() == 0:
            assert (path.stat().st_uid, path.stat().st_gid) == (1000, 1000)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    # A second start (a renewed certificate, another secret) replaces them.
    again = prepare(tmp_path, {"EMQX_API_SECRET": "another"})
    assert again.returncode == 0, again.stderr
    assert (out / "api-keys").read_text() == "tickwire:another\n"


def test_emqx_prepare_refuses_to_run_without_the_secret(tmp_path: Path) -> None:
    for env in ({}, {"EMQX_API_SECRET": ""}):
        done = prepare(tmp_path, env)
        assert done.returncode != 0
        assert "EMQX_API_SECRET" in done.stderr
        assert not (tmp_path / "emqx" / "api-keys").exists()


def emqx_bootstrap_line(line: str) -> tuple[str, str] | None:
    """(key, secret) as EMQX 5.8.9 reads a line of api_key.bootstrap_file, or None where it
    refuses the file (apps/emqx_management/src/emqx_mgmt_auth.erl at v5.8.9: the regex
    `(.+):(.+)(?::(.+))?$`, ungreedy; a third part must be a role, and the open-source
    edition knows one, `administrator`)."""
    match = re.fullmatch(r"(.+?):(.+?)(?::(.+?))?", line.strip())
    if not match or match[3] not in (None, "administrator"):
        return None
    return match[1], match[2]


def test_emqx_prepare_refuses_a_secret_emqx_would_misread(tmp_path: Path) -> None:
    assert emqx_bootstrap_line("tickwire:a:b") is None  # EMQX reads `b` as a role
    for secret in ("a:b", "with space", "two\nlines", "tab\there"):
        done = prepare(tmp_path, {"EMQX_API_SECRET": secret})
        assert done.returncode != 0, secret
        assert "EMQX_API_SECRET must not contain" in done.stderr
        assert not (tmp_path / "emqx" / "api-keys").exists()

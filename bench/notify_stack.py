"""Alert change → webhook received latency on a running `make up` stack
(`python -m bench.notify --api-url URL --admin-password P [--mqtt-url URL]`).

Everything goes through the stack's own front doors, as a user would: the admin logs in
(`/auth/jwt/login`), registers a device (`POST /api/devices`, which returns its MQTT login
when the stack manages broker credentials), adds three webhook channels filtered to
HIGH_TEMP (`POST /api/notification-channels`: two answering receivers and a black hole on
127.0.0.1, so the stack must run with `TICKWIRE_WEBHOOK_ALLOW_PRIVATE=true`), then publishes
the device's temperature over MQTT to the stack's broker, alternating 24 °C / 31.5 °C every
`spacing` seconds: each reading raises or clears the built-in HIGH_TEMP alert in the stack's
ingester, and the stack's notifier sends each change. Latency: from the alert's time of
change in the database (`raised_at` / `cleared_at` in the webhook body) to the receipt.
The device and the channels are deleted afterwards.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.notify_ingest import change_latency_ms, percentile
from tests.notify_support import Receiver, receiver
from tickwire import mqtt as adapter
from tickwire.contract import telemetry_topic
from tickwire.notifications import DELIVERY_HEADER
from tickwire.settings import MqttAddress

log = logging.getLogger("bench.notify")
SECRET = "bench-secret-0123456789"


def run(
    api_url: str, email: str, password: str, mqtt_url: str, changes: int, spacing: float
) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    device = f"bench-notify-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=api_url, timeout=30) as api, ExitStack() as stack:
        hooks = [
            stack.enter_context(receiver()),
            stack.enter_context(receiver()),
            stack.enter_context(receiver(["hang"] * 100_000)),
        ]
        login = api.post("/auth/jwt/login", data={"username": email, "password": password})
        login.raise_for_status()
        api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        created = _ok(api.post("/api/devices", json={"device_id": device, "name": device}))
        stack.callback(api.delete, f"/api/devices/{device}")
        for hook in hooks:
            channel = _ok(
                api.post(
                    "/api/notification-channels",
                    json={
                        "name": "bench",
                        "kind": "webhook",
                        "url": hook.url,
                        "secret": SECRET,
                        "filter": {"kinds": ["HIGH_TEMP"]},
                    },
                )
            )
            stack.callback(api.delete, f"/api/notification-channels/{channel['id']}")
        _publish(mqtt_url, device, created.get("credentials"), changes + 1, spacing)
        answering = hooks[:2]
        deadline = time.monotonic() + 120
        while any(len(_mine(h, device)) < changes for h in answering):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        latencies = [ms for hook in answering for ms in _latencies(hook, device)]
        ids = [i for hook in answering for i in _ids(hook, device)]
    return {
        "stack_api_url": api_url,
        "stack_changes": changes,
        "stack_received": len(ids),
        "stack_expected": 2 * changes,
        "stack_dup": len(ids) - len(set(ids)),
        "stack_latency_p50_ms": round(percentile(latencies, 50), 1),
        "stack_latency_p99_ms": round(percentile(latencies, 99), 1),
        "stack_latency_max_ms": round(max(latencies, default=float("nan")), 1),
    }


def table(s: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"on the running stack at {s['stack_api_url']} (its ingester, notifier, broker):",
            f"{'alert changes (HIGH_TEMP raise/clear)':<44}{s['stack_changes']:>12}",
            f"{'received by the answering receivers':<44}"
            f"{s['stack_received']:>12} / {s['stack_expected']}",
            f"{'change → webhook received p50 (ms)':<44}{s['stack_latency_p50_ms']:>12}",
            f"{'change → webhook received p99 (ms)':<44}{s['stack_latency_p99_ms']:>12}",
            f"{'change → webhook received max (ms)':<44}{s['stack_latency_max_ms']:>12}",
        ]
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.is_error:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _publish(
    mqtt_url: str, device: str, credentials: dict[str, str] | None, readings: int, spacing: float
) -> None:
    """`readings` of `device`, cold first, then hot and cold by turns, `spacing` s apart."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device)
    if credentials:
        client.username_pw_set(credentials["username"], credentials["password"])
    adapter.connect_blocking(client, MqttAddress(mqtt_url))
    client.loop_start()
    try:
        for n in range(readings):
            body = {"deviceId": device, "ts": int(time.time() * 1000), "seq": n}
            body["temperature"] = 31.5 if n % 2 else 24.0
            info = client.publish(telemetry_topic(device), json.dumps(body), qos=1)
            info.wait_for_publish(10)
            time.sleep(spacing)
    finally:
        client.disconnect()
        client.loop_stop()


def _mine(hook: Receiver, device: str) -> list[dict[str, Any]]:
    bodies = [orjson.loads(got.body) for got in hook.got]
    return [b for b in bodies if b["alert"].get("device_id") == device]


def _ids(hook: Receiver, device: str) -> list[str]:
    wanted = DELIVERY_HEADER.lower()
    return [
        v
        for got in hook.got
        if orjson.loads(got.body)["alert"].get("device_id") == device
        for k, v in got.headers.items()
        if k.lower() == wanted
    ]


def _latencies(hook: Receiver, device: str) -> list[float]:
    return [
        ms
        for got in hook.got
        if orjson.loads(got.body)["alert"].get("device_id") == device
        and (ms := change_latency_ms(got)) is not None
    ]

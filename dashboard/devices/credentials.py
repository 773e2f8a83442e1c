"""A device's MQTT login as the user is shown it once: username, password, the broker and a
ready `mosquitto_pub` line, each with a copy button (/devices/new and
/devices/<id>/credentials)."""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import quote

from dash import dcc, html

SAMPLE = '{"temperature": 21.5}'


def mosquitto_pub(device_id: str, password: str | None, broker: dict[str, Any]) -> str:
    """The shell line that publishes one reading as the device (`password` None: an anonymous
    broker). Every value is shell-quoted: a password may hold any character."""
    words = ["mosquitto_pub", "-h", broker["host"], "-p", str(broker["port"])]
    if broker.get("tls"):
        words += ["--cafile", broker.get("ca_file") or "ca.crt"]
    words += ["-i", device_id]
    if password is not None:
        words += ["-u", device_id, "-P", password]
    words += ["-q", "1", "-t", f"devices/{device_id}/telemetry", "-m", SAMPLE]
    return shlex.join(words)


def _copyable(label: str, ident: str, text: str, block: bool = False) -> html.Div:
    shown = html.Pre(text, id=ident) if block else html.Code(text, id=ident)
    return html.Div(
        className="cred-row",
        children=[
            html.Span(label, className="cred-label"),
            shown,
            dcc.Clipboard(target_id=ident, title=f"Copy {label.lower()}", className="cred-copy"),
        ],
    )


def view(device_id: str, credentials: dict[str, Any] | None, broker: dict[str, Any]) -> html.Div:
    """The credentials panel: what to copy now (the password is never shown again)."""
    password = credentials["password"] if credentials else None
    rows = [_copyable("Broker", "cred-broker", broker["url"])]
    if broker.get("tls"):
        rows.append(_copyable("CA file", "cred-ca", broker.get("ca_file") or "the system's CAs"))
    rows.append(_copyable("Client id", "cred-client", device_id))
    if password is not None:
        rows += [
            _copyable("Username", "cred-username", device_id),
            _copyable("Password", "cred-password", password),
        ]
    rows.append(
        _copyable("Try it", "cred-command", mosquitto_pub(device_id, password, broker), True)
    )
    if password is not None:
        note = (
            "Copy the password now: it is shown only this once (the broker keeps only a hash). "
            "Lost it? Issue a new one — the old one stops working at once."
        )
    else:
        note = "This broker takes devices without a login (no credential management)."
    topics = (
        f"Publish readings on devices/{device_id}/telemetry (any numbers: "
        f'{{"temperature": 21.5, "humidity": 40}}), heartbeats on devices/{device_id}/heartbeat; '
        f"commands arrive on devices/{device_id}/commands."
    )
    return html.Div(
        className="tw-panel wide cred-panel",
        id="cred-panel",
        children=[
            html.H3(f"MQTT credentials of {device_id}"),
            html.P(note, className="cred-note"),
            *rows,
            html.P(topics, className="tw-quiet"),
            html.Div(
                className="cred-links",
                children=[
                    dcc.Link(
                        "Open the device's page", href=f"/devices/{quote(device_id, safe='')}"
                    ),
                    dcc.Link(
                        "Issue a new password",
                        href=f"/devices/{quote(device_id, safe='')}/credentials",
                    ),
                ],
            ),
        ],
    )

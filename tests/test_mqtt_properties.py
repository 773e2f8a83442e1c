# paho's Properties and decoder are untyped.
# mypy: disable-error-code="no-untyped-call,attr-defined"
"""The lean MQTT 5 properties the ingester decodes into read exactly as paho's own."""

from __future__ import annotations

import struct

from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tickwire.mqtt_properties import LeanProperties, lighten


def publish_body(properties: Properties | None) -> bytes:
    """A QoS 1 PUBLISH after its fixed header: topic, packet id, properties, payload."""
    topic = b"devices/p-1/telemetry"
    packed = properties.pack() if properties is not None else b"\x00"
    return struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + packed + b'{"t":1}'


def rich() -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.MessageExpiryInterval = 30
    props.UserProperty = [("a", "1"), ("b", "2")]
    props.CorrelationData = b"\x00\xff"
    props.PayloadFormatIndicator = 1
    return props


def test_lean_properties_decode_as_paho_does_and_clear_what_was_set() -> None:
    assert lighten() and lighten()  # idempotent
    assert _packet.Properties is LeanProperties
    for sent in (None, rich()):
        body = publish_body(sent)
        lean = _packet.decode_publish(0x32, body, MQTTProtocolVersion.MQTTv5)
        mine = Properties(PacketTypes.PUBLISH)
        mine.unpack(body[2 + 21 + 2 :])
        assert isinstance(lean.properties, LeanProperties)
        assert lean.properties.json() == mine.json()
        assert str(lean.properties) == str(mine)
        assert (lean.topic, lean.mid, lean.payload) == (b"devices/p-1/telemetry", 7, b'{"t":1}')
        assert lean.properties.isEmpty() == (sent is None)
        lean.properties.clear()
        assert lean.properties.json() == {} and lean.properties.isEmpty()
    # A new one starts empty, whatever an earlier one held.
    assert LeanProperties(PacketTypes.PUBLISH).isEmpty()

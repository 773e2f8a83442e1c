"""paho's MQTT 5 `Properties`, made cheap to create for a process receiving many messages.

paho builds a `Properties` for every PUBLISH it decodes, and its constructor rebuilds the
property tables (two dicts and dozens of list look-ups) while `unpack()` first clears every
known property name (a string replace and a `hasattr` each): at ingest rates this was the
largest single cost of a message, with properties tickwire never reads. `lighten()` has paho's
decoder build `LeanProperties` instead: the same class's behaviour, its tables shared (paho
only reads them) and `clear()` deleting the properties actually set.
"""

from __future__ import annotations

from typing import Final

from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

_TABLES: Final = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_OWN: Final = frozenset({"packetType", "types", "names", "properties"})


class LeanProperties(Properties):
    def __init__(self, packetType: int) -> None:
        set_ = object.__setattr__
        set_(self, "packetType", packetType)
        set_(self, "types", _TABLES.types)
        set_(self, "names", _TABLES.names)
        set_(self, "properties", _TABLES.properties)

    def clear(self) -> None:
        for name in [name for name in vars(self) if name not in _OWN]:
            object.__delattr__(self, name)


def lighten() -> bool:
    """Have paho decode packets into `LeanProperties` (this process only); False when this
    paho is not laid out as expected (then nothing changes)."""
    if getattr(_packet, "Properties", None) is not Properties:
        return getattr(_packet, "Properties", None) is LeanProperties
    _packet.Properties = LeanProperties  # type: ignore[attr-defined]
    return True

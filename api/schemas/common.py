"""What every CRUD body shares: strict input models, read models, the identifier types.

Input models refuse unknown fields, wrong types (no "30" for 30, no 1 for true), NaN and
±Infinity, over-long strings and NUL/control characters (PostgreSQL cannot store NUL in text).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# The MQTT contract's patterns: ids valid over MQTT are valid here, and only those.
from tickwire.contract import ID_RE
from tickwire.contract import METRIC_RE as METRIC_RE
from tickwire.contract import TICKER_RE as TICKER_RE

DEVICE_ID_RE = ID_RE

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def _whole(pattern: re.Pattern[str]) -> StringConstraints:
    """Pydantic's regex searches: anchor the pattern so the whole string must match."""
    return StringConstraints(pattern=f"^{pattern.pattern}$")


DeviceId = Annotated[str, _whole(DEVICE_ID_RE)]
Ticker = Annotated[str, _whole(TICKER_RE)]
Metric = Annotated[str, _whole(METRIC_RE)]
#: A short token such as a device kind: `sensor`, `feed`, `gateway`…
Kind = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")]
#: Free text for people (names): trimmed, 1–200 characters, no control characters.
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_CONTROL),
]
#: A user id given as a string (strict mode would want a UUID instance).
UserId = Annotated[uuid.UUID, Field(strict=False)]


class Input(BaseModel):
    """Base of request bodies: strict, closed, finite."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Patch(Input):
    """Base of PATCH bodies: absent = unchanged; `null` only where `nullable` allows it."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Patch:
        for name in self.model_fields_set - self.nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Output(BaseModel):
    """Base of response bodies, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)

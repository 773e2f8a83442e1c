"""Choosing an export format: `format=` wins; else the `Accept` header, with q-values.

For each format the most specific matching media range gives its quality (RFC 9110 §12.5.1);
the highest quality wins, then the more specific match (`text/csv` over `*/*`), then the
server's order of preference, JSON first: no header, an empty one, or `*/*` mean JSON.
"""

from __future__ import annotations

from typing import NamedTuple

from api.error_codes import ErrorCode
from api.errors import Invalid, NotAcceptable
from api.export.exporters import EXPORTERS, Exporter


class MediaRange(NamedTuple):
    type: str
    subtype: str
    q: float


class _Match(NamedTuple):
    q: float
    specificity: int


def choose(format_name: str | None, accept: str | None) -> Exporter:
    """The exporter for a request; Invalid `invalid_format` or NotAcceptable (406)."""
    if format_name is not None:
        exporter = EXPORTERS.get(format_name.strip().lower())
        if exporter is None:
            raise Invalid(
                f"format must be one of {', '.join(EXPORTERS)}",
                code=ErrorCode.INVALID_FORMAT,
                details={"allowed": list(EXPORTERS)},
            )
        return exporter
    if accept is None or not accept.strip():
        return next(iter(EXPORTERS.values()))
    return _negotiate(parse_accept(accept))


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header; malformed elements are ignored."""
    ranges = []
    for element in header.split(","):
        media, *params = (part.strip() for part in element.split(";"))
        kind, slash, subtype = media.lower().partition("/")
        if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                q = _quality(value.strip())
        ranges.append(MediaRange(kind, subtype, q))
    return ranges


def _quality(text: str) -> float:
    """A q-value in [0, 1]; anything unreadable counts as 0 (not acceptable)."""
    try:
        q = float(text)
    except ValueError:
        return 0.0
    return q if 0.0 <= q <= 1.0 else 0.0


def _negotiate(ranges: list[MediaRange]) -> Exporter:
    best: tuple[_Match, int, Exporter] | None = None
    for preference, exporter in enumerate(EXPORTERS.values()):
        matches = [m for m in (_match(ranges, media) for media in exporter.media_types) if m]
        # The most specific match over the format's media types decides (an explicit q=0
        # on one of them is not undone by `*/*` matching another).
        match = max(matches, key=lambda m: (m.specificity, m.q), default=None)
        if match is None or match.q <= 0:
            continue
        key = (match, -preference, exporter)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None:
        offered = [media for e in EXPORTERS.values() for media in e.media_types]
        raise NotAcceptable(
            "none of the export media types is acceptable",
            details={"available": offered},
        )
    return best[2]


def _match(ranges: list[MediaRange], media: str) -> _Match | None:
    """The quality the most specific range matching `media` gives it (None: no range)."""
    kind, _, subtype = media.partition("/")
    found: _Match | None = None
    for r in ranges:
        if r.type == kind and r.subtype == subtype:
            specificity = 2
        elif r.type == kind and r.subtype == "*":
            specificity = 1
        elif r.type == "*":
            specificity = 0
        else:
            continue
        if found is None or specificity > found.specificity:
            found = _Match(r.q, specificity)
    return found

"""Export formats: CSV, JSON array, NDJSON and XML, each rendered by PostgreSQL itself.

Every format is one `COPY (SELECT …) TO STDOUT` whose rows are already the bytes of the
response, so the API only passes chunks through: CSV with COPY's own quoting; JSON, NDJSON
and XML as one pre-rendered text line per row, copied in CSV mode with a quote and a delimiter
that a rendered line can never contain (control characters are escaped), so COPY leaves each
line untouched. Times are ISO-8601 UTC with microseconds in every format; numbers are
PostgreSQL's shortest exact form (`extra_float_digits` > 0, set by the stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

ColumnKind = Literal["time", "text", "number", "nullable_number"]

#: `2026-01-01T00:00:00.000000Z` for a timestamptz column, whatever the session's TimeZone.
_ISO_UTC: Final = """to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
#: Characters XML 1.0 forbids even escaped (tab, LF and CR are allowed): become U+FFFD.
_XML_FORBIDDEN: Final = "".join(chr(c) for c in range(1, 32) if c not in (9, 10, 13))
#: A regular expression matching text that needs escaping (any control character, & < >).
_XML_SPECIAL: Final = "[&<>\x01-\x1f]"
_XML_REPLACEMENTS: Final = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
#: COPY CSV quote and delimiter for pre-rendered lines: never present in a rendered line.
_LINE_COPY: Final[dict[str, str | bool]] = {"format": "csv", "quote": "\x01", "delimiter": "\x02"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind


def _literal(text: str) -> str:
    """A SQL string literal; control characters spelled as escapes (E'…\\x01…')."""
    body = "".join(
        f"\\x{ord(c):02x}" if ord(c) < 32 else ("\\\\" if c == "\\" else c) for c in text
    )
    return "E'" + body.replace("'", "''") + "'"


def _json_value(column: Column) -> str:
    """SQL rendering one column as a JSON value (to_json escapes strings and non-finite)."""
    name = column.name
    if column.kind == "time":
        return "'\"' || " + _ISO_UTC.format(name) + " || '\"'"
    if column.kind == "nullable_number":
        return f"coalesce(to_json({name})::text, 'null')"
    return f"to_json({name})::text"


def _xml_text(sql: str) -> str:
    """SQL escaping a text expression as XML character data (the costly escape only for the
    rare value that needs it)."""
    forbidden = _literal(_XML_FORBIDDEN)
    escaped = f"translate({sql}, {forbidden}, {_literal(chr(0xFFFD) * len(_XML_FORBIDDEN))})"
    for raw, entity in (*_XML_REPLACEMENTS, ("\n", "&#10;"), ("\r", "&#13;")):
        escaped = f"replace({escaped}, {_literal(raw)}, '{entity}')"
    return f"CASE WHEN {sql} ~ {_literal(_XML_SPECIAL)} THEN {escaped} ELSE {sql} END"


def _xml_element(column: Column) -> str:
    """SQL rendering one column as `<name>…</name>`; a NULL number leaves the element out."""
    name = column.name
    if column.kind == "time":
        inner = _ISO_UTC.format(name)
    elif column.kind == "text":
        inner = _xml_text(name)
    else:
        inner = f"{name}::text"
    element = f"'<{name}>' || {inner} || '</{name}>'"
    return f"coalesce({element}, '')" if column.kind == "nullable_number" else element


class JsonArrayFraming:
    """Turns a stream of `object\\n` lines into `[\\n object,\\n object\\n]\\n`.

    Chunks may split lines anywhere: the separator after the last line seen is held back
    until more rows arrive, so the array is valid JSON when empty and however it is cut.
    """

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        out = self._held + chunk.replace(b"\n", b",\n")
        self._held = b""
        if out.endswith(b",\n"):
            out, self._held = out[:-2], b",\n"
        return out


@dataclass(frozen=True, slots=True)
class Exporter:
    """One format: how to name it, how PostgreSQL renders a row, what goes around the rows."""

    name: str
    media_type: str
    aliases: tuple[str, ...] = ()
    prologue: str = ""
    epilogue: str = ""
    json_array: bool = False
    copy_options: dict[str, str | bool] = field(default_factory=lambda: dict(_LINE_COPY))

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.media_type, *self.aliases)

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"

    def select_list(self, columns: tuple[Column, ...]) -> str:
        """The SELECT list of the COPY: one column per field (CSV) or one rendered line."""
        if self.name == "csv":
            return ", ".join(
                f"{_ISO_UTC.format(c.name)} AS {c.name}" if c.kind == "time" else c.name
                for c in columns
            )
        if self.name == "xml":
            return " || ".join(("'<row>'", *map(_xml_element, columns), "'</row>'"))
        pairs = (f"'\"{c.name}\":' || {_json_value(c)}" for c in columns)
        return "'{' || " + " || ',' || ".join(pairs) + " || '}'"

    def around(self, root: str) -> tuple[bytes, bytes]:
        """What precedes and follows the rows of a document whose root element is `root`."""
        return (
            self.prologue.format(root=root).encode(),
            self.epilogue.format(root=root).encode(),
        )


CSV: Final = Exporter("csv", "text/csv", copy_options={"format": "csv", "header": True})
JSON: Final = Exporter(
    "json", "application/json", prologue="[\n", epilogue="\n]\n", json_array=True
)
NDJSON: Final = Exporter("ndjson", "application/x-ndjson", aliases=("application/ndjson",))
XML: Final = Exporter(
    "xml",
    "application/xml",
    aliases=("text/xml",),
    prologue='<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n',
    epilogue="</{root}>\n",
)
#: By name, in the server's order of preference (the first is the default).
EXPORTERS: Final = {e.name: e for e in (JSON, CSV, NDJSON, XML)}

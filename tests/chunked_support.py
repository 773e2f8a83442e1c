"""HTTP/1.1 chunked transfer coding decoded by hand, for raw-socket clients that read a stream
as it arrives (bench/sse.py's many cheap SSE clients; uvicorn chunks every streamed body)."""

from __future__ import annotations


class Dechunker:
    """HTTP/1.1 chunked transfer coding → the body's bytes, fed as they arrive."""

    def __init__(self) -> None:
        self._raw = b""
        self._left = 0  # bytes of the current chunk still to come, then its CRLF
        self._done = False  # the last (empty) chunk came

    def feed(self, data: bytes) -> bytes:
        if self._done:
            return b""
        self._raw += data
        out: list[bytes] = []
        while self._raw:
            if self._left > 0:
                piece = self._raw[: self._left]
                out.append(piece)
                self._left -= len(piece)
                self._raw = self._raw[len(piece) :]
                if self._left > 0:
                    break
                self._left = -2  # the chunk's trailing CRLF
            if self._left < 0:
                if len(self._raw) < 2:
                    break
                self._raw, self._left = self._raw[2:], 0
            line_end = self._raw.find(b"\r\n")
            if line_end < 0:
                break
            size = int(self._raw[:line_end].split(b";")[0], 16)
            self._raw = self._raw[line_end + 2 :]
            if size == 0:
                self._raw, self._done = b"", True
                break
            self._left = size
        return b"".join(out)

"""The chunked-body decoder of raw SSE clients (tests/chunked_support.py, used by bench/sse.py):
whatever the read boundaries, the body comes out whole (a chunk-size line left in the body once
hid events from bench.stream)."""

from __future__ import annotations

import itertools
import random

from tests.chunked_support import Dechunker


def _chunked(body: bytes, cuts: list[int]) -> bytes:
    edges = [0, *sorted(cuts), len(body)]
    parts = [body[a:b] for a, b in itertools.pairwise(edges) if b > a]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_any_read_boundaries_give_the_body_back() -> None:
    rng = random.Random(7)
    body = b"".join(b'id: %d\nevent: price\ndata: {"n": %d}\n\n' % (i, i) for i in range(40))
    for _ in range(300):
        encoded = _chunked(body, [rng.randrange(len(body)) for _ in range(rng.randrange(1, 9))])
        decoder, out, at = Dechunker(), b"", 0
        while at < len(encoded):
            step = rng.randint(1, 40)
            out += decoder.feed(encoded[at : at + step])
            at += step
        assert out == body

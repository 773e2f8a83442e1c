"""The live stream (`GET /api/stream`): server-sent events from the journal (`stream_events`).

`hub` tails the journal and fans each event out to the `subscriber`s whose filter and rights
match (`routing`); `response` writes one subscriber's frames (`frames`) to its HTTP client,
after its missed events (`backlog`). See docs/stream.md.
"""

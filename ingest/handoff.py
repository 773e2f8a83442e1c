"""What the receiver and the batch writer share: the queue of batches between them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ingest.backlog import Backlog
from ingest.batch import Batch
from ingest.stats import Stats
from ingest.subscriber import Subscriber


@dataclass
class Handoff:
    """The receiver puts batches on `batches` (None: no more); the writer commits them and
    acknowledges their messages to `subscriber`. `idle` is set while a writer connection is
    free and no batch waits: the receiver may flush early then. `backlog` tracks how long what
    was received has waited for its commit; `stats` counts both sides."""

    subscriber: Subscriber
    batches: asyncio.Queue[Batch | None]
    idle: asyncio.Event
    backlog: Backlog
    stats: Stats

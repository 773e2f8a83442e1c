"""uvicorn, ending the live streams first when it is asked to stop.

uvicorn's graceful shutdown waits for every response to finish before the lifespan ends, and
a live stream never finishes by itself: each gets `event: dropped` (`shutdown`) and ends, and
its client reconnects (to another replica, or this one once restarted) and resumes.
"""

from __future__ import annotations

import socket

import uvicorn

from api.stream.hub import Hub


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.hub.close()
        await super().shutdown(sockets)

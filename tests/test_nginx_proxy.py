"""deploy/nginx.conf (compose.yaml's profile `scale`) on the local nginx, in front of two real
HTTP servers: each stream event passes at once, requests spread over the replicas, a dead one
is skipped. Its structure is checked in test_compose_scale.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[1]

HOLD_S = 3.0
"""How long a replica holds the stream's second event after sending the first."""


def replica_app(name: str) -> Any:
    """A stand-in replica: /api/stream sends one event, then another HOLD_S later (without
    the API's X-Accel-Buffering header: the proxy's own configuration must pass it); /who
    names the replica and the client address uvicorn took from X-Forwarded-For."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    async def stream(_request: Request) -> StreamingResponse:
        async def events() -> Any:
            yield b"id: 1\ndata: first\n\n"
            await asyncio.sleep(HOLD_S)
            yield b"id: 2\ndata: second\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def who(request: Request) -> JSONResponse:
        client = request.client.host if request.client else None
        return JSONResponse({"replica": name, "client": client})

    return Starlette(routes=[Route("/api/stream", stream), Route("/who", who)])


class Replica:
    """uvicorn on 127.0.0.1 in a thread, trusting X-Forwarded-For as compose's replicas do."""

    def __init__(self, name: str) -> None:
        import threading

        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            replica_app(name),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            forwarded_allow_ips="*",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Proxy:
    """deploy/nginx.conf with its upstreams on the replicas' ports and its listener and
    pid file moved, run by the local nginx in the foreground."""

    def __init__(self, workdir: Path, ports: dict[str, int], conf: str | None = None) -> None:
        from devstack.ports import wait_for_port

        conf = conf if conf is not None else (ROOT / "deploy" / "nginx.conf").read_text()
        for name, port in ports.items():
            conf = conf.replace(f"server {name}:8000 ", f"server 127.0.0.1:{port} ")
        self.port = free_port()
        conf = conf.replace("listen 8000;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("pid /tmp/nginx.pid;", f"pid {workdir / 'nginx.pid'};")
        assert f"listen 127.0.0.1:{self.port};" in conf
        assert all(f"server 127.0.0.1:{port} " in conf for port in ports.values())
        (workdir / "logs").mkdir(exist_ok=True)
        (workdir / "nginx.conf").write_text(conf)
        command = ["nginx", "-p", str(workdir), "-c", str(workdir / "nginx.conf")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=20)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
        wait_for_port("127.0.0.1", self.port, 10, self.process)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def replicas() -> Any:
    started = {"api-1": Replica("api-1"), "api-2": Replica("api-2")}
    from devstack.ports import wait_for_port

    for replica in started.values():
        wait_for_port("127.0.0.1", replica.port, 10)
    yield started
    for replica in started.values():
        replica.stop()


def nginx_or_skip() -> None:
    import shutil

    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")


def event_times(url: str) -> dict[str, float]:
    """Seconds from the request until each of the stream's events arrived through the proxy."""
    import time

    started, arrived = time.monotonic(), {}
    with httpx.stream("GET", f"{url}/api/stream", timeout=HOLD_S * 3) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrived[line.removeprefix("data: ")] = time.monotonic() - started
    return arrived


def test_the_proxy_passes_each_stream_event_at_once(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    nginx_or_skip()
    ports = {name: replica.port for name, replica in replicas.items()}
    proxy = Proxy(tmp_path, ports)
    try:
        for _ in range(2):  # both replicas
            arrived = event_times(proxy.url)
            # The first event long before the replica sends the second, then the second.
            assert arrived["first"] < HOLD_S * 0.8
            assert arrived["second"] >= HOLD_S
    finally:
        proxy.stop()


def test_the_proxy_spreads_over_the_replicas_names_the_client_and_skips_a_dead_one(
    replicas: dict[str, Replica], tmp_path: Path
) -> None:
    nginx_or_skip()
    ports = {name: replica.port for name, replica in replicas.items()}
    proxy = Proxy(tmp_path, ports)
    try:
        # A client's own X-Forwarded-For is overwritten: the replica sees the real address.
        spoofed = {"X-Forwarded-For": "203.0.113.7"}
        answers = [httpx.get(f"{proxy.url}/who", headers=spoofed).json() for _ in range(6)]
        assert {a["replica"] for a in answers} == {"api-1", "api-2"}
        assert {a["client"] for a in answers} == {"127.0.0.1"}
        replicas["api-1"].stop()
        for _ in range(6):
            answer = httpx.get(f"{proxy.url}/who", timeout=10)
            assert answer.status_code == 200
            assert answer.json()["replica"] == "api-2"
    finally:
        proxy.stop()

"""Services as separate processes, the way a service manager runs them: `python -m <module>`
children, the processes of `make up`'s stack, PostgreSQL's postmaster, a stalled process.

The benches (`bench/`) use these too: the measuring tools depend on the suite's harness, never
the other way round."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from api.admin import ensure_admin
from api.settings import ApiSettings
from devstack.broker import Mosquitto
from devstack.ports import free_port

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def service(
    module: str,
    env: dict[str, str],
    log_path: Path,
    stop: signal.Signals = signal.SIGTERM,
    grace_s: float = 30.0,
    cwd: Path = REPO,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m <module>` with `env` over this process's environment, output to `log_path`;
    on exit send `stop` as a service manager would, and kill it after `grace_s`. The child's
    `returncode` is set afterwards. `cwd`: the source tree whose code runs (another commit's,
    for a before/after bench)."""
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
        try:
            yield child
        finally:
            child.send_signal(stop)
            try:
                child.wait(grace_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def stack_child(root: int, name: str) -> psutil.Process | None:
    """The live process `python -m <name>` under `root` (`make up`'s supervisor), or Mosquitto
    for 'mosquitto'."""
    for process in psutil.Process(root).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = process.cmdline()
            if process.status() == psutil.STATUS_ZOMBIE or not command:
                continue
            if name == "mosquitto" and command[0].endswith("mosquitto"):
                return process
            if command[1:3] == ["-m", name]:
                return process
    return None


def postmaster(pg_data: Path) -> psutil.Process | None:
    """The running PostgreSQL server of a data directory (from its postmaster.pid)."""
    with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
        process = psutil.Process(int((pg_data / "postmaster.pid").read_text().split()[0]))
        if process.status() != psutil.STATUS_ZOMBIE:
            return process
    return None


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """A process and all its children stopped (SIGSTOP) inside the block, continued after:
    for PostgreSQL, a stalled server (connections open, nothing answers)."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


@contextmanager
def api_process(
    database_url: str,
    workdir: Path,
    mqtt_url: str = "mqtt://127.0.0.1:1",
    secret: str | None = None,
    source: Path = REPO,
) -> Iterator[tuple[str, int, str]]:
    """`python -m api` in a child process; yields (base URL, pid, admin bearer token). No
    broker by default: reading (history, export, the stream) needs none. `secret`: another
    replica's, so that tokens are good on both; `source`: the tree whose API runs."""
    port, password = free_port(), secrets.token_urlsafe(12)
    env = dict(
        TICKWIRE_DATABASE_URL=database_url,
        TICKWIRE_MQTT_URL=mqtt_url,
        TICKWIRE_SECRET=secret or secrets.token_urlsafe(40),
        TICKWIRE_HTTP_PORT=str(port),
        TICKWIRE_DATA_DIR=str(workdir / "api"),
        TICKWIRE_ADMIN_PASSWORD=password,
        TICKWIRE_LOG_LEVEL="WARNING",
    )
    settings = ApiSettings(
        database_url=database_url, data_dir=workdir / "api", admin_password=password
    )
    asyncio.run(ensure_admin(settings))
    with service("api", env, workdir / "api.log", cwd=source) as child:
        base = f"http://127.0.0.1:{port}"
        yield base, child.pid, _login(base, child, settings.admin_email, password)


@contextlib.asynccontextmanager
async def api_replicas(
    database_url: str, workdir: Path, count: int
) -> AsyncIterator[list[tuple[str, str]]]:
    """`count` `api_process`es sharing one secret (a token is good on each): (base URL, admin
    bearer token) each."""
    secret = secrets.token_urlsafe(40)
    with contextlib.ExitStack() as stack:
        out = []
        for number in range(count):
            (workdir / f"api{number}").mkdir()
            started = api_process(database_url, workdir / f"api{number}", secret=secret)
            url, _, token = await asyncio.to_thread(stack.enter_context, started)
            out.append((url, token))
        try:
            yield out
        finally:
            await asyncio.to_thread(stack.close)


def _login(base: str, child: subprocess.Popen[bytes], email: str, password: str) -> str:
    """Wait for the API to answer, then log the admin in."""
    deadline = time.monotonic() + 60
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"the API exited with {child.returncode}")
        try:
            response = httpx.post(
                f"{base}/auth/jwt/login", data={"username": email, "password": password}
            )
            response.raise_for_status()
            return str(response.json()["access_token"])
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def spawn_ingester(
    database_url: str,
    broker: Mosquitto,
    client_id: str,
    log: Path,
    url: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`python -m ingest` on `broker` (as `url` when given: an account's login), with `env`'s
    settings added."""
    env = {
        **os.environ,
        "TICKWIRE_DATABASE_URL": database_url,
        "TICKWIRE_MQTT_URL": url or broker.url,
        "TICKWIRE_INGEST_CLIENT_ID": client_id,
        "TICKWIRE_BATCH_MAX_MESSAGES": "100",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ingest"],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )

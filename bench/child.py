"""A tickwire service as the benches run it: its real `python -m <module>` in a child process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def service(
    module: str,
    env: dict[str, str],
    log_path: Path,
    stop: signal.Signals = signal.SIGTERM,
    grace_s: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m <module>` with `env` over the bench's environment, output to `log_path`;
    on exit send `stop` as a service manager would, and kill it after `grace_s`. The child's
    `returncode` is set afterwards."""
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
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

"""A tickwire service as the benches run it: its real `python -m <module>` in a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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

"""`make up`'s supervisor: whatever it started and dies is started again, with back-off.

A unit is anything the stack runs that can die on its own: a `python -m …` service, the
embedded Mosquitto, the embedded PostgreSQL. When one ends while the stack is not stopping,
the supervisor logs which, how (exit status or signal) and after how long, waits (1 s, then
twice as long after each death that came before it had run `healthy_s`, at most `max_s`) and
starts it again. Only Ctrl-C / SIGTERM stops the stack; then the services stop newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

log = logging.getLogger("devstack.supervisor")

Restart = Literal["always", "on-failure"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """The delay before a restart: doubles while a unit keeps dying young, reset by a run
    of `healthy_s` or more."""

    first_s: float = 1.0
    max_s: float = 60.0
    healthy_s: float = 30.0

    def next(self, previous: float | None, ran_s: float) -> float:
        if previous is None or ran_s >= self.healthy_s:
            return self.first_s
        return min(previous * 2, self.max_s)


class Unit(Protocol):
    """Something the supervisor keeps running."""

    name: str
    restart: Restart

    async def start(self) -> None:
        """Start it; raise if it cannot."""

    async def ended(self) -> int | None:
        """Wait until it ends; return its exit status (negative: killed by that signal; None:
        not known, as for a process that is not the supervisor's child)."""

    def pid(self) -> int | None: ...


def how(status: int | None) -> str:
    """An exit status as a person reads it: 'exited with status 1', 'killed by SIGKILL'."""
    if status is None:
        return "ended (exit status unknown)"
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exited with status {status}"


class Service:
    """`python -m <module>` with `env`, its output on the supervisor's."""

    def __init__(self, module: str, env: dict[str, str], restart: Restart = "always") -> None:
        self.name = module
        self.restart = restart
        self._env = env
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.name, env=self._env
        )

    async def ended(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM (it finishes its work: the ingester commits and acknowledges), then kill."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace_s)
        except TimeoutError:
            log.warning("%s did not stop in %.0f s: killing it", self.name, grace_s)
            process.kill()
            await process.wait()


class Watched:
    """A unit started elsewhere (a broker, a database) and watched by its pid."""

    def __init__(
        self,
        name: str,
        pid: Callable[[], int | None],
        running: Callable[[], bool],
        start: Callable[[], Awaitable[None]],
        status: Callable[[], int | None] = lambda: None,
        poll_s: float = 0.5,
    ) -> None:
        self.name = name
        self.restart: Restart = "always"
        self._pid = pid
        self._running = running
        self._status = status
        self._start = start
        self._poll_s = poll_s

    async def start(self) -> None:
        await self._start()

    async def ended(self) -> int | None:
        # Not this process's child (or not only): its pid is all there is to watch.
        while self._running():  # noqa: ASYNC110
            await asyncio.sleep(self._poll_s)
        return self._status()

    def pid(self) -> int | None:
        return self._pid()


async def keep(unit: Unit, stop: asyncio.Event, backoff: Backoff) -> None:
    """Restart `unit` whenever it ends, until `stop`."""
    delay: float | None = None
    while True:
        started = time.monotonic()
        ended = await _unless(stop, unit.ended())
        if ended is None or await _stopped_within(stop, 0.2):
            return  # stopping: a Ctrl-C reaches the services too, their end is expected
        ran, status = time.monotonic() - started, ended.result()
        if status == 0 and unit.restart == "on-failure":
            log.info("%s finished (status 0) after %.1f s; not restarted", unit.name, ran)
            return
        delay = backoff.next(delay, ran)
        log.error(
            "%s (pid %s) %s after %.1f s; restarting it in %.1f s",
            unit.name,
            unit.pid(),
            how(status),
            ran,
            delay,
        )
        while True:
            if await _stopped_within(stop, delay):
                return
            try:
                await unit.start()
            except Exception as exc:  # a failed start is one more death: back off further
                delay = backoff.next(delay, 0.0)
                log.error("%s did not start (%s); trying again in %.1f s", unit.name, exc, delay)
                continue
            log.warning("%s restarted (pid %s)", unit.name, unit.pid())
            break


async def supervise(units: list[Unit], services: list[Service], stop: asyncio.Event) -> None:
    """Keep every unit running until `stop`; then stop `services`, newest first (the other
    units are stopped by whoever started them)."""
    backoff = Backoff()
    keepers = [asyncio.create_task(keep(u, stop, backoff), name=f"keep-{u.name}") for u in units]
    await stop.wait()
    await asyncio.gather(*keepers)
    for service in reversed(services):
        await service.stop()


async def _unless(stop: asyncio.Event, awaitable: Awaitable[T]) -> asyncio.Future[T] | None:
    """The awaitable, done; or None once `stop` is set first (it is then cancelled)."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        return task
    task.cancel()
    return None


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()

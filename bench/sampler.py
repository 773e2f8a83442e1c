"""CPU and memory of named process groups, sampled every second on a thread (psutil)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


@dataclass
class Usage:
    """One process group's CPU seconds (per pid, first and last seen) and peak memory."""

    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    peak_bytes: int = 0

    def cpu_seconds(self) -> float:
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


class Sampler:
    """Samples named process groups every `interval` s on a thread, from start() to stop()."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]], pss: set[str]):
        self._groups = groups
        self._pss = pss
        self.usage = {name: Usage() for name in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self.started = self.stopped = 0.0

    def start(self) -> None:
        self._sample(first=True)
        self.started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.stopped = time.monotonic()

    def cpu_percent(self, name: str) -> float:
        return 100 * self.usage[name].cpu_seconds() / max(1e-9, self.stopped - self.started)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        for name, members in self._groups.items():
            usage, memory = self.usage[name], 0
            for process in members():
                try:
                    with process.oneshot():
                        times = process.cpu_times()
                        cpu = times.user + times.system
                        if name in self._pss:
                            memory += process.memory_full_info().pss
                        else:
                            memory += process.memory_info().rss
                except psutil.Error:
                    continue
                if first:
                    usage.first[process.pid] = cpu
                usage.last[process.pid] = cpu
            usage.peak_bytes = max(usage.peak_bytes, memory)


def family(pid: int) -> Callable[[], list[psutil.Process]]:
    """A process and its children, looked up at each sample (PostgreSQL's backends change)."""
    root = psutil.Process(pid)

    def members() -> list[psutil.Process]:
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    return members

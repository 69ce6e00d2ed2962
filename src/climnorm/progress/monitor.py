"""CPU and memory of the run's whole process tree: sampled for the live display and the run's peak memory."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass
class TreeStats:
    """CPU and memory of a process and all its descendants (the run's whole process tree)."""

    root_pid: int
    cpu_percent: float = 0.0
    rss: int = 0
    peak_rss: int = 0
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    _due: float = 0.0

    def sample_if_due(self, period: float = 1.0) -> None:
        """Sample at most once per ``period`` seconds, however often it is asked (walking /proc costs CPU)."""
        now = time.monotonic()
        if now >= self._due:
            self.sample()
            self._due = now + period

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        cpu = 0.0
        rss = 0
        alive: dict[int, psutil.Process] = {}
        for p in procs:
            known = self._procs.get(p.pid, p)
            try:
                cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
                alive[p.pid] = known
            except psutil.Error:
                continue
        self._procs = alive
        self.cpu_percent = cpu
        self.rss = rss
        self.peak_rss = max(self.peak_rss, rss)


class MemoryMonitor:
    """Samples the resident memory of this process tree in the background; `stop` returns the peak."""

    def __init__(self, interval: float = 0.5) -> None:
        self.stats = TreeStats(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="climnorm-memory", daemon=True)
        self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            self.stats.sample()
            self._stop.wait(interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        self.stats.sample()
        return self.stats.peak_rss

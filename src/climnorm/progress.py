"""Progress: a tracker fed only by events, a Rich live view and a plain log view of it, in their own process.

Counts are exact: a file counts once when a worker reports it read, a normal once when it is written (a task
retried after a crash does not count twice). Rendering is throttled, so it costs the run nothing measurable.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.managers import SyncManager
from typing import IO, Any, Literal

import psutil
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from climnorm.events import (
    Failure,
    FileRead,
    NormalSkipped,
    NormalWritten,
    RunFinished,
    RunStarted,
    T_Event,
    TaskFinished,
    TaskStarted,
)

log = logging.getLogger(__name__)

T_Mode = Literal["auto", "rich", "plain", "none"]
_STOP = "__climnorm_progress_stop__"


@dataclass
class VariableState:
    files_total: int = 0
    normals_total: int = 0
    files: set[str] = field(default_factory=set)
    normals: set[str] = field(default_factory=set)
    skipped: int = 0
    failed: int = 0
    current: str = ""


@dataclass
class Tracker:
    """Run state derived from events alone (the display's model; rendering lives elsewhere)."""

    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    header: RunStarted | None = None
    variables: dict[str, VariableState] = field(default_factory=dict)
    bytes_read: int = 0
    failures: list[str] = field(default_factory=list)
    busy: dict[int, str] = field(default_factory=dict)
    finished: RunFinished | None = None

    def handle(self, event: T_Event) -> None:
        if isinstance(event, RunStarted):
            self.started = self.clock()
            self.header = event
            for var in event.variables:
                state = self.variables.setdefault(var, VariableState())
                state.files_total = event.files_total.get(var, 0)
                state.normals_total = event.normals_total.get(var, 0)
        elif isinstance(event, TaskStarted):
            self.busy[event.pid] = event.what
            self._var(event.variable).current = event.what
        elif isinstance(event, TaskFinished):
            self.busy.pop(event.pid, None)
        elif isinstance(event, FileRead):
            state = self._var(event.variable)
            if event.path not in state.files:
                state.files.add(event.path)
                self.bytes_read += event.bytes_read
        elif isinstance(event, NormalWritten):
            self._var(event.variable).normals.add(event.path)
        elif isinstance(event, NormalSkipped):
            self._var(event.variable).skipped += 1
        elif isinstance(event, Failure):
            self._var(event.variable).failed += 1
            self.failures.append(f"{event.what}: {event.message}")
        elif isinstance(event, RunFinished):
            self.finished = event

    def _var(self, name: str) -> VariableState:
        return self.variables.setdefault(name, VariableState())

    # derived numbers ------------------------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else self.clock() - self.started

    @property
    def files_done(self) -> int:
        return sum(len(v.files) for v in self.variables.values())

    @property
    def files_total(self) -> int:
        return sum(v.files_total for v in self.variables.values())

    @property
    def normals_done(self) -> int:
        return sum(len(v.normals) for v in self.variables.values())

    @property
    def normals_total(self) -> int:
        return sum(v.normals_total for v in self.variables.values())

    @property
    def skipped(self) -> int:
        return sum(v.skipped for v in self.variables.values())

    @property
    def eta(self) -> float | None:
        """Seconds left, from the rate of files read so far (reading dominates a run)."""
        done, total = self.files_done, self.files_total
        if done == 0 or self.elapsed <= 0 or total == 0:
            return None
        return max(0.0, (total - done) * self.elapsed / done)

    def counts_line(self) -> str:
        rate = self.files_done / self.elapsed if self.elapsed > 0 else 0.0
        mbs = self.bytes_read / 2**20 / self.elapsed if self.elapsed > 0 else 0.0
        eta = _clock(self.eta) if self.eta is not None else "?"
        return (
            f"files {self.files_done}/{self.files_total}, normals {self.normals_done}/{self.normals_total}, "
            f"skipped {self.skipped}, failed {len(self.failures)}, {rate:.1f} files/s, {mbs:.0f} MB/s, "
            f"elapsed {_clock(self.elapsed)}, ETA {eta}"
        )


def _clock(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class TreeStats:
    """CPU and memory of a process and all its descendants (the run's whole process tree)."""

    root_pid: int
    cpu_percent: float = 0.0
    rss: int = 0
    peak_rss: int = 0
    _procs: dict[int, psutil.Process] = field(default_factory=dict)

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


def render(tracker: Tracker, stats: TreeStats | None = None, workers: int | None = None) -> RenderableType:
    """The live view: header, one bar per variable, statistics."""
    head = tracker.header
    title = Text("climnorm", style="bold")
    if head is not None:
        title.append(
            f"  model {head.model} · scenarios {', '.join(head.scenarios)} · regions {', '.join(head.regions)}"
        )
    bars = Table.grid(padding=(0, 1))
    for col in ("variable", "bar", "files", "normals", "now"):
        bars.add_column(col, no_wrap=True, overflow="ellipsis", max_width=36 if col == "now" else None)
    for name, v in tracker.variables.items():
        total = v.files_total + v.normals_total
        done = len(v.files) + len(v.normals)
        bars.add_row(
            Text(name, style="bold cyan"),
            ProgressBar(total=max(total, 1), completed=done, width=28),
            f"files {len(v.files)}/{v.files_total}",
            f"normals {len(v.normals)}/{v.normals_total}" + (f" (skipped {v.skipped})" if v.skipped else ""),
            Text(v.current, style="dim"),
        )
    elapsed = tracker.elapsed
    eta = tracker.eta
    stat = Table.grid(padding=(0, 2))
    stat.add_row(
        f"files {tracker.files_done}/{tracker.files_total}",
        f"normals {tracker.normals_done}/{tracker.normals_total}",
        Text(f"failures {len(tracker.failures)}", style="red" if tracker.failures else ""),
        f"elapsed {_clock(elapsed)}",
        f"ETA {_clock(eta) if eta is not None else '?'}",
    )
    rate = tracker.files_done / elapsed if elapsed > 0 else 0.0
    mbs = tracker.bytes_read / 2**20 / elapsed if elapsed > 0 else 0.0
    row = [f"{rate:.1f} files/s", f"{mbs:.0f} MB/s read"]
    if stats is not None:
        row += [
            f"CPU {stats.cpu_percent:.0f}%",
            f"memory {stats.rss / 2**30:.2f} GB (peak {stats.peak_rss / 2**30:.2f})",
        ]
    row.append(f"workers busy {len(tracker.busy)}" + (f"/{workers}" if workers else ""))
    stat.add_row(*row)
    parts: list[RenderableType] = [title, bars, Panel(stat, title="statistics", title_align="left")]
    for line in tracker.failures[-3:]:
        parts.append(Text(f"failed: {line}", style="red"))
    return Group(*parts)


def _display_loop(
    events: Any,
    mode: Literal["rich", "plain"],
    root_pid: int,
    workers: int | None,
    interval: float,
    stream: IO[str] | None,
) -> None:
    """Body of the display process: drain events into a tracker and show it until the run ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the main process, which then stops us
    tracker = Tracker()
    stats = TreeStats(root_pid)
    out = stream or sys.stderr
    if mode == "rich":
        from rich.live import Live

        console = Console(file=out)
        with Live(
            console=console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=lambda: render(tracker, stats, workers),
        ) as live:
            _drain(events, tracker, stats, interval=0.25, on_failure=None)
            live.refresh()
        return
    last = 0.0

    def on_failure(line: str) -> None:
        print(f"climnorm: failed: {line}", file=out, flush=True)

    while True:
        stop = _drain(events, tracker, stats, interval=0.25, on_failure=on_failure, once=True)
        now = time.monotonic()
        if tracker.started is not None and (now - last >= interval or stop):
            last = now
            print(f"climnorm: progress: {tracker.counts_line()}", file=out, flush=True)
        if stop:
            return


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _drain(
    events: Any,
    tracker: Tracker,
    stats: TreeStats,
    *,
    interval: float,
    on_failure: Callable[[str], None] | None,
    once: bool = False,
) -> bool:
    """Feed queued events to the tracker; True once the run has finished (or the queue closed)."""
    next_sample = 0.0
    while True:
        try:
            event = events.get(timeout=interval)
        except queue_mod.Empty:
            event = None
        except (EOFError, OSError):
            return True
        if isinstance(event, str) and event == _STOP:
            return True
        if event is not None:
            before = len(tracker.failures)
            tracker.handle(event)
            if on_failure is not None and len(tracker.failures) > before:
                on_failure(tracker.failures[-1])
        if time.monotonic() >= next_sample:
            stats.sample()
            next_sample = time.monotonic() + 1.0
        if once:
            return False


class ProgressChannel:
    """The run's event queue and whoever consumes it: a display process, a callback thread, or nobody."""

    def __init__(
        self,
        mode: T_Mode = "auto",
        *,
        callback: Callable[[T_Event], None] | None = None,
        workers: int | None = None,
        interval: float = 5.0,
        stream: IO[str] | None = None,
    ) -> None:
        if mode == "auto":
            mode = "rich" if (stream or sys.stderr).isatty() else "plain"
        self.mode = mode
        self.ctx = mp.get_context("spawn")
        # a manager queue: each writer has its own connection, so a worker killed mid-write cannot leave a
        # shared lock held and block the other workers (a plain multiprocessing.Queue can)
        self._manager: Any = None
        self.queue: Any = None
        if callback is not None or mode in ("rich", "plain"):
            self._manager = SyncManager(ctx=self.ctx)
            self._manager.start(_ignore_sigint)
            self.queue = self._manager.Queue()
        self._callback = callback
        self._process: Any = None
        self._thread: threading.Thread | None = None
        if callback is not None:
            self._thread = threading.Thread(target=self._forward, name="climnorm-events", daemon=True)
            self._thread.start()
        elif mode in ("rich", "plain"):
            self._process = self.ctx.Process(
                target=_display_loop,
                args=(self.queue, mode, os.getpid(), workers, interval, stream if stream is not None else None),
                name="climnorm-progress",
                daemon=True,
            )
            self._process.start()

    @property
    def active(self) -> bool:
        return self._thread is not None or self._process is not None

    def emit(self, event: T_Event) -> None:
        if self.active:
            self.queue.put(event)

    def _forward(self) -> None:
        assert self._callback is not None
        while True:
            event = self.queue.get()
            if isinstance(event, str) and event == _STOP:
                return
            self._callback(event)

    def close(self) -> None:
        """Tell the consumer the run is over and wait for it to show the last state."""
        if not self.active:
            return
        self.queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._process is not None:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.terminate()
        self._manager.shutdown()

"""The run's progress state, derived from events alone (the display's model; rendering lives in `live`).

Counts are exact: a file counts once when a worker reports it read, a normal once when it is written (a task
retried after a crash does not count twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from climnorm.events import (
    Failure,
    FileRead,
    NormalKept,
    NormalSkipped,
    NormalWritten,
    RunFinished,
    RunStarted,
    T_Event,
    TaskFinished,
    TaskStarted,
)


@dataclass
class VariableState:
    """One variable's progress: files and normals planned and done, the file being read now."""

    files_total: int = 0
    normals_total: int = 0
    files: set[str] = field(default_factory=set)  # paths: a file read again after a crash counts once
    normals: set[str] = field(default_factory=set)
    skipped: int = 0
    failed: int = 0
    current: str = ""


@dataclass(frozen=True)
class Totals:
    """Counts over all variables, as the display shows them."""

    files_done: int
    files_total: int
    normals_done: int
    normals_total: int
    skipped: int


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
    member_totals: dict[str, int] = field(default_factory=dict)  # member label -> outputs to write
    member_done: dict[str, set[str]] = field(default_factory=dict)  # member label -> outputs written or skipped

    def handle(self, event: T_Event) -> None:
        if isinstance(event, RunStarted):
            self.started = self.clock()
            self.header = event
            for var in event.variables:
                state = self.variables.setdefault(var, VariableState())
                state.files_total = event.files_total.get(var, 0)
                state.normals_total = event.normals_total.get(var, 0)
            self.member_totals = dict(event.member_normals)
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
        elif isinstance(event, NormalWritten | NormalKept):
            self._var(event.variable).normals.add(event.path)
            self.member_done.setdefault(event.member, set()).add(event.path)
        elif isinstance(event, NormalSkipped):
            self._var(event.variable).skipped += 1
            key = f"{event.region} {event.scenario} {event.period} {event.target_year} {event.variable} {event.product}"
            self.member_done.setdefault(event.member, set()).add(key)
        elif isinstance(event, Failure):
            if event.variable:  # not a failure of the run as a whole
                self._var(event.variable).failed += 1
            self.failures.append(f"{event.what}: {event.message}" if event.what else event.message)
        elif isinstance(event, RunFinished):
            self.finished = event

    def _var(self, name: str) -> VariableState:
        return self.variables.setdefault(name, VariableState())

    # derived numbers ------------------------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else self.clock() - self.started

    def members_line(self) -> str:
        """Members whose outputs are all written (or skipped), of the members with outputs to write."""
        done = sum(1 for m, n in self.member_totals.items() if len(self.member_done.get(m, ())) >= n)
        return f"members {done}/{len(self.member_totals)}"

    def totals(self) -> Totals:
        """Files and normals planned and done, over all variables."""
        states = list(self.variables.values())
        return Totals(
            files_done=sum(len(v.files) for v in states),
            files_total=sum(v.files_total for v in states),
            normals_done=sum(len(v.normals) for v in states),
            normals_total=sum(v.normals_total for v in states),
            skipped=sum(v.skipped for v in states),
        )

    @property
    def eta(self) -> float | None:
        """Seconds left, from the rate of files read so far (reading dominates a run)."""
        t = self.totals()
        done, total = t.files_done, t.files_total
        if done == 0 or self.elapsed <= 0 or total == 0:
            return None
        return max(0.0, (total - done) * self.elapsed / done)

    def counts_line(self) -> str:
        t = self.totals()
        rate = t.files_done / self.elapsed if self.elapsed > 0 else 0.0
        mbs = self.bytes_read / 2**20 / self.elapsed if self.elapsed > 0 else 0.0
        eta = clock_text(self.eta) if self.eta is not None else "?"
        members = f"{self.members_line()}, " if len(self.member_totals) > 1 else ""
        return (
            f"{members}files {t.files_done}/{t.files_total}, normals {t.normals_done}/{t.normals_total}, "
            f"skipped {t.skipped}, failed {len(self.failures)}, {rate:.1f} files/s, {mbs:.0f} MB/s, "
            f"elapsed {clock_text(self.elapsed)}, ETA {eta}"
        )


def clock_text(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"

"""What a run did, and the one place its outcomes are reported: the log, the summary and the progress events.

Every skipped or failed output, failed file and problem is reported once, through :class:`Reporter`, so the log,
the final table and the live display always agree.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from climnorm.events import Failure, NormalSkipped, T_EventSink
from climnorm.lineage import Problem
from climnorm.plan import OutputPlan

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did, for the final report and the exit code."""

    written: int = 0
    up_to_date: int = 0
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files_read: int = 0
    fast_reads: int = 0  # files decompressed by the direct chunk reader (climnorm.fastread) rather than netCDF4
    bytes_read: int = 0
    seconds: float = 0.0
    removed_leftovers: int = 0
    peak_memory: int = 0
    workers: int = 1
    worker_crashes: int = 0
    log_file: Path | None = None
    per_output: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    finished_at: dict[tuple[str, str, str], float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


class Reporter:
    """Reports a run's outcomes to the log, the summary and the event stream, each exactly once."""

    def __init__(self, summary: RunSummary, on_event: T_EventSink) -> None:
        self.summary = summary
        self.on_event = on_event
        self.start = time.perf_counter()

    def skip(self, out: OutputPlan, reason: str, *, fail: bool = False) -> None:
        """An output that will not be written (``fail``: because something failed)."""
        t = out.target
        message = f"{t.variable} {out.region.key} {t.scenario} {t.period} {t.year}: skipped: {reason}"
        log.warning("%s", message)
        (self.summary.failures if fail else self.summary.skipped).append(message)
        group = (t.variable, out.region.key, t.scenario)
        self.summary.per_output[(*group, "failed" if fail else "skipped")] += 1
        self.on_event(NormalSkipped(t.variable, out.region.key, t.scenario, t.period, t.year, reason))

    def written(self, out: OutputPlan) -> None:
        """An output that has landed and is recorded."""
        t = out.target
        self.summary.written += 1
        group = (t.variable, out.region.key, t.scenario)
        self.summary.per_output[(*group, "written")] += 1
        self.summary.finished_at[group] = time.perf_counter() - self.start

    def problem(self, message: str) -> None:
        """A problem that fails nothing but the user must hear of (listed once in the summary)."""
        if message not in self.summary.problems:
            log.warning("%s", message)
            self.summary.problems.append(message)

    def fail(self, variable: str, what: str, message: str) -> None:
        """A file (or year) that failed: the run's exit code says so."""
        text = f"{what}: {message}"
        if text not in self.summary.failures:
            log.error("%s", text)
            self.summary.failures.append(text)
            self.on_event(Failure(variable, what, message))

    def report(self, variable: str, problems: list[Problem]) -> None:
        """Report what a chain's checks found, each by its severity."""
        for p in problems:
            if p.severity == "failure":
                self.fail(variable, p.what, p.message)
            elif p.severity == "problem":
                self.problem(p.text)
            else:
                log.warning("%s", p.text)

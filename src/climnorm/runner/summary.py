"""What a run did, and the one place its outcomes are reported: the log, the summary and the progress events.

Every skipped or failed output, failed file and problem is reported once, through :class:`Reporter`, so the log,
the final table and the live display always agree.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from climnorm.events import Failure, NormalKept, NormalSkipped, T_EventSink
from climnorm.plan.build import Plan, skip_of
from climnorm.plan.notices import Skip, grouped
from climnorm.plan.planned import T_Output
from climnorm.records import ENSEMBLE
from climnorm.runner.lineage import Problem

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
    fast_reads: int = 0  # files decompressed by the direct chunk reader (climnorm.read.fastread) rather than netCDF4
    bytes_read: int = 0
    seconds: float = 0.0
    removed_leftovers: int = 0
    peak_memory: int = 0
    workers: int = 1
    worker_crashes: int = 0
    log_file: Path | None = None
    members: int = 1
    per_output: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)  # member, var, region, ...
    finished_at: dict[tuple[str, str, str], float] = field(default_factory=dict)
    failed_outputs: list[Skip] = field(default_factory=list)  # the outputs among the failures
    base_files: int = 0  # files the first pass of percentile thresholds read (again)
    base_seconds: float = 0.0  # and how long it took
    bytes_handed_back: int = 0  # outputs' bytes the engine's workers sent back to be landed by this process

    def failure_lines(self) -> list[str]:
        """The failures as a person reads them: the failed outputs one line per group, then the others."""
        own = {s.line(show_member=self.members > 1) for s in self.failed_outputs}
        grouped_lines = grouped(self.failed_outputs, show_members=self.members > 1)
        return grouped_lines + [f for f in self.failures if f not in own]

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


class Reporter:
    """Reports a run's outcomes to the log, the summary and the event stream, each exactly once."""

    def __init__(self, summary: RunSummary, on_event: T_EventSink) -> None:
        self.summary = summary
        self.on_event = on_event
        self.start = time.perf_counter()
        #: called with each output once it is settled: (output, available: written or up to date)
        self.listeners: list[Callable[[T_Output, bool], None]] = []
        self.skips: list[Skip] = []  # skipped outputs not yet warned about

    def skip(self, out: T_Output, reason: str, *, fail: bool = False, detail: str = "", told: bool = False) -> None:
        """An output that will not be written: ``fail``, because something failed (a failure of the run); else a
        skip, warned about with the others of its ``reason`` (the same for all of them; ``detail``: its own) at
        the end, or already (``told``: the plan's). The log keeps each one."""
        skip = skip_of(out, reason, detail)
        message = skip.line(show_member=self.summary.members > 1)
        log.info("%s", message)
        if fail:
            self.summary.failures.append(message)
            self.summary.failed_outputs.append(skip)
        else:
            self.summary.skipped.append(message)
            if not told:
                self.skips.append(skip)
        self.summary.per_output[(out.member_label, *out.key[:3], "failed" if fail else "skipped")] += 1
        self.on_event(NormalSkipped(*out.key, detail or reason, out.member_label, out.product))
        self._settled(out, False)

    def plan_skips(self, plan: Plan) -> None:
        """What the plan says cannot be computed, one warning per group; the ensemble outputs among them are
        reported here (the members' are reported as the run reaches them)."""
        for line in plan.skip_lines():
            log.warning("%s", line)
        for skip in plan.skips:
            if skip.member == ENSEMBLE:
                self.summary.skipped.append(skip.line())
                log.info("%s", skip.line())
                self.summary.per_output[(ENSEMBLE, skip.variable, skip.region, skip.scenario, "skipped")] += 1
                key = (skip.variable, skip.region, skip.scenario, skip.period, skip.year)
                self.on_event(NormalSkipped(*key, skip.detail, ENSEMBLE, skip.product))

    def tell_skips(self) -> None:
        """The run's own skips (not the plan's) and its failed outputs, one warning per group."""
        show = self.summary.members > 1
        for line in grouped(self.skips, show_members=show):
            log.warning("%s", line)
        for line in grouped(self.summary.failed_outputs, show_members=show):
            log.warning("failed: %s", line)
        self.skips = []

    def up_to_date(self, out: T_Output) -> None:
        """An output a previous run wrote and nothing changed since: kept as it is (and done, for the display, when
        the plan counted on writing it)."""
        self.summary.up_to_date += 1
        if not out.up_to_date:
            self.on_event(NormalKept(*out.key, out.path, out.member_label))
        self._settled(out, True)

    def written(self, out: T_Output) -> None:
        """An output that has landed and is recorded."""
        self.summary.written += 1
        self.summary.per_output[(out.member_label, *out.key[:3], "written")] += 1
        self.summary.finished_at[out.key[:3]] = time.perf_counter() - self.start
        self._settled(out, True)

    def _settled(self, out: T_Output, available: bool) -> None:
        for listener in self.listeners:
            listener(out, available)

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

    def run_failure(self, message: str) -> None:
        """A failure of the run as a whole (nothing more could be written; a county table failed): the exit code
        and the live display say so."""
        log.error("%s", message)
        self.summary.failures.append(message)
        self.on_event(Failure("", "", message))

    def report(self, variable: str, problems: list[Problem]) -> None:
        """Report what a chain's checks found, each by its severity."""
        for p in problems:
            if p.severity == "failure":
                self.fail(variable, p.what, p.message)
            elif p.severity == "problem":
                self.problem(p.text)
            else:
                log.warning("%s", p.text)

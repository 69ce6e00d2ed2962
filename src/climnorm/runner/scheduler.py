"""Ordering, submission and draining: keeps the engine busy with read tasks across all chains, a bounded number
ahead, and feeds each chain's results to its accumulator in year order.

Each chain is a :class:`ChainJob`, an explicit state machine over its :class:`Step` list (built by
:func:`chain_steps`): add a year to the window sums, compute the normals of a target, or fork the historical
sums into a future scenario. A step runs once the reads it needs have finished; results that arrive early wait,
a bounded number, for their turn.
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from climnorm.catalog.filenames import FileEntry, InputPath
from climnorm.catalog.remote import listed_object
from climnorm.engines import Engine
from climnorm.engines.tasks import read_batch
from climnorm.errors import InputFileError
from climnorm.events import RunStarted
from climnorm.numerics.sums import Stored
from climnorm.plan.build import Plan
from climnorm.plan.planned import OutputPlan
from climnorm.read.orders import ReadTask
from climnorm.runner.accumulate import BaseThresholds, ChainAccumulator, Computed
from climnorm.runner.landing import WriteQueue
from climnorm.runner.summary import Reporter
from climnorm.storage.urls import ObjectPath
from climnorm.types import HISTORICAL, FileResult, Member, Region


class Derived(Protocol):
    """Outputs made of the run's outputs as those settle (`runner.changes`, `runner.ensembles`)."""

    def submit_ready(self) -> bool:
        """Submit those whose outputs have settled; True if any was."""
        ...


class StepKind(enum.Enum):
    """What one step of a chain does."""

    ADD_YEAR = "add year"  # add a year's fields (from its files' reads) to the window sums
    COMPUTE = "compute"  # compute a target's normals from the window sums and hand them to the writer
    FORK = "fork"  # a future scenario continues the historical sums


@dataclass(frozen=True)
class Step:
    kind: StepKind
    scenario: str
    year: int = 0
    carry: bool = False  # ADD_YEAR of a year in no pending window: only its December is kept (for DJF)


T_Pending = Mapping[tuple[str, int], list[OutputPlan]]
"""A chain's outputs to compute, by (scenario, target year)."""


def chain_steps(plan: Plan, pending: T_Pending) -> list[Step]:
    """The ordered steps of one chain: historical years and targets in year order, then for each future
    scenario a fork and its own years and targets (each year is added before the targets that need it)."""
    reads: dict[str, set[int]] = defaultdict(set)  # by the run the years come from
    windows: dict[str, set[int]] = defaultdict(set)
    for (scenario, _), outs in pending.items():
        for out in outs:
            for y in out.reads:
                reads[HISTORICAL if plan.source_scenario(scenario, y) == HISTORICAL else scenario].add(y)
            for y in out.target.available:
                windows[HISTORICAL if plan.source_scenario(scenario, y) == HISTORICAL else scenario].add(y)
    hist_targets = {y for (s, y) in pending if s == HISTORICAL}
    steps = _year_steps(HISTORICAL, reads[HISTORICAL], windows[HISTORICAL], hist_targets)
    for scenario in plan.config.scenarios:
        targets = {y for (s, y) in pending if s == scenario and s != HISTORICAL}
        if targets:
            steps.append(Step(StepKind.FORK, scenario))
            steps += _year_steps(scenario, reads[scenario], windows[scenario], targets)
    return steps


def _year_steps(scenario: str, years: set[int], windows: set[int], targets: set[int]) -> list[Step]:
    steps: list[Step] = []
    for y in sorted(years | targets):
        if y in years:
            steps.append(Step(StepKind.ADD_YEAR, scenario, y, carry=y not in windows))
        if y in targets:
            steps.append(Step(StepKind.COMPUTE, scenario, y))
    return steps


@dataclass(eq=False)
class ReadBatch:
    """Files read by one task (`batch_size_years` of them), consumed in order, released when all are used."""

    variable: str
    entries: list[FileEntry]
    tasks: tuple[ReadTask, ...]
    uses: int
    future: Future[list[Any]] | None = None
    outcomes: dict[InputPath, FileResult | None] | None = None

    @property
    def running(self) -> bool:
        return self.future is not None and not self.future.done()


@dataclass(eq=False)
class ChainJob:
    """One chain's state machine: its steps, the read batches they need, and how far each has got."""

    member: Member
    variable: str
    steps: list[Step]
    step_files: dict[tuple[str, int], list[FileEntry]]
    batches: list[ReadBatch]
    pending: T_Pending
    accumulator: ChainAccumulator
    position: int = 0
    next_batch: int = 0
    batch_of: dict[InputPath, ReadBatch] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for batch in self.batches:
            for e in batch.entries:
                self.batch_of[e.path] = batch

    @property
    def n_files(self) -> int:
        return sum(len(b.entries) for b in self.batches)

    @property
    def done(self) -> bool:
        return self.position >= len(self.steps)

    def has_unsubmitted(self) -> bool:
        return self.next_batch < len(self.batches)

    def take_batch(self) -> ReadBatch:
        """The next batch to submit, in the order the steps need them."""
        batch = self.batches[self.next_batch]
        self.next_batch += 1
        return batch

    def ready(self) -> bool:
        """Whether the next step can run now (an ADD_YEAR step needs its files' reads to have finished)."""
        if self.done:
            return False
        step = self.steps[self.position]
        if step.kind is not StepKind.ADD_YEAR:
            return True
        return all(
            (b := self.batch_of[e.path]).outcomes is not None or (b.future is not None and b.future.done())
            for e in self.step_files[(step.scenario, step.year)]
        )

    def advance(self) -> Step:
        step = self.steps[self.position]
        self.position += 1
        return step

    def files_used(self, entries: Iterable[FileEntry]) -> list[ReadBatch]:
        """Count one use of each file's batch; returns the batches no step needs any more."""
        released = []
        for e in entries:
            batch = self.batch_of[e.path]
            batch.uses -= 1
            if batch.uses <= 0:
                batch.outcomes = {}
                batch.future = None
                released.append(batch)
        return released


def make_job(
    plan: Plan,
    member: Member,
    variable: str,
    pending: T_Pending,
    park: Callable[[np.ndarray], Stored] | None,
    reducers: Executor | None = None,
) -> ChainJob:
    """A chain's job: its steps, and read batches of `batch_size_years` files in the order the steps use them."""
    config = plan.config
    steps = chain_steps(plan, pending)
    step_files = {
        (s.scenario, s.year): plan.files_for(member, variable, s.scenario, s.year)
        for s in steps
        if s.kind is StepKind.ADD_YEAR
    }
    years_of: dict[InputPath, set[int]] = defaultdict(set)
    uses: Counter[InputPath] = Counter()
    order: list[FileEntry] = []
    for (_, year), entries in step_files.items():
        for e in entries:
            if e.path not in years_of:
                order.append(e)
            years_of[e.path].add(year)
            uses[e.path] += 1
    regions = tuple(sorted({o.region for outs in pending.values() for o in outs}, key=lambda r: r.key))
    batches = []
    for i in range(0, len(order), config.batch_size_years):
        entries = order[i : i + config.batch_size_years]
        tasks = tuple(read_task(plan, e, variable, regions, tuple(sorted(years_of[e.path]))) for e in entries)
        batches.append(ReadBatch(variable, entries, tasks, sum(uses[e.path] for e in entries)))
    accumulator = ChainAccumulator(variable, config, park, reducers)
    return ChainJob(member, variable, steps, step_files, batches, pending, accumulator)


def read_task(
    plan: Plan, entry: FileEntry, variable: str, regions: tuple[Region, ...], years: tuple[int, ...]
) -> ReadTask:
    """The task that reads the given years of one file, cut to the regions."""
    config = plan.config
    return ReadTask(
        str(entry.path),
        variable,
        regions,
        config.leap_day,
        years,
        config.lon_convention,
        config.mask_impossible,
        fast_read=config.fast_read,
        fast_read_threads=config.inflate_threads(),
        storage=plan.storage if isinstance(entry.path, ObjectPath) else None,
        listed=listed_object(entry),
    )


class Scheduler:
    """Keeps the engine busy across all chains, a bounded number of reads ahead, and writes in parallel."""

    def __init__(
        self,
        plan: Plan,
        executor: Engine,
        workers: int,
        reporter: Reporter,
        writes: WriteQueue,
        park: Callable[[np.ndarray], Stored] | None = None,
        derived: Sequence[Derived] = (),
    ) -> None:
        self.plan = plan
        self.derived = derived  # outputs made of the run's outputs as they settle: changes, ensembles
        self.executor = executor
        self.reporter = reporter
        self.writes = writes
        self.budget = max(2, 2 * workers)
        self.per_variable = plan.config.cores_per_variable or self.budget
        self.in_flight: list[ReadBatch] = []
        self.jobs: list[ChainJob] = []
        threads = plan.config.reduce_threads
        self.reducers = ThreadPoolExecutor(threads, thread_name_prefix="reduce") if threads > 1 else None
        pending = self._pending()
        for member in plan.members:
            for variable in plan.config.variables:
                if pending.get((member, variable)):
                    job = make_job(plan, member, variable, pending[(member, variable)], park, self.reducers)
                    self.jobs.append(job)
        # chains read at the same time: one per variable, as many as a one-member run has; with many members the
        # next chain starts when one has submitted all its reads, so memory (window sums) stays flat in members
        self.max_active = len(plan.config.variables)
        self.active = self.jobs[: self.max_active]
        self.queued = self.jobs[self.max_active :]

    def _pending(self) -> dict[tuple[Member, str], dict[tuple[str, int], list[OutputPlan]]]:
        """Each chain's outputs to compute; up-to-date ones are counted, impossible ones reported."""
        pending: dict[tuple[Member, str], dict[tuple[str, int], list[OutputPlan]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for out in self.plan.outputs:
            t = out.target
            if out.up_to_date:
                self.reporter.up_to_date(out)
            elif not out.computable:
                self.reporter.skip(out, out.blocked or t.reason, told=True)  # the plan's warnings said why
            else:
                pending[(t.member, t.variable)][(t.scenario, t.year)].append(out)
        return pending

    def use_thresholds(self, thresholds: Mapping[tuple[Member, str], BaseThresholds]) -> None:
        """The chains' base-period percentile thresholds, from the first pass (before any year is added)."""
        for job in self.jobs:
            base = thresholds.get((job.member, job.variable))
            if base is not None:
                job.accumulator.thresholds, job.accumulator.unavailable = base.by_region, base.unavailable

    def started_event(self, first_pass: Mapping[str, int] | None = None) -> RunStarted:
        """What the run will read and write, for the live display (``first_pass``: the files the first pass of
        percentile thresholds reads, by variable)."""
        plan = self.plan
        normals = Counter(o.target.variable for o in plan.pending)
        normals.update(e.variable for e in plan.ensembles if not e.up_to_date)
        normals.update(c.output.target.variable for c in plan.changes if c.computable and not c.up_to_date)
        per_member = Counter(o.target.member.label for o in plan.pending)
        files: Counter[str] = Counter(first_pass or {})
        for job in self.jobs:
            files[job.variable] += job.n_files
        model = plan.members[0].model if len(plan.members) == 1 else f"{len(plan.members)} members"
        return RunStarted(
            model=model,
            variables=tuple(plan.config.variables),
            scenarios=tuple(plan.config.scenarios),
            regions=tuple(r.key for r in plan.regions),
            files_total=dict(files),
            normals_total=dict(normals),
            member_normals=dict(per_member),
        )

    def run(self) -> None:
        """Run every chain to its end (the writes it submitted may still be in flight)."""
        try:
            self._run()
        finally:
            if self.reducers is not None:
                self.reducers.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        turn = 0
        while not all(j.done for j in self.jobs):
            progressed = False
            for job in self.active:
                while job.ready():
                    self._run_step(job, job.advance())
                    progressed = True
                    _, turn = self._submit_reads(turn)  # keep the engine fed: a step may wait for its writes
            self._activate()
            submitted, turn = self._submit_reads(turn)
            self.writes.drain(keep=self.budget, block=False)
            for queue in self.derived:
                submitted |= queue.submit_ready()
            if not progressed and not submitted:
                waiting: list[Future[Any]] = [b.future for b in self.in_flight if b.future is not None and b.running]
                waiting += self.writes.waiting()
                if waiting:
                    wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)

    def _activate(self) -> None:
        """Let a queued chain start reading for each active one that is done reading."""
        reading = [j for j in self.active if j.has_unsubmitted()]
        while self.queued and len(reading) < self.max_active:
            job = self.queued.pop(0)
            self.active.append(job)
            reading.append(job)
        self.active = [j for j in self.active if not j.done]

    def _submit_reads(self, turn: int) -> tuple[bool, int]:
        """Submit read batches round-robin across chains while the budget allows; (anything submitted, turn)."""
        submitted = False
        candidates = [j for j in self.active if j.has_unsubmitted()]
        while len(self.in_flight) < self.budget and candidates:
            job = candidates[turn % len(candidates)]
            turn += 1
            running = sum(1 for b in self.in_flight if b.variable == job.variable and b.running)
            if running >= self.per_variable:
                candidates.remove(job)
                continue
            batch = job.take_batch()
            batch.future = self.executor.run(read_batch, batch.tasks)
            self.in_flight.append(batch)
            submitted = True
            candidates = [j for j in candidates if j.has_unsubmitted()]
        return submitted, turn

    def _run_step(self, job: ChainJob, step: Step) -> None:
        acc = job.accumulator
        if step.kind is StepKind.FORK:
            acc.fork()
        elif step.kind is StepKind.ADD_YEAR:
            entries = job.step_files[(step.scenario, step.year)]
            results = [(e, self._outcome(job, e)) for e in entries]
            self.reporter.report(job.variable, acc.add_year(step.scenario, step.year, results, carry=step.carry))
            for batch in job.files_used(entries):
                if batch in self.in_flight:
                    self.in_flight.remove(batch)
        else:
            for outcome in acc.normals(job.pending[(step.scenario, step.year)]):
                if isinstance(outcome, Computed):
                    self.writes.submit(outcome)
                else:
                    self.reporter.skip(outcome.out, outcome.why, fail=outcome.fail, detail=outcome.reason)

    def _outcome(self, job: ChainJob, entry: FileEntry) -> FileResult | None:
        batch = job.batch_of[entry.path]
        if batch.outcomes is None:
            batch.outcomes = self._collect(batch)
        return batch.outcomes.get(entry.path)

    def _collect(self, batch: ReadBatch) -> dict[InputPath, FileResult | None]:
        """The outcome of each file of a finished read task; failures reported once, as one line each."""
        assert batch.future is not None
        outcomes: dict[InputPath, FileResult | None] = {}
        summary = self.reporter.summary
        try:
            results = batch.future.result()
        except Exception as err:
            message = err.problem if isinstance(err, InputFileError) else f"{type(err).__name__}: {err}"
            for e in batch.entries:
                text = message if str(e.path) not in message else message.split(": ", 1)[-1]
                self.reporter.fail(batch.variable, str(e.path), text)
                outcomes[e.path] = None
            return outcomes
        for e, result in zip(batch.entries, results, strict=True):
            if isinstance(result, InputFileError):
                self.reporter.fail(batch.variable, result.path, result.problem)
                outcomes[e.path] = None
            else:
                summary.files_read += 1
                summary.fast_reads += int(result.fast_path)
                summary.bytes_read += result.bytes_read
                outcomes[e.path] = result
        return outcomes

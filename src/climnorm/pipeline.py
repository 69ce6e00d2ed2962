"""Run a plan: read each input once, feed rolling windows in year order, write every normal, record it.

Reads (`worker.read_batch`) and writes (`worker.write_output`) run on an executor — a local process pool by
default — across all variables at once; this module only orders that work and keeps the float64 window sums,
which are cheap. Results that arrive early wait, a bounded number, for their turn in year order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import logging
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from climnorm import worker
from climnorm.catalog import FileEntry, build_catalog, format_ranges
from climnorm.config import HISTORICAL, Config
from climnorm.dayslots import SlotScheme
from climnorm.engines import SerialExecutor, local_pool
from climnorm.errors import ClimnormError, InputFileError, OutputError, RunInterrupted
from climnorm.events import Failure, NormalSkipped, RunFinished, RunStarted, T_EventSink
from climnorm.extract import FileResult, ReadTask, YearPiece
from climnorm.grids import RegionCut
from climnorm.locking import OutputLock
from climnorm.manifest import Manifest, input_record, remove_leftovers
from climnorm.plan import OutputPlan, Plan, make_plan
from climnorm.progress import ProgressChannel, T_Mode, TreeStats
from climnorm.reduce import WindowSums
from climnorm.scratch import Scratch
from climnorm.units import convert, converter
from climnorm.worker import WriteTask, read_batch, write_output
from climnorm.write import NormalMeta, inputs_digest

log = logging.getLogger(__name__)

__all__ = ["RunInterrupted", "RunSummary", "SerialExecutor", "check_output_dir", "prepare", "run"]


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
    interrupted: bool = False
    peak_memory: int = 0
    workers: int = 1
    worker_crashes: int = 0
    log_file: Path | None = None
    per_output: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    finished_at: dict[tuple[str, str, str], float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def prepare(config: Config, *, force: bool = False) -> tuple[Plan, Manifest]:
    """Catalog the inputs, load the manifest and build the plan (no data read)."""
    runs = sorted(set(config.scenarios) | {HISTORICAL})
    catalog = build_catalog(config.input_dirs, variables=config.variables, scenarios=runs)
    manifest = Manifest.load(config.output_dir)
    plan = make_plan(config, catalog, None if force else manifest)
    return plan, manifest


def run(
    config: Config,
    *,
    force: bool = False,
    executor: Executor | None = None,
    on_event: T_EventSink | None = None,
    progress: T_Mode = "none",
) -> RunSummary:
    """Compute every pending normal of the configuration; returns the summary (exit code 1 on failures).

    ``executor`` overrides the engine the config chooses; ``on_event`` receives every progress event (in a
    thread of this process); ``progress`` shows them (rich, plain, auto) in a display process instead.
    """
    start = time.perf_counter()
    summary = RunSummary(workers=config.multiprocessing_workers)
    check_output_dir(config)
    with OutputLock(config.output_dir), _run_log(config.output_dir) as log_file, open_scratch(config) as scratch:
        summary.log_file = log_file
        removed = remove_leftovers(config.output_dir)
        if removed:
            log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
        summary.removed_leftovers = len(removed)
        plan, manifest = prepare(config, force=force)
        for problem in plan.problems:
            log.warning("%s", problem)
        channel = ProgressChannel(progress, callback=on_event, workers=config.multiprocessing_workers)
        monitor = _MemoryMonitor()
        scheduler: _Scheduler | None = None
        try:
            with _engine(config, executor, channel) as engine:
                summary.workers = getattr(engine, "workers", summary.workers)
                scheduler = _Scheduler(plan, manifest, engine, summary, channel.emit, scratch)
                channel.emit(scheduler.started_event())
                try:
                    scheduler.run()
                    scheduler.drain_writes()
                except OutputError as err:
                    log.error("%s", err)
                    summary.failures.append(str(err))
                except KeyboardInterrupt:
                    summary.interrupted = True
                    raise
                finally:
                    scheduler.drain_writes(block=False, final=True)
                    manifest.save()
                summary.worker_crashes = getattr(engine, "crashes", 0)
        except KeyboardInterrupt:
            raise RunInterrupted(summary) from None
        finally:
            summary.seconds = time.perf_counter() - start
            summary.peak_memory = monitor.stop()
            channel.emit(RunFinished(summary.seconds, summary.exit_code))
            channel.close()
        log.info("window years parked on disk: at most %.0f MB at once", scratch.peak_bytes / 1e6)
        log.info(
            "run finished in %.1f s: %d written, %d up to date, %d skipped, %d failed",
            summary.seconds,
            summary.written,
            summary.up_to_date,
            len(summary.skipped),
            len(summary.failures),
        )
    return summary


def check_output_dir(config: Config) -> None:
    """Refuse an output directory that cannot be written, or that lies inside an input tree, before any work."""
    out = config.output_dir.absolute()
    for root in config.input_dirs:
        root = root.absolute()
        if out == root or root in out.parents:
            raise OutputError(
                f"{config.output_dir}: the output directory is inside the input directory {root}; choose an "
                "output_dir outside the archive (inputs are never modified)"
            )
    try:
        config.output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=config.output_dir, prefix=".climnorm-probe-"):
            pass
    except OSError as err:
        raise OutputError(
            f"{config.output_dir}: the output directory is not writable ({err.strerror or err})"
        ) from None


def open_scratch(config: Config) -> Scratch:
    """The run's scratch file for window years (in ``scratch_dir``, by default the output directory)."""
    directory = config.scratch_dir or config.output_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return Scratch(directory)
    except OSError as err:
        raise OutputError(
            f"{directory}: cannot create the scratch file for window years here ({err.strerror or err}); "
            "set scratch_dir to a writable local directory"
        ) from None


@contextlib.contextmanager
def _engine(config: Config, executor: Executor | None, channel: ProgressChannel) -> Iterator[Executor]:
    """The executor of this run; an executor passed in is the caller's to shut down."""
    if executor is not None:
        if isinstance(executor, SerialExecutor):
            worker.configure(channel.emit if channel.active else None)
        try:
            yield executor
        finally:
            if isinstance(executor, SerialExecutor):
                worker.configure(None)
        return
    if config.engine == "dask":
        from climnorm.dask_engine import dask_executor

        with dask_executor(config, channel) as dask_exec:
            yield dask_exec
        return
    limit = int(config.max_memory_per_worker_gb * 2**30)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="climnorm-", dir=shm if shm.is_dir() else None) as spill:
        pool = local_pool(config.multiprocessing_workers, channel.queue.put if channel.active else None, limit, spill)
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True, kill=True)
            raise
        pool.shutdown(wait=True)


@contextlib.contextmanager
def _run_log(output_dir: Path) -> Iterator[Path]:
    """Also log this run to {output_dir}/logs/run-<timestamp>.log."""
    logs = output_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = logs / f"run-{stamp}.log"
    handler = _QuietFileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("climnorm")
    previous = root.level
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


class _QuietFileHandler(logging.FileHandler):
    """The run log: if it cannot be written (disk full), it stops logging to the file instead of printing
    tracebacks; the console still says everything."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.close()
        self.setLevel(logging.CRITICAL + 1)


class _MemoryMonitor:
    """Samples the resident memory of this process tree in the background; `stop` returns the peak."""

    def __init__(self, interval: float = 0.5) -> None:
        import os
        import threading

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


# ---- scheduling ---------------------------------------------------------------------------------------------
@dataclass
class _Batch:
    """Files read by one task (`batch_size_years` of them), consumed in order, released when all are used."""

    variable: str
    entries: list[FileEntry]
    tasks: tuple[ReadTask, ...]
    uses: int
    future: Future[list[Any]] | None = None
    outcomes: dict[Path, FileResult | None] | None = None


@dataclass
class _Lineage:
    """What every file of one variable must agree on: calendar, units and each region's grid."""

    scheme: SlotScheme | None = None
    units: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    grids: dict[str, RegionCut | None] = field(default_factory=dict)
    conversions: dict[str, tuple[float, float]] = field(default_factory=dict)
    failed_years: set[int] = field(default_factory=set)  # years lost because a file of them failed


class _VariableJob:
    """One variable's ordered work: push years into the window sums, emit targets, fork scenarios."""

    def __init__(self, scheduler: _Scheduler, variable: str, pending: dict[tuple[str, int], list[OutputPlan]]):
        self.s = scheduler
        self.variable = variable
        self.pending = pending
        plan = scheduler.plan
        hist_years: set[int] = set()
        scen_years: dict[str, set[int]] = defaultdict(set)
        for (scenario, _), outs in pending.items():
            for y in outs[0].target.available:
                if plan.source_scenario(scenario, y) == HISTORICAL:
                    hist_years.add(y)
                else:
                    scen_years[scenario].add(y)
        self.actions: list[tuple[str, str, int]] = []
        hist_targets = {y for (s, y) in pending if s == HISTORICAL}
        for y in sorted(hist_years | hist_targets):
            self.actions += [("push", HISTORICAL, y)] if y in hist_years else []
            self.actions += [("emit", HISTORICAL, y)] if y in hist_targets else []
        for scenario in plan.config.scenarios:
            targets = {y for (s, y) in pending if s == scenario and s != HISTORICAL}
            if not targets:
                continue
            self.actions.append(("fork", scenario, 0))
            for y in sorted(scen_years[scenario] | targets):
                self.actions += [("push", scenario, y)] if y in scen_years[scenario] else []
                self.actions += [("emit", scenario, y)] if y in targets else []
        self.step_files: dict[tuple[str, int], list[FileEntry]] = {
            (s, y): plan.files_for(variable, s, y) for kind, s, y in self.actions if kind == "push"
        }
        self._build_batches()
        self.pos = 0
        self.next_submit = 0
        self.lineage = _Lineage()
        self.hist_sums: dict[str, WindowSums] = {}
        self.sums = self.hist_sums

    def _build_batches(self) -> None:
        cfg = self.s.config
        years_of: dict[Path, set[int]] = defaultdict(set)
        uses: Counter[Path] = Counter()
        order: list[FileEntry] = []
        for (_, year), entries in self.step_files.items():
            for e in entries:
                if e.path not in years_of:
                    order.append(e)
                years_of[e.path].add(year)
                uses[e.path] += 1
        regions = tuple(sorted({o.region for outs in self.pending.values() for o in outs}, key=lambda r: r.key))
        size = cfg.batch_size_years
        self.batches: list[_Batch] = []
        self.batch_of: dict[Path, _Batch] = {}
        for i in range(0, len(order), size):
            entries = order[i : i + size]
            tasks = tuple(
                ReadTask(
                    str(e.path),
                    self.variable,
                    regions,
                    cfg.leap_day,
                    tuple(sorted(years_of[e.path])),
                    cfg.lon_convention,
                    cfg.mask_impossible,
                    fast_read=cfg.fast_read,
                    fast_read_threads=cfg.fast_read_threads,
                )
                for e in entries
            )
            batch = _Batch(self.variable, entries, tasks, sum(uses[e.path] for e in entries))
            self.batches.append(batch)
            for e in entries:
                self.batch_of[e.path] = batch

    @property
    def n_files(self) -> int:
        return sum(len(b.entries) for b in self.batches)

    @property
    def done(self) -> bool:
        return self.pos >= len(self.actions)

    def has_unsubmitted(self) -> bool:
        return self.next_submit < len(self.batches)

    def submit_next(self) -> _Batch:
        batch = self.batches[self.next_submit]
        self.next_submit += 1
        batch.future = self.s.executor.submit(read_batch, batch.tasks)
        return batch

    def ready(self) -> bool:
        if self.done:
            return False
        kind, scenario, year = self.actions[self.pos]
        if kind != "push":
            return True
        for e in self.step_files[(scenario, year)]:
            batch = self.batch_of[e.path]
            if batch.outcomes is None and (batch.future is None or not batch.future.done()):
                return False
        return True

    def advance(self) -> None:
        kind, scenario, year = self.actions[self.pos]
        self.pos += 1
        if kind == "fork":
            self.sums = {k: v.fork() for k, v in self.hist_sums.items()}
        elif kind == "push":
            entries = self.step_files[(scenario, year)]
            results = [(e, self._outcome(e)) for e in entries]
            self.s.push(self.lineage, self.sums, scenario, year, results)
            for e in entries:
                batch = self.batch_of[e.path]
                batch.uses -= 1
                if batch.uses <= 0:
                    batch.outcomes = {}
                    self.s.release(batch)
        else:
            self.s.emit(self.lineage, self.sums, self.pending[(scenario, year)])

    def _outcome(self, entry: FileEntry) -> FileResult | None:
        batch = self.batch_of[entry.path]
        if batch.outcomes is None:
            batch.outcomes = self.s.collect(batch)
        return batch.outcomes.get(entry.path)


class _Scheduler:
    """Keeps the executor busy across all variables, a bounded number of tasks ahead, and writes in parallel."""

    def __init__(
        self,
        plan: Plan,
        manifest: Manifest,
        executor: Executor,
        summary: RunSummary,
        emit: T_EventSink,
        scratch: Scratch,
    ):
        self.plan = plan
        self.scratch = scratch
        self.config = plan.config
        self.manifest = manifest
        self.executor = executor
        self.summary = summary
        self.on_event = emit
        # a dask cluster's size is its own, not multiprocessing_workers
        workers = getattr(executor, "workers", None) or self.config.multiprocessing_workers
        self.budget = max(2, 2 * workers)
        self.per_variable = self.config.cores_per_variable or workers
        self.in_flight: list[_Batch] = []
        self.writes: list[tuple[Future[tuple[int, str, float]], OutputPlan, dict[str, Any]]] = []
        self.start = time.perf_counter()
        self.jobs: list[_VariableJob] = []
        for variable in self.config.variables:
            pending: dict[tuple[str, int], list[OutputPlan]] = defaultdict(list)
            for out in plan.outputs:
                t = out.target
                if t.variable != variable:
                    continue
                if out.up_to_date:
                    summary.up_to_date += 1
                elif not t.computable:
                    self.skip(out, t.reason)
                else:
                    pending[(t.scenario, t.year)].append(out)
            if pending:
                self.jobs.append(_VariableJob(self, variable, pending))

    def started_event(self) -> RunStarted:
        normals = Counter(o.target.variable for o in self.plan.pending)
        return RunStarted(
            model=self.plan.model,
            variables=tuple(self.config.variables),
            scenarios=tuple(self.config.scenarios),
            regions=tuple(r.key for r in self.plan.regions),
            files_total={j.variable: j.n_files for j in self.jobs},
            normals_total=dict(normals),
        )

    def run(self) -> None:
        turn = 0
        while not all(j.done for j in self.jobs):
            progressed = False
            for job in self.jobs:
                while job.ready():
                    job.advance()
                    progressed = True
            submitted = False
            candidates = [j for j in self.jobs if j.has_unsubmitted()]
            while len(self.in_flight) < self.budget and candidates:
                job = candidates[turn % len(candidates)]
                turn += 1
                running = sum(1 for b in self.in_flight if b.variable == job.variable and not b.future.done())  # type: ignore[union-attr]
                if running >= self.per_variable:
                    candidates.remove(job)
                    continue
                self.in_flight.append(job.submit_next())
                submitted = True
                candidates = [j for j in candidates if j.has_unsubmitted()]
            self.drain_writes(keep=self.budget, block=False)
            if not progressed and not submitted:
                waiting = [b.future for b in self.in_flight if b.future is not None and not b.future.done()]
                waiting += [f for f, _, _ in self.writes if not f.done()]
                if waiting:
                    wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)

    def collect(self, batch: _Batch) -> dict[Path, FileResult | None]:
        """The outcome of each file of a finished read task; failures reported once, as one line each."""
        assert batch.future is not None
        outcomes: dict[Path, FileResult | None] = {}
        try:
            results = batch.future.result()
        except Exception as err:
            message = err.problem if isinstance(err, InputFileError) else f"{type(err).__name__}: {err}"
            for e in batch.entries:
                self.fail(
                    batch.variable, str(e.path), message if str(e.path) not in message else message.split(": ", 1)[-1]
                )
                outcomes[e.path] = None
            return outcomes
        for e, result in zip(batch.entries, results, strict=True):
            if isinstance(result, InputFileError):
                self.fail(batch.variable, result.path, result.problem)
                outcomes[e.path] = None
            else:
                self.summary.files_read += 1
                self.summary.fast_reads += int(result.fast_path)
                self.summary.bytes_read += result.bytes_read
                outcomes[e.path] = result.unspill()
        return outcomes

    def release(self, batch: _Batch) -> None:
        if batch in self.in_flight:
            self.in_flight.remove(batch)
        batch.future = None

    # ---- reduction -----------------------------------------------------------------------------------------
    def push(
        self,
        lineage: _Lineage,
        sums: dict[str, WindowSums],
        scenario: str,
        year: int,
        results: list[tuple[FileEntry, FileResult | None]],
    ) -> None:
        """Assemble one year from its files and add it to every region's window (all regions or none)."""
        usable = [(e, r) for e, r in results if r is not None and self._verdict(lineage, e, r)]
        if len(usable) != len(results) or not usable:
            if results:
                log.warning("%s %s: year %d not used (a file of it failed)", results[0][0].variable, scenario, year)
                lineage.failed_years.add(year)
            return
        scheme = lineage.scheme
        assert scheme is not None
        expected = scheme.year_slots(year)
        names = ", ".join(str(e.path) for e, _ in usable)
        fields: dict[str, np.ndarray] = {}
        for region in lineage.grids:
            pieces = [p for _, r in usable if (p := r.pieces.get((year, region))) is not None]
            if not pieces:
                continue
            merged = _merge_pieces(pieces)
            if merged is None:
                self.fail(usable[0][0].variable, names, f"year {year}: the same days appear in several files; refused")
                return
            values, steps = merged
            present = steps > 0
            if not present[expected].all():
                missing = int((~present[expected]).sum())
                self.problem(f"{names}: year {year} incomplete ({missing} day(s) missing); not used")
                return
            fields[region] = values
        if fields and all(np.isnan(v).all() for v in fields.values()):
            self.problem(f"{names}: year {year} has no valid value in any region; counted as a year without data")
        for region, values in fields.items():
            window = sums.get(region)
            if window is None:
                window = sums[region] = WindowSums(values.shape, self.scratch.park)
            window.drop_before(year - self.config.window_years + 1)
            window.add(year, values)

    def _verdict(self, lineage: _Lineage, entry: FileEntry, result: FileResult) -> bool:
        """Whether a file is usable; decided once per file (a multi-year file serves several years)."""
        if result.verdict is None:
            result.verdict = self.consistent(lineage, entry, result)
        return result.verdict

    def consistent(self, lineage: _Lineage, entry: FileEntry, result: FileResult) -> bool:
        """Check a file agrees with its chain (calendar, units, grid); the first file sets the reference.

        Units that differ but convert unambiguously (K and degC, kg m-2 s-1 and mm day-1) are converted to the
        chain's units, and the log says so; other differences refuse the file.
        """
        variable = entry.variable
        if lineage.scheme is None:
            lineage.scheme = SlotScheme(result.calendar, self.config.leap_day)  # type: ignore[arg-type]
            lineage.units = result.units
            lineage.attrs = result.attrs
        if result.calendar != lineage.scheme.calendar:
            self.fail(
                variable,
                str(entry.path),
                f"calendar {result.calendar} differs from the chain's {lineage.scheme.calendar}; file refused",
            )
            return False
        conversion = converter(result.units, lineage.units)
        if conversion is None:
            self.fail(
                variable,
                str(entry.path),
                f"units {result.units!r} differ from the chain's "
                f"{lineage.units!r} and cannot be converted unambiguously; file refused",
            )
            return False
        if conversion != (1.0, 0.0):
            if result.units not in lineage.conversions:
                log.warning(
                    "%s: converting %s from %r to the chain's %r", entry.path, variable, result.units, lineage.units
                )
            lineage.conversions[str(result.units)] = conversion
            for piece in result.pieces.values():
                piece.values = convert(piece.values, *conversion)
        for region in result.empty_regions:
            lineage.grids.setdefault(region, None)
        for region, cut in result.grids.items():
            known = lineage.grids.setdefault(region, cut)
            if known is None or not known.same_as(cut):
                have = known.describe() if known is not None else "no cells"
                self.fail(
                    variable,
                    str(entry.path),
                    f"grid of region {region} ({cut.describe()}) differs from "
                    f"the rest of the chain ({have}); file refused",
                )
                return False
        if result.impossible:
            self.problem(
                f"{entry.path}: {result.impossible} value(s) with {result.impossible_rule}"
                + (" (masked)" if self.config.mask_impossible else "")
            )
        return True

    # ---- emission ------------------------------------------------------------------------------------------
    def emit(self, lineage: _Lineage, sums: dict[str, WindowSums], outputs: list[OutputPlan]) -> None:
        for out in outputs:
            target = out.target
            grid = lineage.grids.get(out.region.key)
            if grid is None:
                if lineage.scheme is not None:
                    self.skip(out, f"region {out.region.key} has no grid cells in the input files", fail=True)
                else:
                    self.skip(out, "no input year of its window could be read", fail=True)
                continue
            window = sums.get(out.region.key)
            first = target.year - self.config.window_years + 1
            if window is not None:
                window.drop_before(first)
            used = tuple(window.years) if window is not None else ()
            if len(used) < self.config.min_years_for_normal:
                missing = [y for y in target.window if y not in used]
                self.skip(
                    out,
                    f"only {len(used)} readable years in window {first}-{target.year} (minimum "
                    f"{self.config.min_years_for_normal}); missing {format_ranges(missing)}",
                    fail=bool(lineage.failed_years & set(missing)),  # lost to a failed file, or just incomplete
                )
                continue
            assert window is not None and lineage.scheme is not None
            thresholds = lineage.scheme.thresholds(range(first, target.year + 1), self.config.min_years_for_normal)
            self.submit_write(out, window.mean(thresholds), grid, used, lineage)

    def submit_write(
        self,
        out: OutputPlan,
        normal: np.ndarray,
        grid: RegionCut,
        used: tuple[int, ...],
        lineage: _Lineage,
    ) -> None:
        t = out.target
        inputs = [input_record(e) for e in self.plan.window_inputs(t, used)]
        assert lineage.scheme is not None
        meta = NormalMeta(
            variable=t.variable,
            region=out.region,
            scenario=t.scenario,
            period=t.period,
            target_year=t.year,
            window_years=self.config.window_years,
            years=used,
            source_scenarios=tuple(dict.fromkeys(self.plan.source_scenario(t.scenario, y) for y in used)),
            model=self.plan.model,
            variant=self.plan.variant,
            calendar=lineage.scheme.calendar,
            leap_day=self.config.leap_day,
            min_years_for_normal=self.config.min_years_for_normal,
            var_attrs=tuple(sorted(lineage.attrs.items())),
            inputs_digest=inputs_digest(inputs),
        )
        c = self.config.compression
        task = WriteTask(str(self.config.output_dir / out.path), normal, grid, meta, c.zlib, c.complevel, c.shuffle)
        record: dict[str, Any] = {
            "path": out.path,
            "variable": t.variable,
            "region": out.region.key,
            "scenario": t.scenario,
            "period": t.period,
            "target_year": t.year,
            "window_years": self.config.window_years,
            "years": list(used),
            "missing_years": [y for y in t.window if y not in used],
            "model": self.plan.model,
            "variant": self.plan.variant,
            "calendar": lineage.scheme.calendar,
            "leap_day": self.config.leap_day,
            "inputs": inputs,
            "fingerprint": out.fingerprint,
        }
        self.writes.append((self.executor.submit(write_output, task), out, record))
        if len(self.writes) > self.budget:
            self.drain_writes(keep=self.budget // 2)

    def drain_writes(self, keep: int = 0, block: bool = True, final: bool = False) -> None:
        """Record finished writes in the manifest; wait for all but the newest ``keep`` (unless not blocking).

        ``final``: the run is ending early; record what has finished and forget the rest. A full disk (or a
        file-size limit) stops the run: nothing more can be written, and what was written stays recorded.
        """
        still: list[tuple[Future[tuple[int, str, float]], OutputPlan, dict[str, Any]]] = []
        for i, (future, out, record) in enumerate(self.writes):
            must = block and i < len(self.writes) - keep
            if not (future.done() or must):
                if not final:
                    still.append((future, out, record))
                continue
            if future.cancelled():
                continue
            t = out.target
            try:
                size, checksum, _ = future.result()
            except OSError as err:
                self.skip(out, f"write failed: {err.strerror or err}", fail=True)
                reason = self._disk_full(err)
                if reason and not final:
                    self.writes = []
                    raise OutputError(
                        f"{self.config.output_dir}: cannot write outputs ({reason}); the run stopped. "
                        f"{self.summary.written} outputs written so far are recorded; free space and run again"
                    ) from None
                continue
            except (ValueError, ClimnormError) as err:
                self.skip(out, f"write failed: {err}", fail=True)
                continue
            except Exception as err:  # a cancelled or crashed write fails only itself (never Ctrl-C)
                if final:
                    continue
                self.skip(out, f"write failed: {type(err).__name__}: {err}", fail=True)
                continue
            record.update(size=size, checksum=checksum)
            try:
                self.manifest.add(record)
            except OSError as err:
                # unrecorded output would look current to nobody: remove it so disk and manifest agree
                (self.config.output_dir / out.path).unlink(missing_ok=True)
                self.writes = []
                raise OutputError(
                    f"{self.manifest.journal}: cannot record outputs ({err.strerror or err}); the run stopped"
                ) from None
            self.summary.written += 1
            group = (t.variable, out.region.key, t.scenario)
            self.summary.per_output[(*group, "written")] += 1
            self.summary.finished_at[group] = time.perf_counter() - self.start
        self.writes = still

    def _disk_full(self, err: OSError) -> str | None:
        """Why nothing more can be written, if so: the error says so, or the disk has (almost) no room left
        (HDF5 reports a full disk as other errors)."""
        if err.errno in _DISK_FULL:
            return os.strerror(err.errno)
        try:
            free = shutil.disk_usage(self.config.output_dir).free
        except OSError:
            return None
        return f"No space left on device: {free} bytes free" if free < 4 * 2**20 else None

    # ---- reporting -----------------------------------------------------------------------------------------
    def skip(self, out: OutputPlan, reason: str, *, fail: bool = False) -> None:
        t = out.target
        message = f"{t.variable} {out.region.key} {t.scenario} {t.period} {t.year}: skipped: {reason}"
        log.warning("%s", message)
        (self.summary.failures if fail else self.summary.skipped).append(message)
        group = (t.variable, out.region.key, t.scenario)
        self.summary.per_output[(*group, "failed" if fail else "skipped")] += 1
        self.on_event(NormalSkipped(t.variable, out.region.key, t.scenario, t.period, t.year, reason))

    def problem(self, message: str) -> None:
        """A problem that fails nothing but the user must hear of (listed once in the summary)."""
        if message not in self.summary.problems:
            log.warning("%s", message)
            self.summary.problems.append(message)

    def fail(self, variable: str, what: str, message: str) -> None:
        text = f"{what}: {message}"
        if text not in self.summary.failures:
            log.error("%s", text)
            self.summary.failures.append(text)
            self.on_event(Failure(variable, what, message))


_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _merge_pieces(pieces: list[YearPiece]) -> tuple[np.ndarray, np.ndarray] | None:
    """Combine one year's pieces from several files; None when two files hold the same day."""
    if len(pieces) == 1:
        return pieces[0].values, pieces[0].steps
    values = pieces[0].values.copy()
    steps = pieces[0].steps.copy()
    for p in pieces[1:]:
        has = p.steps > 0
        if (steps[has] > 0).any():
            return None
        values[has] = p.values[has]
        steps += p.steps
    return values, steps

"""Run a plan: read each input once, feed rolling windows in year order, write every normal, record it.

The stage functions (`extract.read_file`, `write.write_output`) run on any `concurrent.futures.Executor`;
this module only orders their work and keeps the float64 window sums, which are cheap.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from climnorm.catalog import FileEntry, build_catalog, format_ranges
from climnorm.config import HISTORICAL, Config
from climnorm.dayslots import SlotScheme
from climnorm.errors import ClimnormError, InputFileError
from climnorm.events import Failure, FileRead, NormalSkipped, NormalWritten, T_EventSink, ignore
from climnorm.extract import FileResult, ReadTask, read_file
from climnorm.manifest import Manifest, input_record, remove_leftovers
from climnorm.plan import OutputPlan, Plan, make_plan
from climnorm.reduce import WindowSums
from climnorm.write import NormalMeta, inputs_digest, write_normal

log = logging.getLogger(__name__)


class SerialExecutor(Executor):
    """Runs each task when it is submitted, in this process: the engine of one-process runs and tests."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:
            future.set_exception(err)
        return future


@dataclass
class RunSummary:
    """What a run did, for the final report and the exit code."""

    written: int = 0
    up_to_date: int = 0
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    files_read: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    removed_leftovers: int = 0
    per_output: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


@dataclass(frozen=True)
class WriteTask:
    """One normal to write (picklable: it may run in a worker process)."""

    path: str
    normal: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    meta: NormalMeta
    zlib: bool
    complevel: int
    shuffle: bool


def write_output(task: WriteTask) -> tuple[int, str, float]:
    start = time.perf_counter()
    size, checksum = write_normal(
        Path(task.path),
        task.normal,
        task.lat,
        task.lon,
        task.meta,
        zlib=task.zlib,
        complevel=task.complevel,
        shuffle=task.shuffle,
    )
    return size, checksum, time.perf_counter() - start


def prepare(config: Config, *, force: bool = False) -> tuple[Plan, Manifest]:
    """Catalog the inputs, load the manifest and build the plan (no data read)."""
    runs = sorted(set(config.scenarios) | {HISTORICAL})
    catalog = build_catalog(config.input_dirs, model=config.model, variables=config.variables, scenarios=runs)
    manifest = Manifest.load(config.output_dir)
    plan = make_plan(config, catalog, None if force else manifest)
    return plan, manifest


def run(
    config: Config,
    *,
    force: bool = False,
    executor: Executor | None = None,
    on_event: T_EventSink = ignore,
) -> RunSummary:
    """Compute every pending normal of the configuration; returns the summary (exit code 1 on failures)."""
    start = time.perf_counter()
    summary = RunSummary()
    config.output_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_leftovers(config.output_dir)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    summary.removed_leftovers = len(removed)
    plan, manifest = prepare(config, force=force)
    for problem in plan.problems:
        log.warning("%s", problem)
    runner = _Runner(plan, manifest, executor or SerialExecutor(), summary, on_event)
    try:
        for variable in config.variables:
            runner.run_variable(variable)
        runner.drain_writes()
    finally:
        manifest.save()
        summary.seconds = time.perf_counter() - start
    return summary


@dataclass
class _Lineage:
    """State shared by the streams of one variable: calendar, units and each region's grid must agree."""

    scheme: SlotScheme | None = None
    units: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


class _Runner:
    """Orders the reads of one variable, feeds the window sums, and hands finished normals to the writer."""

    def __init__(self, plan: Plan, manifest: Manifest, executor: Executor, summary: RunSummary, on_event: T_EventSink):
        self.plan = plan
        self.config = plan.config
        self.manifest = manifest
        self.executor = executor
        self.summary = summary
        self.on_event = on_event
        self.lookahead = max(2, 2 * self.config.multiprocessing_workers)
        self.writes: list[tuple[Future[tuple[int, str, float]], OutputPlan, dict[str, Any]]] = []

    # ---- scheduling -------------------------------------------------------------------------------------------
    def run_variable(self, variable: str) -> None:
        streams = [s for s in self.plan.streams if s.variable == variable]
        pending: dict[tuple[str, int], list[OutputPlan]] = defaultdict(list)
        for out in self.plan.outputs:
            t = out.target
            if t.variable != variable:
                continue
            if out.up_to_date:
                self.summary.up_to_date += 1
            elif not t.computable:
                self._skip(out, t.reason)
            else:
                pending[(t.scenario, t.year)].append(out)
        if not pending:
            return
        regions = sorted({o.region.key for outs in pending.values() for o in outs})
        phases: list[tuple[str, list[int], list[int]]] = []  # (stream scenario, years to read, targets)
        hist_years: set[int] = set()
        scen_years: dict[str, set[int]] = defaultdict(set)
        for (scenario, _), outs in pending.items():
            for y in outs[0].target.available:
                if self.plan.source_scenario(scenario, y) == HISTORICAL:
                    hist_years.add(y)
                else:
                    scen_years[scenario].add(y)
        hist_targets = sorted(y for (s, y) in pending if s == HISTORICAL)
        phases.append((HISTORICAL, sorted(hist_years), hist_targets))
        for stream in streams:
            if stream.scenario != HISTORICAL:
                targets = sorted(y for (s, y) in pending if s == stream.scenario)
                if targets:
                    phases.append((stream.scenario, sorted(scen_years[stream.scenario]), targets))

        steps = [(scenario, y) for scenario, years, _ in phases for y in years]
        reads = _ReadQueue(self, variable, regions, steps)
        lineage = _Lineage()
        hist_sums: dict[str, WindowSums] = {}
        for scenario, years, targets in phases:
            sums = hist_sums if scenario == HISTORICAL else {k: v.fork() for k, v in hist_sums.items()}
            for year in sorted(set(years) | set(targets)):
                if year in years:
                    self._push(lineage, sums, scenario, year, reads.take(scenario, year))
                if year in targets:
                    self._emit(lineage, sums, pending[(scenario, year)])

    def _push(
        self,
        lineage: _Lineage,
        sums: dict[str, WindowSums],
        scenario: str,
        year: int,
        results: list[tuple[FileEntry, FileResult | None]],
    ) -> None:
        """Assemble one year from its files and add it to every region's window."""
        usable = [(e, r) for e, r in results if r is not None and self._consistent(lineage, e, r)]
        if len(usable) != len(results) or not usable:
            if results:
                log.warning("%s %s: year %d not used (a file of it failed)", results[0][0].variable, scenario, year)
            return
        scheme = lineage.scheme
        assert scheme is not None
        expected = scheme.year_slots(year)
        run = self.plan.source_scenario(scenario, year)
        for region in lineage.grids:
            pieces = [r.pieces.get((year, region)) for _, r in usable]
            pieces = [p for p in pieces if p is not None]
            if not pieces:
                continue
            values, steps = _merge_pieces(pieces)
            if steps is None:
                self._fail(usable[0][0].variable, f"{run} {year}", "the same days appear in several files")
                return
            present = steps > 0
            if not present[expected].all():
                missing = int((~present[expected]).sum())
                names = ", ".join(str(e.path) for e, _ in usable)
                log.warning("%s: year %d incomplete (%d day(s) missing); not used", names, year, missing)
                return
            window = sums.get(region)
            if window is None:
                window = sums[region] = WindowSums(values.shape)
            window.drop_before(year - self.config.window_years + 1)
            window.add(year, values)

    def _consistent(self, lineage: _Lineage, entry: FileEntry, result: FileResult) -> bool:
        """Check a file agrees with its chain (calendar, units, grid); record the first file's as reference."""
        variable = entry.variable
        if lineage.scheme is None:
            lineage.scheme = SlotScheme(result.calendar, self.config.leap_day)  # type: ignore[arg-type]
            lineage.units = result.units
            lineage.attrs = result.attrs
        if result.calendar != lineage.scheme.calendar:
            self._fail(
                variable,
                str(entry.path),
                f"calendar {result.calendar} differs from the chain's {lineage.scheme.calendar}; file refused",
            )
            return False
        if result.units != lineage.units:
            self._fail(
                variable,
                str(entry.path),
                f"units {result.units!r} differ from the chain's {lineage.units!r}; file refused",
            )
            return False
        for region in result.empty_regions:
            if region not in lineage.grids:
                lineage.grids.setdefault(region, (np.empty(0), np.empty(0)))
        for region, (lat, lon) in result.grids.items():
            known = lineage.grids.setdefault(region, (lat, lon))
            if (
                known[0].shape != lat.shape
                or known[1].shape != lon.shape
                or not (np.allclose(known[0], lat) and np.allclose(known[1], lon))
            ):
                self._fail(
                    variable,
                    str(entry.path),
                    f"grid of region {region} differs from the rest of the chain "
                    f"({lat.size}x{lon.size} cells vs {known[0].size}x{known[1].size}); file refused",
                )
                return False
        return True

    # ---- emission ----------------------------------------------------------------------------------------------
    def _emit(self, lineage: _Lineage, sums: dict[str, WindowSums], outputs: list[OutputPlan]) -> None:
        for out in outputs:
            target = out.target
            lat, lon = lineage.grids.get(out.region.key, (np.empty(0), np.empty(0)))
            if lat.size == 0 or lon.size == 0:
                self._skip(out, f"region {out.region.key} has no grid cells in the input files", fail=True)
                continue
            window = sums.get(out.region.key)
            first = target.year - self.config.window_years + 1
            if window is not None:
                window.drop_before(first)
            used = tuple(window.years) if window is not None else ()
            if len(used) < self.config.min_years_for_normal:
                missing = [y for y in target.window if y not in used]
                self._skip(
                    out,
                    f"only {len(used)} readable years in window {first}-{target.year} (minimum "
                    f"{self.config.min_years_for_normal}); missing {format_ranges(missing)}",
                )
                continue
            assert window is not None and lineage.scheme is not None
            normal = window.mean(
                lineage.scheme.thresholds(range(first, target.year + 1), self.config.min_years_for_normal)
            )
            self._submit_write(out, normal, lat, lon, used, lineage)

    def _submit_write(
        self,
        out: OutputPlan,
        normal: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
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
        task = WriteTask(str(self.config.output_dir / out.path), normal, lat, lon, meta, c.zlib, c.complevel, c.shuffle)
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
        if len(self.writes) > self.lookahead:
            self.drain_writes(keep=self.lookahead // 2)

    def drain_writes(self, keep: int = 0) -> None:
        """Wait for finished writes (all but the newest ``keep``) and record them in the manifest."""
        while len(self.writes) > keep:
            future, out, record = self.writes.pop(0)
            t = out.target
            try:
                size, checksum, seconds = future.result()
            except (OSError, ValueError, ClimnormError) as err:
                self._skip(out, f"write failed: {err}", fail=True)
                continue
            record.update(size=size, checksum=checksum)
            self.manifest.add(record)
            self.summary.written += 1
            self.summary.per_output[(t.variable, out.region.key, t.scenario, "written")] += 1
            self.on_event(NormalWritten(t.variable, out.region.key, t.scenario, t.period, t.year, out.path, seconds))

    # ---- reporting ---------------------------------------------------------------------------------------------
    def _skip(self, out: OutputPlan, reason: str, *, fail: bool = False) -> None:
        t = out.target
        message = f"{t.variable} {out.region.key} {t.scenario} {t.period} {t.year}: skipped: {reason}"
        log.warning("%s", message)
        (self.summary.failures if fail else self.summary.skipped).append(message)
        self.summary.per_output[(t.variable, out.region.key, t.scenario, "failed" if fail else "skipped")] += 1
        self.on_event(NormalSkipped(t.variable, out.region.key, t.scenario, t.period, t.year, reason))

    def _fail(self, variable: str, what: str, message: str) -> None:
        text = f"{what}: {message}"
        if text not in self.summary.failures:
            log.error("%s", text)
            self.summary.failures.append(text)
            self.on_event(Failure(variable, what, message))


class _ReadQueue:
    """Submits file reads in consumption order, a bounded number ahead, and hands them out per year."""

    def __init__(self, runner: _Runner, variable: str, regions: list[str], steps: list[tuple[str, int]]):
        self.runner = runner
        plan = runner.plan
        self.step_files: dict[tuple[str, int], list[FileEntry]] = {}
        years_of: dict[Path, set[int]] = defaultdict(set)
        order: list[FileEntry] = []
        for scenario, year in steps:
            entries = plan.files_for(variable, scenario, year)
            self.step_files[(scenario, year)] = entries
            for e in entries:
                if e.path not in years_of:
                    order.append(e)
                years_of[e.path].add(year)
        self.uses = Counter(e.path for entries in self.step_files.values() for e in entries)
        region_objs = tuple(r for r in plan.regions if r.key in regions)
        cfg = runner.config
        self.tasks = [
            (
                e,
                ReadTask(
                    str(e.path),
                    variable,
                    region_objs,
                    cfg.leap_day,
                    tuple(sorted(years_of[e.path])),
                    cfg.lon_convention,
                ),
            )
            for e in order
        ]
        self.index: dict[Path, int] = {e.path: i for i, (e, _) in enumerate(self.tasks)}
        self.futures: dict[Path, Future[FileResult]] = {}
        self.results: dict[Path, FileResult | None] = {}
        self.submitted = 0

    def _submit_through(self, last: int) -> None:
        in_flight = len(self.futures)
        while self.submitted < len(self.tasks) and (self.submitted <= last or in_flight < self.runner.lookahead):
            entry, task = self.tasks[self.submitted]
            self.futures[entry.path] = self.runner.executor.submit(read_file, task)
            self.submitted += 1
            in_flight += 1

    def take(self, scenario: str, year: int) -> list[tuple[FileEntry, FileResult | None]]:
        entries = self.step_files.get((scenario, year), [])
        if entries:
            self._submit_through(max(self.index[e.path] for e in entries))
        out = [(e, self._result(e)) for e in entries]
        for e in entries:
            self.uses[e.path] -= 1
            if self.uses[e.path] <= 0:
                self.results.pop(e.path, None)
        return out

    def _result(self, entry: FileEntry) -> FileResult | None:
        if entry.path in self.results:
            return self.results[entry.path]
        future = self.futures.pop(entry.path)
        runner = self.runner
        result: FileResult | None
        try:
            result = future.result()
        except InputFileError as err:
            runner._fail(entry.variable, err.path, err.problem)
            result = None
        except Exception as err:
            runner._fail(entry.variable, str(entry.path), f"read failed: {type(err).__name__}: {err}")
            result = None
        if result is not None:
            runner.summary.files_read += 1
            runner.summary.bytes_read += result.bytes_read
            runner.on_event(FileRead(entry.variable, str(entry.path), result.bytes_read, result.seconds))
        self.results[entry.path] = result
        return result


def _merge_pieces(pieces: Iterable[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """Combine one year's pieces from several files; (values, None) when two files hold the same day."""
    pieces = list(pieces)
    if len(pieces) == 1:
        return pieces[0].values, pieces[0].steps
    values = pieces[0].values.copy()
    steps = pieces[0].steps.copy()
    for p in pieces[1:]:
        has = p.steps > 0
        if (steps[has] > 0).any():
            return values, None
        values[has] = p.values[has]
        steps += p.steps
    return values, steps

"""Run a configuration: catalog and plan, then read each input once, reduce in year order, write every normal and
record it, on the configured engine; with a run log, an output lock and the run's scratch file around it.

What runs where: `climnorm.engines` runs the tasks, `runner.scheduler` orders them, `runner.landing` lands
the outputs, `runner.summary` reports; this module only wires them (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path

import psutil

from climnorm._atomic import remove_leftovers
from climnorm.catalog.scan import build_catalog
from climnorm.config.model import Config
from climnorm.engines import open_engine, warm_up
from climnorm.errors import OutputError, RunInterrupted
from climnorm.events import RunFinished, T_EventSink
from climnorm.plan.build import Plan, make_plan
from climnorm.progress import MemoryMonitor, ProgressChannel, T_Mode
from climnorm.runner.changes import ChangeQueue
from climnorm.runner.ensembles import EnsembleQueue
from climnorm.runner.landing import WriteQueue
from climnorm.runner.lock import OutputLock
from climnorm.runner.scheduler import Derived, Scheduler
from climnorm.runner.scratch import Scratch
from climnorm.runner.state import fetch_manifest, publish
from climnorm.runner.summary import Reporter, RunSummary
from climnorm.runner.thresholds import base_files, base_pass
from climnorm.runner.zonal_step import write_zonal_tables
from climnorm.write.manifest import Manifest
from climnorm.write.store import OutputStore, consolidate, output_store

log = logging.getLogger(__name__)

__all__ = ["RunInterrupted", "RunSummary", "check_output_dir", "prepare", "run"]


def prepare(
    config: Config, *, force: bool = False, manifest: Manifest | None = None, store: OutputStore | None = None
) -> tuple[Plan, Manifest]:
    """Catalog the inputs, open the manifest (``manifest``: a run's, else read without writing anything but, for
    outputs in a bucket, the published manifest fetched into ``state_dir``) and build the plan against what is in
    the outputs' ``store`` (no data read)."""
    storage = config.storage() if config.remote_inputs else None
    if storage is not None:
        log.info("object storage: %r", storage)
    catalog = build_catalog(config.input_dirs, variables=config.variables, storage=storage)
    log.info("%s", catalog.summary_line())
    store = store or output_store(config.output_dir, config.output_storage())
    if manifest is None:
        fetch_manifest(config, store)
        manifest = Manifest.read(config.state_path)
    plan = make_plan(config, catalog, None if force else manifest.records, store)
    plan.storage = storage
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

    ``executor`` overrides the engine the config chooses (it stays the caller's to shut down); ``on_event``
    receives every progress event (in a thread of this process); ``progress`` shows them (rich, plain, auto) in a
    display process instead.
    """
    start = time.perf_counter()
    warm_up(config, executor)
    summary = RunSummary(workers=config.multiprocessing_workers)
    store = check_output_dir(config)
    with OutputLock(config.state_path), _run_log(config.state_path) as log_file, open_scratch(config) as scratch:
        summary.log_file = log_file
        fetch_manifest(config, store)
        plan, manifest = _tidy_and_plan(config, summary, force, store)
        channel = ProgressChannel(progress, callback=on_event, workers=config.multiprocessing_workers)
        monitor = MemoryMonitor()
        summary.members = len(plan.members)
        reporter = Reporter(summary, channel.send)
        try:
            with open_engine(config, channel, executor) as engine:
                summary.workers = engine.workers
                writes = WriteQueue(plan, manifest, engine, reporter, max(2, 2 * engine.workers), store)
                derived: list[Derived] = []  # changes first: an ensemble of changes waits on them
                if plan.changes:
                    derived.append(ChangeQueue(plan, manifest, writes, reporter, force=force))
                if plan.ensembles:
                    derived.append(EnsembleQueue(plan, manifest, writes, reporter, force=force))
                scheduler = Scheduler(plan, engine, engine.workers, reporter, writes, scratch.park, derived)
                channel.send(scheduler.started_event(base_files(plan)))
                reporter.plan_skips(plan)
                first = base_pass(plan, engine, reporter)
                summary.base_seconds, summary.base_files = first.seconds, first.files
                scheduler.use_thresholds(first.thresholds)
                _run_scheduler(scheduler, writes, derived, manifest, reporter, lambda: publish(config, store, log_file))
                summary.bytes_handed_back = writes.bytes_handed_back
                summary.worker_crashes = engine.crashes
            write_zonal_tables(config, reporter)  # the `zonal:` tables, from the saved manifest
            reporter.tell_skips()
        except KeyboardInterrupt:
            raise RunInterrupted(summary) from None
        finally:
            summary.seconds = time.perf_counter() - start
            summary.peak_memory = monitor.stop()
            channel.send(RunFinished(summary.seconds, summary.exit_code))
            channel.close()
        _log_scratch(scratch)
        log.info(
            "run finished in %.1f s: %d written, %d up to date, %d skipped, %d failed",
            *(summary.seconds, summary.written, summary.up_to_date, len(summary.skipped), len(summary.failures)),
        )
    return summary


def _tidy_and_plan(config: Config, summary: RunSummary, force: bool, store: OutputStore) -> tuple[Plan, Manifest]:
    """Remove what an interrupted run left, then plan (its problems logged)."""
    removed = remove_leftovers(config.state_path)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run", len(removed))
    summary.removed_leftovers = len(removed)
    manifest = Manifest.load(config.state_path)  # an older one upgraded
    plan, manifest = prepare(config, force=force, manifest=manifest, store=store)
    for problem in plan.problems:
        log.warning("%s", problem)
    return plan, manifest


def _run_scheduler(
    scheduler: Scheduler,
    writes: WriteQueue,
    derived: list[Derived],
    manifest: Manifest,
    reporter: Reporter,
    published: Callable[[], None],
) -> None:
    """Run every chain and land every write (changes and ensembles last, as what they are made of lands);
    whatever stops the run, what has landed is recorded (and ``published``: beside outputs in a bucket)."""
    try:
        scheduler.run()
        writes.drain()
        while any([queue.submit_ready() for queue in derived]):  # every queue, each time
            writes.drain()
    except OutputError as err:
        reporter.run_failure(str(err))
    finally:
        writes.drain(block=False, final=True)
        manifest.save()
        try:
            for store in sorted(writes.stores):
                _consolidate(store, writes)
        finally:
            published()
        log.info("outputs' bytes handed back to this process to land: %d", writes.bytes_handed_back)


def _consolidate(store: str, writes: WriteQueue) -> None:
    """Consolidate a store's metadata at the end of a run; a failure is told, not raised (the store reads without
    it: its readers fall back to the arrays' own metadata)."""
    try:
        consolidate(store, writes.store.storage)
    except Exception as err:  # a request that failed for good, a disk that filled up
        log.warning("%s: cannot consolidate its metadata (%s)", store, writes.said(err))


def check_output_dir(config: Config) -> OutputStore:
    """The outputs' store; refuse an output directory that cannot be written, or that lies inside an input tree,
    before any work."""
    store = output_store(config.output_dir, config.output_storage())
    if isinstance(config.output_dir, str):
        try:
            config.state_path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{config.state_path}: cannot make the state directory ({err.strerror or err})") from None
        _check_bucket(config, store)
        return store
    out = config.output_dir.absolute()
    for root in config.input_dirs:
        if isinstance(root, str):
            continue  # an s3:// prefix
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
    return store


def _check_bucket(config: Config, store: OutputStore) -> None:
    """Refuse outputs under an input prefix, or a bucket that cannot be written (one object put and removed)."""
    out = f"{str(config.output_dir).rstrip('/')}/"
    for root in config.input_dirs:
        if isinstance(root, str) and out.startswith(f"{root.rstrip('/')}/"):
            raise OutputError(
                f"{config.output_dir}: the output prefix is inside the input prefix {root}; choose an output_dir "
                "outside the archive (inputs are never modified)"
            )
    probe = f".climnorm-probe-{uuid.uuid4().hex}"
    try:
        store.put(probe, b"")
        store.remove(probe)
        store.names("")  # the plan lists it
    except (OSError, OutputError) as err:
        raise OutputError(f"{config.output_dir}: the output prefix is not writable ({err})") from None


def _log_scratch(scratch: Scratch) -> None:
    held, parked = scratch.peak_held_bytes / 1e6, scratch.peak_bytes / 1e6
    log.info("window years: at most %.0f MB held in memory and %.0f MB parked on disk at once", held, parked)


def window_memory_bytes(config: Config) -> int:
    """How many bytes of window years stay in memory before the rest is parked on disk."""
    if config.window_memory_gb is not None:
        return int(config.window_memory_gb * 1e9)
    return int(psutil.virtual_memory().available // 4)


def open_scratch(config: Config) -> Scratch:
    """The run's scratch file for window years (in ``scratch_dir``, by default the output directory)."""
    directory = config.scratch_dir or config.state_path
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return Scratch(directory, memory_bytes=window_memory_bytes(config))
    except OSError as err:
        raise OutputError(
            f"{directory}: cannot create the scratch file for window years here ({err.strerror or err}); "
            "set scratch_dir to a writable local directory"
        ) from None


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

"""The run's writes: each computed normal described (file attributes, manifest record), written on the engine,
landed in the output store and recorded in the manifest as it lands; a full disk stops the run with what was
written recorded.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Generic

from climnorm.config.model import Config
from climnorm.engines import Engine, SerialExecutor
from climnorm.engines.tasks import T_WriteTask, write_detached, write_in_store, write_output, write_uploaded
from climnorm.engines.worker import WorkerContext
from climnorm.errors import ClimnormError, OutputError
from climnorm.plan.build import Plan
from climnorm.plan.planned import T_Output
from climnorm.products import file_product
from climnorm.records import OutputRecord, in_store, store_and_year
from climnorm.runner.accumulate import Computed
from climnorm.runner.summary import Reporter
from climnorm.storage.retry import scrub
from climnorm.write.digests import inputs_digest
from climnorm.write.manifest import Manifest
from climnorm.write.orders import (
    ChangeTask,
    Encoding,
    EnsembleChangeTask,
    EnsembleTask,
    NormalMeta,
    WriteTask,
    Written,
    ZarrTarget,
)
from climnorm.write.store import OutputStore

log = logging.getLogger(__name__)

_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class Placement(enum.Enum):
    """Where an output is written, decided once per job by the engine and the store."""

    IN_PLACE = "a worker writes it into the store"
    UPLOADED = "a worker writes it in its own scratch and puts it in the store (a bucket) itself"
    HANDED_BACK = "a worker writes it in its own scratch and hands the bytes back to be landed here"
    HERE = "this process writes it (it reads outputs the engine's workers cannot see)"


@dataclass(frozen=True)
class WriteJob(Generic[T_WriteTask]):
    """One output to write: the task function and its task, the output, and its record once it lands."""

    fn: Callable[[WorkerContext, T_WriteTask], Written]
    task: T_WriteTask
    out: T_Output
    record: OutputRecord
    reads_outputs: bool = False  # an ensemble: it reads its members' output files


T_Job = WriteJob[WriteTask] | WriteJob[EnsembleTask] | WriteJob[ChangeTask] | WriteJob[EnsembleChangeTask]
"""A member's normal to write, or an ensemble output."""


_FULL_WRITE = 16 * 2**20
"""A write holding this many bytes of values (or more) counts whole against the budget of writes in flight; a
smaller one (a period's or an indicator's normal) counts its share, at least 1/16: a target's dozens of small
outputs do not hold up the run as a target's few daily normals would."""


@dataclass(frozen=True)
class _Pending:
    """A write submitted to the engine, with the record that goes into the manifest once it lands, and its share of
    the budget of writes in flight."""

    future: Future[Written]
    job: T_Job
    weight: float = 1.0


def _weight(job: T_Job) -> float:
    """A write's share of the budget: its values' bytes against :data:`_FULL_WRITE` (an ensemble output: 1)."""
    if not isinstance(job.task, WriteTask):
        return 1.0
    return min(1.0, max(1 / 16, job.task.nbytes / _FULL_WRITE))


def encoding(config: Config) -> Encoding:
    """The configured compression of the outputs."""
    c = config.compression
    return Encoding(c.zlib, c.complevel, c.shuffle)


def describe(plan: Plan, computed: Computed, store: OutputStore) -> tuple[WriteTask, OutputRecord]:
    """The write task of a computed normal (what its file says about itself) and its manifest record."""
    config, out, used = plan.config, computed.out, computed.years
    t = out.target
    inputs = [e.record for e in plan.output_inputs(t, out.spec, computed.input_years)]
    meta = NormalMeta(
        target=t,
        region=out.region,
        years=used,
        source_scenarios=tuple(dict.fromkeys(plan.source_scenario(t.scenario, y) for y in used)),
        calendar=computed.scheme.calendar,
        leap_day=config.leap_day,
        var_attrs=computed.var_attrs,
        inputs_digest=inputs_digest(inputs),
        product=file_product(out.spec, computed.aggregation, plan.settings),
    )
    path = store.location(out.path)
    task = WriteTask(path, computed.normal, computed.grid, meta, encoding(config), computed.finish, computed.extras)
    record = OutputRecord(
        path=out.path,
        variable=t.variable,
        region=out.region.key,
        scenario=t.scenario,
        period=t.period,
        target_year=t.year,
        window_years=config.window_years,
        years=used,
        missing_years=tuple(y for y in t.window if y not in used),
        model=t.member.model,
        variant=t.member.variant,
        calendar=computed.scheme.calendar,
        leap_day=config.leap_day,
        inputs=tuple(inputs),
        fingerprint=out.fingerprint,
        product=out.product,
        name=out.spec.data_name,
        indicator=out.spec.entry,
        window_statistics=tuple(name for name, _ in computed.extras),
    )
    return task, record


class WriteQueue:
    """Writes in flight, at most a budget of them (small ones count their share); finished ones land in the store
    (when handed back) and are recorded in the manifest, in order."""

    def __init__(
        self, plan: Plan, manifest: Manifest, executor: Engine, reporter: Reporter, budget: int, store: OutputStore
    ) -> None:
        self.here = SerialExecutor()  # tasks that read outputs, when the engine's workers cannot see them
        self.plan = plan
        self.manifest = manifest
        self.executor = executor
        self.reporter = reporter
        self.budget = budget
        self.store = store
        self.pending: list[_Pending] = []
        self.unrecorded: OutputError | None = None  # why outputs could not be recorded: the run stops
        self.stores: set[str] = set()  # the chains' stores targets landed in (the zarr layout)
        self.bytes_handed_back = 0  # outputs' bytes workers handed back to be landed here
        self.token = uuid.uuid4().hex  # this run's, for what workers keep of a store between targets

    def submit(self, computed: Computed) -> None:
        """Write a member's computed normal."""
        task, record = describe(self.plan, computed, self.store)
        self.submit_job(WriteJob(write_output, task, computed.out, record))

    def placement(self, job: T_Job) -> Placement:
        """Where ``job`` is written: put in a bucket by the worker, in place where the engine's workers share the
        store, else handed back, or here for a job that reads outputs."""
        if self.store.remote:
            return Placement.UPLOADED
        if self.executor.shares_outputs and self.store.writable_path(job.out.path) is not None:
            return Placement.IN_PLACE
        return Placement.HERE if job.reads_outputs else Placement.HANDED_BACK

    def submit_job(self, job: T_Job) -> None:
        """Run a job and record its output when it lands."""
        where = self.placement(job)
        future: Future[Written]
        target = self.target(job.out)
        if where is Placement.HANDED_BACK:
            future = self.executor.run(write_detached, job.fn, job.task)
        elif where is Placement.UPLOADED and target is None:
            future = self.executor.run(write_uploaded, job.fn, job.task, self.store, job.out.path)
        else:
            executor = self.here if where is Placement.HERE else self.executor
            future = executor.run(job.fn, job.task) if target is None else executor.run(write_in_store, job.fn,
                                                                                        job.task, target)  # fmt: skip
        self.pending.append(_Pending(future, job, _weight(job)))
        if sum(p.weight for p in self.pending) > self.budget:
            self.drain(keep=self._newest_within(self.budget // 2))

    def target(self, out: T_Output) -> ZarrTarget | None:
        """Where an output goes in its chain's store (the ``zarr`` layout); None for a file."""
        if not in_store(out.path):
            return None
        store, year = store_and_year(out.path)
        years = self.plan.store_years(out.key[2])
        config = self.plan.config
        return ZarrTarget(self.store.location(store), year, years, encoding(config), self.store.storage, self.token)

    def _newest_within(self, share: float) -> int:
        """How many of the newest writes in flight fit in ``share`` of the budget."""
        total, n = 0.0, 0
        for p in reversed(self.pending):
            total += p.weight
            if total > share:
                break
            n += 1
        return n

    def waiting(self) -> list[Future[Any]]:
        return [p.future for p in self.pending if not p.future.done()]

    def drain(self, keep: int = 0, block: bool = True, final: bool = False) -> None:
        """Record finished writes in the manifest; wait for all but the newest ``keep`` (unless not blocking).

        ``final``: the run is ending early; record what has finished and forget the rest. A full disk (or a
        file-size limit) stops the run: nothing more can be written, and what was written stays recorded. Once the
        manifest cannot take a record, every write still in flight is waited for and its output removed.
        """
        still: list[_Pending] = []
        block = block or self.unrecorded is not None  # writes that cannot be recorded are waited for, and removed
        for i, item in enumerate(self.pending):
            must = block and i < len(self.pending) - keep
            if not (item.future.done() or must):
                if not final:
                    still.append(item)
                continue
            if not item.future.cancelled():
                self._land(item, final)
        self.pending = still
        if self.unrecorded is not None and not final:
            raise self.unrecorded  # the writes still in flight are waited for by the final drain

    def _land(self, item: _Pending, final: bool) -> None:
        """Record one finished write, or report why it failed (a full disk stops the run: OutputError)."""
        out = item.job.out
        try:
            written = item.future.result()
            target = self.target(out)
            self.bytes_handed_back += len(written.data or b"")
            if written.data is not None and target is None:
                self.store.put(out.path, written.data)
            elif written.data is not None and target is not None:
                written = replace(written, size=self.store.put_target(target, written.data))
            if target is not None:
                self.stores.add(target.store)
        except OSError as err:
            self.reporter.skip(out, f"write failed: {self.said(err.strerror or err)}", fail=True)
            reason = self._disk_full(err)
            if reason and not final:
                self.pending = []
                raise self._stopped(reason) from None
            return
        except (ValueError, ClimnormError) as err:
            self.reporter.skip(out, f"write failed: {self.said(err)}", fail=True)
            return
        except Exception as err:  # a cancelled or crashed write fails only itself (never Ctrl-C)
            if not final:
                self.reporter.skip(out, f"write failed: {type(err).__name__}: {self.said(err)}", fail=True)
            return
        try:
            self.manifest.add(item.job.record.landed(written.size, written.checksum))
        except OSError as err:
            # an unrecorded output would look current to nobody: remove it so the store and the manifest agree (and
            # so for every other write that lands now); the run stops once they are all seen to
            self.store.remove(out.path)
            reason = self._disk_full(err)
            if self.unrecorded is None:
                self.unrecorded = (
                    self._stopped(reason)
                    if reason
                    else OutputError(
                        f"{self.manifest.path}: cannot record outputs ({err.strerror or err}); the run stopped"
                    )
                )
            return
        self.reporter.written(out)

    def said(self, err: object) -> str:
        """What an error says, without the store's secrets (a bucket's error may echo its request)."""
        return scrub(str(err), self.store.storage.secrets()) if self.store.storage is not None else str(err)

    def _stopped(self, reason: str) -> OutputError:
        """The error that stops a run whose disk is full (a write or a record failed for want of room)."""
        return OutputError(
            f"{self.plan.config.output_dir}: cannot write outputs ({reason}); the run stopped. "
            f"{self.reporter.summary.written} outputs written so far are recorded; free space and run again"
        )

    def _disk_full(self, err: OSError) -> str | None:
        """Why nothing more can be written, if so: the error says so, or the store has (almost) no room left
        (HDF5 reports a full disk as other errors)."""
        if err.errno in _DISK_FULL:
            return os.strerror(err.errno)
        free = self.store.free_bytes()
        return f"No space left on device: {free} bytes free" if free is not None and free < 4 * 2**20 else None

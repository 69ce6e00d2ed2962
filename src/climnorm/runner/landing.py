"""The run's writes: each computed normal described (file attributes, manifest record), written on the engine,
and recorded in the manifest as it lands; a full disk stops the run with what was written recorded.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from climnorm._atomic import atomic_file
from climnorm.config.model import Config
from climnorm.engines import Engine, SerialExecutor
from climnorm.engines.tasks import OutputBytes, write_detached, write_output
from climnorm.errors import ClimnormError, OutputError
from climnorm.plan.build import Plan
from climnorm.plan.outputs import T_Output
from climnorm.products import file_product
from climnorm.records import OutputRecord
from climnorm.runner.accumulate import Computed
from climnorm.runner.summary import Reporter
from climnorm.write.digests import inputs_digest
from climnorm.write.manifest import Manifest
from climnorm.write.tasks import Encoding, NormalMeta, WriteTask

log = logging.getLogger(__name__)

_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@dataclass(frozen=True)
class _Pending:
    """A write submitted to the engine, with the record that goes into the manifest once it lands."""

    future: Future[tuple[int, str, float] | OutputBytes]
    out: T_Output
    record: OutputRecord


def encoding(config: Config) -> Encoding:
    """The configured compression of the outputs."""
    c = config.compression
    return Encoding(c.zlib, c.complevel, c.shuffle)


def describe(plan: Plan, computed: Computed) -> tuple[WriteTask, OutputRecord]:
    """The write task of a computed normal (what its file says about itself) and its manifest record."""
    config, out, used = plan.config, computed.out, computed.years
    t = out.target
    inputs = [e.record for e in plan.window_inputs(t, computed.input_years)]
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
    path = str(config.output_dir / out.path)
    task = WriteTask(path, computed.normal, computed.grid, meta, encoding(config), computed.finish)
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
    )
    return task, record


class WriteQueue:
    """Writes in flight, at most a budget of them; finished ones are recorded in the manifest in order."""

    def __init__(self, plan: Plan, manifest: Manifest, executor: Engine, reporter: Reporter, budget: int) -> None:
        self.here = SerialExecutor()  # tasks that read outputs, when the engine's workers cannot see them
        self.plan = plan
        self.manifest = manifest
        self.executor = executor
        self.reporter = reporter
        self.budget = budget
        self.pending: list[_Pending] = []

    def submit(self, computed: Computed) -> None:
        """Write a member's computed normal."""
        task, record = describe(self.plan, computed)
        self.submit_task(write_output, task, computed.out, record)

    def submit_task(
        self,
        fn: Callable[[Any], tuple[int, str, float]],
        task: Any,
        out: T_Output,
        record: OutputRecord,
        *,
        reads_outputs: bool = False,
    ) -> None:
        """Run a task that writes one output (returning its size, checksum and seconds) and record it when it lands.

        On an engine whose workers do not share the output directory the task writes on the worker and hands the
        file's bytes back, landed here; one that ``reads_outputs`` (an ensemble of written members) runs here.
        """
        future: Future[Any]
        if self.executor.shares_outputs:
            future = self.executor.submit(fn, task)
        elif reads_outputs:
            future = self.here.submit(fn, task)
        else:
            future = self.executor.submit(write_detached, fn, task)
        self.pending.append(_Pending(future, out, record))
        if len(self.pending) > self.budget:
            self.drain(keep=self.budget // 2)

    def waiting(self) -> list[Future[Any]]:
        return [p.future for p in self.pending if not p.future.done()]

    def drain(self, keep: int = 0, block: bool = True, final: bool = False) -> None:
        """Record finished writes in the manifest; wait for all but the newest ``keep`` (unless not blocking).

        ``final``: the run is ending early; record what has finished and forget the rest. A full disk (or a
        file-size limit) stops the run: nothing more can be written, and what was written stays recorded.
        """
        still: list[_Pending] = []
        for i, item in enumerate(self.pending):
            must = block and i < len(self.pending) - keep
            if not (item.future.done() or must):
                if not final:
                    still.append(item)
                continue
            if not item.future.cancelled():
                self._land(item, final)
        self.pending = still

    def _land(self, item: _Pending, final: bool) -> None:
        """Record one finished write, or report why it failed (a full disk stops the run: OutputError)."""
        out = item.out
        try:
            result = item.future.result()
            if isinstance(result, OutputBytes):
                with atomic_file(self.plan.config.output_dir / out.path) as tmp:
                    tmp.write_bytes(result.data)
                result = (result.size, result.checksum, result.seconds)
            size, checksum, _ = result
        except OSError as err:
            self.reporter.skip(out, f"write failed: {err.strerror or err}", fail=True)
            reason = self._disk_full(err)
            if reason and not final:
                self.pending = []
                raise OutputError(
                    f"{self.plan.config.output_dir}: cannot write outputs ({reason}); the run stopped. "
                    f"{self.reporter.summary.written} outputs written so far are recorded; free space and run again"
                ) from None
            return
        except (ValueError, ClimnormError) as err:
            self.reporter.skip(out, f"write failed: {err}", fail=True)
            return
        except Exception as err:  # a cancelled or crashed write fails only itself (never Ctrl-C)
            if not final:
                self.reporter.skip(out, f"write failed: {type(err).__name__}: {err}", fail=True)
            return
        try:
            self.manifest.add(item.record.landed(size, checksum))
        except OSError as err:
            # an unrecorded output would look current to nobody: remove it so disk and manifest agree
            (self.plan.config.output_dir / out.path).unlink(missing_ok=True)
            self.pending = []
            raise OutputError(
                f"{self.manifest.journal}: cannot record outputs ({err.strerror or err}); the run stopped"
            ) from None
        self.reporter.written(out)

    def _disk_full(self, err: OSError) -> str | None:
        """Why nothing more can be written, if so: the error says so, or the disk has (almost) no room left
        (HDF5 reports a full disk as other errors)."""
        if err.errno in _DISK_FULL:
            return os.strerror(err.errno)
        try:
            free = shutil.disk_usage(self.plan.config.output_dir).free
        except OSError:
            return None
        return f"No space left on device: {free} bytes free" if free < 4 * 2**20 else None

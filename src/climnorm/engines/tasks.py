"""The task functions engines run in worker processes, the worker's event sink and its per-task memory limit.

Engines ship only these top-level functions and the frozen task values of `climnorm.types`; a task reports
progress through :func:`send`, which goes wherever its engine pointed it with :func:`configure` (a multiprocessing
queue, a dask topic, or a callback in this process). The stage modules a task runs are imported when it runs: the
process that submits tasks never loads NetCDF (a pool's workers have them preloaded, `climnorm.engines.forkserver`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from climnorm._memory import address_space_cap, check_estimate
from climnorm.errors import InputFileError, TaskMemoryError
from climnorm.events import FileRead, NormalWritten, T_Event, TaskFinished, TaskStarted
from climnorm.read.task import ReadTask
from climnorm.types import FileResult
from climnorm.write.tasks import EnsembleTask, WriteTask

log = logging.getLogger(__name__)

_sink: Callable[[T_Event], None] | None = None
_memory_limit: int | None = None


def configure(sink: Callable[[T_Event], None] | None, memory_limit_bytes: int | None = None) -> None:
    """Point this process's progress events at ``sink`` and set its per-task memory limit (bytes)."""
    global _sink, _memory_limit
    _sink = sink
    _memory_limit = memory_limit_bytes


def send(event: T_Event) -> None:
    """Report a progress event; a closed queue never fails the work itself."""
    if _sink is not None:
        try:
            _sink(event)
        except (OSError, ValueError, EOFError):
            log.debug("progress event dropped: %s", event)


T_ReadOutcome = FileResult | InputFileError


def read_batch(tasks: tuple[ReadTask, ...]) -> list[T_ReadOutcome]:
    """Read several files in order; a file that fails is returned as its error, the others still count."""
    from climnorm.read.extract import read_file

    outcomes: list[T_ReadOutcome] = []
    for task in tasks:
        send(TaskStarted(os.getpid(), task.variable, Path(task.path).name))
        try:
            result = read_file(task, memory_limit=_memory_limit)
        except InputFileError as err:
            outcomes.append(err)
        except TaskMemoryError as err:
            outcomes.append(InputFileError(task.path, str(err)))
        except MemoryError:
            outcomes.append(InputFileError(task.path, "reading it ran out of memory"))
        else:
            send(FileRead(task.variable, task.path, result.bytes_read, result.seconds))
            outcomes.append(result)
        finally:
            send(TaskFinished(os.getpid()))
    return outcomes


def write_output(task: WriteTask) -> tuple[int, str, float]:
    """Write one normal of any product (smoothing it first when asked); returns (size, checksum, seconds)."""
    from climnorm.write.products import write_product

    meta = task.meta
    send(TaskStarted(os.getpid(), meta.variable, Path(task.path).name))
    start = time.perf_counter()
    try:
        check_estimate("writing it", 3 * task.nbytes, _memory_limit)
        with address_space_cap("writing it", _memory_limit):
            if task.finish is not None:
                task = replace(task, normal=task.finish.apply(task.normal), finish=None)
            size, checksum = write_product(task)
    finally:
        send(TaskFinished(os.getpid()))
    seconds = time.perf_counter() - start
    t = meta.target
    send(NormalWritten(t.variable, meta.region.key, t.scenario, t.period, t.year, task.path, seconds, t.member.label))
    return size, checksum, seconds


@dataclass(frozen=True)
class OutputBytes:
    """An output written where the run's output directory is not: its file's bytes, for the client to land."""

    data: bytes
    size: int
    checksum: str
    seconds: float


def write_detached(fn: Callable[[Any], tuple[int, str, float]], task: Any) -> OutputBytes:
    """Run a write task ``fn(task)`` into a temporary directory of this worker and hand back the file's bytes (for
    clusters that share no disk with the client: docs/cluster.md)."""
    with tempfile.TemporaryDirectory(prefix="climnorm-output-") as scratch:
        here = replace(task, path=os.path.join(scratch, os.path.basename(task.path)))
        size, checksum, seconds = fn(here)
        data = Path(here.path).read_bytes()
    return OutputBytes(data, size, checksum, seconds)


def write_ensemble_output(task: EnsembleTask) -> tuple[int, str, float]:
    """Compute one ensemble output from its members' files and write it; returns (size, checksum, seconds)."""
    from climnorm.write.ensemble import write_ensemble

    send(TaskStarted(os.getpid(), task.variable, Path(task.path).name))
    start = time.perf_counter()
    try:
        with address_space_cap("computing the ensemble", _memory_limit):
            size, checksum = write_ensemble(task)
    finally:
        send(TaskFinished(os.getpid()))
    seconds = time.perf_counter() - start
    a = dict(task.attrs)
    send(
        NormalWritten(
            task.variable, a["region"], a["scenario"], a["period"], a["target_year"], task.path, seconds, "ensemble"
        )
    )
    return size, checksum, seconds

"""What runs inside a worker process: the task functions, their event sink and the per-task memory limit.

Engines only ship these top-level functions and frozen task objects; a worker reports progress through
`emit`, which goes wherever the engine pointed it (a multiprocessing queue, a dask queue, or a callback).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from climnorm.errors import ClimnormError, InputFileError
from climnorm.events import FileRead, NormalWritten, T_Event, TaskFinished, TaskStarted
from climnorm.extract import FileResult, ReadTask, read_file
from climnorm.grids import RegionCut
from climnorm.write import NormalMeta, write_normal

log = logging.getLogger(__name__)

_sink: Callable[[T_Event], None] | None = None
_memory_limit: int | None = None
_spill_dir: str | None = None


class TaskMemoryError(ClimnormError):
    """A task needed more memory than `max_memory_per_worker_gb` allows."""


def configure(
    sink: Callable[[T_Event], None] | None,
    memory_limit_bytes: int | None = None,
    spill_dir: str | None = None,
) -> None:
    """Point this process's events somewhere, set its per-task memory limit, and where read results spill
    (pool initializer; see `FileResult.spill_to` for why a local pool spills)."""
    global _sink, _memory_limit, _spill_dir
    _sink = sink
    _memory_limit = memory_limit_bytes
    _spill_dir = spill_dir


def emit(event: T_Event) -> None:
    if _sink is not None:
        try:
            _sink(event)
        except (OSError, ValueError, EOFError):  # a closed queue must never fail the work itself
            log.debug("progress event dropped: %s", event)


@dataclass(frozen=True)
class WriteTask:
    """One normal to write (picklable: it may run in a worker process)."""

    path: str
    normal: np.ndarray
    grid: RegionCut
    meta: NormalMeta
    zlib: bool
    complevel: int
    shuffle: bool

    @property
    def nbytes(self) -> int:
        return int(self.normal.nbytes)


T_ReadOutcome = FileResult | InputFileError


def read_batch(tasks: tuple[ReadTask, ...]) -> list[T_ReadOutcome]:
    """Read several files in order; a file that fails is returned as its error, the others still count."""
    outcomes: list[T_ReadOutcome] = []
    for task in tasks:
        emit(TaskStarted(os.getpid(), task.variable, Path(task.path).name))
        try:
            with _memory_guard(f"reading {task.path}", _read_estimate(task)):
                result = read_file(task)
        except InputFileError as err:
            outcomes.append(err)
        except TaskMemoryError as err:
            outcomes.append(InputFileError(task.path, str(err)))
        else:
            emit(FileRead(task.variable, task.path, result.bytes_read, result.seconds))
            outcomes.append(result.spill_to(_spill_dir) if _spill_dir else result)
        finally:
            emit(TaskFinished(os.getpid()))
    return outcomes


def write_output(task: WriteTask) -> tuple[int, str, float]:
    """Write one normal; returns (size, checksum, seconds)."""
    meta = task.meta
    emit(TaskStarted(os.getpid(), meta.variable, Path(task.path).name))
    start = time.perf_counter()
    try:
        with _memory_guard(f"writing {task.path}", 3 * task.nbytes):
            size, checksum = write_normal(
                Path(task.path),
                task.normal,
                task.grid,
                meta,
                zlib=task.zlib,
                complevel=task.complevel,
                shuffle=task.shuffle,
            )
    finally:
        emit(TaskFinished(os.getpid()))
    seconds = time.perf_counter() - start
    emit(
        NormalWritten(meta.variable, meta.region.key, meta.scenario, meta.period, meta.target_year, task.path, seconds)
    )
    return size, checksum, seconds


def _read_estimate(task: ReadTask) -> int:
    """A rough upper bound of a read's memory: one read block plus the regional year pieces it returns."""
    from climnorm.extract import BLOCK_BYTES

    return BLOCK_BYTES + len(task.years) * 366 * 4 * sum(_region_cells(r) for r in task.regions)


def _region_cells(region: object) -> int:
    # 0.25° cells of the box: an upper bound for the grids of this field
    lat = getattr(region, "lat_max", 0.0) - getattr(region, "lat_min", 0.0)
    width = getattr(region, "lon_width", 0.0)
    return int((lat / 0.25 + 1) * (width / 0.25 + 1))


class _memory_guard:
    """Refuse a task whose estimate exceeds the limit, and cap the address space it may grow by while it runs."""

    def __init__(self, what: str, estimate: int) -> None:
        self.what = what
        self.estimate = estimate
        self.previous: tuple[int, int] | None = None

    def __enter__(self) -> None:
        limit = _memory_limit
        if limit is None:
            return
        if self.estimate > limit:
            raise TaskMemoryError(_message(self.what, limit, f"needs about {self.estimate / 2**30:.2f} GB"))
        try:
            current = _address_space()
            self.previous = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (current + limit, self.previous[1]))
        except (OSError, ValueError):
            self.previous = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.previous is not None:
            resource.setrlimit(resource.RLIMIT_AS, self.previous)
        if isinstance(exc, MemoryError) and _memory_limit is not None:
            raise TaskMemoryError(_message(self.what, _memory_limit, "ran out of memory")) from None


def _message(what: str, limit: int, detail: str) -> str:
    return f"{what}: {detail}, more than max_memory_per_worker_gb = {limit / 2**30:g} GB allows"


def _address_space() -> int:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")

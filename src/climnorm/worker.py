"""What runs inside a worker process: the task functions, their event sink and the per-task memory limit.

Engines only ship these top-level functions and frozen task objects; a worker reports progress through
`emit`, which goes wherever the engine pointed it (a multiprocessing queue, a dask queue, or a callback).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from climnorm.errors import InputFileError
from climnorm.events import FileRead, NormalWritten, T_Event, TaskFinished, TaskStarted
from climnorm.extract import FileResult, ReadTask, read_file
from climnorm.grids import RegionCut
from climnorm.memory import TaskMemoryError, address_space_cap, check_estimate
from climnorm.write import NormalMeta, write_normal

log = logging.getLogger(__name__)

_sink: Callable[[T_Event], None] | None = None
_memory_limit: int | None = None
_spill_dir: str | None = None


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
            result = read_file(task, memory_limit=_memory_limit)
        except InputFileError as err:
            outcomes.append(err)
        except TaskMemoryError as err:
            outcomes.append(InputFileError(task.path, str(err)))
        except MemoryError:
            outcomes.append(InputFileError(task.path, "reading it ran out of memory"))
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
        check_estimate("writing it", 3 * task.nbytes, _memory_limit)
        with address_space_cap("writing it", _memory_limit):
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

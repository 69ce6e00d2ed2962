"""The task functions engines run in worker processes, and the context each receives.

Engines ship only these top-level functions and the frozen task values of the stages (`climnorm.read.orders`,
`climnorm.write.orders`); each function takes a :class:`WorkerContext` first, which its engine supplies (`Engine.run`):
where its progress events go (a multiprocessing queue, a dask topic, or a callback in this process) and how much
memory it may use. The stage modules a task runs are imported when it runs (`engines.worker.STAGE_MODULES` lists
them): the process that submits tasks never loads NetCDF, and a pool's workers have them preloaded
(`climnorm.engines.forkserver`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

from climnorm._atomic import TMP_MARK
from climnorm._memory import address_space_cap, check_estimate
from climnorm.engines.worker import WorkerContext
from climnorm.errors import InputFileError, TaskMemoryError
from climnorm.events import FileRead, NormalWritten, TaskFinished, TaskStarted
from climnorm.read.orders import ReadTask
from climnorm.types import FileResult
from climnorm.write.orders import (
    ChangeTask,
    Encoding,
    EnsembleChangeTask,
    EnsembleTask,
    WriteTask,
    Written,
    ZarrTarget,
)

log = logging.getLogger(__name__)

T_ReadOutcome = FileResult | InputFileError
T_WriteTask = TypeVar("T_WriteTask", WriteTask, EnsembleTask, ChangeTask, EnsembleChangeTask)


def read_batch(ctx: WorkerContext, tasks: tuple[ReadTask, ...]) -> list[T_ReadOutcome]:
    """Read several files in order; a file that fails is returned as its error, the others still count."""
    from climnorm.read.extract import read_file

    outcomes: list[T_ReadOutcome] = []
    for task in tasks:
        ctx.send(TaskStarted(os.getpid(), task.variable, Path(task.path).name))
        try:
            result = read_file(task, memory_limit=ctx.memory_limit)
        except InputFileError as err:
            outcomes.append(err)
        except TaskMemoryError as err:
            outcomes.append(InputFileError(task.path, str(err)))
        except MemoryError:
            outcomes.append(InputFileError(task.path, "reading it ran out of memory"))
        else:
            ctx.send(FileRead(task.variable, task.path, result.bytes_read, result.seconds))
            outcomes.append(result)
        finally:
            ctx.send(TaskFinished(os.getpid()))
    return outcomes


def write_output(ctx: WorkerContext, task: WriteTask) -> Written:
    """Write one normal of any product (finishing it first when asked: a smoothing)."""
    from climnorm.write.layouts import write_product

    meta = task.meta
    ctx.send(TaskStarted(os.getpid(), meta.variable, Path(task.path).name))
    start = time.perf_counter()
    try:
        check_estimate("writing it", 3 * task.nbytes, ctx.memory_limit)
        with address_space_cap("writing it", ctx.memory_limit):
            if task.finish is not None:
                task = replace(task, normal=task.finish.apply(task.normal), finish=None)
            size, checksum = write_product(task)
    finally:
        ctx.send(TaskFinished(os.getpid()))
    seconds = time.perf_counter() - start
    t = meta.target
    ctx.send(
        NormalWritten(t.variable, meta.region.key, t.scenario, t.period, t.year, task.path, seconds, t.member.label)
    )
    return Written(size, checksum, seconds)


def write_change_output(ctx: WorkerContext, task: ChangeTask) -> Written:
    """Write one member's change file from its normal's and its baseline's files."""
    from climnorm.write.changes import write_change

    return _made_of_outputs(ctx, task.path, task.key, task.member, lambda: write_change(task))


def write_ensemble_change_output(ctx: WorkerContext, task: EnsembleChangeTask) -> Written:
    """Compute one ensemble change file from its members' change files and write it."""
    from climnorm.write.changes import write_ensemble_change

    def run() -> tuple[int, str]:
        with address_space_cap("computing the ensemble's change", ctx.memory_limit):
            return write_ensemble_change(task)

    ens = task.ensemble
    return _made_of_outputs(ctx, task.path, _key(ens, str(dict(ens.attrs)["variable"])), "ensemble", run)


def write_ensemble_output(ctx: WorkerContext, task: EnsembleTask) -> Written:
    """Compute one ensemble output from its members' files and write it."""
    from climnorm.write.ensemble import write_ensemble

    def run() -> tuple[int, str]:
        with address_space_cap("computing the ensemble", ctx.memory_limit):
            return write_ensemble(task)

    return _made_of_outputs(ctx, task.path, _key(task, task.variable), "ensemble", run)


def _key(task: EnsembleTask, variable: str) -> tuple[str, str, str, str, int]:
    """The output an ensemble task writes, as events name it (by ``variable``)."""
    a = dict(task.attrs)
    return variable, a["region"], a["scenario"], a["period"], a["target_year"]


def _made_of_outputs(
    ctx: WorkerContext, path: str, key: tuple[str, str, str, str, int], member: str, run: Callable[[], tuple[int, str]]
) -> Written:
    """Run the writing of an output made of outputs, telling the display when it starts and lands."""
    ctx.send(TaskStarted(os.getpid(), key[0], Path(path).name))
    start = time.perf_counter()
    try:
        size, checksum = run()
    finally:
        ctx.send(TaskFinished(os.getpid()))
    seconds = time.perf_counter() - start
    ctx.send(NormalWritten(*key, path, seconds, member))
    return Written(size, checksum, seconds)


def write_in_store(
    ctx: WorkerContext, fn: Callable[[WorkerContext, T_WriteTask], Written], task: T_WriteTask, target: ZarrTarget
) -> Written:
    """Run a write task ``fn`` into a temporary file beside its chain's store, then copy the file into the store's
    chunks of its target (the ``zarr`` layout: `climnorm.write.zarr_chain`)."""
    from climnorm.write.zarr_chain import land_target, scratch_folder

    with tempfile.TemporaryDirectory(prefix=".target-", suffix=TMP_MARK, dir=scratch_folder(target)) as scratch:
        here = replace(task, path=os.path.join(scratch, os.path.basename(task.path).replace("#", "_") + ".nc"))
        if not isinstance(here, EnsembleChangeTask):  # read once, here: compressing it would be work lost
            here = replace(cast(Any, here), encoding=Encoding(zlib=False))
        written = fn(ctx, here)
        return replace(written, size=land_target(here.path, target))


def write_detached(
    ctx: WorkerContext, fn: Callable[[WorkerContext, T_WriteTask], Written], task: T_WriteTask
) -> Written:
    """Run a write task ``fn`` into a temporary directory of this worker and hand back the file's bytes with what
    it wrote (for clusters that share no disk with the client: docs/cluster.md)."""
    with _in_scratch(ctx, fn, task) as (written, path):
        return replace(written, data=path.read_bytes())


def write_uploaded(
    ctx: WorkerContext, fn: Callable[[WorkerContext, T_WriteTask], Written], task: T_WriteTask, store: Any, rel: str
) -> Written:
    """Run a write task ``fn`` into a temporary directory of this worker, then put the file in its bucket
    (``store``: `climnorm.write.bucket.ObjectDirectory`) under its final key: only the record goes back."""
    with _in_scratch(ctx, fn, task) as (written, path):
        store.put(rel, path)
        return written


@contextlib.contextmanager
def _in_scratch(
    ctx: WorkerContext, fn: Callable[[WorkerContext, T_WriteTask], Written], task: T_WriteTask
) -> Iterator[tuple[Written, Path]]:
    """Run a write task ``fn`` into a temporary directory of this worker: what it wrote, and the file."""
    with tempfile.TemporaryDirectory(prefix="climnorm-output-") as scratch:
        here = replace(task, path=os.path.join(scratch, os.path.basename(task.path)))
        yield fn(ctx, here), Path(here.path)

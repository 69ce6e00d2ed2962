"""The local engine: a process pool on this machine whose tasks survive a dead worker.

Workers start from a preloaded fork server. A task result bigger than a pipe's atomic write travels back through
a file in ``/dev/shm`` (see :func:`_run_spilling`), so a worker killed mid-send cannot wedge the pool.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import multiprocessing as mp
import os
import pickle
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from climnorm.engines._workers import (
    describe_task,
    in_worker_context,
    memory_limit_bytes,
    start_worker,
    worker_crashed,
)
from climnorm.engines.forkserver import context as process_context
from climnorm.events import T_Event

if TYPE_CHECKING:  # the worker processes import this module: no config models or display there
    from climnorm.config.model import Config
    from climnorm.progress.channel import ProgressChannel

log = logging.getLogger(__name__)

_PIPE_ATOMIC = 4096  # bytes a pipe writes at once (PIPE_BUF on Linux): smaller results travel inline
_ALIGN = 64  # offsets of the arrays in a spill file: a cache line, as numpy's own allocations


@contextlib.contextmanager
def local_engine(config: Config, channel: ProgressChannel) -> Iterator[RetryingProcessPool]:
    """The local engine of a run: ``multiprocessing_workers`` processes reporting to ``channel``, each task
    capped at the memory limit; on any exception (Ctrl-C included) running tasks are killed."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="climnorm-", dir=shm if shm.is_dir() else None) as spill:
        sink = channel.queue.put if channel.active else None
        pool = RetryingProcessPool(
            config.multiprocessing_workers,
            initializer=_init_worker,
            initargs=(os.getpid(), sink, memory_limit_bytes(config)),
            spill_dir=spill,
        )
        try:
            yield pool
        except BaseException:
            pool.close(kill=True)
            raise
        pool.close()


class RetryingProcessPool(Executor):
    """A process pool whose tasks survive a dead worker: each task it was running is retried once, alone,
    on a fresh worker; a task that kills its worker twice fails with `WorkerCrashed` and the rest goes on.

    Completions are handled by a supervisor thread, never inside the pool's own management thread, so a
    broken pool can be replaced without re-entering it.
    """

    shares_outputs = True  # its workers run on this machine

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        context: mp.context.BaseContext | None = None,
        spill_dir: str | None = None,
    ) -> None:
        self.workers = workers
        self.initializer = initializer
        self.initargs = initargs
        self.context = context or process_context()
        self.spill_dir = spill_dir
        self.crashes = 0
        self._lock = threading.Lock()
        self._shutdown = False
        self._pool = self._new_pool(workers)
        self._done: queue.SimpleQueue[_Attempt | None] = queue.SimpleQueue()
        self._supervisor = threading.Thread(target=self._supervise, name="climnorm-pool-supervisor", daemon=True)
        self._supervisor.start()

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=self.context, initializer=self.initializer, initargs=self.initargs
        )

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.submit(in_worker_context, fn, *args)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        outer: Future[Any] = Future()
        self._launch(_Attempt(outer, fn, args, kwargs))
        return outer

    def _launch(self, attempt: _Attempt) -> None:
        with self._lock:
            if self._shutdown:
                attempt.outer.set_exception(RuntimeError("the worker pool was shut down"))
                return
            pool = self._pool if attempt.number == 0 else self._new_pool(1)
        attempt.pool = pool
        call = (_run_spilling, self.spill_dir, attempt.fn) if self.spill_dir else (attempt.fn,)
        try:
            attempt.inner = pool.submit(*call, *attempt.args, **attempt.kwargs)
        except BrokenProcessPool as err:
            failed: Future[Any] = Future()
            failed.set_exception(err)
            attempt.inner = failed
            self._done.put(attempt)
            return
        attempt.inner.add_done_callback(lambda _f: self._done.put(attempt))

    def _supervise(self) -> None:
        while (attempt := self._done.get()) is not None:
            try:
                self._settle(attempt)
            finally:
                # the inner future's callback and the attempt refer to each other: without this the task's
                # arguments (a normal of tens of MB) would wait for the cyclic garbage collector
                attempt.release()

    def _settle(self, attempt: _Attempt) -> None:
        inner, outer = attempt.inner, attempt.outer
        assert inner is not None and attempt.pool is not None
        if attempt.number > 0:
            attempt.pool.shutdown(wait=False)
        if inner.cancelled():
            outer.cancel()
            return
        err = inner.exception()
        if isinstance(err, BrokenProcessPool) and not self._shutdown:
            if attempt.number == 0:
                self._replace(attempt.pool)
                log.warning(
                    "a worker process died (killed or out of memory) running %s; retrying it alone on a fresh worker",
                    describe_task(attempt.args),
                )
                self._launch(attempt.retry())
            else:
                outer.set_exception(worker_crashed(attempt.args, tries=2))
            return
        if err is not None:
            outer.set_exception(err)
            return
        try:
            outer.set_result(_unspill(inner.result()))
        except OSError as err:  # the spill file vanished (the spill folder was removed at shutdown)
            outer.set_exception(err)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken or self._shutdown:
                return
            self.crashes += 1
            self._pool = self._new_pool(self.workers)
        for proc in list(getattr(broken, "_processes", {}).values()):
            proc.kill()  # its queues may be locked by the dead worker: nothing of it can be reused
        broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False, kill: bool = False) -> None:
        """Stop the pool; ``kill`` ends running tasks at once (Ctrl-C), their outputs never half-written."""
        with self._lock:
            self._shutdown = True
            pool = self._pool
        if kill:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        self._done.put(None)
        if wait:
            self._supervisor.join(timeout=60)

    def close(self, *, kill: bool = False) -> None:
        """The engine's end: wait for the running tasks, or (``kill``) end them at once."""
        if kill:
            self.shutdown(wait=False, cancel_futures=True, kill=True)
        else:
            self.shutdown(wait=True)


@dataclass
class _Attempt:
    """One try of a submitted task."""

    outer: Future[Any]
    fn: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    number: int = 0
    pool: ProcessPoolExecutor | None = None
    inner: Future[Any] | None = None

    def retry(self) -> _Attempt:
        return _Attempt(self.outer, self.fn, self.args, self.kwargs, self.number + 1)

    def release(self) -> None:
        """Drop the arguments and the inner future once settled (a retry holds its own references)."""
        self.args, self.kwargs, self.inner, self.pool = (), {}, None, None


def _init_worker(main_pid: int, sink: Callable[[T_Event], None] | None, memory_limit: int | None) -> None:
    """Worker start-up: a worker whose run was killed (kill -9) exits instead of waiting forever for work."""
    threading.Thread(target=_exit_with, args=(main_pid,), name="climnorm-orphan-watch", daemon=True).start()
    start_worker(sink, memory_limit)


def _exit_with(pid: int, interval: float = 2.0) -> None:
    while True:
        time.sleep(interval)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            continue


@dataclass(frozen=True)
class _Spilled:
    """A task result waiting in a file (written by the worker, read and deleted by this process)."""

    path: str


def _run_spilling(spill_dir: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a task in a worker; a result bigger than a pipe's atomic write goes to a file in ``spill_dir``.

    The file holds the pickle (protocol 5) with its array buffers out of band, each at an aligned offset after
    it, so that this process maps them instead of copying (:func:`_unspill`)."""
    result = fn(*args, **kwargs)
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    if len(head) + sum(v.nbytes for v in views) <= _PIPE_ATOMIC:
        return result
    meta = pickle.dumps((head, [v.nbytes for v in views]), protocol=5)
    fd, name = tempfile.mkstemp(dir=spill_dir, suffix=".pickle")
    with os.fdopen(fd, "wb") as fh:
        fh.write(len(meta).to_bytes(8, "little"))
        fh.write(meta)
        for view in views:
            fh.write(bytes(-fh.tell() % _ALIGN))
            fh.write(view)
    return _Spilled(name)


def _unspill(result: Any) -> Any:
    """The task result itself, loaded back from its spill file if it travelled through one: the arrays are
    copy-on-write views of the file's pages (in /dev/shm: memory), which is unlinked at once and freed when the
    last of them goes."""
    if not isinstance(result, _Spilled):
        return result
    with open(result.path, "rb") as fh:
        pages = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    os.unlink(result.path)
    view = memoryview(pages)
    size = int.from_bytes(view[:8], "little")
    head, sizes = pickle.loads(view[8 : 8 + size])
    offset, buffers = 8 + size, []
    for nbytes in sizes:
        offset += -offset % _ALIGN
        buffers.append(view[offset : offset + nbytes])
        offset += nbytes
    return pickle.loads(head, buffers=buffers)

"""Executors that run the stage tasks: in this process, or on a local process pool that survives crashes.

Every engine is a `concurrent.futures.Executor`; the pipeline only submits `worker.read_batch` and
`worker.write_output` to it. The dask engine (`climnorm.dask_engine`) plugs in the same way.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from climnorm import worker
from climnorm.errors import ClimnormError

log = logging.getLogger(__name__)

_PRELOAD = ["climnorm.worker", "climnorm.extract", "climnorm.write", "netCDF4", "numpy"]


class WorkerCrashed(ClimnormError):
    """A worker process died twice running the same task (killed, or out of memory)."""


class SerialExecutor(Executor):
    """Runs each task when it is submitted, in this process: one-process runs and debugging."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:
            future.set_exception(err)
        return future


def describe_task(args: tuple[Any, ...]) -> str:
    """A short name of a task for messages: its file(s) or output."""
    if args and isinstance(args[0], tuple):
        paths = [getattr(t, "path", "?") for t in args[0]]
        return paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more files)"
    return str(getattr(args[0], "path", args[0])) if args else "task"


class RetryingProcessPool(Executor):
    """A process pool whose tasks survive a dead worker: each task it was running is retried once, alone,
    on a fresh worker; a task that kills its worker twice fails with `WorkerCrashed` and the rest goes on.

    Completions are handled by a supervisor thread, never inside the pool's own management thread, so a
    broken pool can be replaced without re-entering it.
    """

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        context: mp.context.BaseContext | None = None,
    ) -> None:
        self.workers = workers
        self.initializer = initializer
        self.initargs = initargs
        self.context = context or _context()
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
        try:
            attempt.inner = pool.submit(attempt.fn, *attempt.args, **attempt.kwargs)
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
            what = describe_task(attempt.args)
            if attempt.number == 0:
                self._replace(attempt.pool)
                log.warning(
                    "a worker process died (killed or out of memory) running %s; retrying it alone on a fresh worker",
                    what,
                )
                self._launch(attempt.retry())
            else:
                outer.set_exception(
                    WorkerCrashed(f"{what}: the worker process died twice running this task (killed, or out of memory)")
                )
            return
        if err is not None:
            outer.set_exception(err)
        else:
            outer.set_result(inner.result())

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


def _context() -> mp.context.BaseContext:
    """forkserver: workers start from a clean, preloaded server rather than a fork of a threaded parent."""
    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    except ValueError:  # pragma: no cover - platforms without forkserver
        return mp.get_context("spawn")


def _init_worker(main_pid: int, *args: Any) -> None:
    """Worker start-up: Ctrl-C is the main process's to handle (it stops the pool); a worker whose run was
    killed (kill -9) exits instead of waiting forever for work; then configure the worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(main_pid,), name="climnorm-orphan-watch", daemon=True).start()
    worker.configure(*args)


def _exit_with(pid: int, interval: float = 2.0) -> None:
    while True:
        time.sleep(interval)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            continue


def local_pool(
    workers: int, sink: Callable[..., None] | None, memory_limit_bytes: int | None, spill_dir: str
) -> RetryingProcessPool:
    """The local engine: `workers` processes reporting events to ``sink``, capped at the memory limit, handing
    their read results back through files in ``spill_dir``."""
    return RetryingProcessPool(
        workers, initializer=_init_worker, initargs=(os.getpid(), sink, memory_limit_bytes, spill_dir)
    )

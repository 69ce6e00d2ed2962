"""Engines run the stage tasks (`climnorm.engines.tasks`): a local process pool by default, a Dask cluster, or this
process.

Every engine is an :class:`Engine`: a `concurrent.futures.Executor` that also says how many tasks it runs at once
(``workers``) and how many of its worker processes died (``crashes``), and that :meth:`Engine.close` ends. The
pipeline opens one with :func:`open_engine` and only submits tasks to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from climnorm.engines.worker import WorkerContext

if TYPE_CHECKING:  # the worker processes import this module: no config models or display there
    from climnorm.config.model import Config
    from climnorm.progress.channel import ProgressChannel

__all__ = ["Engine", "SerialExecutor", "open_engine", "warm_up"]


@runtime_checkable
class Engine(Protocol):
    """What runs a run's tasks."""

    @property
    def workers(self) -> int:
        """Tasks it runs at once (the scheduler keeps twice as many in flight)."""
        ...

    @property
    def crashes(self) -> int:
        """Worker processes that died during the run (their tasks were retried)."""
        ...

    @property
    def shares_outputs(self) -> bool:
        """Whether its workers write to the run's output directory (False: they hand outputs back as bytes)."""
        ...

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]: ...

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run a task function of `climnorm.engines.tasks`: ``fn(context, *args)`` on a worker, with the worker's
        :class:`~climnorm.engines.tasks.WorkerContext`."""
        ...

    def close(self, *, kill: bool = False) -> None:
        """Wait for the running tasks and free the workers; ``kill``: end the running tasks at once."""
        ...


class SerialExecutor(Executor):
    """Runs each task when it is submitted, in this process: one-process runs and debugging. A run points its
    tasks' events at its display (``context``)."""

    workers = 1
    crashes = 0
    shares_outputs = True
    context = WorkerContext()

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.submit(fn, self.context, *args)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:
            future.set_exception(err)
        return future

    def close(self, *, kill: bool = False) -> None:
        """Nothing runs in the background."""


class _Borrowed:
    """An executor the caller passed in: used as it is, and the caller's to shut down."""

    crashes = 0
    shares_outputs = True

    def __init__(self, executor: Executor, workers: int) -> None:
        self.executor = executor
        self.workers = workers

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.executor.submit(fn, *args, **kwargs)

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Its workers, if any, are not ours to set up: their tasks report no progress and have no memory limit."""
        return self.executor.submit(fn, WorkerContext(), *args)

    def close(self, *, kill: bool = False) -> None:
        """Left to its owner."""


def warm_up(config: Config, executor: Executor | None = None) -> None:
    """Start what the run's engine can start while the run plans: the local pool's preloaded server, whose imports
    (about half a second) then overlap the run's own (no-op when it runs already, or for any other engine)."""
    if executor is None and config.engine == "local":
        from climnorm.engines.forkserver import start_early

        start_early()


@contextlib.contextmanager
def open_engine(config: Config, channel: ProgressChannel, executor: Executor | None = None) -> Iterator[Engine]:
    """The engine of a run: ``executor`` if given (the caller's to shut down), else the configured one."""
    if executor is not None:
        engine = executor if isinstance(executor, Engine) else _Borrowed(executor, config.multiprocessing_workers)
        if isinstance(executor, SerialExecutor):  # its tasks run here: their events go straight to the channel
            executor.context = WorkerContext(channel.send if channel.active else None)
            try:
                yield engine
            finally:
                executor.context = WorkerContext()
            return
        yield engine
        return
    if config.engine == "dask":
        from climnorm.engines.dask import dask_engine

        with dask_engine(config, channel) as dask:
            yield dask
        return
    from climnorm.engines.local import local_engine

    with local_engine(config, channel) as local:
        yield local

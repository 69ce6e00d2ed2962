"""What every engine does the same way: a worker's start-up, the per-task memory limit, and the error of a task
whose worker process died each time it ran."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from climnorm.engines.worker import WorkerContext
from climnorm.errors import WorkerCrashed
from climnorm.events import T_Event

if TYPE_CHECKING:  # the worker processes import this module: no config models or display there
    from climnorm.config.model import Config


def memory_limit_bytes(config: Config) -> int:
    """``max_memory_per_worker_gb`` in bytes: each task's limit, and a dask worker's."""
    return int(config.max_memory_per_worker_gb * 2**30)


_process_context = WorkerContext()  # a pool worker's, set once when it starts (the pool has no other way to pass it)


def start_worker(sink: Callable[[T_Event], None] | None, memory_limit: int | None) -> None:
    """Set up a pool's worker process: Ctrl-C is the main process's to handle (it stops the engine), its tasks'
    events go to ``sink``, and each task may use at most ``memory_limit`` bytes."""
    global _process_context
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _process_context = WorkerContext(sink, memory_limit)


def in_worker_context(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a task function in a pool's worker with the context the worker started with."""
    return fn(_process_context, *args)


def describe_task(args: tuple[Any, ...]) -> str:
    """A short name of a task for messages: its file(s) or output."""
    if args and isinstance(args[0], tuple):
        paths = [getattr(t, "path", "?") for t in args[0]]
        return paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more files)"
    return str(getattr(args[0], "path", args[0])) if args else "task"


def worker_crashed(args: tuple[Any, ...], tries: int, hint: str = "") -> WorkerCrashed:
    """The error of a task whose worker process died each of the ``tries`` times it ran."""
    times = "twice" if tries == 2 else f"{tries} times"
    return WorkerCrashed(
        f"{describe_task(args)}: the worker process died {times} running this task (killed, or out of memory{hint})"
    )

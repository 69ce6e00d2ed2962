"""Progress events of dask workers: sent through dask's event log, forwarded to the run's progress channel.

Each task carries the topic of its run (`Tagged`) and reports through `Worker.log_event` to it, so runs sharing a
cluster each see only their own events. This process
subscribes to the topic and feeds the events to the run's `ProgressChannel`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import queue
import signal
import threading
from typing import Any

from climnorm.engines._dask_checks import SharedCheck
from climnorm.engines.worker import WorkerContext
from climnorm.events import FileRead, NormalWritten, T_Event, TaskFinished, TaskStarted
from climnorm.progress.channel import ProgressChannel

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - the dask extra is not installed; the engine says so

    class WorkerPlugin:  # type: ignore[no-redef]
        """Stand-in so that this module imports without distributed."""


log = logging.getLogger(__name__)

_EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (TaskStarted, TaskFinished, FileRead, NormalWritten)}
FLUSH = "flush"
WARNING = "warning"


def encode_event(event: T_Event, worker: str) -> dict[str, Any]:
    """A worker's event as a msgpack-serialisable message (what `Worker.log_event` accepts)."""
    return {"kind": type(event).__name__, "fields": dataclasses.asdict(event), "worker": worker}


def decode_event(message: dict[str, Any]) -> T_Event:
    """The event of `encode_event` (msgpack turns tuples into lists: they are turned back)."""
    cls = _EVENT_TYPES[message["kind"]]
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in message["fields"].items()}
    event: T_Event = cls(**fields)
    return event


class EventForwarder:
    """Receives the workers' messages (on the client's event loop) and emits them, from a thread of its own,
    to the run's progress channel; counts workers that left the cluster unexpectedly."""

    def __init__(self, channel: ProgressChannel) -> None:
        self.channel = channel
        self.lost: list[str] = []
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._flushed: set[str] = set()
        self._cond = threading.Condition()
        self._pids: dict[tuple[str, int], int] = {}
        self._owners: dict[int, str] = {}
        self._synthetic = 0
        self._thread = threading.Thread(target=self._loop, name="climnorm-dask-events", daemon=True)
        self._thread.start()

    # handlers called by distributed with (timestamp, message)
    def on_worker_message(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if isinstance(message, dict):
            self._queue.put(message)

    def on_cluster_event(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if not (isinstance(message, dict) and message.get("action") == "remove-worker"):
            return
        if message.get("expected", True):
            return
        address = str(message.get("worker", "?"))
        running = len(message.get("processing-tasks", ()) or ())
        self.lost.append(address)
        log.warning(
            "dask worker %s was lost (%d task(s) running on it); dask runs its tasks again on other workers",
            address,
            running,
        )

    def _loop(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self._handle(message)
            except Exception:  # a malformed message must not stop the forwarding
                log.debug("dropped a progress message from a dask worker: %r", message, exc_info=True)

    def _handle(self, message: dict[str, Any]) -> None:
        worker = str(message.get("worker", "?"))
        if FLUSH in message:
            with self._cond:
                self._flushed.add(f"{worker}/{message[FLUSH]}")
                self._cond.notify_all()
            return
        if WARNING in message:
            log.warning("dask worker %s: %s", worker, message[WARNING])
            return
        event = decode_event(message)
        if isinstance(event, TaskStarted | TaskFinished):
            event = dataclasses.replace(event, pid=self._pid(worker, event.pid))
        self.channel.send(event)

    def _pid(self, worker: str, pid: int) -> int:
        """The worker's pid, unless a worker on another host has it too (the display keys busy workers by pid)."""
        host = worker.rsplit(":", 1)[0]
        key = (host, pid)
        if key not in self._pids:
            if self._owners.setdefault(pid, host) == host:
                self._pids[key] = pid
            else:
                self._synthetic -= 1
                self._pids[key] = self._synthetic
        return self._pids[key]

    def wait_flushed(self, markers: set[str], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: markers <= self._flushed, timeout=timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)


class ClimnormWorkerPlugin(WorkerPlugin):
    """Sets up every worker (also those that join later): Ctrl-C is the client's to handle on a LocalCluster, and
    the worker must see the shared filesystem (a late worker that does not is reported as a warning). Progress
    needs nothing here: each task reports to the topic of its run (:class:`Tagged`)."""

    def __init__(self, topic: str, check: SharedCheck, ignore_interrupt: bool = False):
        self.topic = topic
        self.check = check
        self.ignore_interrupt = ignore_interrupt

    def setup(self, worker: Any) -> None:
        # a LocalCluster's workers share the terminal: Ctrl-C is the main process's to handle (it closes the
        # cluster), as with the local pool; signals can only be set from a process's main thread
        if self.ignore_interrupt and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        problem = self.check.run()
        if problem is not None:
            message = {WARNING: f"{problem}; its read tasks will fail", "worker": str(worker.address)}
            with contextlib.suppress(Exception):
                worker.log_event(self.topic, message)


class Tagged:
    """A task function called with the context of its run on this worker: its events go to the run's topic (runs
    may share a cluster, and a worker may run several tasks at once), and it may use at most ``memory_limit``
    bytes when it has the worker to itself (the cap is process-wide). Dask names the task after ``fn``."""

    def __init__(self, fn: Any, topic: str | None, memory_limit: int | None = None) -> None:
        self.fn = fn
        self.topic = topic
        self.memory_limit = memory_limit
        self.__name__ = getattr(fn, "__name__", "task")

    def __call__(self, *args: Any) -> Any:
        return self.fn(self.context(), *args)

    def context(self) -> WorkerContext:
        """This worker's context for the task (no events outside a dask worker, or without a topic)."""
        from distributed import get_worker

        try:
            worker = get_worker()
        except ValueError:
            return WorkerContext()
        nthreads = getattr(getattr(worker, "state", None), "nthreads", None) or getattr(worker, "nthreads", 1)
        limit = self.memory_limit if nthreads == 1 else None
        if self.topic is None:
            return WorkerContext(None, limit)
        return WorkerContext(functools.partial(_log_event, worker, self.topic), limit)


def _log_event(worker: Any, topic: str, event: T_Event) -> None:
    """The event sink of a task on a dask worker: the run's topic."""
    try:
        worker.log_event(topic, encode_event(event, str(worker.address)))
    except Exception:  # progress must never fail the work
        log.debug("progress event dropped: %s", event)


def flush(topic: str, token: str, dask_worker: Any = None) -> str:
    """Run on each worker (in its event loop, after the events its tasks queued): send an end marker."""
    address = str(dask_worker.address)
    dask_worker.log_event(topic, {FLUSH: token, "worker": address})
    return address

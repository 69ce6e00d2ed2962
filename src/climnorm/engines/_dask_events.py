"""Progress events of dask workers: sent through dask's event log, forwarded to the run's progress channel.

A `WorkerPlugin` sets up each worker (`start_worker`, with `Worker.log_event` as its sink); each task carries
the topic of its run (`Tagged`), so runs sharing a cluster each see only their own events. This process
subscribes to the topic and feeds the events to the run's `ProgressChannel`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
from typing import Any

from climnorm.engines._dask_checks import SharedCheck
from climnorm.engines._workers import start_worker
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
    """Installs climnorm's event sink on every worker (also on workers that join later; the sink sends each
    event to the run of the task that emitted it, see `Tagged`) and checks that the worker sees the shared
    filesystem; a late worker that does not is reported as a warning."""

    def __init__(self, topic: str, memory_limit: int | None, check: SharedCheck, ignore_interrupt: bool = False):
        self.topic = topic
        self.memory_limit = memory_limit
        self.check = check
        self.ignore_interrupt = ignore_interrupt

    def setup(self, worker: Any) -> None:
        global _sink_users
        # a LocalCluster's workers share the terminal: Ctrl-C is the main process's to handle (it closes the
        # cluster), as with the local pool; signals can only be set from a process's main thread
        ignore = self.ignore_interrupt and threading.current_thread() is threading.main_thread()
        # the per-task address-space cap is process-wide: only safe when one task runs at a time
        nthreads = getattr(getattr(worker, "state", None), "nthreads", None) or getattr(worker, "nthreads", 1)
        with _sink_lock:
            _sink_users += 1
            start_worker(_forward_event, self.memory_limit if nthreads == 1 else None, ignore_interrupt=ignore)
        problem = self.check.run()
        if problem is not None:
            message = {WARNING: f"{problem}; its read tasks will fail", "worker": str(worker.address)}
            with contextlib.suppress(Exception):
                worker.log_event(self.topic, message)

    def teardown(self, worker: Any) -> None:
        global _sink_users
        with _sink_lock:
            _sink_users = max(0, _sink_users - 1)
            if _sink_users == 0:  # the last run using this worker is over
                start_worker(None, None, ignore_interrupt=False)


# ---- in the worker processes: which run the task on this thread belongs to ----------------------------------
_current = threading.local()
_sink_lock = threading.Lock()
_sink_users = 0


class Tagged:
    """A task function called with its run's progress topic, so that each event reaches the run it belongs to
    (runs may share a cluster, and a worker may run several tasks at once). Dask names the task after ``fn``."""

    def __init__(self, fn: Any, topic: str | None) -> None:
        self.fn = fn
        self.topic = topic
        self.__name__ = getattr(fn, "__name__", "task")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        worker = None
        if self.topic is not None:
            from distributed import get_worker

            with contextlib.suppress(ValueError):
                worker = get_worker()
        _current.route = (self.topic, worker) if worker is not None else None
        try:
            return self.fn(*args, **kwargs)
        finally:
            _current.route = None


def _forward_event(event: T_Event) -> None:
    """The event sink of climnorm's code on a dask worker: to the topic of the run of the task on this thread."""
    route = getattr(_current, "route", None)
    if route is None:
        return
    topic, worker = route
    try:
        worker.log_event(topic, encode_event(event, str(worker.address)))
    except Exception:  # progress must never fail the work
        log.debug("progress event dropped: %s", event)


def flush(topic: str, token: str, dask_worker: Any = None) -> str:
    """Run on each worker (in its event loop, after the events its tasks queued): send an end marker."""
    address = str(dask_worker.address)
    dask_worker.log_event(topic, {FLUSH: token, "worker": address})
    return address

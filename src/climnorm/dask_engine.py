"""The dask engine: the pipeline's read and write tasks on a Dask distributed cluster.

`dask_executor(config, channel)` starts a `distributed.LocalCluster` of worker processes sized from the config
(``multiprocessing_workers`` workers, one thread each, ``max_memory_per_worker_gb`` as each worker's memory
limit), or connects to a running scheduler (``scheduler_address``), and yields a `concurrent.futures.Executor`
built on `Client.get_executor()`: the pipeline submits exactly the tasks it gives the local pool.

* Shared filesystem: before any task runs, every worker checks that it sees the input directories (and a
  sample of input files, with their sizes) and the output directory (it reads a marker file written by this
  process and creates a file beside it). A worker that cannot is reported in one line and nothing is done.
* Progress: a `WorkerPlugin` points each worker's event sink (`climnorm.worker.configure`) at
  `Worker.log_event`; each task carries the topic of its run (`_Tagged`), this process subscribes to the topic
  and feeds the events to the run's `ProgressChannel`, so remote workers drive the same display as local ones,
  and runs sharing a cluster each see only their own events.
* Lost workers: dask reruns the tasks a dead worker was running (tasks are pure; writes go to a temporary name
  and are renamed); the executor counts workers that left unexpectedly as ``crashes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import signal
import socket
import threading
import urllib.request
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from pathlib import Path
from typing import TYPE_CHECKING, Any

from climnorm import __version__
from climnorm import worker as climnorm_worker
from climnorm.config import Config
from climnorm.engines import WorkerCrashed, describe_task
from climnorm.errors import ClimnormError, OutputError
from climnorm.events import FileRead, NormalWritten, T_Event, TaskFinished, TaskStarted
from climnorm.manifest import TMP_MARK
from climnorm.progress import ProgressChannel

if TYPE_CHECKING:
    from distributed import Client

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - the dask extra is not installed; dask_executor says so

    class WorkerPlugin:  # type: ignore[no-redef]
        """Stand-in so that this module imports without distributed."""


log = logging.getLogger(__name__)

__all__ = ["ClusterLost", "DaskExecutor", "dask_executor"]

#: How long to wait for at least one worker of an external cluster.
WORKER_WAIT_SECONDS = 60.0
#: How long to wait, at the end of a run, for the workers' last progress events.
FLUSH_SECONDS = 10.0
#: Input files per input directory whose presence (and size) every worker checks before the run.
SAMPLE_FILES_PER_DIR = 4

#: dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's dynamic mmap
#: threshold: every buffer of a few MB a read allocates per day is then mapped and unmapped again, and a read of
#: a 0.25° file costs about twice the CPU (measured: 2.2-2.6 s instead of 1.1-1.3 s). climnorm's LocalCluster
#: leaves it unset; on other clusters the check below says so (docs/cluster.md shows the setting).
_TRIM = "MALLOC_TRIM_THRESHOLD_"

_EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (TaskStarted, TaskFinished, FileRead, NormalWritten)}
_FLUSH = "flush"
_WARNING = "warning"


# ---- the executor ----------------------------------------------------------------------------------------------
class ClusterLost(OutputError):
    """The dask scheduler went away (or cancelled the run's tasks) mid-run.

    Handled as the pipeline handles a full disk: the run stops, the outputs written so far stay recorded in the
    manifest, the summary says why, exit code 1; running again resumes.
    """


class DaskExecutor(Executor):
    """`Client.get_executor(pure=False)` with climnorm's conventions.

    Its futures are plain `concurrent.futures.Future`s (they work with `concurrent.futures.wait`); each one
    holds only the result, so the cluster forgets a task's data as soon as it has reached this process (a lost
    worker then never costs a recomputation of a result already here). A task whose workers died
    ``allowed-failures + 1`` times fails with `WorkerCrashed`, as on the local pool; losing the scheduler stops
    the run with `ClusterLost`.
    """

    def __init__(
        self,
        client: Client,
        workers: int,
        dashboard: str | None = None,
        lost: list[str] | None = None,
        topic: str | None = None,
    ) -> None:
        self.client = client
        self.workers = workers
        self.dashboard = dashboard
        self.lost = lost if lost is not None else []
        self.topic = topic
        self._inner = client.get_executor(pure=False)
        self._stopped: str | None = None

    @property
    def stopped(self) -> str | None:
        """Why the run had to stop (the scheduler is gone), or None."""
        return self._stopped

    @property
    def crashes(self) -> int:
        """Workers that left the cluster unexpectedly (killed, out of memory) since the run started."""
        return len(self.lost)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._stopped is not None:
            raise ClusterLost(self._stopped)
        try:
            inner = self._inner.submit(_Tagged(fn, self.topic), *args, **kwargs)
        except Exception as err:
            if getattr(self.client, "status", "running") == "running":
                raise
            self._stopped = self._lost_message(err)
            raise ClusterLost(self._stopped) from None
        outer: Future[Any] = Future()
        what = describe_task(args)
        inner_ref = weakref.ref(inner)
        inner.add_done_callback(lambda f: self._settle(outer, f, what))
        outer.add_done_callback(lambda f: _cancel_inner(f, inner_ref))
        return outer

    def _lost_message(self, detail: object = None) -> str:
        address = getattr(self.client, "scheduler_address", None) or getattr(self.client.scheduler, "address", "?")
        why = f" ({type(detail).__name__}: {str(detail).splitlines()[0]})" if detail and str(detail) else ""
        return (
            f"lost the dask scheduler at {address}{why}: it stopped, the network failed, or it cancelled the "
            "run's tasks; the run stopped. Outputs written so far are recorded; run again to resume"
        )

    def _settle(self, outer: Future[Any], inner: Future[Any], what: str) -> None:
        """Copy a finished dask task's outcome to the future the pipeline holds."""
        try:
            if inner.cancelled():
                if self._stopped is None:
                    self._stopped = self._lost_message()
                    # the pipeline reports the loss in one line; the client's own reconnection traceback adds nothing
                    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
                outer.set_exception(ClusterLost("the dask scheduler is gone"))
                return
            err = inner.exception()
            if err is None:
                outer.set_result(inner.result())
            elif type(err).__name__ == "KilledWorker":
                tries = getattr(err, "allowed_failures", 0) + 1
                outer.set_exception(
                    WorkerCrashed(
                        f"{what}: the worker process died each of the {tries} times this task ran (killed, or out "
                        "of memory; see distributed.scheduler.allowed-failures)"
                    )
                )
            else:
                outer.set_exception(err)
        except InvalidStateError:  # the pipeline cancelled it meanwhile
            pass

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._stopped is not None or getattr(self.client, "status", "running") != "running":
            return  # nothing to wait for or to cancel on a cluster that is gone
        try:
            self._inner.shutdown(wait=wait and not cancel_futures)
        except Exception as err:  # the scheduler went away while we waited
            log.debug("dask engine: shutting the executor down: %s", err)


def _cancel_inner(outer: Future[Any], inner_ref: weakref.ref[Future[Any]]) -> None:
    inner = inner_ref()
    if outer.cancelled() and inner is not None:
        inner.cancel()


# ---- progress events over dask's event log ---------------------------------------------------------------------
def encode_event(event: T_Event, worker: str) -> dict[str, Any]:
    """A worker's event as a msgpack-serialisable message (what `Worker.log_event` accepts)."""
    return {"kind": type(event).__name__, "fields": dataclasses.asdict(event), "worker": worker}


def decode_event(message: dict[str, Any]) -> T_Event:
    """The event of `encode_event` (msgpack turns tuples into lists: they are turned back)."""
    cls = _EVENT_TYPES[message["kind"]]
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in message["fields"].items()}
    return cls(**fields)  # type: ignore[no-any-return]


class _EventForwarder:
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
        if _FLUSH in message:
            with self._cond:
                self._flushed.add(f"{worker}/{message[_FLUSH]}")
                self._cond.notify_all()
            return
        if _WARNING in message:
            log.warning("dask worker %s: %s", worker, message[_WARNING])
            return
        event = decode_event(message)
        if isinstance(event, TaskStarted | TaskFinished):
            event = dataclasses.replace(event, pid=self._pid(worker, event.pid))
        self.channel.emit(event)

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
    event to the run of the task that emitted it, see `_Tagged`) and checks that the worker sees the shared
    filesystem; a late worker that does not is reported as a warning."""

    def __init__(self, topic: str, memory_limit: int | None, check: _SharedCheck, ignore_interrupt: bool = False):
        self.topic = topic
        self.memory_limit = memory_limit
        self.check = check
        self.ignore_interrupt = ignore_interrupt

    def setup(self, worker: Any) -> None:
        global _sink_users
        if self.ignore_interrupt and threading.current_thread() is threading.main_thread():
            # a LocalCluster's workers share the terminal: Ctrl-C is the main process's to handle (it closes
            # the cluster), as with the local pool
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        # the per-task address-space cap is process-wide: only safe when one task runs at a time
        nthreads = getattr(getattr(worker, "state", None), "nthreads", None) or getattr(worker, "nthreads", 1)
        with _sink_lock:
            _sink_users += 1
            climnorm_worker.configure(_forward_event, self.memory_limit if nthreads == 1 else None, None)
        problem = self.check.run()
        if problem is not None:
            message = {_WARNING: f"{problem}; its read tasks will fail", "worker": str(worker.address)}
            with contextlib.suppress(Exception):
                worker.log_event(self.topic, message)

    def teardown(self, worker: Any) -> None:
        global _sink_users
        with _sink_lock:
            _sink_users = max(0, _sink_users - 1)
            if _sink_users == 0:  # the last run using this worker is over
                climnorm_worker.configure(None)


# ---- in the worker processes: which run the task on this thread belongs to ----------------------------------
_current = threading.local()
_sink_lock = threading.Lock()
_sink_users = 0


class _Tagged:
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


def _flush(topic: str, token: str, dask_worker: Any = None) -> str:
    """Run on each worker (in its event loop, after the events its tasks queued): send an end marker."""
    address = str(dask_worker.address)
    dask_worker.log_event(topic, {_FLUSH: token, "worker": address})
    return address


# ---- the shared-filesystem check -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _SharedCheck:
    """What every worker must see as this process does: input directories, some input files with their sizes,
    and the output directory (a marker file with this run's token, and the right to create files there)."""

    input_dirs: tuple[str, ...]
    samples: tuple[tuple[str, int], ...]
    output_dir: str
    marker: str
    token: str

    def run(self) -> str | None:
        """None when this process sees everything; otherwise the first problem, in one line."""
        for directory in self.input_dirs:
            if not os.path.isdir(directory):
                return f"cannot see input directory {directory} ({_why_missing(directory)})"
        for path, size in self.samples:
            try:
                seen = os.stat(path).st_size
            except OSError as err:
                return f"cannot see input file {path} ({err.strerror or err})"
            if seen != size:
                return f"sees input file {path} with {seen} bytes, not {size}: not the same file"
        if not os.path.isdir(self.output_dir):
            return f"cannot see output directory {self.output_dir} ({_why_missing(self.output_dir)})"
        try:
            with open(self.marker) as fh:
                token = fh.read().strip()
        except OSError as err:
            return f"cannot see the marker file {self.marker} this run wrote ({err.strerror or err})"
        if token != self.token:
            return f"sees another folder at {self.output_dir} (the marker file there is not this run's)"
        name = f".dask-probe-{self.token}-{socket.gethostname()}-{os.getpid()}{TMP_MARK}"
        probe = os.path.join(self.output_dir, name)
        try:
            with open(probe, "w") as fh:
                fh.write("climnorm\n")
            os.unlink(probe)
        except OSError as err:
            return f"cannot write to output directory {self.output_dir} ({err.strerror or err})"
        return None


def _why_missing(path: str) -> str:
    try:
        os.stat(path)
    except OSError as err:
        return err.strerror or str(err)
    return "not a directory"


def _check_worker(check: _SharedCheck) -> tuple[str | None, str, str, str | None]:
    """Run on each worker before the run: (problem or None, climnorm version, host name, MALLOC_TRIM_THRESHOLD_)."""
    return check.run(), __version__, socket.gethostname(), os.environ.get(_TRIM)


def _sample_inputs(input_dirs: list[Path], per_dir: int) -> tuple[tuple[str, int], ...]:
    """The first few files (in name order, depth first) under each input directory, with their sizes."""
    found: list[tuple[str, int]] = []
    for root in input_dirs:
        taken = 0
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    found.append((path, os.stat(path).st_size))
                    taken += 1
                if taken >= per_dir:
                    break
            if taken >= per_dir:
                break
    return tuple(found)


def _preflight(client: Client, check: _SharedCheck) -> None:
    """Every connected worker must see the inputs and the output directory; raise one line if one does not."""
    results = client.run(_check_worker, check, on_error="return")
    problems: list[str] = []
    trimmed = 0
    for address, result in sorted(results.items()):
        if isinstance(result, BaseException):
            problems.append(
                f"dask worker {address} cannot run climnorm's check ({type(result).__name__}: {result}); "
                f"install climnorm {__version__} in the workers' environment"
            )
            continue
        problem, version, host, trim = result
        trimmed += trim is not None
        if problem is not None:
            problems.append(
                f"dask worker {address} (host {host}) {problem}: inputs and outputs must be on a filesystem every "
                "worker shares, at the same paths (see docs/cluster.md)"
            )
        elif version != __version__:
            log.warning("dask worker %s runs climnorm %s, this process %s", address, version, __version__)
    if problems:
        more = f" (and {len(problems) - 1} more worker(s) with problems)" if len(problems) > 1 else ""
        raise ClimnormError(problems[0] + more)
    if trimmed:
        log.warning(
            "%d of %d dask workers run with %s set (dask's default), which about doubles the CPU a read costs; "
            "start them with distributed.nanny.pre-spawn-environ.%s: null in their dask configuration "
            "(docs/cluster.md)",
            trimmed,
            len(results),
            _TRIM,
            _TRIM,
        )


# ---- cluster lifecycle -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _client(config: Config) -> Iterator[Client]:
    """A client of the configured cluster: a new LocalCluster, or the scheduler at ``scheduler_address``."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise ClimnormError(
            f"engine: dask needs dask distributed ({err}); install it with: pip install 'climnorm[dask]'"
        ) from None
    # write tasks carry their normal (tens of MB on 0.25° grids) on purpose: no "large graph" warning per write
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "4GiB"}), contextlib.ExitStack() as stack:
        address = config.scheduler_address
        if address:
            timeout = dask.config.get("distributed.comm.timeouts.connect")
            try:
                client = Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise ClimnormError(
                    f"cannot connect to the dask scheduler at {address} ({type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else 'no answer'}); is it running and reachable from here?"
                ) from None
            stack.callback(client.close)
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
            except (TimeoutError, OSError):
                raise ClimnormError(
                    f"no dask worker connected to the scheduler at {address} within {WORKER_WAIT_SECONDS:g} s; "
                    f"start some with: dask worker {address}"
                ) from None
        else:
            memory = int(config.max_memory_per_worker_gb * 2**30)
            with dask.config.set({f"distributed.nanny.pre-spawn-environ.{_TRIM}": None}):  # see _TRIM
                cluster = LocalCluster(
                    n_workers=config.multiprocessing_workers,
                    threads_per_worker=1,
                    processes=True,
                    memory_limit=memory,
                    host="127.0.0.1",
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,  # climnorm reports lost workers itself, in one line
                )
            stack.callback(cluster.close)
            client = Client(cluster, set_as_default=False)
            stack.callback(client.close)
        yield client


def dashboard_link(client: Client) -> str | None:
    """The dashboard's address, when the scheduler serves one (it needs bokeh there)."""
    link = getattr(client, "dashboard_link", None)
    if not link:
        return None
    try:
        with urllib.request.urlopen(link, timeout=2) as response:
            body = response.read(4096)
    except (OSError, ValueError):
        return None
    return None if b"needs bokeh" in body else str(link)


@contextlib.contextmanager
def dask_executor(config: Config, channel: ProgressChannel) -> Iterator[DaskExecutor]:
    """The dask engine of a run: a started or connected cluster, checked, reporting progress to ``channel``."""
    token = uuid.uuid4().hex[:12]
    client_log = logging.getLogger("distributed.client")
    level = client_log.level
    try:
        with _client(config) as client, contextlib.ExitStack() as stack:
            executor, forwarder = _start(config, channel, client, stack, token)
            try:
                yield executor
            except BaseException:
                executor.shutdown(wait=False, cancel_futures=True)
                raise
            executor.shutdown(wait=True)
            if executor.stopped is None:
                _flush_events(client, forwarder, token)
            if forwarder.lost:
                log.info("dask engine: %d worker(s) lost during the run; their tasks ran again", len(forwarder.lost))
    finally:
        client_log.setLevel(level)


def _start(
    config: Config, channel: ProgressChannel, client: Client, stack: contextlib.ExitStack, token: str
) -> tuple[DaskExecutor, _EventForwarder]:
    """Check the workers, route their events to ``channel`` and make the executor; cleanups go on ``stack``."""
    nthreads = client.nthreads()
    threads = sum(nthreads.values())
    if config.scheduler_address:
        log.info(
            "dask engine: connected to %s: %d worker(s), %d thread(s)", config.scheduler_address, len(nthreads), threads
        )
    else:
        log.info(
            "dask engine: LocalCluster of %d worker process(es), 1 thread and %g GB memory limit each",
            len(nthreads),
            config.max_memory_per_worker_gb,
        )
    link = dashboard_link(client)
    if link:
        log.info("dask dashboard: %s", link)
    else:
        log.debug("dask engine: no dashboard (it needs bokeh where the scheduler runs)")

    output_dir = str(config.output_dir)
    marker = os.path.join(output_dir, f".dask-check-{token}{TMP_MARK}")
    with open(marker, "w") as fh:
        fh.write(token + "\n")
    stack.callback(_unlink_quietly, marker)
    check = _SharedCheck(
        tuple(str(d) for d in config.input_dirs),
        _sample_inputs(config.input_dirs, SAMPLE_FILES_PER_DIR),
        output_dir,
        marker,
        token,
    )
    _preflight(client, check)

    topic = _topic(token)
    forwarder = _EventForwarder(channel)
    stack.callback(forwarder.close)
    client.subscribe_topic(topic, forwarder.on_worker_message)
    stack.callback(_quietly, client.unsubscribe_topic, topic)
    client.subscribe_topic("all", forwarder.on_cluster_event)
    stack.callback(_quietly, client.unsubscribe_topic, "all")
    limit = int(config.max_memory_per_worker_gb * 2**30)
    plugin_name = f"climnorm-{token}"
    plugin = ClimnormWorkerPlugin(topic, limit, check, not config.scheduler_address)
    client.register_plugin(plugin, name=plugin_name)
    if config.scheduler_address:  # a shared cluster outlives this run: leave its workers as they were
        stack.callback(_quietly, client.unregister_worker_plugin, plugin_name)
    # the pipeline keeps 2 read tasks per worker thread in flight, counted now (docs/cluster.md)
    return DaskExecutor(client, threads, link, forwarder.lost, topic if channel.active else None), forwarder


def _topic(token: str) -> str:
    return f"climnorm-events-{token}"


def _flush_events(client: Client, forwarder: _EventForwarder, token: str) -> None:
    """Wait until the events every worker sent before now have reached the progress channel."""
    try:
        answered = client.run(_flush, _topic(token), token, on_error="return")
    except Exception as err:  # a cluster going away at the very end costs only the last progress events
        log.debug("dask engine: could not flush progress events: %s", err)
        return
    markers = {f"{address}/{token}" for address, result in answered.items() if not isinstance(result, BaseException)}
    if not forwarder.wait_flushed(markers, FLUSH_SECONDS):
        log.debug("dask engine: some workers' last progress events did not arrive within %g s", FLUSH_SECONDS)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _quietly(fn: Any, *args: Any) -> None:
    """A cleanup call on the client, skipped when the client has lost its scheduler (it would only wait)."""
    client = getattr(fn, "__self__", None)
    if getattr(client, "status", "running") != "running":
        return
    try:
        fn(*args)
    except Exception as err:
        log.debug("dask engine: cleanup step %s failed: %s", getattr(fn, "__name__", fn), err)

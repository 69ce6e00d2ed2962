"""The dask engine: the pipeline's read and write tasks on a Dask distributed cluster.

`dask_engine(config, channel)` starts a `distributed.LocalCluster` of worker processes sized from the config
(``multiprocessing_workers`` workers, one thread each, ``max_memory_per_worker_gb`` as each worker's memory
limit), or connects to a running scheduler (``scheduler_address``), and yields a `concurrent.futures.Executor`
built on `Client.get_executor()`: the pipeline submits exactly the tasks it gives the local pool.

* Shared filesystem: before any task runs, every worker checks that it sees the local input directories (and a
  sample of input files, with their sizes) and the output directory (it reads a marker file written by this
  process and creates a file beside it). A worker that cannot is reported in one line and nothing is done.
  When every input is on object storage the engine is *detached* (``shares_outputs`` False): workers read the
  objects themselves and hand each output back as its file's bytes, which this process lands atomically
  (`climnorm.runner.landing`), so the cluster needs no shared disk at all.
* Progress: each task runs with a context (`climnorm.engines.tasks.WorkerContext`) that sends its events through
  `Worker.log_event` to the topic of its run (`Tagged`); this process subscribes to the topic and feeds the events
  to the run's `ProgressChannel`, so remote workers drive the same display as local ones, and runs sharing a
  cluster each see only their own events.
* Lost workers: dask reruns the tasks a dead worker was running (tasks are pure; writes go to a temporary name
  and are renamed); the executor counts workers that left unexpectedly as ``crashes``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from pathlib import Path
from typing import TYPE_CHECKING, Any

from climnorm._atomic import TMP_MARK
from climnorm.config.model import Config
from climnorm.engines._dask_checks import TRIM, SharedCheck, preflight, sample_inputs
from climnorm.engines._dask_events import ClimnormWorkerPlugin, EventForwarder, Tagged, flush
from climnorm.engines._workers import memory_limit_bytes, worker_crashed
from climnorm.errors import ClimnormError, ClusterLost
from climnorm.progress.channel import ProgressChannel

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

__all__ = ["DaskExecutor", "dask_engine"]

#: How long to wait for at least one worker of an external cluster.
WORKER_WAIT_SECONDS = 60.0
#: How long to wait, at the end of a run, for the workers' last progress events.
FLUSH_SECONDS = 10.0
#: Input files per input directory whose presence (and size) every worker checks before the run.
SAMPLE_FILES_PER_DIR = 4


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
        lost: list[str] | None = None,
        topic: str | None = None,
        shares_outputs: bool = True,
        memory_limit: int | None = None,
    ) -> None:
        self.client = client
        self.memory_limit = memory_limit
        self.workers = workers
        self.shares_outputs = shares_outputs
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

    def run(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.submit(Tagged(fn, self.topic, self.memory_limit), *args)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._stopped is not None:
            raise ClusterLost(self._stopped)
        try:
            inner = self._inner.submit(fn, *args, **kwargs)
        except Exception as err:
            if getattr(self.client, "status", "running") == "running":
                raise
            self._stopped = self._lost_message(err)
            raise ClusterLost(self._stopped) from None
        outer: Future[Any] = Future()
        inner_ref = weakref.ref(inner)
        inner.add_done_callback(lambda f: self._settle(outer, f, args))
        outer.add_done_callback(lambda f: _cancel_inner(f, inner_ref))
        return outer

    def _lost_message(self, detail: object = None) -> str:
        address = getattr(self.client, "scheduler_address", None) or getattr(self.client.scheduler, "address", "?")
        why = f" ({type(detail).__name__}: {str(detail).splitlines()[0]})" if detail and str(detail) else ""
        return (
            f"lost the dask scheduler at {address}{why}: it stopped, the network failed, or it cancelled the "
            "run's tasks; the run stopped. Outputs written so far are recorded; run again to resume"
        )

    def _settle(self, outer: Future[Any], inner: Future[Any], args: tuple[Any, ...]) -> None:
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
                outer.set_exception(worker_crashed(args, tries, "; see distributed.scheduler.allowed-failures"))
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

    def close(self, *, kill: bool = False) -> None:
        """The engine's end: wait for the running tasks, or (``kill``) cancel them."""
        self.shutdown(wait=not kill, cancel_futures=kill)


def _cancel_inner(outer: Future[Any], inner_ref: weakref.ref[Future[Any]]) -> None:
    inner = inner_ref()
    if outer.cancelled() and inner is not None:
        inner.cancel()


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
            memory = memory_limit_bytes(config)
            with dask.config.set({f"distributed.nanny.pre-spawn-environ.{TRIM}": None}):  # see TRIM
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
def dask_engine(config: Config, channel: ProgressChannel) -> Iterator[DaskExecutor]:
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
                executor.close(kill=True)
                raise
            executor.close()
            if executor.stopped is None:
                _flush_events(client, forwarder, token)
            if forwarder.lost:
                log.info("dask engine: %d worker(s) lost during the run; their tasks ran again", len(forwarder.lost))
    finally:
        client_log.setLevel(level)


def _start(
    config: Config, channel: ProgressChannel, client: Client, stack: contextlib.ExitStack, token: str
) -> tuple[DaskExecutor, EventForwarder]:
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

    detached = not any(isinstance(d, Path) for d in config.input_dirs)
    output_dir = str(config.output_dir)
    marker = os.path.join(output_dir, f".dask-check-{token}{TMP_MARK}")
    if config.remote_outputs:
        log.info("dask engine: outputs are in a bucket: workers put them there, only records come back")
    elif detached:
        log.info("dask engine: every input is on object storage: workers need no shared disk, outputs land here")
    if not (detached or config.remote_outputs):
        with open(marker, "w") as fh:
            fh.write(token + "\n")
        stack.callback(_unlink_quietly, marker)
    check = SharedCheck(
        tuple(str(d) for d in config.input_dirs if isinstance(d, Path)),
        sample_inputs(config.input_dirs, SAMPLE_FILES_PER_DIR),
        None if detached or config.remote_outputs else output_dir,
        marker,
        token,
    )
    preflight(client, check)

    topic = _topic(token)
    forwarder = EventForwarder(channel)
    stack.callback(forwarder.close)
    client.subscribe_topic(topic, forwarder.on_worker_message)
    stack.callback(_quietly, client.unsubscribe_topic, topic)
    client.subscribe_topic("all", forwarder.on_cluster_event)
    stack.callback(_quietly, client.unsubscribe_topic, "all")
    limit = memory_limit_bytes(config)
    plugin_name = f"climnorm-{token}"
    plugin = ClimnormWorkerPlugin(topic, check, not config.scheduler_address)
    client.register_plugin(plugin, name=plugin_name)
    if config.scheduler_address:  # a shared cluster outlives this run: leave its workers as they were
        stack.callback(_quietly, client.unregister_worker_plugin, plugin_name)
    # the pipeline keeps 2 read tasks per worker thread in flight, counted now (docs/cluster.md)
    executor = DaskExecutor(client, threads, forwarder.lost, topic if channel.active else None, not detached, limit)
    return executor, forwarder


def _topic(token: str) -> str:
    return f"climnorm-events-{token}"


def _flush_events(client: Client, forwarder: EventForwarder, token: str) -> None:
    """Wait until the events every worker sent before now have reached the progress channel."""
    try:
        answered = client.run(flush, _topic(token), token, on_error="return")
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

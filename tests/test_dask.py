"""The dask engine on real clusters: a LocalCluster of worker processes, and a scheduler plus workers started with
the `dask scheduler` / `dask worker` commands; outputs equal to the local engine's, exact progress counts from
remote workers, a worker killed mid-run, a worker that does not share the filesystem, an unreachable scheduler."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import psutil
import pytest
import yaml

from climnorm.errors import ClimnormError
from climnorm.events import FileRead, NormalWritten, RunStarted, T_Event, TaskFinished, TaskStarted
from climnorm.runner.pipeline import run
from climnorm.write.manifest import manifest_outputs
from conftest import T_Archive
from parallel_job import N_FILES, N_NORMALS, SPEC, job_config, job_config_dict

distributed = pytest.importorskip("distributed")


def _data(out: Path) -> dict[str, np.ndarray]:
    result = {}
    for path in sorted(out.rglob("*.nc")):
        with netCDF4.Dataset(path) as ds:
            var = ds.variables[ds.variable]
            result[str(path.relative_to(out))] = np.ma.filled(var[:].astype(np.float32), np.nan)
    return result


def _checksums(out: Path) -> dict[str, str]:
    outputs = manifest_outputs(out)
    return {r["path"]: r["checksum"] for r in outputs}


def _assert_same_outputs(out: Path, expected: tuple[dict[str, np.ndarray], dict[str, str]]) -> None:
    data, checksums = expected
    got = _data(out)
    assert got.keys() == data.keys() and len(got) == N_NORMALS
    for key, values in data.items():
        assert np.array_equal(got[key], values, equal_nan=True), key
    assert _checksums(out) == checksums


@pytest.fixture(scope="module")
def archive(synth_archive: T_Archive) -> Path:
    return synth_archive(SPEC)


@pytest.fixture(scope="module")
def local_outputs(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, np.ndarray], dict]:
    """The reference: the local engine's outputs (data and manifest checksums)."""
    out = tmp_path_factory.mktemp("local") / "out"
    summary = run(job_config(archive, out, engine="local"))
    assert summary.exit_code == 0, summary.failures
    return _data(out), _checksums(out)


# ---- an external cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1 ----------------------
@dataclass
class ExternalCluster:
    address: str
    worker_cwd: Path
    logs: list[Path]

    def log_tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())


def _dask_command(kind: str) -> list[str]:
    """`dask scheduler` / `dask worker` of this interpreter's environment, whatever the venv."""
    dask_cli = Path(sys.executable).with_name("dask")
    if dask_cli.exists():
        return [str(dask_cli), kind]
    return [sys.executable, "-m", f"distributed.cli.dask_{kind}"]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """End processes we started and their descendants (a worker's nanny has a worker process), by pid: all are
    asked to stop at once, then whatever is left after 15 s is killed."""
    family: list[psutil.Process] = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            family += psutil.Process(proc.pid).children(recursive=True)
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    for child in family:
        try:
            child.wait(timeout=5)
        except psutil.TimeoutExpired:
            child.kill()
        except psutil.Error:
            pass


@contextlib.contextmanager
def _start_cluster(base: Path, workers: int = 2) -> Iterator[tuple[ExternalCluster, list[subprocess.Popen[bytes]]]]:
    """A scheduler on a free port of 127.0.0.1 and single-threaded workers, each its own process tree, all ended
    on exit. The workers run in a directory of their own (``worker_cwd``): relative paths resolve differently
    there (see the shared-filesystem test)."""
    worker_cwd = base / "elsewhere"
    worker_cwd.mkdir(parents=True)
    scheduler_file = base / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(name: str, args: list[str], cwd: Path) -> None:
        log_path = base / f"{name}.log"
        logs.append(log_path)
        with open(log_path, "wb") as fh:
            procs.append(subprocess.Popen(args, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT))

    try:
        start(
            "scheduler",
            [
                *_dask_command("scheduler"),
                "--host",
                "127.0.0.1",
                "--port",
                "0",  # the OS picks a free port; the scheduler file says which
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
            ],
            base,
        )
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            assert procs[0].poll() is None, (base / "scheduler.log").read_text()
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            start(
                f"worker{i}",
                [
                    *_dask_command("worker"),
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "1",
                    "--memory-limit",
                    "2GiB",
                    "--no-dashboard",
                    "--name",
                    f"external-{i}",
                ],
                worker_cwd,
            )
        cluster = ExternalCluster(address, worker_cwd, logs)
        with distributed.Client(address, timeout=30) as client:
            try:
                client.wait_for_workers(workers, timeout=60)
            except TimeoutError:
                pytest.fail("the external workers did not connect:\n" + cluster.log_tail())
        yield cluster, procs
    finally:
        _stop(procs[::-1])


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalCluster]:
    """`dask scheduler` and two `dask worker` processes, shared by the tests of this module."""
    with _start_cluster(tmp_path_factory.mktemp("cluster")) as (cluster, _):
        yield cluster


# ---- tests -----------------------------------------------------------------------------------------------------
def test_events_survive_the_trip_through_dask() -> None:
    import msgpack

    from climnorm.engines._dask_events import decode_event, encode_event

    events: list[T_Event] = [
        TaskStarted(12, "tas", "tas_2010.nc"),
        TaskFinished(12),
        FileRead("tas", "/a/tas_2010.nc", 123, 0.5),
        NormalWritten("tas", "AK", "ssp245", "future", 2020, "/o/x.nc", 0.1),
    ]
    for event in events:
        message = encode_event(event, "tcp://127.0.0.1:1234")
        assert decode_event(msgpack.unpackb(msgpack.packb(message))) == event  # msgpack gives lists for tuples


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_local_cluster_outputs_equal_the_local_engine(archive: Path, tmp_path: Path, local_outputs: tuple) -> None:
    events: list[T_Event] = []
    lock = threading.Lock()

    def collect(event: T_Event) -> None:
        with lock:
            events.append(event)

    out = tmp_path / "out"
    summary = run(job_config(archive, out, engine="dask", batch_size_years=2), on_event=collect)
    assert summary.exit_code == 0, summary.failures
    assert summary.workers == 2 and summary.worker_crashes == 0
    _assert_same_outputs(out, local_outputs)
    # progress from the worker processes reached this process, every file and normal exactly once
    started = [e for e in events if isinstance(e, RunStarted)]
    assert len(started) == 1 and sum(started[0].files_total.values()) == N_FILES
    reads = [e for e in events if isinstance(e, FileRead)]
    written = [e for e in events if isinstance(e, NormalWritten)]
    assert len(reads) == len({e.path for e in reads}) == summary.files_read == N_FILES
    assert len(written) == len({e.path for e in written}) == summary.written == N_NORMALS
    kinds = Counter(type(e).__name__ for e in events)
    assert kinds["TaskStarted"] == kinds["TaskFinished"] == N_FILES + N_NORMALS
    pids = {e.pid for e in events if isinstance(e, TaskStarted)}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert not list(out.rglob("*.climnorm-tmp")), "the shared-filesystem check left files behind"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_external_cluster_through_the_cli(
    archive: Path, tmp_path: Path, local_outputs: tuple, external_cluster: ExternalCluster
) -> None:
    """Two runs at once on the same workers, through the CLI: each gets its own outputs and exactly its own
    progress (the second run: tas over HI only, 18 files and 11 normals)."""
    runs = {
        "full": (job_config_dict(archive, tmp_path / "full"), (N_FILES, N_FILES, N_NORMALS, N_NORMALS, 0, 0)),
        "small": (
            job_config_dict(archive, tmp_path / "small", variables=["tas"], regions=["HI"]),
            (18, 18, 11, 11, 0, 0),
        ),
    }
    procs = {}
    for name, (data, _) in runs.items():
        config_path = tmp_path / f"{name}.yaml"
        config_path.write_text(yaml.safe_dump(data))
        procs[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "climnorm.cli",
                "run",
                str(config_path),
                "--scheduler",
                external_cluster.address,
                "--progress",
                "plain",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {}
    try:
        for name, proc in procs.items():
            outputs[name] = proc.communicate(timeout=180)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, proc in procs.items():
        stdout, stderr = outputs[name]
        assert proc.returncode == 0, stderr + external_cluster.log_tail()
        assert f"dask engine: connected to {external_cluster.address}: 2 worker(s), 2 thread(s)" in stderr
        lines = [line for line in stderr.splitlines() if line.startswith("climnorm: progress: ")]
        last = re.search(r"files (\d+)/(\d+), normals (\d+)/(\d+), skipped (\d+), failed (\d+)", lines[-1])
        assert last is not None and tuple(map(int, last.groups())) == runs[name][1], (name, lines[-1])
        assert f"written {runs[name][1][2]}," in stdout and "with 2 worker(s)" in stdout
    _assert_same_outputs(tmp_path / "full", local_outputs)
    small = _data(tmp_path / "small")
    assert len(small) == 11 and all(np.array_equal(v, local_outputs[0][k], equal_nan=True) for k, v in small.items())
    # the cluster outlives the run: its workers carry no plugin of it, and no process-wide event sink (each task
    # reported through the context it was called with)
    with distributed.Client(external_cluster.address, timeout=30) as client:
        # lambdas travel by value (this test module is not importable on the workers)
        sinks = client.run(lambda: __import__("climnorm.engines._workers", fromlist=["x"])._process_context.sink)
        plugins = client.run(lambda dask_worker: list(dask_worker.plugins))
    assert set(sinks.values()) == {None}
    assert not any(name.startswith("climnorm-") for names in plugins.values() for name in names)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_worker_killed_mid_run_and_the_run_still_completes(
    archive: Path, tmp_path: Path, local_outputs: tuple
) -> None:
    reads = 0
    killed: list[int] = []

    def on_event(event: T_Event) -> None:
        nonlocal reads
        reads += isinstance(event, FileRead)
        # once a few files are in, kill the worker process that has just started a task
        if isinstance(event, TaskStarted) and reads >= 4 and not killed:
            try:
                os.kill(event.pid, signal.SIGKILL)
                killed.append(event.pid)
            except ProcessLookupError:
                pass

    out = tmp_path / "out"
    summary = run(job_config(archive, out, engine="dask", batch_size_years=1), on_event=on_event)
    assert killed, "no worker was killed"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert summary.worker_crashes >= 1
    assert summary.exit_code == 0, summary.failures
    assert summary.files_read == N_FILES and summary.written == N_NORMALS
    _assert_same_outputs(out, local_outputs)


@pytest.mark.slow  # quick itself, but it needs the external cluster
@pytest.mark.timeout(120)
def test_a_worker_that_does_not_share_the_filesystem_is_refused_in_one_line(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, external_cluster: ExternalCluster
) -> None:
    # relative paths: this process finds the archive from its working directory, the workers (started in
    # another directory) do not, as on a cluster whose nodes do not mount the archive
    monkeypatch.chdir(archive.parent)
    config = job_config("archive", tmp_path / "out", engine="dask", scheduler_address=external_cluster.address)
    with pytest.raises(ClimnormError) as info:
        run(config)
    message = str(info.value)
    assert "\n" not in message
    assert re.match(
        r"dask worker tcp://127\.0\.0\.1:\d+ \(host [^)]+\) cannot see input directory archive "
        r"\(No such file or directory\): inputs and outputs must be on a filesystem every worker shares",
        message,
    ), message
    assert "(and 1 more worker(s) with problems)" in message
    assert not list((tmp_path / "out").rglob("*.nc")) and not (tmp_path / "out" / "manifest.sqlite").exists()


@pytest.mark.timeout(120)
def test_an_unreachable_scheduler_is_one_line_and_exit_code_2(archive: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(job_config_dict(archive, tmp_path / "out")))
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    proc = subprocess.run(
        [sys.executable, "-m", "climnorm.cli", "run", str(config_path), "--scheduler", f"tcp://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot connect to the dask scheduler at tcp://127.0.0.1:{port}" in errors[0]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_losing_the_scheduler_stops_the_run_with_one_message(archive: Path, tmp_path: Path) -> None:
    with _start_cluster(tmp_path / "cluster", workers=1) as (cluster, procs):
        scheduler = procs[0]

        def on_event(event: T_Event) -> None:
            if isinstance(event, FileRead) and scheduler.poll() is None:
                scheduler.kill()

        start = time.monotonic()
        config = job_config(archive, tmp_path / "out", engine="dask", scheduler_address=cluster.address)
        summary = run(config, on_event=on_event)
        assert time.monotonic() - start < 60
    assert scheduler.returncode is not None, "the scheduler was not killed"
    assert summary.exit_code == 1
    stop = [f for f in summary.failures if f.startswith("lost the dask scheduler at ")]
    assert len(stop) == 1 and stop[0].endswith("Outputs written so far are recorded; run again to resume")
    assert summary.written < N_NORMALS
    # what was written before the loss is recorded
    assert len(_checksums(tmp_path / "out")) == summary.written


def test_cli_engine_options_become_config_overrides() -> None:
    from climnorm.cli.main import _engine_overrides, build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "job.yaml", "--scheduler", "tcp://127.0.0.1:8786"])
    assert _engine_overrides(args) == {"engine": "dask", "scheduler_address": "tcp://127.0.0.1:8786"}
    args = parser.parse_args(["demo", "--engine", "dask"])
    assert _engine_overrides(args) == {"engine": "dask", "scheduler_address": None}
    args = parser.parse_args(["run", "job.yaml"])
    assert _engine_overrides(args) == {"engine": None, "scheduler_address": None}  # the config decides

"""The local engine with real worker processes: same results for any number of workers, exact event counts,
crashed workers retried, memory limits enforced, plain progress output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import netCDF4
import numpy as np
import psutil
import pytest
import yaml

from climnorm.events import FileRead, NormalWritten, RunFinished, RunStarted, T_Event
from climnorm.runner.pipeline import run
from conftest import T_Archive
from parallel_job import N_FILES, N_NORMALS, SPEC, job_config, job_config_dict


@pytest.fixture(scope="module")
def archive(synth_archive: T_Archive) -> Path:
    return synth_archive(SPEC)


def _data(out: Path) -> dict[str, np.ndarray]:
    result = {}
    for path in sorted(out.rglob("*.nc")):
        with netCDF4.Dataset(path) as ds:
            var = ds.variables[ds.variable]
            result[str(path.relative_to(out))] = np.ma.filled(var[:].astype(np.float32), np.nan)
    return result


@pytest.fixture(scope="module")
def one_worker(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("one") / "out"
    summary = run(job_config(archive, out, multiprocessing_workers=1, batch_size_years=1))
    assert summary.exit_code == 0
    return out, _data(out)


def test_outputs_identical_for_one_and_two_workers(archive: Path, tmp_path: Path, one_worker: tuple) -> None:
    _, expected = one_worker
    summary = run(job_config(archive, tmp_path / "out", multiprocessing_workers=2, batch_size_years=3))
    assert summary.exit_code == 0
    got = _data(tmp_path / "out")
    assert got.keys() == expected.keys() and len(got) == 2 * 3 * 11
    for key, values in expected.items():
        assert np.array_equal(got[key], values, equal_nan=True), key


def test_event_counts_are_exact(archive: Path, tmp_path: Path) -> None:
    events: list[T_Event] = []
    lock = threading.Lock()

    def collect(event: T_Event) -> None:
        with lock:
            events.append(event)

    summary = run(job_config(archive, tmp_path / "out", cores_per_variable=1), on_event=collect)
    kinds = Counter(type(e).__name__ for e in events)
    started = [e for e in events if isinstance(e, RunStarted)]
    assert len(started) == 1 and kinds["RunFinished"] == 1
    assert isinstance(events[-1], RunFinished)
    # tas and pr: 2003-2014 historical (window 8 before 2010 starts in 2003) + 2015-2020 = 18 files each
    assert started[0].files_total == {"tas": 18, "pr": 18}
    assert started[0].normals_total == {"tas": 33, "pr": 33}
    reads = [e for e in events if isinstance(e, FileRead)]
    written = [e for e in events if isinstance(e, NormalWritten)]
    assert len(reads) == summary.files_read == N_FILES and len({e.path for e in reads}) == N_FILES
    assert len(written) == summary.written == N_NORMALS and len({e.path for e in written}) == N_NORMALS
    assert kinds["TaskStarted"] == kinds["TaskFinished"] == N_FILES + N_NORMALS
    assert Counter(e.variable for e in reads) == {"tas": 18, "pr": 18}


def _pool_workers() -> list[psutil.Process]:
    """This process's pool workers: the children of its forkserver."""
    me = psutil.Process()
    workers = []
    for child in me.children(recursive=False):
        try:
            if "forkserver" in " ".join(child.cmdline()):
                workers += child.children(recursive=False)
        except psutil.Error:
            continue
    return workers


def test_killed_worker_is_retried_and_the_run_completes(archive: Path, tmp_path: Path, one_worker: tuple) -> None:
    _, expected = one_worker
    first_read = threading.Event()
    killed: list[int] = []

    def on_event(event: T_Event) -> None:
        if isinstance(event, FileRead):
            first_read.set()

    def killer() -> None:
        if not first_read.wait(60):
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            for proc in _pool_workers():
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed.append(proc.pid)
                    break
                except ProcessLookupError:
                    continue
            time.sleep(0.01)

    thread = threading.Thread(target=killer)
    thread.start()
    summary = run(job_config(archive, tmp_path / "out", batch_size_years=1), on_event=on_event)
    thread.join()
    assert killed, "no worker process was found to kill"
    assert summary.worker_crashes >= 1
    assert summary.exit_code == 0, summary.failures
    got = _data(tmp_path / "out")
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert np.array_equal(got[key], values, equal_nan=True), key


def test_memory_limit_fails_the_task_with_a_clear_error(archive: Path, tmp_path: Path) -> None:
    summary = run(job_config(archive, tmp_path / "out", max_memory_per_worker_gb=0.001, variables=["tas"]))
    assert summary.exit_code == 1
    read_failures = [f for f in summary.failures if ".nc: " in f and "max_memory_per_worker_gb" in f]
    assert len(read_failures) == 18, summary.failures
    for line in read_failures:
        path = line.split(": ")[0]
        assert Path(path).name.startswith("tas_day_") and path.endswith(".nc")
        assert "more than max_memory_per_worker_gb = 0.001 GB allows" in line
        assert "\n" not in line
    assert summary.written == 0 and summary.files_read == 0


def test_plain_progress_lines_report_exact_counts(archive: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(job_config_dict(archive, tmp_path / "out", variables=["tas"])))
    proc = subprocess.run(
        [sys.executable, "-m", "climnorm.cli", "run", str(config_path), "--progress", "plain"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("climnorm: progress: ")]
    assert lines, proc.stderr
    pattern = re.compile(r"files (\d+)/(\d+), normals (\d+)/(\d+), skipped (\d+), failed (\d+)")
    counts = [tuple(map(int, m.groups())) for line in lines if (m := pattern.search(line))]
    assert counts[-1] == (18, 18, 33, 33, 0, 0)
    assert all(a <= b for a, b in zip([c[0] for c in counts], [c[0] for c in counts[1:]], strict=False))
    assert "written 33" in proc.stdout
    assert list((tmp_path / "out" / "logs").glob("run-*.log"))


def test_a_finished_task_releases_its_arguments_at_once() -> None:
    """The pool keeps nothing of a settled task: a normal handed to a write must not wait for the cyclic
    garbage collector (which frees by object count, not size) to leave the main process."""
    import gc
    import weakref

    from climnorm.engines.local import RetryingProcessPool

    pool = RetryingProcessPool(1)
    gc.disable()
    try:
        normal = np.ones((366, 100, 100), dtype=np.float32)
        alive = weakref.ref(normal)
        future = pool.submit(np.sum, normal)
        del normal
        assert future.result(timeout=60) == 366 * 100 * 100
        deadline = time.monotonic() + 10
        while alive() is not None and time.monotonic() < deadline:
            time.sleep(0.02)  # the supervisor thread settles the task just after the result arrives
        assert alive() is None, "the pool still holds the task's argument"
    finally:
        gc.enable()
        pool.shutdown()


def test_a_large_result_comes_back_through_a_mapped_file_unchanged(tmp_path: Path) -> None:
    """A result too big for the pipe travels through a spill file that this process maps (no copy): every array
    comes back bit for bit, writable (copy-on-write), aligned, and the file is gone as soon as it is mapped."""
    from climnorm.engines.local import RetryingProcessPool

    rng = np.random.default_rng(5)
    big = rng.normal(size=(366, 50, 40))
    arrays = {
        "f32": big.astype(np.float32),
        "f64": big,
        "int16": np.arange(7, dtype=np.int16),
        "empty": np.empty((0, 3), dtype=np.float32),
        "strided": big[:, ::2, 1::3],
    }
    pool = RetryingProcessPool(1, spill_dir=str(tmp_path))
    try:
        result = pool.submit(dict, **arrays).result(timeout=120)
    finally:
        pool.shutdown()
    assert list(tmp_path.iterdir()) == []
    for name, original in arrays.items():
        back = result[name]
        assert back.dtype == original.dtype and back.shape == original.shape, name
        assert back.tobytes() == original.tobytes(), name
    assert result["f32"].ctypes.data % 64 == 0 and result["f64"].ctypes.data % 64 == 0
    result["f32"][0, 0, 0] = -1.0  # writable, and only this copy changes
    assert arrays["f32"][0, 0, 0] != -1.0

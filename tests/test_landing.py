"""Tests of runner.landing: where each write runs (its placement), and how finished writes land in the store and the
manifest, in order; failures fail one output, a full disk stops the run. No engine: futures are completed by hand.
"""

from __future__ import annotations

import errno
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from climnorm.catalog.scan import build_catalog
from climnorm.config.model import parse_config
from climnorm.engines.tasks import write_detached, write_output
from climnorm.engines.worker import WorkerContext
from climnorm.errors import OutputError
from climnorm.events import T_Event
from climnorm.plan.build import Plan, make_plan
from climnorm.records import OutputRecord
from climnorm.runner.landing import Placement, WriteJob, WriteQueue
from climnorm.runner.summary import Reporter, RunSummary
from climnorm.write.manifest import Manifest
from climnorm.write.orders import Encoding, WriteTask, Written
from climnorm.write.store import LocalDirectory
from helpers import nex, touch


class HandEngine:
    """An engine whose tasks never run: each call is kept with its future, for the test to complete."""

    workers = 1
    crashes = 0

    def __init__(self, shares_outputs: bool) -> None:
        self.shares_outputs = shares_outputs
        self.calls: list[tuple[Any, tuple[Any, ...], Future[Any]]] = []

    def run(self, fn: Any, /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.calls.append((fn, args, future))
        return future

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise AssertionError("writes go through run()")

    def close(self, *, kill: bool = False) -> None:
        """Nothing runs."""


def _plan(tmp_path: Path) -> Plan:
    for year in range(2012, 2015):
        touch(tmp_path / "in" / nex("tas", year, scenario="historical"))
    data = {
        "input_dirs": [str(tmp_path / "in")], "output_dir": str(tmp_path / "out"), "variables": ["tas"],
        "regions": ["CONUS"], "scenarios": ["historical"], "window_years": 2, "min_years_for_normal": 2,
        "periods": {"historical": [2013, 2014]},
    }  # fmt: skip
    config = parse_config(data)
    return make_plan(config, build_catalog(config.input_dirs))


def _queue(tmp_path: Path, shares_outputs: bool) -> tuple[WriteQueue, HandEngine, list[T_Event]]:
    plan = _plan(tmp_path)
    events: list[T_Event] = []
    reporter = Reporter(RunSummary(), events.append)
    engine = HandEngine(shares_outputs)
    store = LocalDirectory(plan.config.output_dir)
    queue = WriteQueue(plan, Manifest(plan.config.output_dir), engine, reporter, 8, store)  # type: ignore[arg-type]
    return queue, engine, events


def _job(queue: WriteQueue, i: int, fn: Any = write_output, reads_outputs: bool = False) -> WriteJob[Any]:
    out = queue.plan.outputs[i]
    t = out.target
    record = OutputRecord(
        out.path, t.variable, out.region.key, t.scenario, t.period, t.year, 2, "NorESM2-LM", "r1i1p1f1", "noleap",
        "calendar_day", out.fingerprint,
    )  # fmt: skip
    return WriteJob(fn, object(), out, record, reads_outputs)  # type: ignore[arg-type]


def test_writes_land_in_order_once_finished(tmp_path: Path) -> None:
    queue, engine, _ = _queue(tmp_path, shares_outputs=True)
    first, second = _job(queue, 0), _job(queue, 1)
    assert queue.placement(first) is Placement.IN_PLACE
    queue.submit_job(first)
    queue.submit_job(second)
    assert [call[0] for call in engine.calls] == [write_output, write_output]
    engine.calls[1][2].set_result(Written(10, "sha256:b", 0.1))
    queue.drain(block=False)
    assert list(queue.manifest.records) == [second.out.path] and len(queue.pending) == 1
    engine.calls[0][2].set_result(Written(12, "sha256:a", 0.1))
    queue.drain()
    landed = queue.manifest.records[first.out.path]
    assert (landed.size, landed.checksum) == (12, "sha256:a") and queue.reporter.summary.written == 2


def test_a_worker_without_the_disk_hands_the_bytes_back_and_they_land_here(tmp_path: Path) -> None:
    queue, engine, _ = _queue(tmp_path, shares_outputs=False)
    job = _job(queue, 0)
    assert queue.placement(job) is Placement.HANDED_BACK
    queue.submit_job(job)
    fn, args, future = engine.calls[0]
    assert fn is write_detached and args[0] is write_output
    future.set_result(Written(5, "sha256:x", 0.0, data=b"bytes"))
    queue.drain()
    assert (queue.plan.config.output_dir / job.out.path).read_bytes() == b"bytes"
    assert queue.manifest.records[job.out.path].size == 5


def test_a_job_reading_outputs_runs_here_when_the_workers_cannot_see_them(tmp_path: Path) -> None:
    queue, engine, _ = _queue(tmp_path, shares_outputs=False)
    ran: list[WorkerContext] = []

    def reads_members(ctx: WorkerContext, task: object) -> Written:
        ran.append(ctx)
        return Written(1, "sha256:e", 0.0)

    job = _job(queue, 0, reads_members, reads_outputs=True)
    assert queue.placement(job) is Placement.HERE
    queue.submit_job(job)
    queue.drain()
    assert engine.calls == [] and len(ran) == 1 and job.out.path in queue.manifest.records


def test_a_failed_write_fails_its_output_and_a_full_disk_stops_the_run(tmp_path: Path) -> None:
    queue, engine, events = _queue(tmp_path, shares_outputs=True)
    broken, full = _job(queue, 0), _job(queue, 1)
    for job in (broken, full):
        queue.submit_job(job)
    engine.calls[0][2].set_exception(ValueError("normal shape (3,) does not match"))
    engine.calls[1][2].set_exception(OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(OutputError, match="cannot write outputs \\(No space left on device\\); the run stopped"):
        queue.drain()
    failures = queue.reporter.summary.failures
    assert failures[0].endswith("skipped: write failed: normal shape (3,) does not match")
    assert "write failed: No space left on device" in failures[1]
    assert queue.manifest.records == {} and queue.pending == []
    assert len(events) == 2  # each failed output reported to the display once


def test_an_output_that_cannot_be_recorded_is_removed(tmp_path: Path) -> None:
    queue, engine, _ = _queue(tmp_path, shares_outputs=True)
    job = _job(queue, 0)
    path = queue.plan.config.output_dir / job.out.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"written by the worker")
    queue.manifest.path.mkdir(parents=True)  # the manifest cannot be opened
    queue.submit_job(job)
    engine.calls[0][2].set_result(Written(21, "sha256:w", 0.0))
    with pytest.raises(OutputError, match="cannot record outputs"):
        queue.drain()
    assert not path.exists()


class WaitedFuture(Future[Any]):
    """A write that finishes only when the queue waits for it (and says so)."""

    waited = False

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            self.waited = True
            self.set_result(Written(1, "sha256:w", 0.0))
        return super().result(timeout)


class WaitingEngine(HandEngine):
    def run(self, fn: Any, /, *args: Any) -> Future[Any]:
        future = WaitedFuture()
        self.calls.append((fn, args, future))
        return future


def _write(queue: WriteQueue, i: int, steps: int) -> WriteJob[Any]:
    """A member's write of ``steps`` CONUS-sized day slots (the values a broadcast: no memory)."""
    job = _job(queue, i % len(queue.plan.outputs))
    normal = np.broadcast_to(np.float32(0), (steps, 104, 240))
    task = WriteTask("unused.nc", normal, None, None, Encoding())  # type: ignore[arg-type]
    return WriteJob(write_output, task, job.out, job.record)


def test_small_writes_count_their_share_of_the_budget(tmp_path: Path) -> None:
    """A target's dozens of indicator and period normals stay in flight together; daily normals (36 MB at
    CONUS 0.25 deg) count whole: with a budget of 8, the ninth makes the queue wait for its oldest writes."""
    queue, _, _ = _queue(tmp_path, shares_outputs=True)
    engine = queue.executor = WaitingEngine(shares_outputs=True)
    for i in range(48):  # one step each: 1/16 of the budget
        queue.submit_job(_write(queue, i, 1))
    assert len(queue.pending) == 48 and not any(call[2].waited for call in engine.calls)
    for i in range(5):  # 365 steps: whole; 48/16 + 5 = 8, still within
        queue.submit_job(_write(queue, i, 365))
    assert not any(call[2].waited for call in engine.calls)
    queue.submit_job(_write(queue, 5, 365))  # 9 > 8: wait until the newest within half the budget are left
    waited = [call[2].waited for call in engine.calls]
    assert waited == [True] * 50 + [False] * 4 and len(queue.pending) == 4

"""The progress model and its renderings: counts come from events only, and duplicates never count twice."""

from __future__ import annotations

import io

from rich.console import Console

from climnorm.events import Failure, FileRead, NormalSkipped, NormalWritten, RunFinished, RunStarted, TaskStarted
from climnorm.progress import Tracker, TreeStats, render


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tracker() -> tuple[Tracker, Clock]:
    clock = Clock()
    tracker = Tracker(clock=clock)
    tracker.handle(
        RunStarted(
            model="SYNTH-ESM",
            variables=("tas", "pr"),
            scenarios=("historical", "ssp245"),
            regions=("CONUS", "AK"),
            files_total={"tas": 10, "pr": 4},
            normals_total={"tas": 20, "pr": 8},
        )
    )
    return tracker, clock


def test_counts_are_exact_and_retries_do_not_double_count() -> None:
    tracker, clock = _tracker()
    for i in range(3):
        tracker.handle(FileRead("tas", f"/a/tas_{i}.nc", 2**20, 0.5))
    tracker.handle(FileRead("tas", "/a/tas_1.nc", 2**20, 0.5))  # the same file again (a retried task)
    tracker.handle(NormalWritten("tas", "AK", "historical", "historical", 2000, "tas/AK/x.nc", 0.1))
    tracker.handle(NormalWritten("tas", "AK", "historical", "historical", 2000, "tas/AK/x.nc", 0.1))
    tracker.handle(NormalSkipped("pr", "AK", "ssp245", "future", 2050, "only 3 readable years"))
    tracker.handle(Failure("pr", "/a/pr_2.nc", "not a NetCDF or HDF5 file"))
    clock.now += 10
    totals = tracker.totals()
    assert totals.files_done == 3 and totals.files_total == 14
    assert totals.normals_done == 1 and totals.normals_total == 28
    assert totals.skipped == 1 and tracker.failures == ["/a/pr_2.nc: not a NetCDF or HDF5 file"]
    assert tracker.bytes_read == 3 * 2**20
    assert tracker.eta == 11 * 10 / 3
    line = tracker.counts_line()
    assert line.startswith("files 3/14, normals 1/28, skipped 1, failed 1, 0.3 files/s, 0 MB/s, elapsed 0:00:10")
    assert line.endswith("ETA 0:00:36")


def test_rich_view_renders_header_bars_and_statistics() -> None:
    tracker, clock = _tracker()
    tracker.handle(TaskStarted(4242, "tas", "tas_day_SYNTH-ESM_historical_r1i1p1f1_gn_1999.nc"))
    for i in range(5):
        tracker.handle(FileRead("tas", f"/a/tas_{i}.nc", 50 * 2**20, 0.5))
    tracker.handle(NormalWritten("pr", "CONUS", "ssp245", "hybrid", 2016, "pr/CONUS/y.nc", 0.1))
    tracker.handle(Failure("pr", "/a/pr_2.nc", "truncated or corrupt"))
    clock.now += 5
    stats = TreeStats(root_pid=0, cpu_percent=187.0, rss=3 * 2**30, peak_rss=4 * 2**30)
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    console.print(render(tracker, stats, workers=2))
    text = console.export_text()
    assert "model SYNTH-ESM · scenarios historical, ssp245 · regions CONUS, AK" in text
    tas = next(line for line in text.splitlines() if line.startswith("tas "))
    assert "files 5/10" in tas and "normals 0/20" in tas and "tas_day_SYNTH-ESM_historical" in tas
    pr = next(line for line in text.splitlines() if line.startswith("pr "))
    assert "files 0/4" in pr and "normals 1/8" in pr
    assert "files 5/14" in text and "normals 1/28" in text and "failures 1" in text
    assert "1.0 files/s" in text and "50 MB/s read" in text
    assert "CPU 187%" in text and "memory 3.00 GB (peak 4.00)" in text and "workers busy 1/2" in text
    assert "failed: /a/pr_2.nc: truncated or corrupt" in text
    assert "ETA 0:00:09" in text


def test_run_finished_is_recorded() -> None:
    tracker, _ = _tracker()
    tracker.handle(RunFinished(12.5, 1))
    assert tracker.finished == RunFinished(12.5, 1)


def test_tree_stats_sample_this_process() -> None:
    import os

    stats = TreeStats(os.getpid())
    stats.sample()
    assert stats.rss > 10 * 2**20 and stats.peak_rss >= stats.rss


class CountingStats(TreeStats):
    """Real tree sampling that also counts how often it walked the process tree."""

    walks: int = 0

    def sample(self) -> None:
        self.walks += 1
        super().sample()


def test_plain_display_walks_the_process_tree_at_most_once_a_second() -> None:
    """The plain display drains one event per call; sampling per event cost a core's quarter on big runs."""
    import os
    import queue
    import time

    from climnorm.progress.live import STOP, _drain

    events: queue.Queue[object] = queue.Queue()
    tracker, _ = _tracker()
    for i in range(3000):
        events.put(FileRead("tas", f"tas_{i}.nc", 1, 0.01))
    events.put(STOP)
    stats = CountingStats(os.getpid())
    start = time.monotonic()
    while not _drain(events, tracker, stats, interval=0.25, on_failure=None, once=True):
        pass
    elapsed = time.monotonic() - start
    assert events.empty() and tracker.totals().files_done == 3000
    assert 1 <= stats.walks <= elapsed + 1

"""The live view of a run: a Rich display (or plain log lines) of its tracker, in a process of its own.

Rendering is throttled, so it costs the run nothing measurable; Ctrl-C is the main process's to handle.
"""

from __future__ import annotations

import queue as queue_mod
import signal
import sys
import time
from collections.abc import Callable
from typing import IO, Any, Literal

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from climnorm.progress.monitor import TreeStats
from climnorm.progress.tracker import Tracker, clock_text

STOP = "__climnorm_progress_stop__"


def render(tracker: Tracker, stats: TreeStats | None = None, workers: int | None = None) -> RenderableType:
    """The live view: header, one bar per variable, statistics."""
    head = tracker.header
    title = Text("climnorm", style="bold")
    if head is not None:
        title.append(
            f"  model {head.model} · scenarios {', '.join(head.scenarios)} · regions {', '.join(head.regions)}"
        )
    bars = Table.grid(padding=(0, 1))
    for col in ("variable", "bar", "files", "normals", "now"):
        bars.add_column(col, no_wrap=True, overflow="ellipsis", max_width=36 if col == "now" else None)
    for name, v in tracker.variables.items():
        total = v.files_total + v.normals_total
        done = len(v.files) + len(v.normals)
        bars.add_row(
            Text(name, style="bold cyan"),
            ProgressBar(total=max(total, 1), completed=done, width=28),
            f"files {len(v.files)}/{v.files_total}",
            f"normals {len(v.normals)}/{v.normals_total}" + (f" (skipped {v.skipped})" if v.skipped else ""),
            Text(v.current, style="dim"),
        )
    elapsed = tracker.elapsed
    eta = tracker.eta
    totals = tracker.totals()
    stat = Table.grid(padding=(0, 2))
    first: list[str | Text] = [
        f"files {totals.files_done}/{totals.files_total}",
        f"normals {totals.normals_done}/{totals.normals_total}",
        Text(f"failures {len(tracker.failures)}", style="red" if tracker.failures else ""),
        f"elapsed {clock_text(elapsed)}",
        f"ETA {clock_text(eta) if eta is not None else '?'}",
    ]
    rate = totals.files_done / elapsed if elapsed > 0 else 0.0
    mbs = tracker.bytes_read / 2**20 / elapsed if elapsed > 0 else 0.0
    row: list[str | Text] = [f"{rate:.1f} files/s", f"{mbs:.0f} MB/s read"]
    if len(tracker.member_totals) > 1:
        first.insert(0, tracker.members_line())
        row.insert(0, "")
    stat.add_row(*first)
    if stats is not None:
        row += [
            f"CPU {stats.cpu_percent:.0f}%",
            f"memory {stats.rss / 2**30:.2f} GB (peak {stats.peak_rss / 2**30:.2f})",
        ]
    row.append(f"workers busy {len(tracker.busy)}" + (f"/{workers}" if workers else ""))
    stat.add_row(*row)
    parts: list[RenderableType] = [title, bars, Panel(stat, title="statistics", title_align="left")]
    for line in tracker.failures[-3:]:
        parts.append(Text(f"failed: {line}", style="red"))
    return Group(*parts)


def display_loop(
    events: Any,
    mode: Literal["rich", "plain"],
    root_pid: int,
    workers: int | None,
    interval: float,
    stream: IO[str] | None,
) -> None:
    """Body of the display process: drain events into a tracker and show it until the run ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the main process, which then stops us
    tracker = Tracker()
    stats = TreeStats(root_pid)
    out = stream or sys.stderr
    if mode == "rich":
        from rich.live import Live

        console = Console(file=out)
        with Live(
            console=console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=lambda: render(tracker, stats, workers),
        ) as live:
            _drain(events, tracker, stats, interval=0.25, on_failure=None)
            live.refresh()
        return
    last = 0.0

    def on_failure(line: str) -> None:
        print(f"climnorm: failed: {line}", file=out, flush=True)

    while True:
        stop = _drain(events, tracker, stats, interval=0.25, on_failure=on_failure, once=True)
        now = time.monotonic()
        if tracker.started is not None and (now - last >= interval or stop):
            last = now
            print(f"climnorm: progress: {tracker.counts_line()}", file=out, flush=True)
        if stop:
            return


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _drain(
    events: Any,
    tracker: Tracker,
    stats: TreeStats,
    *,
    interval: float,
    on_failure: Callable[[str], None] | None,
    once: bool = False,
) -> bool:
    """Feed queued events to the tracker; True once the run has finished (or the queue closed)."""
    while True:
        try:
            event = events.get(timeout=interval)
        except queue_mod.Empty:
            event = None
        except (EOFError, OSError):
            return True
        if isinstance(event, str) and event == STOP:
            return True
        if event is not None:
            before = len(tracker.failures)
            tracker.handle(event)
            if on_failure is not None and len(tracker.failures) > before:
                on_failure(tracker.failures[-1])
        stats.sample_if_due()
        if once:
            return False

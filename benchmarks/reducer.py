"""The reduction alone: pre-extracted years replayed through a chain's accumulator, to measure how many workers
one run's reduction keeps busy (file-years per second per core against one worker's file rate).

    python benchmarks/reducer.py                      # 0.25-degree grid, the five U.S. regions, 40 years
    python benchmarks/reducer.py --grid 1.0 --years 20 --window 10

One synthetic NEX-shaped file is written and read once with climnorm's own reader (`climnorm.read.extract.read_file`,
the worker's task: its CPU time is one worker's cost per file); its regional pieces are then replayed as
``--years`` consecutive years through `climnorm.runner.accumulate.ChainAccumulator` exactly as the scheduler feeds it
(each year handed over as a local worker hands it over, through a file in /dev/shm that the main process maps,
the files written before the clock starts so that the simulated workers' writing is not the reducer's time;
unit check, year assembly, window sums with the years kept or parked and dropped when they leave), and every
target's normals are taken (`ChainAccumulator.normals`, all five regions). The replay runs with 1 and 2 reducer
threads (``--threads``), with the window's years kept in memory (the run's default budget) and all parked on
disk; the bound is the number of workers whose reads the fastest reduction keeps up with. The series then paces
the replay as 1, 2, 8, 16 and 32 workers would deliver years (one every ``read_cpu / workers`` seconds) and says
how busy the reduction is and how far it falls behind.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from climnorm.catalog.filenames import parse_filename
from climnorm.config.model import parse_config
from climnorm.engines.local import _run_spilling, _unspill
from climnorm.plan.planned import OutputPlan
from climnorm.read.extract import read_file
from climnorm.read.orders import ReadTask
from climnorm.regions import BUILTIN_REGIONS
from climnorm.runner.accumulate import ChainAccumulator
from climnorm.runner.scratch import Scratch
from climnorm.synth import SynthSpec, file_path, write_year
from climnorm.types import FileResult, Member, Target

REGIONS = ("CONUS", "AK", "HI", "PRVI", "GU")


def one_file(directory: Path, grid: float, year: int) -> tuple[Path, SynthSpec]:
    """A NEX-shaped tas file of ``year`` on the global grid of ``grid`` degrees (written once, then reused)."""
    spec = SynthSpec(variables=("tas",), historical_years=(year, year), resolution=grid, holes=0.0)
    path = file_path(directory, spec, "tas", "historical", year)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_year(path, spec, "tas", "historical", year)
    return path, spec


def worker_seconds(path: Path, year: int, repeat: int) -> tuple[float, FileResult]:
    """CPU seconds of one worker's read task (the fastest of ``repeat``), and its result."""
    task = ReadTask(str(path), "tas", tuple(BUILTIN_REGIONS[r] for r in REGIONS), "calendar_day", (year,))
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = read_file(task)
        best = min(best, time.process_time() - start)
    assert result is not None
    return best, result


def replay(
    result: FileResult,
    path: Path,
    years: int,
    window: int,
    threads: int,
    scratch_dir: Path,
    memory_bytes: int = 0,
    pace: float = 0.0,
) -> dict[str, Any]:
    """Feed ``years`` copies of one file's result through a chain's accumulator; CPU and wall per file-year.

    ``memory_bytes``: the scratch's budget for window years kept in memory (0: every year parked on disk).
    ``pace`` > 0: year ``i`` arrives ``i * pace`` seconds after the start (as the reads of ``read_cpu / pace``
    workers would), and the reduction waits for it; the result then says how far behind the arrivals it ended."""
    first = 2000
    config = parse_config(
        {
            "input_dirs": ["."],
            "variables": ["tas"],
            "regions": list(REGIONS),
            "window_years": window,
            "min_years_for_normal": max(1, window - 5),
        }
    )
    entry = parse_filename(path)
    assert entry is not None
    (only,) = {y for y, _ in result.pieces}
    member = Member("SYNTH-ESM", "r1i1p1f1")
    pool = ThreadPoolExecutor(threads, thread_name_prefix="reduce") if threads > 1 else None
    lag = 0.0
    shm = Path("/dev/shm")
    with (
        Scratch(scratch_dir, memory_bytes=memory_bytes) as scratch,
        tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as handoff,
    ):
        acc = ChainAccumulator("tas", config, scratch.park, pool)
        add_cpu = add_wall = normal_cpu = normal_wall = 0.0
        normals = 0
        sent = {  # the workers' hand-offs, written before the clock starts: a worker's time is not the reducer's
            y: _run_spilling(
                str(handoff),
                replace,
                result,
                pieces={(y, region): piece for (_, region), piece in result.pieces.items()},
                path=f"{result.path}#{y}",
            )
            for y in range(first, first + years)
        }
        begin = time.perf_counter()
        for y in range(first, first + years):
            arrival = begin + (y - first) * pace
            if pace:
                lag = max(lag, time.perf_counter() - arrival)
                time.sleep(max(0.0, arrival - time.perf_counter()))
            t, c = time.perf_counter(), time.process_time()
            one = _unspill(sent.pop(y))  # what the run's main process receives from a local worker
            problems = acc.add_year("historical", y, [(replace(entry, path=Path(one.path)), one)])
            add_wall += time.perf_counter() - t
            add_cpu += time.process_time() - c
            assert not [p for p in problems if p.level != "notice"], problems
            if y - first + 1 >= window:
                wanted = tuple(range(y - window + 1, y + 1))
                target = Target(member, "tas", "historical", "historical", y, wanted, wanted, (), window)
                outs = [
                    OutputPlan(target, BUILTIN_REGIONS[r], f"{r}-{y}.nc", (), "", False, "daily", wanted)
                    for r in REGIONS
                ]
                t, c = time.perf_counter(), time.process_time()
                made = list(acc.normals(outs))
                normal_wall += time.perf_counter() - t
                normal_cpu += time.process_time() - c
                normals += len(made)
        behind = time.perf_counter() - (begin + (years - 1) * pace) if pace else 0.0
        del only
    if pool is not None:
        pool.shutdown()
    return {
        "threads": threads,
        "window_years_in_memory": memory_bytes > 0,
        "pace_s": pace,
        "lag_s": lag,
        "behind_at_end_s": behind,
        "file_years": years,
        "normals": normals,
        "add_cpu_s_per_year": add_cpu / years,
        "add_wall_s_per_year": add_wall / years,
        "normals_cpu_s_per_year": normal_cpu / years,
        "normals_wall_s_per_year": normal_wall / years,
        "wall_s_per_year": (add_wall + normal_wall) / years,
        "cpu_s_per_year": (add_cpu + normal_cpu) / years,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", type=float, default=0.25)
    p.add_argument("--years", type=int, default=40)
    p.add_argument("--window", type=int, default=30)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=3, help="replays of each row; the fastest counts")
    p.add_argument("--series", type=int, nargs="*", default=[8, 16, 32], help="workers simulated by a paced replay")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "climnorm-bench-reducer")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    path, _ = one_file(args.dir, args.grid, 2000)
    read_cpu, result = worker_seconds(path, 2000, 3)
    cells = sum(piece.values[0].size for piece in result.pieces.values())
    field_mb = sum(piece.values.nbytes for piece in result.pieces.values()) / 1e6
    memory = int(2 * args.window * field_mb * 1e6)  # room for the window: what the run's default budget gives here
    where = f"grid {args.grid} deg, regions {', '.join(REGIONS)}"
    print(f"{where}: {cells:,} cells x {args.years} years ({field_mb:.0f} MB per year), window {args.window}")
    print(f"one worker's read task: {read_cpu:.3f} CPU s per file ({1 / read_cpu:.2f} files/s)")
    for budget in (memory, 0):  # warm-up (the scratch file's first slots, the allocator's arenas), not counted
        replay(result, path, args.window + 2, args.window, max(args.threads), args.dir, budget)
    rows = [  # the fastest of --repeat replays counts, as for the contenders of benchmarks/run.py
        min(
            (replay(result, path, args.years, args.window, t, args.dir, budget) for _ in range(args.repeat)),
            key=lambda r: r["wall_s_per_year"],
        )
        for budget in (memory, 0)
        for t in args.threads
    ]
    for r in rows:
        rate = 1.0 / r["wall_s_per_year"]
        r["file_years_per_s"] = rate
        r["file_years_per_cpu_s"] = 1.0 / r["cpu_s_per_year"]
        r["workers_kept_busy"] = rate * read_cpu
        kept = "in memory" if r["window_years_in_memory"] else "on disk  "
        print(
            f"reduction, years {kept}, {r['threads']} thread(s): {r['wall_s_per_year'] * 1000:6.1f} ms wall, "
            f"{r['cpu_s_per_year'] * 1000:6.1f} ms CPU per file-year (add {r['add_wall_s_per_year'] * 1000:.1f}, "
            f"normals {r['normals_wall_s_per_year'] * 1000:.1f}); {rate:5.1f} file-years/s = the reads of "
            f"{r['workers_kept_busy']:5.1f} workers"
        )
    best = max(rows, key=lambda r: r["file_years_per_s"])
    per_core = max(r["file_years_per_cpu_s"] for r in rows)
    print(f"per core: {per_core:.1f} file-years per CPU second = {per_core * read_cpu:.1f} workers' reads per core")
    print(f"bound (fastest measured reduction): {best['workers_kept_busy']:.1f} workers")
    series = []
    for workers in (1, 2, *args.series):
        pace = read_cpu / workers
        r = replay(result, path, args.years, args.window, best["threads"], args.dir, memory, pace)
        busy = r["wall_s_per_year"] / pace
        series.append({"workers": workers, **r, "busy": busy})
        print(
            f"  {workers:>2} workers (a year every {pace * 1000:6.1f} ms): reduction busy {100 * busy:5.1f} % of the "
            f"time, at most {r['lag_s'] * 1000:6.1f} ms behind an arrival, {r['behind_at_end_s'] * 1000:6.1f} ms "
            f"after the last one"
        )
    if args.json:
        figures = {"read_cpu_s": read_cpu, "cells": cells, "rows": rows, "series": series}
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

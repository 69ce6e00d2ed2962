"""What the climate indicators cost on top of the daily normals, on the real 0.25-degree grid.

    python benchmarks/indicators.py                        # tasmax + pr, 2007-2014, the five regions, 2 workers
    python benchmarks/indicators.py --grid 1.0 --archive /tmp/nex1 --no-profile   # a quick look

Three ``climnorm run`` jobs on the same archive (window 4, targets 2010-2014), each a measured subprocess,
alternated round-robin ``--repeat`` times (the fastest counts): ``daily``; ``daily + periods + indicators`` (the
monthly, seasonal and annual products and every tasmax/pr index without a base period: the issue's job);
``... + percentile indices`` (tx90p, tx10p, days_over_precip_doy_thresh over a base period, whose first pass
re-reads the base years and is reported apart). The daily normals must be bit-identical across jobs.
The last line printed is the ratio line; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import profiling
from harness import PYTHON, REGIONS, ArchiveSpec, Measurement

VARIABLES = ("tasmax", "pr")
PERIOD_PRODUCTS = ["daily", "monthly", "seasonal", "annual"]
#: every index of tasmax and pr that needs no base period
INDICATORS: list[dict[str, Any]] = [
    {"index": "tx_days_above", "id": "tx_ge_90F", "thresh": "90 degF", "op": ">="},
    {"index": "tx_days_below"},
    {"index": "ice_days"},
    {"index": "tx_max"},
    {"index": "tx_min"},
    {"index": "wetdays", "thresh": "0.01 in/day"},
    {"index": "dry_days"},
    {"index": "max_1day_precipitation_amount"},
    {"index": "max_n_day_precipitation_amount", "id": "rx5day", "window": 5},
    {"index": "prcptot"},
    {"index": "wet_precip_accumulation"},
]
PERCENTILE_INDICES = ("tx90p", "tx10p", "days_over_precip_doy_thresh")
WINDOW_STATISTICS = ["mean", "std", "p10", "p90"]
INDICATOR_MODULES = ("climnorm/products/indicators.py", "climnorm/numerics/indicators.py")

# the console's summary line and the run log's line of the first pass (climnorm.cli.tables, runner.thresholds)
_PASS_STDOUT = re.compile(r"first pass over their base periods read (\d+) files in ([0-9.,]+) s")
_PASS_LOG = re.compile(
    r"percentile thresholds: (\d+) base year\(s\) of (\d+) chain\(s\) read \((\d+) files\) in ([0-9.]+) s"
)
_FINISHED = re.compile(r"run finished in ([0-9.]+) s")


@dataclass
class Contender:
    """One job of the comparison and its measured runs."""

    label: str
    config: dict[str, Any]
    runs: list[Measurement] = field(default_factory=list)

    @property
    def best(self) -> Measurement:
        ok = [m for m in self.runs if m.ok] or self.runs
        return min(ok, key=lambda m: m.wall)


def contenders(args: argparse.Namespace) -> list[Contender]:
    """The three jobs, each a superset of the one before (and with ``--breakdown`` the second's parts)."""
    first, last = args.years
    targets = [first + args.window - 1, last]
    base: dict[str, Any] = {
        "input_dirs": [str(args.archive)],
        "variables": list(VARIABLES),
        "regions": list(REGIONS),
        "scenarios": ["historical"],
        "window_years": args.window,
        "min_years_for_normal": args.min_years,
        "historical_end": last,
        "periods": {"historical": targets},
        "multiprocessing_workers": args.workers,
        "products": ["daily"],
    }
    periods = {**base, "products": PERIOD_PRODUCTS, "indicators": INDICATORS}
    bp = list(args.base_period)
    percentiles = {**periods, "indicators": INDICATORS + [{"index": i, "base_period": bp} for i in PERCENTILE_INDICES]}
    main = [
        Contender("daily", base),
        Contender("daily + periods + indicators", periods),
        Contender("... + percentile indices", percentiles),
    ]
    if not args.breakdown:
        return main
    stats = {"window_statistics": WINDOW_STATISTICS}
    return [  # contender 2's parts, each on its own, and with window statistics
        *main,
        Contender("daily + periods", {**base, "products": PERIOD_PRODUCTS}),
        Contender("daily + indicators", {**base, "indicators": INDICATORS}),
        Contender("daily + periods + indicators + stats", {**periods, **stats}),
    ]


def command(config: Path, workers: int) -> list[str]:
    """``climnorm run CONFIG`` as run.py runs it."""
    run = ["run", str(config), "--progress", "none", "--force", "--workers", str(workers)]
    return [PYTHON, "-m", "climnorm.cli", *run]


def write_config(config: dict[str, Any], out_dir: Path, workers: int | None = None) -> Path:
    cfg = {**config, "output_dir": str(out_dir)}
    if workers is not None:
        cfg["multiprocessing_workers"] = workers
    path = out_dir.with_suffix(".yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
    return path


def first_pass(stdout: str, out_dir: Path) -> dict[str, Any] | None:
    """The percentile thresholds' first pass as the run reported it: the run log's line, else the console's."""
    for log in sorted((out_dir / "logs").glob("*.log")):
        found = _PASS_LOG.search(log.read_text(errors="replace"))
        if found:
            return {"years": int(found[1]), "chains": int(found[2]), "files": int(found[3]), "seconds": float(found[4])}
    found = _PASS_STDOUT.search(stdout)
    if found:
        return {"files": int(found[1]), "seconds": float(found[2].replace(",", ""))}
    return None


def outputs_of(out_dir: Path) -> tuple[Counter[str], dict[str, str | None]]:
    """Outputs written per product, and the daily normals' data checksums by variable/region/target."""
    try:
        records = harness.manifest_records(out_dir)
    except (OSError, ValueError, KeyError):
        return Counter(), {}
    products = Counter(str(r.get("product", "daily")) for r in records)
    daily = {
        f"{r['variable']}/{r['region']}/{r['target_year']}": r.get("checksum")
        for r in records
        if r.get("product", "daily") == "daily"
    }
    return products, daily


def settle(limit: float, busy: float = 0.15) -> float:
    """Wait (at most ``limit`` s) until the machine is less than ``busy`` busy over 2 s; returns the seconds
    waited (other people's jobs on a shared machine)."""
    start = time.perf_counter()
    while psutil.cpu_percent(interval=2.0) / 100 >= busy and time.perf_counter() - start < limit:
        pass
    return time.perf_counter() - start


def run_once(c: Contender, n: int, out: Path, workers: int, wait: float = 0.0) -> Measurement:
    """One measured ``climnorm run`` of a contender (after waiting up to ``wait`` s for a quiet machine); its
    outputs are dropped, the manifest kept."""
    waited = settle(wait) if wait > 0 else 0.0
    slug = re.sub(r"[^a-z0-9]+", "-", c.label.lower()).strip("-")
    out_dir = out / "outputs" / f"{n:02d}-{slug}"
    shutil.rmtree(out_dir, ignore_errors=True)
    cfg = write_config(c.config, out_dir)
    log = out / "logs" / f"{n:02d}-{slug}.log"
    m = harness.measure(c.label, command(cfg, workers), log, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    stdout = log.read_text(errors="replace")
    products, daily = outputs_of(out_dir)
    finished = _FINISHED.search(stdout)
    m.extra |= {
        "written": sum(products.values()),
        "by_product": dict(products),
        "daily_checksums": daily,
        "first_pass": first_pass(stdout, out_dir),
        "climnorm_seconds": float(finished[1]) if finished else None,
        "waited_for_quiet": waited,
    }
    if (out_dir / "manifest.sqlite").exists():
        shutil.copy(out_dir / "manifest.sqlite", out / "logs" / f"{n:02d}-{slug}.manifest.sqlite")
    for run_log in (out_dir / "logs").glob("*.log"):
        shutil.copy(run_log, out / "logs" / f"{n:02d}-{slug}.{run_log.name}")
    shutil.rmtree(out_dir, ignore_errors=True)
    if m.cpu < 0.95 * m.extra["cpu_sampled"]:
        print(f"  !! {c.label}: kernel CPU accounting {m.cpu:.1f} s < sampled {m.extra['cpu_sampled']:.1f} s")
    status = "" if m.ok else f"  FAILED (exit {m.returncode}, see {log})"
    print(
        f"  {c.label:<30} wall {m.wall:7.1f} s  cpu {m.cpu:7.1f} s  peak tree RSS {m.peak_rss / 2**20:6.0f} MB  "
        f"outputs {m.extra['written']:4d}  load {m.load_before[0]:.1f}->{m.load_after[0]:.1f}  foreign CPU "
        f"{m.foreign_cpu:.1f} s{f'  (waited {waited:.0f} s for quiet)' if waited > 2.5 else ''}{status}",
        flush=True,
    )
    return m


def check_daily(entries: list[Contender]) -> dict[str, Any]:
    """Whether every run of every contender wrote the same daily normals (the manifests' data checksums)."""
    reference = entries[0].best.extra["daily_checksums"]
    differ: dict[str, list[str]] = defaultdict(list)
    for c in entries:
        for i, m in enumerate(c.runs):
            have = m.extra["daily_checksums"]
            for key in sorted(set(reference) | set(have)):
                if have.get(key) != reference.get(key):
                    differ[f"{c.label} run {i + 1}"].append(key)
    same = not differ and bool(reference) and None not in reference.values()
    return {
        "daily_outputs": len(reference),
        "runs": sum(len(c.runs) for c in entries),
        "identical": same,
        "differ": differ,
    }


# ---------------------------------------------------------------------------------------------------- profile
#: (stage, path fragment), tried at each frame from the innermost out before profiling.RULES
STAGE_RULES: list[tuple[str, str]] = [
    ("indicators (per-year index values)", "climnorm/numerics/indicators.py"),
    ("indicators (per-year index values)", "climnorm/products/indicators.py"),
    ("period products (monthly, seasonal, annual)", "climnorm/numerics/periods.py"),
    ("percentile thresholds (first pass)", "climnorm/numerics/percentiles.py"),
    ("percentile thresholds (first pass)", "climnorm/runner/thresholds.py"),
    ("window statistics (std, p10, p90)", "climnorm/numerics/ensemble.py"),
    ("window sums, day slots", "climnorm/numerics/sums.py"),
    ("window sums, day slots", "climnorm/numerics/_kernels.py"),
    ("window sums, day slots", "climnorm/numerics/days.py"),
    ("writing outputs (netCDF4 + zlib, checksums)", "climnorm/write/"),
    ("writing outputs (netCDF4 + zlib, checksums)", "climnorm/_atomic.py"),
]
STARTUP = "start-up: imports, numba JIT"


@dataclass
class MainProfile:
    """py-spy samples of the main process (the reducer), busy only, sorted out for the indicator code."""

    busy: int = 0
    waiting: int = 0
    indicators: int = 0  # samples with an indicator-module frame anywhere on the stack
    inclusive: Counter[str] = field(default_factory=Counter)  # per indicator function, anywhere on the stack
    innermost: Counter[str] = field(default_factory=Counter)  # per innermost indicator function
    leaves: Counter[str] = field(default_factory=Counter)  # leaf frame of the indicator samples
    areas: Counter[str] = field(default_factory=Counter)  # the main process's busy samples by module


@dataclass
class Profile:
    """One py-spy recording: busy samples by stage in the main process and in the workers, and the main
    process's indicator detail."""

    label: str
    wall: float
    rate: int
    raw: str
    main: Counter[str] = field(default_factory=Counter)
    workers: Counter[str] = field(default_factory=Counter)
    detail: MainProfile = field(default_factory=MainProfile)

    def to_json(self) -> dict[str, Any]:
        detail = {k: dict(v) if isinstance(v, Counter) else v for k, v in vars(self.detail).items()}
        return {**{k: v for k, v in vars(self).items() if k != "detail"}, "detail": detail}


def _frame(text: str) -> tuple[str, str, int] | None:
    m = profiling._FRAME.match(text.strip())
    return (m["func"], m["file"], int(m["line"])) if m else None


def _area(frames: list[tuple[str, str, int]]) -> str:
    """The climnorm module of the innermost climnorm frame (numpy's time goes to its caller)."""
    for _, file, _ in reversed(frames):
        if "climnorm/" in file:
            return file.split("climnorm/", 1)[1].removesuffix(".py").replace("/", ".")
    return frames[-1][1].rsplit("/", 1)[-1] if frames else "?"


def stage(stack: list[str]) -> str:
    """The stage of one sample: STAGE_RULES, then profiling.py's rules, innermost frame first."""
    if any("importlib" in f or "numba/" in f or "llvmlite/" in f for f in stack):
        return STARTUP
    for frame in reversed(stack):
        for name, fragment in STAGE_RULES:
            if fragment in frame:
                return name
        found = profiling.classify([frame])
        if found != "other":
            return found
    return "other"


_PROCESS = re.compile(r'process (\d+):"([^"]*)";')
_COUNT = re.compile(r" (\d+)$")


def samples(raw: Path) -> Iterator[tuple[int, list[str], int]]:
    """(the sampled process's depth in the process tree: 0 for the root, its Python frames root first, count) of
    each stack of a ``py-spy record --subprocesses --format raw`` file: a child's stack starts with its ancestors'
    process frames, and a command line may hold newlines (the forkserver's) or be empty."""
    pending = ""
    for line in raw.read_text().splitlines():
        pending += line
        found = _COUNT.search(pending)
        if not found:
            pending += "\n"
            continue
        stack, pending = pending[: found.start()], ""
        procs = list(_PROCESS.finditer(stack))
        if procs:
            yield len(procs) - 1, stack[procs[-1].end() :].split(";"), int(found[1])


def _indicator_detail(out: MainProfile, stack: list[str], count: int) -> None:
    frames = [f for f in map(_frame, stack) if f]
    out.busy += count
    out.areas[_area(frames)] += count
    mine = [f"{fn} ({file.rsplit('climnorm/', 1)[-1]})" for fn, file, _ in frames if file.endswith(INDICATOR_MODULES)]
    if not mine:
        return
    out.indicators += count
    for name in dict.fromkeys(mine):
        out.inclusive[name] += count
    out.innermost[mine[-1]] += count
    func, file, line_no = frames[-1]
    out.leaves[f"{func} ({file.rsplit('/', 1)[-1]}:{line_no})"] += count


def read_profile(raw: Path, label: str = "", wall: float = 0.0, rate: int = 100) -> Profile:
    """Sort the samples of a ``py-spy record --subprocesses --format raw`` file of a climnorm run."""
    out = Profile(label, wall, rate, str(raw))
    for depth, stack, count in samples(raw):
        main = depth == 0  # the climnorm run itself; else the forkserver or a worker
        where = stage(stack)
        (out.main if main else out.workers)[where] += count
        if main and where == profiling.WAITING:
            out.detail.waiting += count
        elif main:
            _indicator_detail(out.detail, stack, count)
    return out


def profile(args: argparse.Namespace, c: Contender, n: int) -> Profile | None:
    """py-spy of one contender with 1 worker."""
    slug = f"profile-{n}"
    out_dir = args.out / "outputs" / slug
    shutil.rmtree(out_dir, ignore_errors=True)
    raw = args.out / f"{slug}.txt"
    cmd = [args.spy, "record", "--subprocesses", "--rate", str(args.rate), "--format", "raw", "-o", str(raw), "--"]
    cmd += command(write_config(c.config, out_dir, workers=1), 1)
    print(f"  {c.label}: py-spy record --subprocesses --rate {args.rate}, 1 worker", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    (args.out / "logs" / f"{slug}.log").write_text(done.stdout + done.stderr)
    shutil.rmtree(out_dir, ignore_errors=True)
    if not raw.exists():
        print("  py-spy wrote nothing (ptrace not permitted?)")
        return None
    return read_profile(raw, c.label, wall, args.rate)


def stage_lines(profiles: list[Profile]) -> list[str]:
    """Busy CPU seconds by stage, main process and workers, of each profiled contender; the last column the
    second's minus the first's."""
    stages = Counter[str]()
    for p in profiles:
        stages.update({k: v for k, v in (p.main + p.workers).items() if k != profiling.WAITING})
    head = "".join(f" {'main':>6} {'workers':>7}" for _ in profiles)
    names = "  ".join(f"[{i + 1}] {p.label} ({p.wall:.0f} s)" for i, p in enumerate(profiles))
    lines = [f"busy CPU s by stage, 1 worker under py-spy: {names}", f"  {'stage':<46}{head} {'[2]-[1]':>8}"]
    for name, _ in stages.most_common():
        row = "".join(f" {p.main[name] / p.rate:6.1f} {p.workers[name] / p.rate:7.1f}" for p in profiles)
        delta = [(p.main[name] + p.workers[name]) / p.rate for p in profiles[:2]]
        lines.append(f"  {name:<46}{row} {delta[-1] - delta[0]:8.1f}")
    total = "".join(
        f" {sum(v for k, v in p.main.items() if k != profiling.WAITING) / p.rate:6.1f}"
        f" {sum(v for k, v in p.workers.items() if k != profiling.WAITING) / p.rate:7.1f}"
        for p in profiles
    )
    return [*lines, f"  {'total busy':<46}{total}"]


def detail_lines(p: Profile) -> list[str]:
    """Where the main process of one profiled run spends its time, and on which indicator functions."""
    d = p.detail
    busy = d.busy or 1

    def rows(counter: Counter[str], k: int) -> list[str]:
        return [f"    {name:<60} {100 * n / busy:5.1f} %" for name, n in counter.most_common(k)]

    return [
        f"main process of {p.label!r} (the reducer, all its threads): {d.busy / p.rate:.1f} s busy, "
        f"{d.waiting / p.rate:.1f} s waiting; the indicator code (products.indicators + numerics.indicators) "
        f"{100 * d.indicators / busy:.1f} % of the busy time ({d.indicators / p.rate:.1f} s)",
        "  by innermost climnorm module:",
        *rows(d.areas, 10),
        "  indicator functions, inclusive (anywhere on the stack):",
        *rows(d.inclusive, 10),
        "  indicator functions, innermost (their own time and numpy's under them):",
        *rows(d.innermost, 10),
        "  leaf frames of the indicator samples:",
        *rows(d.leaves, 10),
    ]


def profiles(args: argparse.Namespace, entries: list[Contender]) -> tuple[list[Profile], list[str]]:
    """Profile the contenders (1 worker each), print the stage table and the indicator detail."""
    args.spy = args.py_spy or shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(args.spy).exists():
        print("py-spy not found (--py-spy PATH); no profile")
        return [], []
    print("\n== profiles")
    done = [p for i, c in enumerate(entries, start=1) if (p := profile(args, c, i)) is not None]
    lines = stage_lines(done) if done else []
    if len(done) > 1:
        lines += detail_lines(done[1])
    for line in lines:
        print(line)
    return done, lines


# ---------------------------------------------------------------------------------------------------- report
def table(entries: list[Contender]) -> list[str]:
    lines = [
        f"{'contender':<30} {'wall s':>7} {'CPU s':>7} {'CPU/wall':>8} {'peak RSS MB':>11} {'max proc MB':>11} "
        f"{'outputs':>7} {'load before->after':>18} {'foreign CPU s':>13} {'x daily':>7}",
    ]
    daily = entries[0].best.wall
    for c in entries:
        m = c.best
        load = f"{m.load_before[0]:.2f}->{m.load_after[0]:.2f}"
        lines.append(
            f"{c.label:<30} {m.wall:7.1f} {m.cpu:7.1f} {m.cpu / m.wall:8.2f} {m.peak_rss / 2**20:11,.0f} "
            f"{m.peak_rss_single / 2**20:11,.0f} {m.extra['written']:7d} {load:>18} {m.foreign_cpu:13.1f} "
            f"{m.wall / daily:7.2f}{'' if m.ok else '  FAILED'}"
        )
    return lines


def ratio_line(entries: list[Contender]) -> str:
    daily, ind, pct = (c.best for c in entries[:3])
    fp = pct.extra.get("first_pass") or {}
    passed = f"{fp['seconds']:.1f} s ({fp['files']} files)" if fp else "n/a"
    return (
        f"ratios: indicators/daily={ind.wall / daily.wall:.2f} (target <= 1.25) percentile_pass={passed} "
        f"percentiles/indicators={pct.wall / ind.wall:.2f}"
    )


def prepare(args: argparse.Namespace) -> tuple[list[str], int, int, bool]:
    """The archive (written once), its sizes, and the page cache warmed when the inputs fit."""
    first, last = args.years
    files = harness.ensure_archive(args.archive, ArchiveSpec(args.grid, first, last, VARIABLES), args.workers)
    inputs = [files[v][y] for v in VARIABLES for y in range(first, last + 1)]
    disk, raw = harness.file_sizes(inputs, {files[v][y]: v for v in VARIABLES for y in range(first, last + 1)})
    cached = disk < 0.6 * psutil.virtual_memory().available
    warm = harness.warm_cache(inputs) if cached else None
    print(
        f"archive {args.archive}: {args.grid:g} deg, {len(inputs)} files {first}-{last}, {disk / 2**20:,.0f} MB on "
        f"disk, {raw / 2**20:,.0f} MB decompressed; "
        + (f"page cache warmed in {warm:.1f} s" if cached else "larger than 60% of free memory: not cached"),
        flush=True,
    )
    return inputs, disk, raw, cached


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", type=Path, help="archive folder, reused (default /tmp/climnorm-bench-archive-<grid>)")
    p.add_argument("--out", type=Path, help="results folder (default /tmp/climnorm-bench-indicators-<time>)")
    p.add_argument("--grid", type=float, default=0.25, help="grid spacing in degrees (default 0.25, the real grid)")
    p.add_argument("--years", type=int, nargs=2, default=[2007, 2014], help="first and last file-year")
    p.add_argument("--window", type=int, default=4, help="window_years (default 4: targets 2010-2014)")
    p.add_argument("--min-years", type=int, default=3, help="min_years_for_normal (default 3)")
    p.add_argument("--base-period", type=int, nargs=2, default=[2007, 2010], help="of the percentile indices")
    p.add_argument("--workers", type=int, default=2, help="processes of every contender (default 2)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each contender, round-robin; the fastest counts")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--profile", action="store_true", default=True, help="py-spy of each contender (default)")
    prof.add_argument("--no-profile", action="store_false", dest="profile")
    p.add_argument("--py-spy", help="the py-spy executable (default: on PATH or beside python)")
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second (default 100)")
    p.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="before each run wait up to this many seconds for the machine to be under 15%% busy (default 60)",
    )
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also run contender 2's parts alone (periods, indicators) and contender 2 with window statistics "
        "(mean, std, p10, p90)",
    )
    p.add_argument("--prepare-only", action="store_true", help="write the archive, then stop")
    args = p.parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.archive = (args.archive or Path(f"/tmp/climnorm-bench-archive-{args.grid:g}")).absolute()
    args.out = (args.out or Path(f"/tmp/climnorm-bench-indicators-{stamp}")).absolute()
    if args.years[1] - args.years[0] + 1 < args.window:
        p.error(f"--window {args.window} is longer than --years {args.years}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    info = harness.machine_info()
    print(f"climnorm indicators benchmark: {info['cpu']}, {info['cores']} cores; results in {args.out}", flush=True)
    inputs, disk, raw, cached = prepare(args)
    if args.prepare_only:
        return 0
    entries = contenders(args)
    print(f"\n== {len(entries)} contenders x{args.repeat}, round-robin, {args.workers} workers, fastest counts")
    n = 0
    for _ in range(max(1, args.repeat)):
        for c in entries:
            n += 1
            c.runs.append(run_once(c, n, args.out, args.workers, args.settle))
    check = check_daily(entries)
    print(f"  check daily normals bit-identical across all {check['runs']} runs: {check}")
    prof, prof_lines = profiles(args, entries[:3]) if args.profile else ([], [])
    loads = [v for c in entries for m in c.runs for v in (m.load_before[0], m.load_after[0])]
    foreign = [m.foreign_cpu / m.wall for c in entries for m in c.runs if m.wall]
    passes = [m.extra.get("first_pass") for m in entries[2].runs]
    lines = table(entries)
    results = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "archive": {"path": str(args.archive), "grid": args.grid, "years": args.years, "variables": VARIABLES},
        "inputs": {"files": len(inputs), "bytes_on_disk": disk, "bytes_decompressed": raw, "page_cache_warm": cached},
        "contenders": [
            {"label": c.label, "config": c.config, "best": asdict(c.best), "runs": [asdict(m) for m in c.runs]}
            for c in entries
        ],
        "daily_check": check,
        "first_pass_runs": passes,
        "profiles": [p.to_json() for p in prof],
        "profile_lines": prof_lines,
        "load": {"min": min(loads), "max": max(loads), "median": statistics.median(loads)},
        "foreign_cpu_share": {"min": min(foreign), "max": max(foreign), "median": statistics.median(foreign)},
        "cpu_ratios": {
            "indicators/daily": entries[1].best.cpu / entries[0].best.cpu,
            "percentiles/indicators": entries[2].best.cpu / entries[1].best.cpu,
        },
        "table": lines,
        "ratios": ratio_line(entries),
        "seconds": time.perf_counter() - start,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    shutil.rmtree(args.out / "outputs", ignore_errors=True)
    print(
        f"\n== results ({len(inputs)} input files, {raw / 2**20:,.0f} MB decompressed, {args.workers} workers; load "
        f"1-min {min(loads):.2f}-{max(loads):.2f}, other users' CPU {100 * statistics.median(foreign):.0f}% of a core "
        f"(median, max {100 * max(foreign):.0f}%); CPU ratio indicators/daily "
        f"{results['cpu_ratios']['indicators/daily']:.2f}; first pass per run: "
        + ", ".join(f"{p['seconds']:.1f} s" if p else "n/a" for p in passes)
        + f"; daily normals identical: {check['identical']}; {args.out}/results.json)"
    )
    for line in lines:
        print(line)
    print(results["ratios"])
    return 0 if all(m.ok for c in entries for m in c.runs) and check["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())

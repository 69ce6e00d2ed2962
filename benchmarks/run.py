"""climnorm against the seed's algorithm, CDO and the read floor, on a NEX-shaped synthetic archive.

    python benchmarks/run.py --quick                      # 1-degree grid, ~6 minutes on 2 cores
    python benchmarks/run.py --full --archive /tmp/nex    # 0.25-degree grid, 50 file-years (made once, reused)

Every contender computes the same normals (every variable x the five regions x the same target years, the
mean of the window's years by day of the year) with the same number of processes, in a subprocess whose whole
process tree is measured: wall time, CPU time (kernel accounting of every reaped descendant), peak resident
memory (psutil samples of the tree every 50 ms). Contenders run back to back; the cheap ones are repeated
round-robin and the fastest run counts. Results go to ``--out`` (results.json, results.md, logs, outputs);
the last line printed is the ratio line. See benchmarks/README.md.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import profiling
from harness import HERE, PYTHON, REGIONS, ArchiveSpec, Job, Measurement

LAST_YEAR = 2014
SEED_BATCH = 2  # batch_size_years of the seed (baselines/seed.py)

PRESETS: dict[str, dict[str, Any]] = {
    # 1-degree grid (150 x 360), 40 file-years; main job: 20 years, 10-year window -> 11 targets x 5 regions
    "quick": {
        "grid": 1.0,
        "archive_years": 40,
        "years": 20,
        "window": 10,
        "repeat": 3,
        "scaling_repeat": 2,
        "seed_limit": -1,
        "cdo_naive_limit": -1,
        "years_series": [10, 20, 40],
        "series_window": 10,
        "windows": [10, 20, 40],
        "profile": False,
    },
    # the real grid (600 x 1440), 50 file-years; main job: 40 years, 30-year window -> 11 targets x 5 regions
    "full": {
        "grid": 0.25,
        "archive_years": 50,
        "years": 40,
        "window": 30,
        "repeat": 2,
        "scaling_repeat": 1,
        "seed_limit": -1,
        "cdo_naive_limit": 2,
        "years_series": [12, 25, 50],
        "series_window": 10,
        "windows": [10, 30, 50],
        "profile": True,
    },
}


@dataclass
class Entry:
    """One contender's result (the fastest of its runs), extrapolated when only a subset was measured."""

    label: str
    kind: str  # climnorm | baseline | floor
    runs: list[Measurement] = field(default_factory=list)
    factor: float = 1.0  # wall and CPU are multiplied by this (measured subset -> all targets)
    note: str = ""
    check: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> Measurement:
        ok = [m for m in self.runs if m.ok] or self.runs
        return min(ok, key=lambda m: m.wall)

    @property
    def wall(self) -> float:
        return self.best.wall * self.factor

    @property
    def cpu(self) -> float:
        return self.best.cpu * self.factor


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.logs = self.out / "logs"
        self.outputs = self.out / "outputs"
        self.keys = harness.config_keys()
        self.results: dict[str, Any] = {"started": dt.datetime.now().isoformat(timespec="seconds")}
        self._n = 0

    def say(self, text: str) -> None:
        print(text, flush=True)

    # ---- contenders ----------------------------------------------------------------------------------------
    def climnorm_config(
        self,
        job: Job,
        out_dir: Path,
        *,
        fast_read: bool | None = None,
        workers: int | None = None,
        archive: Path | None = None,
    ) -> Path:
        cfg: dict[str, Any] = {
            "input_dirs": [str(archive or self.args.archive)],
            "output_dir": str(out_dir),
            "variables": job.variables,
            "regions": list(job.regions),
            "scenarios": ["historical"],
            "window_years": job.window,
            "min_years_for_normal": job.window,
            "historical_end": max(job.years),
            "periods": {"historical": [min(job.targets), max(job.targets)]},
            "multiprocessing_workers": workers or job.workers,
        }
        if fast_read is not None and "fast_read" in self.keys:
            cfg["fast_read"] = fast_read
        if self.args.fast_read_threads and "fast_read_threads" in self.keys:
            cfg["fast_read_threads"] = self.args.fast_read_threads
        path = out_dir.with_suffix(".yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
        return path

    def run_climnorm(
        self, label: str, job: Job, *, fast_read: bool | None = None, workers: int | None = None, keep: bool = False
    ) -> Measurement:
        self._n += 1
        out_dir = self.outputs / f"{label}-{self._n}"
        shutil.rmtree(out_dir, ignore_errors=True)
        cfg = self.climnorm_config(job, out_dir, fast_read=fast_read, workers=workers)
        cmd = [
            PYTHON,
            "-m",
            "climnorm.cli",
            "run",
            str(cfg),
            "--progress",
            "none",
            "--force",
            "--workers",
            str(workers or job.workers),
        ]
        m = self.measure(label, cmd)
        m.extra["outputs"] = str(out_dir)
        m.extra["written"] = _written(out_dir)
        found = re.search(r"run finished in ([0-9.]+) s", Path(m.log).read_text(errors="replace"))
        m.extra["climnorm_seconds"] = float(found[1]) if found else None
        if m.extra["written"] != job.outputs():
            m.returncode = m.returncode or 99
            self.say(f"  !! {label}: wrote {m.extra['written']} of {job.outputs()} normals (see {m.log})")
        if not keep:
            shutil.rmtree(out_dir, ignore_errors=True)
        return m

    def run_script(self, label: str, script: str, job_path: Path, *extra: str) -> Measurement:
        self._n += 1
        out_dir = self.outputs / f"{label}-{self._n}"
        shutil.rmtree(out_dir, ignore_errors=True)
        cmd = [PYTHON, str(HERE / script), str(job_path), *extra]
        if "--backend" not in extra:
            cmd += ["--out", str(out_dir)]
        m = self.measure(label, cmd)
        m.extra["outputs"] = str(out_dir)
        return m

    def measure(self, label: str, cmd: list[str]) -> Measurement:
        log = self.logs / f"{self._n:03d}-{label}.log"
        m = harness.measure(label, cmd, log, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if m.cpu < 0.95 * m.extra["cpu_sampled"]:
            self.say(f"  !! {label}: kernel CPU accounting {m.cpu:.1f} s < sampled {m.extra['cpu_sampled']:.1f} s")
        status = "" if m.ok else f"  FAILED (exit {m.returncode}, see {log})"
        self.say(
            f"  {label:<24} wall {m.wall:8.2f} s  cpu {m.cpu:8.2f} s  peak tree RSS "
            f"{m.peak_rss / 2**20:7.0f} MB  load {m.load_before[0]:.1f}{status}"
        )
        return m

    # ---- the main comparison -------------------------------------------------------------------------------
    def compare(self, job: Job, job_path: Path, sizes: tuple[int, int]) -> list[Entry]:
        args = self.args
        fast_ok = _has_fastread()
        n = len(job.targets)
        # -1: one full round of the pool (every worker busy with one batch of the seed's 2 target years)
        round_k = job.workers * SEED_BATCH
        seed_k = _limit(args.seed_limit, round_k, n)
        naive_k = _limit(args.cdo_naive_limit, round_k, n)
        floors: list[tuple[Entry, Callable[[], Measurement]]] = []

        def floor(label: str, backend: str, threads: int = 1) -> None:
            e = Entry(label, "floor")
            extra = ["--backend", backend, "--workers", str(job.workers), "--threads", str(threads)]
            floors.append((e, lambda: self.run_script(label, "readfloor.py", job_path, *extra)))

        floor("floor io (bytes only)", "io")
        floor("floor netCDF4", "netcdf4")
        floor("floor h5py", "h5py")
        threads = args.fast_read_threads or 2
        if fast_ok:
            floor("floor fastread 1 thr", "fastread", 1)
            if threads != 1:
                floor(f"floor fastread {threads} thr", "fastread", threads)
        cheap = list(floors)
        climnorm = Entry("climnorm", "climnorm", note="fast_read on (default)" if "fast_read" in self.keys else "")
        cheap.append((climnorm, lambda: self.run_climnorm("climnorm", job, fast_read=True, keep=True)))
        if "fast_read" in self.keys:
            slow = Entry("climnorm fast_read off", "climnorm", note="netCDF4 read path")
            cheap.append((slow, lambda: self.run_climnorm("climnorm-nc4", job, fast_read=False, keep=True)))
        repeat = max(1, args.repeat)
        self.say(
            f"\n== main comparison: {job.outputs()} normals ({len(job.variables)} variable(s) x "
            f"{len(job.regions)} regions x {n} targets), {len(job.years)} input years, window {job.window}, "
            f"{job.workers} workers; cheap contenders x{repeat}, fastest counts"
        )
        for _ in range(repeat):
            for entry, run in cheap:
                entry.runs.append(run())
                if len(entry.runs) > 1 and entry.kind == "climnorm":  # keep one run's normals to compare
                    shutil.rmtree(entry.runs[-2].extra["outputs"], ignore_errors=True)
        entries = [e for e, _ in cheap]
        if "cdo" in args.contenders and shutil.which("cdo"):
            cdo = Entry(
                "cdo (fast)",
                "baseline",
                note="per file: cut union box, then regions; per target: ydaymean -mergetime of regional files",
            )
            cdo.runs.append(
                self.run_script(
                    "cdo-fast", "baselines/cdo.py", job_path, "--mode", "fast", "--workers", str(job.workers)
                )
            )
            entries.append(cdo)
            naive = _subset_baseline(
                "cdo (naive)", "ydaymean -selyear -sellonlatbox -mergetime per region and target", naive_k, n
            )
            naive.runs.append(
                self.run_script(
                    "cdo-naive",
                    "baselines/cdo.py",
                    job_path,
                    "--mode",
                    "naive",
                    "--workers",
                    str(job.workers),
                    "--limit",
                    str(naive_k),
                )
            )
            entries.append(naive)
        if "seed" in args.contenders:
            seed = _subset_baseline(
                "seed algorithm", "xarray groupby per target and region, pool over 2-year batches", seed_k, n
            )
            seed.runs.append(
                self.run_script(
                    "seed", "baselines/seed.py", job_path, "--workers", str(job.workers), "--limit", str(seed_k)
                )
            )
            entries.append(seed)
        # same outputs? every baseline normal against climnorm's
        reference = harness.climnorm_outputs(Path(climnorm.runs[-1].extra["outputs"]))
        for e in entries:
            if e.kind == "baseline" or e.label == "climnorm fast_read off":
                root = Path(e.runs[-1].extra["outputs"])
                if e.kind == "climnorm":
                    other = harness.climnorm_outputs(root)
                    e.check = _compare_climnorm(reference, other)
                else:
                    e.check = harness.compare_outputs(reference, root)
                self.say(f"  check {e.label}: {e.check}")
        self.results["check_note"] = "max relative difference of every normal a contender wrote vs climnorm's"
        return entries

    # ---- scaling series (climnorm only) ---------------------------------------------------------------------
    def scaling(self, job: Job, all_files: dict[str, dict[int, str]], archive_years: list[int]) -> dict[str, Any]:
        """climnorm alone: each point runs ``--scaling-repeat`` times, round-robin within its series; the fastest
        run counts (its memory figures too)."""
        last, first = max(archive_years), min(archive_years)
        w = self.args.series_window
        v, r, n = job.variables, dict(job.regions), job.workers
        series: dict[str, tuple[str, list[tuple[dict[str, Any], Job, int | None]]]] = {
            "years": (
                f"input years (window {w})",
                [
                    (
                        {"years": y, "targets": y - w + 1},
                        Job(v, r, w, list(range(last - y + w, last + 1)), all_files, n),
                        None,
                    )
                    for y in self.args.years_series
                    if w <= y <= len(archive_years)
                ],
            ),
            "windows": (
                "window length (all archive years)",
                [
                    (
                        {"window": win, "years": len(archive_years), "targets": len(archive_years) - win + 1},
                        Job(v, r, win, list(range(first + win - 1, last + 1)), all_files, n),
                        None,
                    )
                    for win in self.args.windows
                    if win <= len(archive_years)
                ],
            ),
            "regions": (
                "regions (main job)",
                [({"regions": ",".join(k)}, job.subset(regions=k), None) for k in (["CONUS"], list(job.regions))],
            ),
            "workers": (
                "workers (main job)",
                [({"workers": k}, job, k) for k in sorted({1, job.workers})],
            ),
        }
        out: dict[str, Any] = {}
        for name, (title, points) in series.items():
            self.say(f"\n== scaling: {title}")
            runs: list[list[Measurement]] = [[] for _ in points]
            for _ in range(max(1, self.args.scaling_repeat)):
                for i, (keys, sub, workers) in enumerate(points):
                    label = f"{name}-" + "-".join(str(x) for x in keys.values()).replace(",", "+")
                    runs[i].append(self.run_climnorm(label, sub, workers=workers))
            out[name] = [
                _row(min(ms, key=lambda m: m.wall), **keys, walls=[m.wall for m in ms])
                for (keys, _, _), ms in zip(points, runs, strict=True)
            ]
        return out

    # ---- profile -------------------------------------------------------------------------------------------
    def profile(self, job: Job) -> dict[str, Any]:
        spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(spy).exists():
            self.say("py-spy not found; no profile")
            return {}
        out: dict[str, Any] = {}
        variants = [("fast_read on", True), ("fast_read off", False)] if "fast_read" in self.keys else [("", None)]
        for name, fast in variants:
            self._n += 1
            out_dir = self.outputs / f"profile-{self._n}"
            cfg = self.climnorm_config(job, out_dir, fast_read=fast, workers=1)
            raw = self.out / f"profile-{'fast' if fast else 'nc4'}.txt"
            cmd = [PYTHON, "-m", "climnorm.cli", "run", str(cfg), "--progress", "none", "--force", "--workers", "1"]
            self.say(f"\n== profile ({name or 'default'}): py-spy record --subprocesses, 1 worker")
            t0 = time.perf_counter()
            subprocess.run(
                [spy, "record", "--subprocesses", "--rate", "50", "--format", "raw", "-o", str(raw), "--", *cmd],
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - t0
            shutil.rmtree(out_dir, ignore_errors=True)
            if not raw.exists():
                self.say("  py-spy wrote nothing (ptrace not permitted?)")
                continue
            cats = profiling.categorise(raw)
            waiting = cats.pop(profiling.WAITING, 0)
            out[name or "default"] = {"wall": wall, "categories": cats, "waiting_samples": waiting, "raw": str(raw)}
            out[name or "default"]["stages"] = profiling.stages(cats)
            total = sum(cats.values()) or 1
            for cat, n in sorted(cats.items(), key=lambda kv: -kv[1]):
                self.say(f"  {cat:<46} {100 * n / total:5.1f} %")
            for stage, n in sorted(profiling.stages(cats).items(), key=lambda kv: -kv[1]):
                self.say(f"  stage {stage:<40} {100 * n / total:5.1f} %")
        return out


# ---- helpers ------------------------------------------------------------------------------------------------
def _limit(value: int, auto: int, n: int) -> int:
    k = auto if value < 0 else value
    return k if 0 < k < n else n


def _has_fastread() -> bool:
    try:
        import deflate  # noqa: F401

        from climnorm.read import fastread  # noqa: F401
    except ImportError:
        return False
    return True


def _written(out_dir: Path) -> int:
    try:
        return len(harness.manifest_records(out_dir))
    except (OSError, ValueError, KeyError):
        return 0


def _row(m: Measurement, **keys: Any) -> dict[str, Any]:
    return {
        **keys,
        "wall": m.wall,
        "cpu": m.cpu,
        "peak_rss": m.peak_rss,
        "peak_rss_single": m.peak_rss_single,
        "peak_rss_workers": m.extra.get("peak_rss_workers", 0),
        "load": m.load_before[0],
        "foreign_cpu": m.foreign_cpu,
        "ok": m.ok,
    }


def _compare_climnorm(a: dict[tuple[str, str, int], Path], b: dict[tuple[str, str, int], Path]) -> dict[str, Any]:
    import numpy as np

    identical = differ = 0
    for key, path in a.items():
        if key not in b:
            differ += 1
            continue
        x, _, _ = harness.read_normal(path, key[0])
        y, _, _ = harness.read_normal(b[key], key[0])
        same = x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
        identical += same
        differ += not same
    return {"compared": identical + differ, "bit_identical": identical, "differ": differ}


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def table(entries: list[Entry], raw_bytes: int) -> list[str]:
    base = next(e for e in entries if e.label == "climnorm")
    lines = [
        f"{'contender':<26} {'wall s':>9} {'CPU s':>9} {'CPU/wall':>8} {'input MB/s':>10} {'peak RSS MB':>11} "
        f"{'max proc MB':>11} {'x climnorm':>10}  note",
    ]
    for e in entries:
        m = e.best
        lines.append(
            f"{e.label:<26} {e.wall:9.2f} {e.cpu:9.2f} {e.cpu / e.wall if e.wall else 0:8.2f} "
            f"{raw_bytes / 2**20 / e.wall if e.wall else 0:10.0f} {_mb(m.peak_rss):>11} {_mb(m.peak_rss_single):>11} "
            f"{e.wall / base.wall:10.2f}  {e.note}{'' if m.ok else ' FAILED'}"
        )
    return lines


def ratio_line(entries: list[Entry]) -> str:
    by = {e.label: e for e in entries}
    base = by["climnorm"].wall
    seed = by.get("seed algorithm")
    cdos = [e for e in entries if e.label.startswith("cdo")]
    cdo = min(cdos, key=lambda e: e.wall) if cdos else None
    floor = by.get("floor netCDF4")
    x = f"{seed.wall / base:.2f}" if seed else "n/a"
    y = f"{cdo.wall / base:.2f}" if cdo else "n/a"
    z = f"{base / floor.wall:.2f}" if floor else "n/a"
    return f"ratios: seed/climnorm={x} cdo/climnorm={y} climnorm/read_floor={z}"


def scaling_lines(series: dict[str, Any]) -> list[str]:
    lines = []
    for name, rows in series.items():
        if not rows:
            continue
        lines.append(f"scaling by {name}:")
        for r in rows:
            keys = ", ".join(
                f"{k} {v}" for k, v in r.items() if k in ("years", "window", "targets", "regions", "workers")
            )
            lines.append(
                f"  {keys:<36} wall {r['wall']:7.2f} s  cpu {r['cpu']:7.2f} s  peak tree RSS "
                f"{_mb(r['peak_rss']):>6} MB  max worker RSS {_mb(r['peak_rss_workers']):>6} MB"
            )
        lines.append("  " + _verdict(name, rows))
    return lines


def _verdict(name: str, rows: list[dict[str, Any]]) -> str:
    """One line saying how the series behaves (linear? flat? what speed-up?)."""
    walls = [r["wall"] for r in rows]
    if len(rows) < 2:
        return "(one point only)"
    if name == "years":
        import numpy as np

        x = np.array([r["years"] for r in rows], dtype=float)
        slope, intercept = np.polyfit(x, walls, 1)
        fit = slope * x + intercept
        ss = float(((np.array(walls) - np.mean(walls)) ** 2).sum()) or 1.0
        r2 = 1 - float(((np.array(walls) - fit) ** 2).sum()) / ss
        mem = [r["peak_rss"] / 2**20 for r in rows]
        return (
            f"fit: wall = {intercept:.2f} s + {slope:.3f} s/year (R^2 {r2:.3f}); peak tree RSS {min(mem):,.0f}-"
            f"{max(mem):,.0f} MB over {int(x.min())}-{int(x.max())} years"
        )
    if name == "windows":
        return f"slowest/fastest window: {max(walls) / min(walls):.2f}"
    if name == "regions":
        return f"5 regions / 1 region: {walls[-1] / walls[0]:.2f}"
    return f"speed-up {rows[0]['workers']} -> {rows[-1]['workers']} workers: {walls[0] / walls[-1]:.2f}"


def _subset_baseline(label: str, note: str, measured: int, targets: int) -> Entry:
    """A baseline run on the first ``measured`` of ``targets`` targets per region, extrapolated linearly."""
    if measured < targets:
        note += f"; measured {measured} of {targets} targets per region, extrapolated"
    return Entry(label, "baseline", factor=targets / measured, note=note)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode", help="coarse grid (default)")
    mode.add_argument("--full", action="store_const", const="full", dest="mode", help="the real 0.25-degree grid")
    p.add_argument(
        "--archive",
        type=Path,
        help="synthetic archive folder: reused if there, written if not (default /tmp/climnorm-bench-archive-<grid>)",
    )
    p.add_argument("--out", type=Path, help="results folder (default /tmp/climnorm-bench-<mode>-<time>)")
    p.add_argument("--workers", type=int, default=2, help="processes for every contender (default 2)")
    p.add_argument("--grid", type=float, help="grid spacing in degrees (quick 1.0, full 0.25)")
    p.add_argument("--archive-years", type=int, help="file-years in the archive, ending 2014 (quick 50, full 60)")
    p.add_argument("--years", type=int, help="input years of the main comparison (quick 20, full 40)")
    p.add_argument("--window", type=int, help="window of the main comparison (quick 10, full 30)")
    p.add_argument("--variables", nargs="+", default=["tas"])
    p.add_argument("--scaling-repeat", type=int, help="runs of each scaling point (quick 2, full 1)")
    p.add_argument("--repeat", type=int, help="runs of each cheap contender; the fastest counts (quick 3, full 2)")
    p.add_argument(
        "--seed-limit",
        type=int,
        help="seed: measure the first K targets per region, extrapolate "
        "(0 = all, -1 = 2 x workers = one round of the pool; default -1)",
    )
    p.add_argument("--cdo-naive-limit", type=int, help="naive CDO: the same (quick -1, full 2)")
    p.add_argument(
        "--contenders",
        nargs="*",
        default=["seed", "cdo"],
        choices=["seed", "cdo"],
        help="baselines to run besides climnorm and the read floors",
    )
    p.add_argument("--fast-read-threads", type=int, default=0, help="climnorm fast_read_threads (default: config's)")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling series")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--profile", action="store_true", default=None, help="py-spy profile (default in --full)")
    prof.add_argument("--no-profile", action="store_false", dest="profile")
    p.add_argument("--prepare-only", action="store_true", help="write the archive, then stop")
    p.add_argument("--keep-outputs", action="store_true", help="keep the contenders' normals in OUT/outputs")
    args = p.parse_args(argv)
    args.mode = args.mode or "quick"
    preset = PRESETS[args.mode]
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.window > args.years:
        p.error(f"--window {args.window} is longer than --years {args.years}")
    if args.years > args.archive_years:
        args.archive_years = args.years
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.archive = args.archive or Path(f"/tmp/climnorm-bench-archive-{args.grid:g}")
    args.out = args.out or Path(f"/tmp/climnorm-bench-{args.mode}-{stamp}")
    args.archive = args.archive.absolute()
    args.out = args.out.absolute()

    bench = Bench(args)
    t_start = time.perf_counter()
    info = harness.machine_info()
    bench.say(
        f"climnorm benchmarks ({args.mode}): {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"load {os.getloadavg()[0]:.2f}; results in {args.out}"
    )
    bench.say(
        "versions: " + ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("host", "cpu", "cores", "memory_gb"))
    )
    first_archive_year = LAST_YEAR - args.archive_years + 1
    spec = ArchiveSpec(args.grid, first_archive_year, LAST_YEAR, tuple(args.variables))
    t0 = time.perf_counter()
    files = harness.ensure_archive(args.archive, spec, args.workers, bench.say)
    synth_seconds = time.perf_counter() - t0
    if args.prepare_only:
        bench.say(f"archive ready in {args.archive} ({synth_seconds:.0f} s)")
        return 0
    targets = list(range(LAST_YEAR - args.years + args.window, LAST_YEAR + 1))
    job = Job(list(args.variables), dict(REGIONS), args.window, targets, files, args.workers)
    job_path = job.save(args.out / "job.json")
    inputs = job.input_files()
    disk, raw = harness.file_sizes(inputs, {f: v for v in job.variables for f in (files[v][y] for y in job.years)})
    avail = psutil.virtual_memory().available
    cached = disk < 0.6 * avail
    warm = harness.warm_cache(inputs) if cached else None
    bench.say(
        f"archive {args.archive}: {args.grid:g} deg grid, {len(files[job.variables[0]])} years "
        f"{first_archive_year}-{LAST_YEAR} (ready in {synth_seconds:.0f} s); main job reads "
        f"{len(inputs)} files, {_mb(disk)} MB on disk, {_mb(raw)} MB decompressed; "
        + (f"page cache warmed in {warm:.1f} s" if cached else "larger than 60% of free memory: not cached")
    )

    entries = bench.compare(job, job_path, (disk, raw))
    series = {} if args.no_scaling else bench.scaling(job, files, list(range(first_archive_year, LAST_YEAR + 1)))
    prof = bench.profile(job) if args.profile else {}

    lines = table(entries, raw)
    by = {e.label: e for e in entries}
    extra = []
    fast_floor = [e for e in entries if e.label.startswith("floor fastread")]
    if fast_floor:
        ff = min(fast_floor, key=lambda e: e.wall)
        extra.append(f"climnorm/fast_floor={by['climnorm'].wall / ff.wall:.2f} ({ff.label})")
    if "climnorm fast_read off" in by:
        off = by["climnorm fast_read off"].wall / by["floor netCDF4"].wall
        extra.append(f"climnorm(fast_read off)/read_floor={off:.2f}")
    loads = [m.load_before[0] for e in entries for m in e.runs]
    foreign = [m.foreign_cpu / m.wall for e in entries for m in e.runs if m.wall]
    results = {
        **bench.results,
        "mode": args.mode,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": info,
        "archive": {
            "path": str(args.archive),
            "grid": args.grid,
            "years": [first_archive_year, LAST_YEAR],
            "variables": args.variables,
            "synth_seconds": synth_seconds,
        },
        "job": {
            "variables": job.variables,
            "regions": list(job.regions),
            "window": job.window,
            "targets": job.targets,
            "input_years": [min(job.years), max(job.years)],
            "files": len(inputs),
            "bytes_on_disk": disk,
            "bytes_decompressed": raw,
            "workers": job.workers,
            "page_cache_warm": cached,
        },
        "entries": [
            {
                "label": e.label,
                "kind": e.kind,
                "wall": e.wall,
                "cpu": e.cpu,
                "factor": e.factor,
                "note": e.note,
                "check": e.check,
                "runs": [asdict(m) for m in e.runs],
            }
            for e in entries
        ],
        "scaling": series,
        "profile": prof,
        "load": {"min": min(loads), "max": max(loads), "median": statistics.median(loads)},
        "foreign_cpu_share": {"min": min(foreign), "max": max(foreign), "median": statistics.median(foreign)},
        "seconds": time.perf_counter() - t_start,
        "table": lines,
        "ratios": ratio_line(entries),
        "extra_ratios": extra,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = ["```", *lines, "", *scaling_lines(series), "", *extra, results["ratios"], "```"]
    (args.out / "results.md").write_text("\n".join(md) + "\n")
    if not args.keep_outputs:
        shutil.rmtree(bench.outputs, ignore_errors=True)

    bench.say(
        f"\n== results ({args.mode}, {job.outputs()} normals, {len(inputs)} input files, {_mb(raw)} MB "
        f"decompressed, {job.workers} processes each; load 1-min {min(loads):.1f}-{max(loads):.1f}, "
        f"other users' CPU {100 * statistics.median(foreign):.0f}% of a core (median); "
        f"total {time.perf_counter() - t_start:.0f} s; {args.out}/results.json)"
    )
    for line in scaling_lines(series):
        bench.say(line)
    for line in extra:
        bench.say(line)
    for line in lines:
        bench.say(line)
    bench.say(results["ratios"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

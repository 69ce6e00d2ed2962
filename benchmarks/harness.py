"""Shared pieces of the benchmarks: the job every contender computes, the synthetic archive, measuring a
contender's whole process tree, and comparing outputs.

Nothing in climnorm or its tests imports this; it imports climnorm only to write the synthetic archive and to
ask which config keys exist.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import psutil

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

# The seed's five regions (design.md section 1): (lat_min, lat_max, lon_min, lon_max), longitudes 0..360.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "CONUS": (24.0, 50.0, 234.0, 294.0),
    "AK": (50.0, 72.0, 170.0, 235.0),
    "HI": (18.92, 28.45, 181.63, 205.20),
    "PRVI": (17.62, 18.57, 292.03, 295.49),
    "GU": (13.18, 20.61, 144.58, 146.12),
}


# ---------------------------------------------------------------------------------------------------- the job
@dataclass
class Job:
    """What every contender computes: for each variable x region x target, the mean of the window's years.

    ``files[variable][year]`` is the one input file of that year (NEX layout: one file per year).
    """

    variables: list[str]
    regions: dict[str, tuple[float, float, float, float]]
    window: int
    targets: list[int]
    files: dict[str, dict[int, str]]
    workers: int = 2

    @property
    def years(self) -> list[int]:
        return list(range(min(self.targets) - self.window + 1, max(self.targets) + 1))

    def window_files(self, variable: str, target: int) -> list[str]:
        return [self.files[variable][y] for y in range(target - self.window + 1, target + 1)]

    def input_files(self) -> list[str]:
        """Every distinct input file the job needs, variable by variable, in year order."""
        return [self.files[v][y] for v in self.variables for y in self.years]

    def outputs(self) -> int:
        return len(self.variables) * len(self.regions) * len(self.targets)

    def save(self, path: Path) -> Path:
        data = asdict(self)
        data["files"] = {v: {str(y): p for y, p in f.items()} for v, f in self.files.items()}
        path.write_text(json.dumps(data, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Job:
        data = json.loads(Path(path).read_text())
        data["files"] = {v: {int(y): p for y, p in f.items()} for v, f in data["files"].items()}
        data["regions"] = {k: tuple(b) for k, b in data["regions"].items()}
        return cls(**data)

    def subset(
        self, *, regions: Sequence[str] | None = None, window: int | None = None, targets: Sequence[int] | None = None
    ) -> Job:
        return Job(
            variables=list(self.variables),
            regions={k: self.regions[k] for k in (regions or self.regions)},
            window=window or self.window,
            targets=list(targets or self.targets),
            files=self.files,
            workers=self.workers,
        )


def output_path(root: Path, variable: str, region: str, target: int) -> Path:
    """Where the baselines write a normal (climnorm's outputs are found through its manifest)."""
    return root / variable / region / f"{variable}_{region}_{target}.nc"


# ------------------------------------------------------------------------------------------------ the archive
@dataclass(frozen=True)
class ArchiveSpec:
    """A NEX-shaped synthetic archive: one file per variable-year of the historical run, noleap calendar,
    float32, zlib level 1 + shuffle, one time step per chunk (climnorm.synth's defaults)."""

    grid: float
    first_year: int
    last_year: int
    variables: tuple[str, ...] = ("tas",)

    def synth_spec(self) -> Any:
        from climnorm.synth import SynthSpec

        return SynthSpec(
            variables=self.variables,
            scenarios=("historical",),
            historical_years=(self.first_year, self.last_year),
            calendar="noleap",
            resolution=self.grid,
            shuffle=True,
            complevel=1,
        )


def _write_one(root: str, spec: Any, variable: str, year: int) -> str:
    from climnorm.synth import file_path, write_year

    path = file_path(Path(root), spec, variable, "historical", year)
    return str(write_year(path, spec, variable, "historical", year))


def ensure_archive(root: Path, archive: ArchiveSpec, workers: int, log: Any = print) -> dict[str, dict[int, str]]:
    """Write the files of ``archive`` under ``root`` that are not there yet (in ``workers`` processes); return
    variable -> year -> path. An existing archive made with other settings is refused, not overwritten."""
    from climnorm.synth import file_path

    root.mkdir(parents=True, exist_ok=True)
    marker = root / "benchmark-archive.json"
    want = {"grid": archive.grid, "calendar": "noleap", "shuffle": True, "complevel": 1}
    if marker.exists():
        have = json.loads(marker.read_text())
        if have != want:
            raise SystemExit(f"{root}: an archive with other settings ({have}) is there; use another --archive")
    marker.write_text(json.dumps(want))
    spec = archive.synth_spec()
    files = {
        v: {y: str(file_path(root, spec, v, "historical", y)) for y in range(archive.first_year, archive.last_year + 1)}
        for v in archive.variables
    }
    missing = [(v, y) for v, by_year in files.items() for y, p in by_year.items() if not Path(p).exists()]
    if missing:
        log(
            f"writing {len(missing)} synthetic file-years ({archive.grid} deg grid) under {root} with {workers} "
            "processes ..."
        )
        start = time.perf_counter()
        with ProcessPoolExecutor(workers) as pool:
            for done, _ in enumerate(
                pool.map(
                    _write_one,
                    [str(root)] * len(missing),
                    [spec] * len(missing),
                    [v for v, _ in missing],
                    [y for _, y in missing],
                ),
                start=1,
            ):
                if done % 10 == 0 or done == len(missing):
                    log(f"  {done}/{len(missing)} files, {time.perf_counter() - start:.0f} s")
    return files


def file_sizes(paths: Sequence[str], variable_of: dict[str, str]) -> tuple[int, int]:
    """(bytes on disk, bytes decompressed) of the data variable of every file."""
    disk = raw = 0
    for p in paths:
        disk += os.path.getsize(p)
        with netCDF4.Dataset(p) as ds:
            v = ds.variables[variable_of[p]]
            raw += int(np.prod(v.shape)) * v.dtype.itemsize
    return disk, raw


def warm_cache(paths: Sequence[str]) -> float:
    """Read every file once (page cache); returns seconds."""
    start = time.perf_counter()
    buf = bytearray(16 * 2**20)
    for p in paths:
        with open(p, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - start


# -------------------------------------------------------------------------------------------- measurement
_SUBREAPER = False


def _become_subreaper() -> None:
    """Orphaned descendants (a forkserver outliving its parent, say) are re-parented to this process, so we
    can reap them and their CPU time is counted in RUSAGE_CHILDREN."""
    global _SUBREAPER
    if _SUBREAPER or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) == 0:  # PR_SET_CHILD_SUBREAPER
        _SUBREAPER = True


@dataclass
class Measurement:
    """One timed run of a contender: its whole process tree."""

    label: str
    command: list[str]
    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0  # sum of RSS over the process tree, sampled
    peak_rss_single: int = 0  # the largest single process of the tree
    processes: int = 0  # distinct processes seen
    returncode: int = 0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    foreign_cpu: float = 0.0  # CPU seconds the rest of the machine used meanwhile (other people's work)
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _tree_rss(root: psutil.Process, peaks: dict[int, int], cpu: dict[int, float]) -> int:
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            rss = p.memory_info().rss
            t = p.cpu_times()
            cpu[p.pid] = t.user + t.system
        except psutil.Error:
            continue
        total += rss
        peaks[p.pid] = max(peaks.get(p.pid, 0), rss)
    return total


def measure(
    label: str,
    command: list[str],
    log_path: Path,
    *,
    interval: float = 0.05,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    keep: frozenset[int] = frozenset(),
) -> Measurement:
    """Run ``command`` to completion; wall time, CPU time (user + system of the whole tree, from the kernel's
    accounting of reaped descendants), peak resident memory of the tree (psutil, every ``interval`` s). Children of
    this process in ``keep`` (a test server) are not taken for the command's orphans."""
    _become_subreaper()
    m = Measurement(label, [str(c) for c in command], load_before=os.getloadavg(), log=str(log_path))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys_before = psutil.cpu_times()
    peaks: dict[int, int] = {}
    cpu_seen: dict[int, float] = {}
    with open(log_path, "w") as logf:
        start = time.perf_counter()
        proc = subprocess.Popen(m.command, stdout=logf, stderr=subprocess.STDOUT, env=env)
        root = psutil.Process(proc.pid)
        status = 0
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            m.peak_rss = max(m.peak_rss, _tree_rss(root, peaks, cpu_seen))
            if timeout is not None and time.perf_counter() - start > timeout:
                _kill_tree(root)
            time.sleep(interval)
        m.wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        m.returncode = proc.returncode
    _reap_orphans(keep=keep)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys_after = psutil.cpu_times()
    m.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    busy = sum(getattr(sys_after, k) - getattr(sys_before, k) for k in ("user", "nice", "system", "irq", "softirq"))
    m.foreign_cpu = max(0.0, busy - m.cpu)
    m.peak_rss_single = max(peaks.values(), default=0)
    m.extra["peak_rss_root"] = peaks.get(proc.pid, 0)
    m.extra["cpu_sampled"] = sum(cpu_seen.values())  # a lower bound, to check the kernel's accounting
    m.extra["peak_rss_workers"] = max((v for pid, v in peaks.items() if pid != proc.pid), default=0)
    m.processes = len(peaks)
    m.load_after = os.getloadavg()
    return m


def _kill_tree(root: psutil.Process) -> None:
    try:
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for p in procs:
        with _quiet():
            p.kill()


def _reap_orphans(wait: float = 30.0, keep: frozenset[int] = frozenset()) -> None:
    """Reap descendants re-parented to us after their parent exited (they may need a moment to finish)."""
    deadline = time.monotonic() + wait
    me = psutil.Process()

    def orphans() -> list[psutil.Process]:
        return [c for c in me.children() if c.pid not in keep]

    while True:
        if not orphans() or time.monotonic() > deadline:
            for child in orphans():
                with _quiet():
                    child.kill()
            for child in me.children():
                if child.pid not in keep:
                    with _quiet():
                        os.waitpid(child.pid, 0)
            return
        for child in orphans():
            with _quiet():
                os.waitpid(child.pid, os.WNOHANG)
        time.sleep(0.02)


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], (psutil.Error, OSError))  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- environment
def machine_info() -> dict[str, Any]:
    import h5py
    import xarray

    info: dict[str, Any] = {
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "netCDF4": netCDF4.__version__,
        "hdf5": netCDF4.__hdf5libversion__,
        "netcdf-c": netCDF4.__netcdf4libversion__,
        "h5py": h5py.__version__,
        "xarray": xarray.__version__,
        "psutil": psutil.__version__,
    }
    try:
        import climnorm

        info["climnorm"] = climnorm.__version__
    except ImportError:
        pass
    try:
        import deflate

        info["deflate"] = getattr(deflate, "__version__", "?")
    except ImportError:
        pass
    cdo = shutil.which("cdo")
    if cdo:
        out = subprocess.run([cdo, "-V"], capture_output=True, text=True).stderr + ""
        out += subprocess.run([cdo, "-V"], capture_output=True, text=True).stdout
        first = next((line for line in out.splitlines() if "version" in line.lower()), "")
        info["cdo"] = first.strip()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def config_keys() -> set[str]:
    """Config keys this climnorm accepts (fast_read arrived with issue 10)."""
    from climnorm.config.model import Config

    return set(Config.model_fields)


# ------------------------------------------------------------------------------------------------ outputs
def read_normal(path: Path, variable: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values[slot, lat, lon] float64 with NaN, lat, lon), latitude ascending, whatever the writer."""
    with netCDF4.Dataset(path) as ds:
        var = ds.variables[variable]
        var.set_auto_maskandscale(True)
        values = np.ma.filled(np.ma.asarray(var[:]).astype(np.float64), np.nan)
        dims = var.dimensions
        lat = np.asarray(ds.variables["lat"][:], dtype=np.float64)
        lon = np.asarray(ds.variables["lon"][:], dtype=np.float64)
    order = [dims.index(d) for d in dims if d not in ("lat", "lon")] + [dims.index("lat"), dims.index("lon")]
    values = np.transpose(values, order)
    if lat.size > 1 and lat[0] > lat[-1]:
        values, lat = values[:, ::-1], lat[::-1]
    return values, lat, lon


def manifest_records(out_dir: Path) -> list[dict[str, Any]]:
    """An output directory's manifest records, as ``manifest.json`` lists them (none where there is no manifest)."""
    from climnorm.write.manifest import manifest_outputs

    return manifest_outputs(out_dir)


def climnorm_outputs(out_dir: Path) -> dict[tuple[str, str, int], Path]:
    records = manifest_records(out_dir)
    return {(e["variable"], e["region"], int(e["target_year"])): out_dir / e["path"] for e in records}


def compare_outputs(reference: dict[tuple[str, str, int], Path], other_root: Path) -> dict[str, Any]:
    """Compare every normal a baseline wrote with climnorm's: max relative difference, NaN-mask mismatches,
    grid mismatches."""
    compared = 0
    worst = 0.0
    nan_mismatch = 0
    grid_mismatch: list[str] = []
    missing: list[str] = []
    for (variable, region, target), ref_path in sorted(reference.items()):
        path = output_path(other_root, variable, region, target)
        if not path.exists():
            missing.append(f"{variable}/{region}/{target}")
            continue
        a, alat, alon = read_normal(ref_path, variable)
        b, blat, blon = read_normal(path, variable)
        compared += 1
        if (
            a.shape != b.shape
            or not np.allclose(alat, blat, atol=1e-6)
            or not np.allclose((alon - blon + 180) % 360 - 180, 0, atol=1e-6)
        ):
            grid_mismatch.append(f"{variable}/{region}/{target}: {a.shape} vs {b.shape}")
            continue
        na, nb = np.isnan(a), np.isnan(b)
        nan_mismatch += int((na != nb).sum())
        ok = ~na & ~nb
        if ok.any():
            rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(a[ok]), 1e-30)
            worst = max(worst, float(rel.max()))
    return {
        "compared": compared,
        "max_rel_diff": worst,
        "nan_mismatch": nan_mismatch,
        "grid_mismatch": grid_mismatch,
        "not_written": len(missing),
    }

"""Bad inputs, interruptions and concurrent runs, each built for real: files on disk, real processes.

Every bad input gets a one-line message naming the file and the problem, fails only the windows that need it,
and never crashes the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cftime
import netCDF4
import numpy as np
import pytest
import yaml

from climnorm._atomic import TMP_MARK
from climnorm.config.model import Config, parse_config
from climnorm.engines import SerialExecutor
from climnorm.errors import OutputError, RunLocked
from climnorm.outputs.verify import verify_outputs
from climnorm.runner.lock import LOCK_NAME, OutputLock
from climnorm.runner.pipeline import RunSummary, run
from climnorm.write.manifest import manifest_outputs
from helpers import recorded_outputs

YEARS = range(2006, 2015)
LAT = np.array([30.0, 40.0, 50.0])
LON = np.array([250.0, 260.0, 270.0, 280.0])
RNG = np.random.default_rng(7)
VALUES = {y: (280 + 10 * RNG.standard_normal((365, 3, 4))).astype(np.float32) for y in YEARS}


def write_year(
    root: Path,
    year: int,
    *,
    data: np.ndarray | None = None,
    days: int = 365,
    calendar: str = "noleap",
    units: str = "K",
    time_units: str = "days since 2000-01-01",
    order: tuple[str, ...] = ("time", "lat", "lon"),
    lat: np.ndarray = LAT,
    time_values: np.ndarray | None = None,
    name: str = "tas",
    level: int = 0,
    fill: str = "both",
    packed: bool = False,
    fmt: str = "NETCDF4",
) -> Path:
    """One NEX-named year file of `tas` with the requested oddity."""
    path = root / f"tas_day_TEST-ESM_historical_r1i1p1f1_gn_{year}.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    values = VALUES[year] if data is None else data
    values = values[:days]
    start = cftime.date2num(cftime.datetime(year, 1, 1, 12, calendar=calendar), time_units, calendar)
    times = start + np.arange(days, dtype=np.float64) if time_values is None else time_values
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", len(times))
        ds.createDimension("lat", lat.size)
        ds.createDimension("lon", LON.size)
        t = ds.createVariable("time", "f8", ("time",))
        t.setncatts({"units": time_units, "calendar": calendar, "standard_name": "time"})
        t[:] = times
        ds.createVariable("lat", "f8", ("lat",)).setncatts({"units": "degrees_north", "standard_name": "latitude"})
        ds["lat"][:] = lat
        ds.createVariable("lon", "f8", ("lon",)).setncatts({"units": "degrees_east", "standard_name": "longitude"})
        ds["lon"][:] = LON
        dims = order
        if level:
            ds.createDimension("height", level)
            h = ds.createVariable("height", "f8", ("height",))
            h.setncatts({"units": "m", "positive": "up"})
            h[:] = np.arange(level) * 2.0
            dims = ("time", "height", "lat", "lon")
            values = np.repeat(values[:, None], level, axis=1) + np.arange(level)[None, :, None, None]
        kwargs: dict[str, object] = {}
        if fill in ("both", "fill"):
            kwargs["fill_value"] = np.float32(1e20)
        if packed:
            v = ds.createVariable(name, "i2", dims, **kwargs | {"fill_value": np.int16(-32767)})
            v.scale_factor, v.add_offset = 0.01, 280.0
        else:
            v = ds.createVariable(name, "f4", dims, zlib=fmt == "NETCDF4", **kwargs)
        v.units = units
        v.standard_name = "air_temperature"
        if fill == "missing_value" or fill == "both":
            v.missing_value = np.float32(1e20)
        axes = [("time", "lat", "lon").index(d) for d in order] if not level else [0, 1, 2, 3]
        v[:] = np.transpose(values, axes) if not level else values
    return path


def make_archive(root: Path, years: range = YEARS, **special: Callable[[Path, int], Path]) -> Path:
    for year in years:
        maker = special.get(str(year))
        (maker or (lambda r, y: write_year(r, y)))(root, year)
    return root


def config_dict(root: Path, out: Path, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "input_dirs": [str(root)],
        "output_dir": str(out),
        "variables": ["tas"],
        "regions": [{"name": "BOX", "lat_min": 25, "lat_max": 55, "lon_min": 245, "lon_max": 285}],
        "scenarios": ["historical"],
        "window_years": 4,
        "min_years_for_normal": 3,
        "historical_end": 2014,
        "periods": {"historical": [2010, 2014]},
        "multiprocessing_workers": 1,
    }
    data.update(extra)
    return data


def config(root: Path, out: Path, **extra: object) -> Config:
    return parse_config(config_dict(root, out, **extra))


def run_serial(cfg: Config) -> RunSummary:
    return run(cfg, executor=SerialExecutor())


def normal(out: Path, target: int) -> np.ndarray:
    with netCDF4.Dataset(out / f"tas/BOX/historical/tas_BOX_historical_historical_{target}_4yr_normal.nc") as ds:
        return np.ma.filled(ds["tas"][:].astype(np.float32), np.nan)


def written_targets(out: Path) -> set[int]:
    return {int(p.name.split("_")[4]) for p in (out / "tas/BOX/historical").glob("*.nc")}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    make_archive(root / "in")
    summary = run_serial(config(root / "in", root / "out"))
    assert summary.exit_code == 0 and summary.written == 5
    return root / "out"


# ---- bad input files: each fails only the windows that need it, with a one-line message ----------------------
def _corrupt_chunk(root: Path, year: int) -> Path:
    path = write_year(root, year)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 2000] = os.urandom(2000)
    path.write_bytes(bytes(data))
    return path


BAD_FILES: dict[str, tuple[Callable[[Path, int], Path], str]] = {
    "zero-byte": (lambda r, y: _touch(r, y, b""), "zero-byte file"),
    "not netcdf": (lambda r, y: _touch(r, y, b"<html>404 not found</html>"), "not a NetCDF or HDF5 file"),
    "truncated hdf5": (lambda r, y: _truncate(write_year(r, y)), "cannot open as NetCDF (truncated or corrupt"),
    "truncated classic": (
        lambda r, y: _truncate(write_year(r, y, fmt="NETCDF3_CLASSIC")),
        "truncated: ",
    ),
    "corrupt chunk": (_corrupt_chunk, "corrupt or unreadable data in time steps"),
    "no variable": (lambda r, y: write_year(r, y, name="tasmax"), "variable 'tas' not found (data variables: tasmax)"),
    "other grid": (lambda r, y: write_year(r, y, lat=LAT + 1.0), "grid of region BOX"),
    "bad units": (lambda r, y: write_year(r, y, units="m"), "units 'm' differ from the chain's 'K'"),
    "mixed calendar": (lambda r, y: write_year(r, y, calendar="360_day", days=360), "calendar 360_day differs"),
    "duplicate steps": (
        lambda r, y: write_year(r, y, time_values=np.repeat(np.arange(183.0), 2)[:365] + 365 * (y - 2000)),
        "duplicate time steps",
    ),
    "wrong year": (
        lambda r, y: write_year(r, y, time_values=(y + 1 - 2000) * 365 + 0.5 + np.arange(365.0)),
        f"no time steps in {2012}, which its name claims",
    ),
}


def _touch(root: Path, year: int, content: bytes) -> Path:
    path = root / f"tas_day_TEST-ESM_historical_r1i1p1f1_gn_{year}.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_fails_only_its_windows(case: str, tmp_path: Path, clean: Path) -> None:
    maker, message = BAD_FILES[case]
    make_archive(tmp_path / "in", **{"2012": maker})
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    bad = str(tmp_path / "in" / "tas_day_TEST-ESM_historical_r1i1p1f1_gn_2012.nc")
    lines = [f for f in summary.failures if f.startswith(bad + ": ")]
    assert len(lines) == 1, summary.failures
    assert message in lines[0] and "\n" not in lines[0]
    assert summary.exit_code == 1
    # windows of 4 years with minimum 3: 2012 missing still leaves 3 years for 2012-2014, and 2010-2011 lack it
    assert written_targets(tmp_path / "out") == {2010, 2011, 2012, 2013, 2014}
    for target in (2010, 2011):
        np.testing.assert_array_equal(normal(tmp_path / "out", target), normal(clean, target))
    with netCDF4.Dataset(tmp_path / "out/tas/BOX/historical/tas_BOX_historical_historical_2013_4yr_normal.nc") as ds:
        assert ds.source_years == "2010-2011, 2013" and int(ds.number_of_years) == 3
        assert ds.missing_years == "2012"


def test_missing_day_makes_the_year_incomplete(tmp_path: Path) -> None:
    make_archive(tmp_path / "in", **{"2012": lambda r, y: write_year(r, y, days=364)})
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    assert any("_2012.nc: year 2012 incomplete (1 day(s) missing); not used" in p for p in summary.problems)
    with netCDF4.Dataset(tmp_path / "out/tas/BOX/historical/tas_BOX_historical_historical_2014_4yr_normal.nc") as ds:
        assert ds.missing_years == "2012"


def test_too_few_years_skips_the_target_naming_the_missing_years(tmp_path: Path) -> None:
    make_archive(tmp_path / "in", years=range(2006, 2012))  # 2012-2014 absent
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    assert written_targets(tmp_path / "out") == {2010, 2011, 2012}
    skipped = [s for s in summary.skipped if " 2014: " in s]
    assert len(skipped) == 1 and "missing 2012-2014" in skipped[0]


@pytest.mark.parametrize(
    "variant",
    ["dimension order", "unsorted steps", "time units", "missing_value only", "fill only", "packed", "degC"],
)
def test_tolerated_oddities_give_the_same_normals(variant: str, tmp_path: Path, clean: Path) -> None:
    def odd(root: Path, year: int) -> Path:
        if variant == "dimension order":
            return write_year(root, year, order=("time", "lon", "lat"))
        if variant == "unsorted steps":
            times = cftime.date2num(
                cftime.datetime(year, 1, 1, 12, calendar="noleap"), "days since 2000-01-01", "noleap"
            ) + np.arange(365.0)
            perm = np.random.default_rng(year).permutation(365)
            return write_year(root, year, time_values=times[perm], data=VALUES[year][perm])
        if variant == "time units":
            return write_year(
                root,
                year,
                time_units=f"hours since {year - 3}-07-01 06:00:00",
                time_values=None if False else _hours(year),
            )
        if variant == "missing_value only":
            return write_year(root, year, fill="missing_value")
        if variant == "fill only":
            return write_year(root, year, fill="fill")
        if variant == "packed":
            return write_year(root, year, packed=True, data=np.round((VALUES[year] - 280) / 0.01) * 0.01 + 280)
        return write_year(root, year, units="degC", data=VALUES[year] - np.float32(273.15))

    make_archive(tmp_path / "in", **{str(y): odd for y in (2011, 2012)})
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    assert summary.exit_code == 0, summary.failures
    got, want = normal(tmp_path / "out", 2013), normal(clean, 2013)
    tol = 1e-2 if variant == "packed" else 1e-5
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def _hours(year: int) -> np.ndarray:
    ref = cftime.datetime(year - 3, 7, 1, 6, calendar="noleap")
    start = cftime.datetime(year, 1, 1, 12, calendar="noleap")
    return (start - ref).total_seconds() / 3600 + 24 * np.arange(365.0)


def test_extra_dimension_is_carried_through(tmp_path: Path) -> None:
    make_archive(tmp_path / "in", **{str(y): (lambda r, yy: write_year(r, yy, level=2)) for y in YEARS})
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    assert summary.exit_code == 0, summary.failures
    path = tmp_path / "out/tas/BOX/historical/tas_BOX_historical_historical_2014_4yr_normal.nc"
    with netCDF4.Dataset(path) as ds:
        assert ds["tas"].dimensions == ("time", "height", "lat", "lon")
        assert list(ds["height"][:]) == [0.0, 2.0] and ds["height"].positive == "up"
        data = np.ma.filled(ds["tas"][:], np.nan)
    want = np.mean([VALUES[y] for y in range(2011, 2015)], axis=0)
    np.testing.assert_allclose(data[:, 1], want + 1, rtol=1e-6)
    assert verify_outputs(tmp_path / "out")[1] == []


def test_all_missing_year_and_impossible_values_are_reported(tmp_path: Path) -> None:
    empty = np.full((365, 3, 4), np.nan, dtype=np.float32)
    cold = VALUES[2013].copy()
    cold[10, 0, 0] = -5.0  # negative kelvin
    make_archive(
        tmp_path / "in",
        **{"2012": lambda r, y: write_year(r, y, data=empty), "2013": lambda r, y: write_year(r, y, data=cold)},
    )
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    assert any("_2012.nc: year 2012 has no valid value" in p for p in summary.problems)
    assert any("_2013.nc: 1 value(s) with temperature outside 150..350 K" in p for p in summary.problems)
    assert normal(tmp_path / "out", 2013)[10, 0, 0] < 200  # counted, not masked by default
    masked = run_serial(config(tmp_path / "in", tmp_path / "out2", mask_impossible=True))
    assert any("(masked)" in p for p in masked.problems)
    masked_value = normal(tmp_path / "out2", 2013)[10, 0, 0]
    assert np.isnan(masked_value) or masked_value > 200  # the -5 K is gone (2 valid years left: below minimum)


def test_same_version_duplicates_are_refused_never_averaged(tmp_path: Path) -> None:
    make_archive(tmp_path / "in")
    twin = tmp_path / "in" / "copy" / "tas_day_TEST-ESM_historical_r1i1p1f1_gn_2012.nc"
    write_year(twin.parent, 2012, data=VALUES[2012] + 100)
    summary = run_serial(config(tmp_path / "in", tmp_path / "out"))
    from climnorm.runner.pipeline import prepare

    plan, _ = prepare(config(tmp_path / "in", tmp_path / "out"))
    dup = [p for p in plan.problems if "same version" in p]
    assert len(dup) == 1 and str(twin) in dup[0] and "years 2012 refused" in dup[0]
    with netCDF4.Dataset(tmp_path / "out/tas/BOX/historical/tas_BOX_historical_historical_2013_4yr_normal.nc") as ds:
        assert ds.missing_years == "2012"
    assert summary.written == 5


def test_inputs_are_never_modified_and_output_inside_input_is_refused(tmp_path: Path) -> None:
    root = make_archive(tmp_path / "in")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.nc")}
    run_serial(config(root, tmp_path / "out"))
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.nc")} == before
    with pytest.raises(OutputError, match="inside the input directory"):
        run_serial(config(root, root / "normals"))


# ---- the output directory ---------------------------------------------------------------------------------------
def test_unwritable_output_directory_is_refused_before_any_work(tmp_path: Path) -> None:
    root = make_archive(tmp_path / "in")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="output directory is not writable"):
        run_serial(config(root, blocker / "out"))


def test_second_run_on_the_same_output_refuses_and_stale_locks_are_taken_over(tmp_path: Path) -> None:
    root = make_archive(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,os,sys,time,json; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, json.dumps({'pid': os.getpid(), 'host': os.uname()[1],"
            "'started': 'now', 'command': 'climnorm run other.yaml'}).encode()); print('locked', flush=True);"
            "time.sleep(60)",
            str(out / LOCK_NAME),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=f"pid {holder.pid} on .*climnorm run other.yaml"):
            run_serial(config(root, out))
    finally:
        holder.kill()
        holder.wait()
    # the holder died without cleaning up: its record stays, the lock does not
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid
    summary = run_serial(config(root, out))
    assert summary.written == 5
    with OutputLock(out):
        pass


def test_disk_full_stops_cleanly_with_a_consistent_manifest(tmp_path: Path, small_disk: Path) -> None:
    root = make_archive(tmp_path / "in")
    out = small_disk / "out"
    cfg_path = tmp_path / "run.yaml"
    cfg = config_dict(root, out, compression={"zlib": False})
    cfg_path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "climnorm.cli", "run", str(cfg_path), "--progress", "plain"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write outputs (No space left on device" in proc.stdout + proc.stderr
    # the stop reaches the live display too, as a failure of the run
    assert re.search(r"climnorm: failed: .*out: cannot write outputs \(No space left", proc.stderr), proc.stderr
    assert "the run stopped" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(out.rglob(f"*{TMP_MARK}"))
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*_normal.nc")}
    checked, problems = verify_outputs(out)
    assert problems == [] and checked == len(on_disk) < 5
    # with room again (the outputs moved to a big disk) the run resumes and completes
    shutil.copytree(out, tmp_path / "out")
    cfg["output_dir"] = str(tmp_path / "out")
    cfg_path.write_text(yaml.safe_dump(cfg))
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert verify_outputs(tmp_path / "out") == (5, [])
    assert f"written {5 - checked}, up to date {checked}" in rerun.stdout


# ---- interruptions: kill -9 and Ctrl-C, then resume to identical results --------------------------------------
@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, tuple[str, dict[str, object]]]]:
    """A synthetic archive whose run takes a few seconds, and the outputs of one uninterrupted run."""
    from climnorm.synth import SynthSpec, write_archive

    root = tmp_path_factory.mktemp("big")
    write_archive(
        root / "in",
        SynthSpec(
            variables=("tas", "pr"),
            historical_years=(1996, 2014),
            calendar="standard",
            resolution=2.0,
            box=(10, 75, 140, 300),
            holes=0.01,
        ),
    )
    cfg_path = root / "run.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "input_dirs": [str(root / "in")],
                "output_dir": str(root / "out"),
                "variables": ["tas", "pr"],
                "regions": ["CONUS", "AK", "HI"],
                "scenarios": ["historical"],
                "window_years": 10,
                "min_years_for_normal": 8,
                "periods": {"historical": [2009, 2014]},
                "multiprocessing_workers": 2,
                # every kind of output: a period product, indicators (one with base-period percentiles, read in a
                # first pass), window statistics
                "products": ["daily", "monthly"],
                "indicators": [
                    {"index": "heating_degree_days", "thresh": "65 degF"},
                    {"index": "tg_mean", "freq": "MS"},
                    {"index": "wetdays", "thresh": "0.01 in/day"},
                    {"index": "max_n_day_precipitation_amount", "id": "rx5day", "window": 5, "freq": "QS-DEC"},
                    {"index": "days_over_precip_doy_thresh", "base_period": [1996, 2000]},
                ],
                "window_statistics": ["mean", "std", "p90"],
                "changes": {"baseline": [2005, 2014]},  # and every output's change against its 2014 normal
            }
        )
    )
    subprocess.run(
        [sys.executable, "-m", "climnorm.cli", "run", str(cfg_path), "--progress", "none"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return root, cfg_path, _snapshot(root / "out")


def _snapshot(out: Path) -> dict[str, tuple[str, dict[str, object]]]:
    """Data checksum (of every data variable: a normal, its window statistics, a baseline's yearly values) and
    attributes (creation time aside) of every output, and the manifest's records."""
    snap = {}
    for path in sorted([*out.rglob("*_normal.nc"), *out.rglob("*_normal_change.nc")]):
        digest = hashlib.sha256()
        with netCDF4.Dataset(path) as ds:
            fields = [n for n, v in ds.variables.items() if v.dimensions[:1] in (("time",), ("year",)) and v.ndim > 2]
            for name in sorted(fields):
                digest.update(np.ma.filled(ds[name][:].astype(np.float32), np.nan).tobytes())
            attrs = {k: str(ds.getncattr(k)) for k in ds.ncattrs() if k != "creation_time"}
        snap[str(path.relative_to(out))] = (digest.hexdigest(), attrs)
    records = json.dumps(manifest_outputs(out), sort_keys=True).encode()
    snap["manifest"] = (hashlib.sha256(records).hexdigest(), {"outputs": str(len(manifest_outputs(out)))})
    return snap


def _interrupted_then_resumed(big: tuple, tmp_path: Path, sig: int, lines: int) -> subprocess.CompletedProcess:
    _, cfg_path, _ = big
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["output_dir"] = str(tmp_path / "out")
    mine = tmp_path / "run.yaml"
    mine.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "climnorm.cli", "run", str(mine), "--progress", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    # the signal lands mid-run, whatever the machine's speed: once the manifest holds ``lines`` outputs of the 162
    deadline = time.monotonic() + 120
    while recorded_outputs(tmp_path / "out") < lines and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before the signal"
    if sig == signal.SIGKILL:
        os.kill(proc.pid, sig)  # only the main process, as `kill -9 PID` does
        proc.wait(timeout=60)
        deadline = time.monotonic() + 20
        while _orphan_workers(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _orphan_workers(proc.pid), "pool workers outlived their killed run"
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, sig)  # Ctrl-C in a terminal reaches the whole foreground process group
    out, err = proc.communicate(timeout=120)
    first = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    assert not any(
        p.suffix == ".nc" and TMP_MARK not in p.name and _unreadable(p) for p in (tmp_path / "out").rglob("*.nc")
    ), "a half-written output is visible"
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert not list((tmp_path / "out").rglob(f"*{TMP_MARK}"))
    assert _snapshot(tmp_path / "out") == big[2]
    return first


def _orphan_workers(pgid: int) -> list[int]:
    """Pool workers (children of the run's forkserver) still alive in the killed run's process group."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getpgid(proc.pid) != pgid or "forkserver" not in " ".join(proc.info["cmdline"] or []):
                continue
            parent = proc.parent()
            if parent is not None and "forkserver" in " ".join(parent.cmdline()):
                found.append(proc.pid)
        except (psutil.Error, ProcessLookupError):
            continue
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _unreadable(path: Path) -> bool:
    try:
        with netCDF4.Dataset(path) as ds:
            for var in ds.variables.values():
                var[:]
        return False
    except Exception:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("lines", [1, 20, 45])
def test_kill_9_at_any_moment_resumes_to_identical_outputs(big: tuple, tmp_path: Path, lines: int) -> None:
    """Killed once the journal holds 1, 20 or 45 of the run's 324 outputs (daily, monthly, indicators with window
    statistics, one whose thresholds come from a first pass, and each one's change against its baseline): the
    resumed run completes them all, identical to an uninterrupted run."""
    first = _interrupted_then_resumed(big, tmp_path, signal.SIGKILL, lines)
    assert first.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_ctrl_c_stops_promptly_and_leaves_a_resumable_state(big: tuple, tmp_path: Path) -> None:
    start = time.monotonic()
    first = _interrupted_then_resumed(big, tmp_path, signal.SIGINT, 10)
    assert time.monotonic() - start < 120
    assert first.returncode == 130, first.stderr
    assert "interrupted: interrupted after" in first.stderr and "run again to resume" in first.stderr
    assert "Traceback" not in first.stderr

"""What several test modules share: the calendar list, the CDO reference, and the pictures' checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np
import pytest

from reference import Field, filled

T_Archive = Callable[..., Path]
"""The ``synth_archive`` fixture: writes a synthetic archive (once per spec) and returns its folder."""

#: Every CF calendar name climnorm reads (aliases included), as flox's tests draw them.
CALENDARS: tuple[str, ...] = (
    "standard",
    "gregorian",
    "proleptic_gregorian",
    "julian",
    "noleap",
    "365_day",
    "all_leap",
    "366_day",
    "360_day",
)
#: One name per distinct calendar (the aliases left out): what the slower comparisons run on.
DISTINCT_CALENDARS: tuple[str, ...] = ("standard", "proleptic_gregorian", "julian", "noleap", "all_leap", "360_day")
LEAP_CALENDARS = frozenset({"standard", "gregorian", "proleptic_gregorian", "julian"})

#: The real climate files the tests use (tests/data/real; its MANIFEST.md lists them, its README.md their sources).
REAL = Path(__file__).resolve().parent / "data" / "real"
#: How many NetCDF files it holds.
REAL_FILES = 56
#: Names in the real folder that are no archive naming scheme (station files, CMIP3 dotted names).
REAL_UNPARSED = frozenset(
    {
        "CanESM2_1950-2100.nc",
        "ahccd_1950-2013.nc",
        "daily_surface_cancities_1990-1993.nc",
        "tas.sresb1.giss_model_e_r.run1.atm.da.nc",
    }
)


def touch(path: Path, content: bytes = b"") -> Path:
    """Create a file (and its folders); the catalog works by name, so empty files are enough."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def nex(var: str, year: int, version: str = "", model: str = "NorESM2-LM", scenario: str = "ssp245") -> str:
    """A NEX-GDDP-CMIP6 file name."""
    suffix = f"_{version}" if version else ""
    return f"{var}_day_{model}_{scenario}_r1i1p1f1_gn_{year}{suffix}.nc"


CDO = shutil.which("cdo")
_NO_CDO = pytest.mark.skipif(CDO is None, reason="cdo is not installed (apt-get install -y cdo); comparison skipped")


def needs_cdo(test: Any) -> Any:
    """Mark a test as a CDO comparison (``-m cdo``), skipped with the reason when cdo is not installed."""
    return pytest.mark.cdo(_NO_CDO(test))


def cdo_ydaymean(
    files: Sequence[Path],
    variable: str,
    first: int,
    last: int,
    out: Path,
    shift: str = "",
    box: str = "",
    *,
    sort_lon: bool = True,
) -> Field:
    """``cdo ydaymean`` of the years first..last (``box``: sellonlatbox arguments, ``shift``: shifttime); regular
    grids are sorted to ascending lat (and lon unless ``sort_lon`` is off: a box across the antimeridian comes
    out of CDO eastward already), as climnorm writes them."""
    assert CDO is not None
    cmd = [CDO, "-s", "-O", "ydaymean", f"-selyear,{first}/{last}"]
    cmd += [f"-shifttime,{shift}"] if shift else []
    cmd += [f"-sellonlatbox,{box}"] if box else []
    cmd += [f"-selname,{variable}", "-mergetime", *map(str, files), str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    with netCDF4.Dataset(out) as ds:
        var = ds.variables[variable]
        values = filled(var)
        t = ds.variables["time"]
        dates = cftime.num2date(t[:], t.units, getattr(t, "calendar", "standard"))
        coords = {n: np.asarray(ds.variables[n][:], dtype=np.float64) for n in ("lat", "lon") if n in ds.variables}
        dims = tuple(var.dimensions)
    if dims[-2:] == ("lat", "lon") and coords["lat"].ndim == 1:
        lat_order = np.argsort(coords["lat"])
        lon_order = np.argsort(coords["lon"]) if sort_lon else np.arange(coords["lon"].size)
        values = values[..., lat_order, :][..., lon_order]
        coords = {"lat": coords["lat"][lat_order], "lon": coords["lon"][lon_order]}
    month = np.array([d.month for d in dates])
    day = np.array([d.day for d in dates])
    hours = {d.hour for d in dates}
    return Field(values, month, day, coords, attrs={"hours": hours}, dims=dims)


def assert_picture(path: Path, width: int, height: int) -> np.ndarray:
    """A readable PNG of the given size whose pixels are not all alike; returns its pixels."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    rgb = pixels[..., :3]
    assert float(rgb.std()) > 0.05, "the picture is (nearly) blank"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50, "too few colours for a plot"
    return pixels


def link_archives(root: Path, sources: Sequence[Path]) -> Path:
    """One archive folder ``root`` of links to the files of several (the session's synthetic members), so that
    a run finds them all as one ensemble; returns ``root``."""
    for source in sources:
        for path in source.rglob("*.nc"):
            target = root / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    return root


def recorded_outputs(out: Path) -> int:
    """How many outputs a run's manifest holds now, read as SQLite sees the database (a run may be writing it)."""
    import sqlite3

    path = out / "manifest.sqlite"
    if not path.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)) as db:
            return int(db.execute("SELECT count(*) FROM outputs").fetchone()[0])
    except sqlite3.Error:
        return 0


def killed_once_recorded(cmd: list[str], state: Path, lines: int) -> None:
    """Run ``cmd`` (a ``climnorm run``) in its own process group and kill -9 the group (the run and its workers,
    mid-write) once the manifest in ``state`` holds ``lines`` outputs: whatever the machine's speed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while recorded_outputs(state) < lines and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before the signal"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder ``make`` fills once per test session, whichever pytest-xdist worker asks first (the others wait
    for it, then share it): what a module's fixture builds for tests that may run in several workers."""
    import fcntl
    import os

    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            done.touch()
    return folder

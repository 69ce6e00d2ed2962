"""The one reference implementation of a daily climate normal (slow, obvious, float64), for the tests that check
climnorm's, and the readers and writers those tests share.

Nothing here imports climnorm's day slots, reduction or region extraction: the point is to compute the same
numbers a second, independent way and compare.

- :func:`reference_normal`: float64, plain loops. Open each window file with netCDF4 (fill values and NaN
  masked), decode dates with cftime (``time_bnds`` midpoints when the file has them), select the cells whose
  centres are in the box, group the time steps by day key in Python, average over the window's years and
  apply the min-years rule (with the Feb 29 rule scaled to the leap years of the window).
- :func:`reference_normals`: the same rules on whole multi-year files of any layout (grid or points), for every
  target at once; a year counts when every one of its days is present.
- :func:`seed_normal`: the seed's algorithm with xarray: per target, per window file, ``.sel`` the region,
  ``groupby('time.dayofyear').mean()``, concatenate over years and ``.mean('year')``.
- :func:`write_random_archive`: NEX-named NetCDF files of random data with NaN and 1e20 holes.
- :func:`read_output`: a climnorm output file as plain numpy arrays.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np
import xarray as xr

FILL = np.float32(1e20)
MODEL = "RAND-ESM"
VARIANT = "r1i1p1f1"
GRID_LABEL = "gn"

Box = tuple[float, float, float, float]
"""(lat_min, lat_max, lon_min, lon_max); longitudes in either convention, lon_min > lon_max allowed."""

DayKey = tuple[int, int] | int
"""(month, day) for the calendar_day and drop policies, the ordinal day of the year for dayofyear."""


# ------------------------------------------------------------------------------------------------ calendars


@functools.cache
def year_dates(calendar: str, year: int) -> tuple[tuple[int, int, int], ...]:
    """(month, day, dayofyr) of every date of ``year`` in ``calendar``, by stepping one day at a time."""
    out: list[tuple[int, int, int]] = []
    date = cftime.datetime(year, 1, 1, calendar=calendar)
    while date.year == year:
        out.append((date.month, date.day, date.dayofyr))
        date = date + dt.timedelta(days=1)
    return tuple(out)


def day_key(policy: str, calendar: str, month: int, day: int, dayofyr: int) -> DayKey | None:
    """The day a date is averaged with under ``policy``; None when the policy drops the date."""
    if policy == "dayofyear":
        return dayofyr
    if policy == "drop" and month == 2 and day == 29 and calendar != "360_day":
        return None  # in 360_day every year has a Feb 29 (and a Feb 30): nothing is a leap day there
    return (month, day)


def slot_keys(policy: str, calendar: str) -> list[DayKey]:
    """Every day key of the climatological year, in output order (2000 is a leap year where there are any)."""
    keys = [day_key(policy, calendar, m, d, doy) for m, d, doy in year_dates(calendar, 2000)]
    return [k for k in keys if k is not None]


@functools.cache
def year_keys(policy: str, calendar: str, year: int) -> frozenset[DayKey]:
    """The day keys a complete ``year`` has."""
    keys = {day_key(policy, calendar, m, d, doy) for m, d, doy in year_dates(calendar, year)}
    return frozenset(k for k in keys if k is not None)


# ----------------------------------------------------------------------------------------------- reading


@dataclass
class YearFile:
    """One input file read in full: float64 data with NaN for missing, and each step's date."""

    lat: np.ndarray
    lon: np.ndarray
    data: np.ndarray  # (time, lat, lon) float64
    dates: list[tuple[int, int, int, int]]  # (year, month, day, dayofyr) per time step
    calendar: str


def read_year_file(path: Path, variable: str) -> YearFile:
    """Open with netCDF4, mask _FillValue/missing_value (and keep NaN), decode dates with cftime.

    Results are cached by (path, size, mtime) so the many windows sharing a file do not re-read it; callers
    must not modify the arrays.
    """
    stat = Path(path).stat()
    return _read_year_file(str(path), variable, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=512)
def _read_year_file(path: str, variable: str, size: int, mtime_ns: int) -> YearFile:
    with netCDF4.Dataset(path) as ds:
        var = ds.variables[variable]
        var.set_auto_maskandscale(True)
        data = np.ma.filled(np.ma.asarray(var[:]).astype(np.float64), np.nan)
        for name in ("_FillValue", "missing_value"):
            if name in var.ncattrs():
                data[data == float(var.getncattr(name))] = np.nan
        lat = np.asarray(ds.variables["lat"][:], dtype=np.float64)
        lon = np.asarray(ds.variables["lon"][:], dtype=np.float64)
        tvar = ds.variables["time"]
        calendar = str(getattr(tvar, "calendar", "standard"))
        values = np.asarray(tvar[:], dtype=np.float64)
        bounds = getattr(tvar, "bounds", None)
        if bounds and bounds in ds.variables:
            values = np.asarray(ds.variables[bounds][:], dtype=np.float64).mean(axis=1)
        decoded = cftime.num2date(values, tvar.units, calendar, only_use_cftime_datetimes=True)
    dates = [(d.year, d.month, d.day, d.dayofyr) for d in np.atleast_1d(decoded)]
    return YearFile(lat, lon, data, dates, calendar)


def select_box(lat: np.ndarray, lon: np.ndarray, box: Box) -> tuple[list[int], list[int]]:
    """Indices of the cells whose centres are in the box: lat ascending, lon eastward from lon_min."""
    lat_min, lat_max, lon_min, lon_max = box
    eps = 1e-9
    rows = [i for i in range(lat.size) if lat_min - eps <= lat[i] <= lat_max + eps]
    rows.sort(key=lambda i: lat[i])
    width = (lon_max - lon_min) % 360.0
    offsets = {j: (lon[j] - lon_min) % 360.0 for j in range(lon.size)}
    offsets = {j: (0.0 if o > 360.0 - eps else o) for j, o in offsets.items()}
    cols = [j for j, o in offsets.items() if o <= width + eps]
    cols.sort(key=lambda j: offsets[j])
    return rows, cols


# --------------------------------------------------------------------------------------------- reference


@dataclass
class ReferenceNormal:
    """A reference normal: values (slot, lat, lon) in float64, NaN where invalid."""

    target: int
    values: np.ndarray
    counts: np.ndarray  # valid years per cell-slot
    thresholds: np.ndarray  # per slot, valid years needed
    lat: np.ndarray
    lon: np.ndarray
    years: list[int]
    keys: list[DayKey] = field(default_factory=list)


def reference_normal(
    files_by_year: Mapping[int, Sequence[Path]],
    variable: str,
    region_box: Box,
    window_years: int,
    min_years: int,
    policy: str,
    calendar: str,
    *,
    target: int,
) -> ReferenceNormal | None:
    """The normal of the window ending at ``target``; None when fewer than ``min_years`` years are readable.

    A window year is readable when ``files_by_year`` has files for it (the tests' archives hold complete
    years). A cell-slot is valid when at least ``ceil(min_years * H / window_years)`` years contribute, H
    being the number of window years whose calendar has that day (all of them except for Feb 29 under
    calendar_day and ordinal day 366 under dayofyear).
    """
    window = list(range(target - window_years + 1, target + 1))
    years = [y for y in window if files_by_year.get(y)]
    if len(years) < min_years:
        return None
    keys = slot_keys(policy, calendar)
    lat = lon = np.empty(0)
    per_year: list[np.ndarray] = []
    for year in years:
        steps: dict[DayKey, list[np.ndarray]] = defaultdict(list)
        for path in files_by_year[year]:
            f = read_year_file(Path(path), variable)
            rows, cols = select_box(f.lat, f.lon, region_box)
            lat, lon = f.lat[rows], f.lon[cols]
            regional = f.data[:, rows][:, :, cols]
            for t, (y, month, day, doy) in enumerate(f.dates):
                key = day_key(policy, calendar, month, day, doy)
                if y == year and key is not None:
                    steps[key].append(regional[t])
        per_year.append(year_field(steps, keys, (lat.size, lon.size)))
    values, counts, thresholds = window_mean(per_year, keys, window, min_years, policy, calendar)
    return ReferenceNormal(target, values, counts, thresholds, lat, lon, years, keys)


def year_field(
    steps: Mapping[DayKey, Sequence[np.ndarray]], keys: Sequence[DayKey], shape: tuple[int, ...]
) -> np.ndarray:
    """One year's field per day key: a day's one step as it is, several steps by their NaN-skipping mean."""
    field_ = np.full((len(keys), *shape), np.nan)
    for slot, key in enumerate(keys):
        arrays = steps.get(key)
        if not arrays:
            continue
        if len(arrays) == 1:
            field_[slot] = arrays[0]
            continue
        stack = np.stack(arrays)
        valid = ~np.isnan(stack)
        n = valid.sum(axis=0)
        field_[slot] = np.where(n > 0, np.where(valid, stack, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)
    return field_


def window_mean(
    per_year: Sequence[np.ndarray],
    keys: Sequence[DayKey],
    window: Sequence[int],
    min_years: int,
    policy: str,
    calendar: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, valid years, years needed) per cell and day key: the NaN-skipping mean over the years, NaN where
    fewer than ``ceil(min_years * H / len(window))`` years are valid, H = window years having that day."""
    stack = np.stack(per_year)  # (year, slot, ...)
    valid = ~np.isnan(stack)
    counts = valid.sum(axis=0)
    sums = np.where(valid, stack, 0.0).sum(axis=0)
    having = np.array([sum(1 for y in window if k in year_keys(policy, calendar, y)) for k in keys])
    thresholds = np.array([-(-min_years * h // len(window)) if h else 1 for h in having])
    ok = counts >= thresholds.reshape((-1,) + (1,) * (counts.ndim - 1))
    values = np.where(ok & (counts > 0), sums / np.maximum(counts, 1), np.nan)
    return values, counts, thresholds


@dataclass
class Field:
    """A normal (climnorm's, CDO's or the reference's) as float64 arrays, slots first, NaN where missing."""

    values: np.ndarray
    month: np.ndarray
    day: np.ndarray
    coords: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    dims: tuple[str, ...] = ()


def filled(var: netCDF4.Variable) -> np.ndarray:
    """The raw values as float64 with _FillValue and missing_value (as the variable's type) made NaN."""
    assert not {"scale_factor", "add_offset"} & set(var.ncattrs()), "packed data: not in these files"
    var.set_auto_maskandscale(False)
    data = np.asarray(var[...]).astype(np.float64)
    for name in ("_FillValue", "missing_value"):
        if name in var.ncattrs():
            data[data == np.float64(np.asarray(var.getncattr(name)).astype(var.dtype))] = np.nan
    return data


def reference_normals(
    files: Sequence[Path], variable: str, window: int, min_years: int, targets: Iterable[int]
) -> dict[int, Field]:
    """Calendar-day normals of whole files (any layout: time first after reading, other dimensions as in the
    file) for every target whose window has ``min_years`` complete years (every day present)."""
    steps: dict[int, dict[DayKey, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    calendar = "standard"
    shape: tuple[int, ...] = ()
    for path in files:
        with netCDF4.Dataset(path) as ds:
            var = ds.variables[variable]
            t = ds.variables["time"]
            data = np.moveaxis(filled(var), var.dimensions.index("time"), 0)
            stamps = np.asarray(t[:], dtype=np.float64)
            bounds = getattr(t, "bounds", None)
            if bounds and bounds in ds.variables:
                stamps = np.asarray(ds.variables[bounds][:], dtype=np.float64).mean(axis=1)
            calendar = getattr(t, "calendar", "standard")
            dates = cftime.num2date(stamps, t.units, calendar, only_use_cftime_datetimes=True)
        shape = data.shape[1:]
        for i, d in enumerate(dates):
            steps[d.year][(d.month, d.day)].append(data[i])
    keys = slot_keys("calendar_day", calendar)
    complete = {y for y, days in steps.items() if year_keys("calendar_day", calendar, y) <= set(days)}
    out: dict[int, Field] = {}
    for target in targets:
        window_years = list(range(target - window + 1, target + 1))
        used = [y for y in window_years if y in complete]
        if len(used) < min_years:
            continue
        per_year = [year_field(steps[y], keys, shape) for y in used]
        values, _, _ = window_mean(per_year, keys, window_years, min_years, "calendar_day", calendar)
        month = np.array([k[0] for k in keys])
        day = np.array([k[1] for k in keys])
        out[target] = Field(values, month, day, attrs={"years": used})
    return out


# ---------------------------------------------------------------------------------------------------- seed


def seed_normal(
    files_by_year: Mapping[int, Sequence[Path]],
    variable: str,
    region_box: Box,
    window_years: int,
    *,
    target: int,
) -> xr.DataArray:
    """The seed's algorithm for one target (boxes in the grid's own ascending lon convention only)."""
    lat_min, lat_max, lon_min, lon_max = region_box
    yearly = []
    for year in range(target - window_years + 1, target + 1):
        for path in files_by_year.get(year, []):
            with xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as ds:
                regional = ds[variable].sel(lat=slice(lat_min, lat_max), lon=slice(lon_min, lon_max))
                clim = regional.groupby("time.dayofyear").mean().load()
            yearly.append(clim.expand_dims(year=[year]))
    return xr.concat(yearly, dim="year").mean("year")


# ------------------------------------------------------------------------------------------------- archive


def regular_grid(
    resolution: float,
    lat_range: tuple[float, float],
    lon_range: tuple[float, float],
    *,
    convention: str = "0_360",
    descending: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres (x + resolution/2) in [lat_range] x [lon_range] (0..360, may wrap), in a file's order."""
    lat = np.arange(lat_range[0] + resolution / 2, lat_range[1], resolution)
    width = (lon_range[1] - lon_range[0]) % 360.0 or 360.0
    lon = (lon_range[0] + resolution / 2 + np.arange(round(width / resolution)) * resolution) % 360.0
    if convention == "-180_180":
        lon = np.where(lon >= 180.0, lon - 360.0, lon)
    lon = np.sort(lon)
    return (lat[::-1].copy() if descending else lat), lon


@dataclass
class RandomArchive:
    """What :func:`write_random_archive` wrote: files per (scenario, year) and the file grid."""

    root: Path
    variable: str
    calendar: str
    lat: np.ndarray
    lon: np.ndarray
    files: dict[tuple[str, int], Path]

    def files_by_year(self, scenario: str, historical_end: int) -> dict[int, list[Path]]:
        """Year -> files of the chain a scenario's windows use: historical up to historical_end."""
        out: dict[int, list[Path]] = {}
        for (run, year), path in self.files.items():
            wanted = "historical" if scenario == "historical" or year <= historical_end else scenario
            if run == wanted:
                out.setdefault(year, []).append(path)
        return out


def write_random_year(
    path: Path,
    variable: str,
    calendar: str,
    year: int,
    lat: np.ndarray,
    lon: np.ndarray,
    rng: np.random.Generator,
    *,
    holes: float = 0.0,
    time_mode: str = "noon",
) -> None:
    """One year of random float32 values, missing ones written as 1e20 or NaN (half each).

    ``time_mode``: "noon" stamps 12:00 without bounds; "end_bnds" stamps 00:00 of the next day (as CESM
    does) with ``time_bnds`` giving the day.
    """
    units = "days since 1950-01-01 00:00:00"
    n = len(year_dates(calendar, year))
    start = cftime.date2num(cftime.datetime(year, 1, 1, calendar=calendar), units, calendar)
    edges = start + np.arange(n + 1, dtype=np.float64)
    values = (250.0 + 50.0 * rng.random((n, lat.size, lon.size))).astype(np.float32)
    u = rng.random(values.shape)
    values[u < holes / 2] = FILL
    values[(u >= holes / 2) & (u < holes)] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", lat.size)
        ds.createDimension("lon", lon.size)
        t = ds.createVariable("time", "f8", ("time",))
        t.setncatts({"units": units, "calendar": calendar, "standard_name": "time", "axis": "T"})
        if time_mode == "end_bnds":
            ds.createDimension("bnds", 2)
            t.bounds = "time_bnds"
            ds.createVariable("time_bnds", "f8", ("time", "bnds"))[:] = np.stack([edges[:-1], edges[1:]], axis=1)
            t[:] = edges[1:]
        else:
            t[:] = edges[:-1] + 0.5
        for name, coord, units_, std in (
            ("lat", lat, "degrees_north", "latitude"),
            ("lon", lon, "degrees_east", "longitude"),
        ):
            c = ds.createVariable(name, "f8", (name,))
            c.setncatts({"units": units_, "standard_name": std})
            c[:] = coord
        v = ds.createVariable(
            variable,
            "f4",
            ("time", "lat", "lon"),
            zlib=True,
            complevel=1,
            fill_value=FILL,
            chunksizes=(1, *lat.shape, *lon.shape),
        )
        v.setncatts({"missing_value": FILL, "units": "K", "standard_name": "air_temperature"})
        v.set_auto_maskandscale(False)
        v[:] = values


def write_random_archive(
    root: Path,
    *,
    calendar: str,
    lat: np.ndarray,
    lon: np.ndarray,
    historical_years: Iterable[int],
    scenario_years: Iterable[int] = (),
    scenario: str = "ssp245",
    variable: str = "tas",
    holes: float = 0.3,
    seed: int = 0,
    time_mode: str = "noon",
) -> RandomArchive:
    """NEX-named files ``{root}/{var}/{scenario}/{var}_day_RAND-ESM_{scenario}_r1i1p1f1_gn_{year}.nc``."""
    rng = np.random.default_rng(seed)
    files: dict[tuple[str, int], Path] = {}
    runs = [("historical", y) for y in historical_years] + [(scenario, y) for y in scenario_years]
    for run, year in runs:
        name = f"{variable}_day_{MODEL}_{run}_{VARIANT}_{GRID_LABEL}_{year}.nc"
        path = root / variable / run / name
        write_random_year(path, variable, calendar, year, lat, lon, rng, holes=holes, time_mode=time_mode)
        files[(run, year)] = path
    return RandomArchive(root, variable, calendar, lat, lon, files)


# -------------------------------------------------------------------------------------------------- output


@dataclass
class OutputFile:
    """A climnorm output as numpy arrays (values float64, NaN where masked)."""

    values: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    month: np.ndarray
    day: np.ndarray
    dayofyear: np.ndarray
    attrs: dict[str, Any]
    dtype: np.dtype[Any]


def read_output(path: Path, variable: str) -> OutputFile:
    with netCDF4.Dataset(path) as ds:
        var = ds.variables[variable]
        dtype = var.dtype
        values = np.ma.filled(np.ma.asarray(var[:]).astype(np.float64), np.nan)
        return OutputFile(
            values=values,
            lat=np.asarray(ds.variables["lat"][:], dtype=np.float64),
            lon=np.asarray(ds.variables["lon"][:], dtype=np.float64),
            month=np.asarray(ds.variables["month"][:]),
            day=np.asarray(ds.variables["day"][:]),
            dayofyear=np.asarray(ds.variables["dayofyear"][:]),
            attrs={k: ds.getncattr(k) for k in ds.ncattrs()},
            dtype=dtype,
        )


def read_field(path: Path, variable: str) -> Field:
    """A climnorm output of any layout (regular, rotated-pole, points) as a Field."""
    with netCDF4.Dataset(path) as ds:
        var = ds.variables[variable]
        coords = {n: np.asarray(ds.variables[n][:]) for n in ("lat", "lon", "rlat", "rlon") if n in ds.variables}
        return Field(
            values=filled(var),
            month=np.asarray(ds.variables["month"][:]).astype(int),
            day=np.asarray(ds.variables["day"][:]).astype(int),
            coords=coords,
            attrs={k: ds.getncattr(k) for k in ds.ncattrs()},
            dims=tuple(var.dimensions),
        )


def assert_same_normal(ours: Field, ref: Field, what: str, rtol: float = 1e-6) -> None:
    """Same values (``rtol``) and NaN mask on every (month, day) of the reference; our other slots all NaN
    (Feb 29 when the window has no leap year: CDO writes only the days it saw)."""
    position = {(m, d): i for i, (m, d) in enumerate(zip(ours.month.tolist(), ours.day.tolist(), strict=True))}
    rows = [position[(m, d)] for m, d in zip(ref.month.tolist(), ref.day.tolist(), strict=True)]
    extra = sorted(set(range(ours.values.shape[0])) - set(rows))
    assert np.isnan(ours.values[extra]).all(), f"{what}: slots the reference does not have hold values"
    mine = ours.values[rows]
    assert mine.shape == ref.values.shape, f"{what}: shape {mine.shape} vs reference {ref.values.shape}"
    nan_mine, nan_ref = np.isnan(mine), np.isnan(ref.values)
    assert np.array_equal(nan_mine, nan_ref), (
        f"{what}: NaN masks differ in {int((nan_mine != nan_ref).sum())} of {mine.size} values"
    )
    ok = ~nan_ref
    np.testing.assert_allclose(mine[ok], ref.values[ok], rtol=rtol, atol=0, err_msg=what)


def assert_close_with_same_nans(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-6, what: str = "") -> None:
    """Identical NaN masks and |actual - expected| <= rtol * |expected| everywhere else."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    if not np.array_equal(nan_a, nan_e):
        where = np.argwhere(nan_a != nan_e)
        raise AssertionError(
            f"{what}: NaN masks differ at {len(where)} places, first {where[:5].tolist()} "
            f"(actual NaN: {nan_a.sum()}, expected NaN: {nan_e.sum()})"
        )
    ok = ~nan_e
    rel = np.abs(actual[ok] - expected[ok]) / np.maximum(np.abs(expected[ok]), 1e-300)
    if rel.size and rel.max() > rtol:
        i = int(np.argmax(rel))
        raise AssertionError(
            f"{what}: max relative difference {rel.max():.3g} > {rtol:g} "
            f"(actual {actual[ok][i]!r}, expected {expected[ok][i]!r})"
        )

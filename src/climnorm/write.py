"""Write one normal as a CF-1.8 climatology NetCDF file, atomically, and checksum its data."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np

from climnorm import __version__
from climnorm._atomic import atomic_file
from climnorm._ranges import format_ranges
from climnorm.calendars import SlotScheme, is_leap
from climnorm.digests import data_checksum
from climnorm.types import PRODUCT_TITLES, Encoding, NormalMeta, RegionCut

FILL_VALUE = np.float32(1e20)
DEFAULT_ENCODING = Encoding()
CELL_METHODS = "time: mean within years time: mean over years"


def _slot_years(scheme: SlotScheme, window: range) -> tuple[int, np.ndarray, np.ndarray]:
    """The representative year (mid-window, a leap year where the slots need one) and, per slot, the first and
    last year of the window that has it (the representative year for a slot none has)."""
    years = list(window)
    middle = years[len(years) // 2]
    ref = middle
    if scheme.nslots == 366 and scheme.calendar != "all_leap":
        leaps = [y for y in years if is_leap(y, scheme.calendar)] or [2000]
        ref = min(leaps, key=lambda y: (abs(y - middle), y))
    having = np.array([scheme.year_slots(y) for y in years])
    held = having.any(axis=0)
    first = np.where(held, np.asarray(years)[np.argmax(having, axis=0)], ref)
    last = np.where(held, np.asarray(years)[len(years) - 1 - np.argmax(having[::-1], axis=0)], ref)
    return ref, first, last


def _slot_dates(
    scheme: SlotScheme, window: range
) -> tuple[list[cftime.datetime], list[cftime.datetime], list[cftime.datetime]]:
    """Per slot: a representative date (mid-window, a leap year where the slot needs one) and the climatology
    bounds, from the slot's first day in the window to the day after its last."""
    ref, first, last = _slot_years(scheme, window)
    dates = [scheme.slot_date(slot, ref, hour=12) for slot in range(scheme.nslots)]
    lower = [scheme.slot_date(slot, int(year)) for slot, year in enumerate(first)]
    upper = [scheme.slot_date(slot, int(year)) + dt.timedelta(days=1) for slot, year in enumerate(last)]
    return dates, lower, upper


def write_normal(
    path: Path,
    normal: np.ndarray,
    grid: RegionCut,
    meta: NormalMeta,
    encoding: Encoding = DEFAULT_ENCODING,
) -> tuple[int, str]:
    """Write ``normal`` (slot, lat, lon) to ``path`` via a temporary file and rename; returns (size, checksum)."""
    scheme = SlotScheme(meta.calendar, meta.leap_day)
    if normal.shape[0] != scheme.nslots or normal.ndim != 1 + len(grid.dims):
        raise ValueError(f"normal shape {normal.shape} does not match {scheme.nslots} slots x {grid.dims}")
    with atomic_file(path) as tmp:
        _write(tmp, normal, grid, meta, scheme, encoding)
    return path.stat().st_size, data_checksum(normal)


def _write(
    target: Path,
    normal: np.ndarray,
    grid: RegionCut,
    meta: NormalMeta,
    scheme: SlotScheme,
    encoding: Encoding,
) -> None:
    with netCDF4.Dataset(target, "w", format="NETCDF4") as ds:
        create_dimensions(ds, scheme.nslots, grid, normal)
        write_day_slots(ds, scheme, meta.window, meta.leap_day)
        attrs: dict[str, Any] = dict(meta.var_attrs)
        attrs["cell_methods"] = CELL_METHODS
        if meta.smoothing:
            attrs["comment"] = f"smoothed: {meta.smoothing}"
        write_data(ds, normal, grid, meta, attrs, ["dayofyear", "month", "day"], encoding)


def create_dimensions(ds: netCDF4.Dataset, steps: int, grid: RegionCut, values: np.ndarray) -> None:
    """The climatological ``time`` of ``steps`` steps, its bounds' ``nv`` and the region's dimensions."""
    ds.createDimension("time", steps)
    ds.createDimension("nv", 2)
    for dim, size in zip(grid.dims, values.shape[1:], strict=True):
        ds.createDimension(dim, size)


def write_data(
    ds: netCDF4.Dataset,
    values: np.ndarray,
    grid: RegionCut,
    meta: NormalMeta,
    attrs: dict[str, Any],
    labels: list[str],
    encoding: Encoding,
) -> None:
    """The region's coordinates, the (time, *grid) variable with ``attrs`` and the ``labels`` of its time steps
    as coordinates (one chunk per step), and the global attributes."""
    aux, mapping = write_grid(ds, grid)
    v = ds.createVariable(
        meta.variable, "f4", ("time", *grid.dims), fill_value=FILL_VALUE, **encoding.variable(values.shape)
    )
    attrs = dict(attrs)
    attrs["missing_value"] = FILL_VALUE
    attrs["coordinates"] = " ".join([*labels, *aux])
    if mapping:
        attrs["grid_mapping"] = mapping
    v.setncatts(attrs)
    v[:] = np.ma.masked_invalid(values)
    ds.setncatts(global_attributes(meta))


def write_day_slots(ds: netCDF4.Dataset, scheme: SlotScheme, window: range, leap_day: str) -> None:
    """The climatological time axis of day slots (CF-1.8 climatology bounds) and its dayofyear/month/day labels
    (dimensions ``time`` and ``nv`` must exist)."""
    units = f"days since {window.start:04d}-01-01 00:00:00"
    _write_time(ds, *_slot_numbers(scheme, window, units), units, scheme.calendar)
    doy = ds.createVariable("dayofyear", "i2", ("time",))
    doy.setncatts({"long_name": f"day slot of the climatological year ({leap_day} policy)", "units": "1"})
    doy[:] = np.arange(1, scheme.nslots + 1)
    month, day = scheme.labels()
    for name, values, long in (("month", month, "calendar month of the slot"), ("day", day, "day of month")):
        v = ds.createVariable(name, "i1", ("time",))
        v.long_name = long
        v[:] = values


def write_climatological_time(
    ds: netCDF4.Dataset,
    dates: list[cftime.datetime],
    lower: list[cftime.datetime],
    upper: list[cftime.datetime],
    units: str,
    calendar: str,
) -> None:
    """The ``time`` coordinate of climatological steps at ``dates`` and their CF-1.8 ``climatology_bnds``."""
    t, lo, hi = (cftime.date2num(d, units, calendar) for d in (dates, lower, upper))
    _write_time(ds, t, lo, hi, units, calendar)


@functools.lru_cache(maxsize=16)
def _slot_numbers(scheme: SlotScheme, window: range, units: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The day slots' dates and climatology bounds as numbers in ``units``, once per window in a worker (every
    region's normal of a target has the same time axis).

    A slot's date lies a fixed number of days after 1 January in every year as long or as short as its own, so
    the numbers are each year's 1 January plus those days: exact integers and halves, the same as cftime gives
    for each date (tests/test_write.py), without making a thousand dates per file. Across the 1582 switch of the
    standard calendar the dates are made one by one.
    """
    ref, first, last = _slot_years(scheme, window)
    if not (scheme.calendar == "standard" and min(window) <= 1583):
        numbers = (
            _numbers(scheme, np.full(scheme.nslots, ref), units, 0.5),
            _numbers(scheme, first, units, 0.0),
            _numbers(scheme, last, units, 1.0),
        )
        if not any(np.isnan(n).any() for n in numbers):
            return numbers
    dates = _slot_dates(scheme, window)
    t, lo, hi = (np.asarray(cftime.date2num(d, units, scheme.calendar), np.float64) for d in dates)
    return t, lo, hi


def _numbers(scheme: SlotScheme, years: np.ndarray, units: str, extra_days: float) -> np.ndarray:
    """Each slot's date in its year (``years`` per slot), ``extra_days`` later, as a number in ``units``."""
    out = np.empty(scheme.nslots)
    for year in np.unique(years):
        new_year = cftime.datetime(int(year), 1, 1, calendar=scheme.calendar)
        here = years == year
        offsets = _day_offsets(scheme, is_leap(int(year), scheme.calendar))[here]
        out[here] = float(cftime.date2num(new_year, units, scheme.calendar)) + offsets + extra_days
    return out


@functools.cache
def _day_offsets(scheme: SlotScheme, leap: bool) -> np.ndarray:
    """Days from 1 January to each slot's date in a (leap) year; NaN for the slots such a year lacks."""
    year = 2000 if leap else 2001  # leap, and not, in every calendar that has leap years
    has = scheme.year_slots(year)
    new_year = cftime.datetime(year, 1, 1, calendar=scheme.calendar)
    return np.array(
        [(scheme.slot_date(slot, year) - new_year).days if has[slot] else np.nan for slot in range(scheme.nslots)]
    )


def _write_time(
    ds: netCDF4.Dataset, dates: np.ndarray, lower: np.ndarray, upper: np.ndarray, units: str, calendar: str
) -> None:
    t = ds.createVariable("time", "f8", ("time",))
    t.setncatts(
        {
            "standard_name": "time",
            "long_name": "time (climatological)",
            "units": units,
            "calendar": calendar,
            "axis": "T",
            "climatology": "climatology_bnds",
        }
    )
    t[:] = dates
    b = ds.createVariable("climatology_bnds", "f8", ("time", "nv"))
    b[:, 0] = lower
    b[:, 1] = upper


def write_grid(ds: netCDF4.Dataset, grid: RegionCut) -> tuple[list[str], str | None]:
    """The region's coordinates; returns the auxiliary coordinate names and the grid mapping's, if any."""
    aux: list[str] = []
    mapping = None
    for coord in grid.coords:
        for dim, size in zip(coord.dims, coord.values.shape, strict=True):
            if dim not in ds.dimensions:
                ds.createDimension(dim, size)
        values = coord.values
        dtype = str if values.dtype.kind in "US" else values.dtype
        c = ds.createVariable(coord.name, dtype, coord.dims)
        c.setncatts(dict(coord.attrs))
        c[...] = values
        if coord.dims != (coord.name,):
            if dict(coord.attrs).get("grid_mapping_name"):
                mapping = coord.name
            else:
                aux.append(coord.name)
    return aux, mapping


def global_attributes(meta: NormalMeta) -> dict[str, object]:
    """The file's global attributes: what was computed, from which years and inputs, by which software."""
    region, target = meta.region, meta.target
    missing = [y for y in meta.window if y not in meta.years]
    attrs: dict[str, object] = {
        "Conventions": "CF-1.8",
        "title": f"{len(target.window)}-year {PRODUCT_TITLES[meta.product]} of {target.variable} for {region.name}",
        "variable": target.variable,
        "region": region.key,
        "region_name": region.name,
        "region_box": f"lat {region.lat_min}..{region.lat_max}, lon {region.lon_min}..{region.lon_max}",
        "scenario": target.scenario,
        "scenarios": " ".join(meta.source_scenarios),
        "period": target.period,
        "target_year": np.int32(target.year),
        "window_years": np.int32(len(target.window)),
        "window": f"{meta.window.start}-{meta.window.stop - 1}",
        "source_years": format_ranges(list(meta.years)),
        "missing_years": format_ranges(missing) if missing else "none",
        "number_of_years": np.int32(len(meta.years)),
        "min_years_for_normal": np.int32(target.min_years),
        "model": target.member.model,
        "variant_label": target.member.variant,
        "calendar": meta.calendar,
        "leap_day": meta.leap_day,
        "software": "climnorm",
        "software_version": __version__,
        "creation_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "input_files_digest": meta.inputs_digest,
    }
    if meta.product != "daily":  # a daily file says nothing of products: its layout predates them
        attrs["product"] = meta.product
    if meta.smoothing:
        attrs["smoothing"] = meta.smoothing
    if meta.completeness:
        attrs["monthly_completeness"] = meta.completeness
    return attrs

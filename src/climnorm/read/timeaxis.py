"""A file's time axis: its calendar, and the year and date of every step (from the bounds' midpoints if any).

The reader (`climnorm.read.extract`) places each step in its year and day slot by these dates; a file whose time axis
cannot be read (no CF units, an unknown calendar, duplicate steps) is refused in one line.
"""

from __future__ import annotations

import cftime
import netCDF4
import numpy as np

from climnorm.calendars import normalise_calendar, whole_day_dates
from climnorm.errors import InputFileError


def decode_time(ds: netCDF4.Dataset, dim: str, path: str) -> tuple[str, np.ndarray, tuple[np.ndarray, ...]]:
    """Calendar, year of each step, and (month, day, dayofyr) of each step's date (bounds midpoints if any)."""
    tvar = ds.variables[dim]
    units = getattr(tvar, "units", None)
    if not units or " since " not in units:
        raise InputFileError(path, f"time variable {dim!r} has no CF units ('<unit> since <date>'): {units!r}")
    try:
        calendar = normalise_calendar(getattr(tvar, "calendar", None))
    except ValueError as err:
        raise InputFileError(path, str(err)) from None
    values = np.asarray(tvar[:], dtype=np.float64)
    bounds_name = getattr(tvar, "bounds", None) or getattr(tvar, "climatology", None)
    if bounds_name and bounds_name in ds.variables:
        bounds = np.asarray(ds.variables[bounds_name][:], dtype=np.float64)
        if bounds.shape == (values.size, 2):
            values = bounds.mean(axis=1)
    if values.size > 1 and np.any(np.diff(np.sort(values)) == 0):
        dup = np.sort(values)[np.nonzero(np.diff(np.sort(values)) == 0)[0][0]]
        raise InputFileError(path, f"duplicate time steps (value {dup:g} {units} occurs more than once)")
    fast = whole_day_dates(values, units, calendar)
    if fast is not None:
        years, month, day, doy = fast
        return calendar, years, (month, day, doy)
    dates = cftime.num2date(values, units, calendar, only_use_cftime_datetimes=True)
    dates = np.atleast_1d(dates)
    years = np.fromiter((d.year for d in dates), dtype=np.int64, count=dates.size)
    month = np.fromiter((d.month for d in dates), dtype=np.int64, count=dates.size)
    day = np.fromiter((d.day for d in dates), dtype=np.int64, count=dates.size)
    doy = np.fromiter((d.dayofyr for d in dates), dtype=np.int64, count=dates.size)
    return calendar, years, (month, day, doy)


def date_range(ds: netCDF4.Dataset, dim: str) -> tuple[str, str]:
    tvar = ds.variables[dim]
    values = np.asarray(tvar[:], dtype=np.float64)
    calendar = getattr(tvar, "calendar", "standard")
    dates = cftime.num2date([values.min(), values.max()], tvar.units, calendar, only_use_cftime_datetimes=True)
    return dates[0].strftime("%Y-%m-%d"), dates[1].strftime("%Y-%m-%d")

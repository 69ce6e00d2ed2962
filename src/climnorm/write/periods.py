"""The time axis of a normal of whole months (a `climnorm.products.Periods` layout: monthly, seasonal, annual) in
a CF-1.8 climatology NetCDF file.

The ``time`` axis has 12, 4 or 1 climatological steps whose ``climatology_bnds`` span the window and the months
each step covers (CF-1.8 §7.4): the DJF step of window 1985-2014 runs from 1984-12-01 to 2014-03-01.
"""

from __future__ import annotations

import datetime as dt

import cftime
import netCDF4
import numpy as np

from climnorm.products import Periods
from climnorm.write.netcdf import write_climatological_time


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _step_dates(
    layout: Periods, window: range, calendar: str
) -> tuple[list[cftime.datetime], list[cftime.datetime], list[cftime.datetime]]:
    """Per step: its middle in the window's middle year, and its climatology bounds (first day of its first
    month in the first window year, first day after it in the last)."""
    middle = window[len(window) // 2]
    dates, lower, upper = [], [], []
    for step in layout.periods:
        month, months, offset = step.month, step.months, step.offset
        begin = cftime.datetime(middle + offset, month, 1, calendar=calendar)
        end = cftime.datetime(*_shift(middle + offset, month, months), 1, calendar=calendar)
        dates.append(begin + dt.timedelta(seconds=(end - begin).total_seconds() / 2))
        lower.append(cftime.datetime(window.start + offset, month, 1, calendar=calendar))
        upper.append(cftime.datetime(*_shift(window.stop - 1 + offset, month, months), 1, calendar=calendar))
    return dates, lower, upper


def write_period_steps(ds: netCDF4.Dataset, layout: Periods, window: range, calendar: str) -> list[str]:
    """The climatological time axis of a normal of whole months, its bounds, and the step labels (dimensions
    ``time`` and ``nv`` must exist); returns the label coordinates' names."""
    units = f"days since {window.start - 1:04d}-12-01 00:00:00"
    write_climatological_time(ds, *_step_dates(layout, window, calendar), units, calendar)
    if layout.coordinate == "month":
        v = ds.createVariable("month", "i1", ("time",))
        v.long_name = "calendar month"
        v[:] = np.array([step.month for step in layout.periods])
    elif layout.coordinate == "season":  # a character array: what every CF reader reads (not a vlen string)
        labels = [step.label for step in layout.periods]
        width = max(map(len, labels))
        ds.createDimension("season_strlen", width)
        s = ds.createVariable("season", "S1", ("time", "season_strlen"))
        s.long_name = "season (DJF: December of the previous year, January and February)"
        s._Encoding = "ascii"  # readers (netCDF4, xarray) give the labels back as strings
        s[:] = np.array(labels, dtype=f"S{width}")
    return list(layout.labels)

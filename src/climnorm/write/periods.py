"""Write a monthly, seasonal or annual normal as a CF-1.8 climatology NetCDF file, atomically; and one entry point
for every product's file.

The ``time`` axis has 12, 4 or 1 climatological steps whose ``climatology_bnds`` span the window and the months
each step covers (CF-1.8 §7.4): the DJF step of window 1985-2014 runs from 1984-12-01 to 2014-03-01.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np

from climnorm._atomic import atomic_file
from climnorm.numerics.periods import SEASONS, total_units
from climnorm.write.digests import data_checksum
from climnorm.write.netcdf import create_dimensions, write_climatological_time, write_data
from climnorm.write.tasks import NormalMeta, WriteTask

# per product, its steps: (label, first month, number of months, year of the first month relative to the year)
_STEPS: dict[str, tuple[tuple[str, int, int, int], ...]] = {
    "monthly": tuple((f"{m:02d}", m, 1, 0) for m in range(1, 13)),
    "seasonal": tuple((name, months[0], 3, -1 if months[0] == 12 else 0) for name, months in SEASONS),
    "annual": (("year", 1, 12, 0),),
}
_COMMENTS = {
    ("monthly", "mean"): "the mean of each month's daily values, then the mean over the window's years",
    ("monthly", "sum"): "each month's total of its daily values, then the mean over the window's years",
    ("seasonal", "mean"): "the mean of each season's monthly means (DJF: December of the previous year), "
    "then the mean over the window's years",
    ("seasonal", "sum"): "each season's total of its monthly totals (DJF: December of the previous year), "
    "then the mean over the window's years",
    ("annual", "mean"): "the mean of each calendar year's monthly means, then the mean over the window's years",
    ("annual", "sum"): "each calendar year's total of its monthly totals, then the mean over the window's years",
}


def period_steps(product: str) -> int:
    """How many time steps a monthly, seasonal or annual normal has."""
    return len(_STEPS[product])


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + month - 1 + months
    return index // 12, index % 12 + 1


def _step_dates(
    product: str, window: range, calendar: str
) -> tuple[list[cftime.datetime], list[cftime.datetime], list[cftime.datetime]]:
    """Per step: its middle in the window's middle year, and its climatology bounds (first day of its first
    month in the first window year, first day after it in the last)."""
    middle = window[len(window) // 2]
    dates, lower, upper = [], [], []
    for _, month, months, offset in _STEPS[product]:
        begin = cftime.datetime(middle + offset, month, 1, calendar=calendar)
        end = cftime.datetime(*_shift(middle + offset, month, months), 1, calendar=calendar)
        dates.append(begin + dt.timedelta(seconds=(end - begin).total_seconds() / 2))
        lower.append(cftime.datetime(window.start + offset, month, 1, calendar=calendar))
        upper.append(cftime.datetime(*_shift(window.stop - 1 + offset, month, months), 1, calendar=calendar))
    return dates, lower, upper


def write_period_steps(ds: netCDF4.Dataset, product: str, window: range, calendar: str) -> list[str]:
    """The climatological time axis of a monthly, seasonal or annual normal, its bounds, and the step labels
    (dimensions ``time`` and ``nv`` must exist); returns the label coordinates' names."""
    units = f"days since {window.start - 1:04d}-12-01 00:00:00"
    write_climatological_time(ds, *_step_dates(product, window, calendar), units, calendar)
    if product == "monthly":
        v = ds.createVariable("month", "i1", ("time",))
        v.long_name = "calendar month"
        v[:] = np.arange(1, 13)
        return ["month"]
    if product == "seasonal":
        v = ds.createVariable("season", str, ("time",))
        v.long_name = "season (DJF: December of the previous year, January and February)"
        v[:] = np.array([name for name, *_ in _STEPS["seasonal"]], dtype=object)
        return ["season"]
    return []


def _variable_attributes(meta: NormalMeta) -> dict[str, Any]:
    """The variable's attributes: those of the daily values, made a total's where the product sums them."""
    attrs: dict[str, Any] = dict(meta.var_attrs)
    if meta.aggregation == "sum":
        attrs["units"] = total_units(str(attrs.get("units", "")))[1]
        if attrs.get("standard_name") == "precipitation_flux":
            attrs["standard_name"] = "lwe_thickness_of_precipitation_amount"
        if "long_name" in attrs:
            attrs["long_name"] = f"{attrs['long_name']} total"
    attrs["cell_methods"] = f"time: {meta.aggregation} within years time: mean over years"
    attrs["comment"] = _COMMENTS[(meta.product, meta.aggregation)]
    return attrs


def write_period_normal(task: WriteTask) -> tuple[int, str]:
    """Write a (12|4|1, *grid) normal of ``task.meta.product`` via a temporary file and rename; (size, checksum)."""
    path, normal, grid, meta = Path(task.path), task.normal, task.grid, task.meta
    if meta.product not in _STEPS:
        raise ValueError(f"{path}: {meta.product!r} is not a monthly, seasonal or annual product")
    steps = period_steps(meta.product)
    if normal.shape[0] != steps or normal.ndim != 1 + len(grid.dims):
        raise ValueError(f"{meta.product} normal shape {normal.shape} does not match {steps} steps x {grid.dims}")
    with atomic_file(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        create_dimensions(ds, steps, grid, normal)
        labels = write_period_steps(ds, meta.product, meta.window, meta.calendar)
        attrs = _variable_attributes(meta)
        write_data(ds, normal, grid, meta, attrs, labels, task.encoding)
    return path.stat().st_size, data_checksum(normal)

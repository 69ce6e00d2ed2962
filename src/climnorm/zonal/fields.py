"""climnorm's outputs as the zonal table sees them: manifest records, and the (slot, lat, lon) fields in a file.

Every data variable shaped (slot, lat, lon) is a field: ``{variable}`` itself (one model), or
``{variable}_{statistic}`` (an ensemble statistic). The slot is labelled by a ``season`` coordinate, else
``dayofyear`` (daily files, labelled MM-DD from ``month``/``day``), else ``month``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm.errors import ZonalError
from climnorm.outputs.index import OutputIndex
from climnorm.records import OutputRecord
from climnorm.write.readback import open_output as read_output
from climnorm.write.readback import output_size
from climnorm.zonal.grid import Grid, read_grid

log = logging.getLogger(__name__)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SET_KEYS = ("variable", "scenario", "period", "target_year", "window_years", "model", "variant", "product")


@dataclass(frozen=True, eq=False)
class Field:
    """One (slot, lat, lon) data variable of an output file, with its slot labels; data float32, NaN = missing."""

    name: str
    variable: str
    statistic: str
    units: str
    slot_kind: str
    slots: np.ndarray
    labels: tuple[str, ...]
    data: np.ndarray


def select_records(
    output_dir: Path,
    *,
    variables: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    products: Iterable[str] | None = None,
    scenarios: Iterable[str] | None = None,
) -> list[OutputRecord]:
    """Manifest records matching the filters (None = all), sorted by path; a listed file that is missing is an
    error (OutputNotFound names what there is when nothing matches)."""
    index = OutputIndex.load(output_dir)
    records = index.select(variable=variables, region=regions, product=products, scenario=scenarios)
    for record in records:
        if output_size(index.path(record)) is None:
            raise ZonalError(f"{index.path(record)}: listed in the manifest but missing")
    return records


def set_key(record: OutputRecord) -> tuple[str, ...]:
    """What makes outputs one set across regions (same variable, scenario, period, target year, model...)."""
    return tuple(str(record.value(k)) for k in SET_KEYS)


def _horizontal_dims(ds: netCDF4.Dataset, source: str) -> tuple[str, str]:
    """Names of the latitude and longitude dimensions (from 1-D ``lat``/``lon`` coordinate variables)."""
    for lat, lon in (("lat", "lon"), ("latitude", "longitude")):
        if lat in ds.variables and lon in ds.variables:
            if ds.variables[lat].ndim != 1 or ds.variables[lon].ndim != 1:
                raise ZonalError(
                    f"{source}: 2-D latitude/longitude (a curvilinear grid) is not supported; "
                    "regrid to a regular lat/lon grid"
                )
            return ds.variables[lat].dimensions[0], ds.variables[lon].dimensions[0]
    raise ZonalError(f"{source}: no lat/lon coordinate variables")


@contextlib.contextmanager
def open_output(path: Path) -> Iterator[netCDF4.Dataset]:
    """An output opened for reading (a file, or a target in its chain's store); failure is a one-line ZonalError
    naming it."""
    with contextlib.ExitStack() as stack:
        try:
            ds = stack.enter_context(read_output(path))
        except OSError as err:
            raise ZonalError(f"{path}: cannot read ({err})") from err
        yield ds


def read_output_grid(path: Path) -> Grid:
    """The grid of an output file (coordinates only; the data are not read)."""
    with open_output(path) as ds:
        return read_grid(ds, *_horizontal_dims(ds, str(path)), source=str(path))


def _coord_along(ds: netCDF4.Dataset, name: str, dim: str) -> np.ndarray | None:
    """A coordinate variable along the slot dimension, or None."""
    var = ds.variables.get(name)
    if var is None or var.dimensions[:1] != (dim,):
        return None
    values = var[:]
    if var.dtype == "S1" and values.ndim == 2:
        values = netCDF4.chartostring(values)
    return np.ma.filled(values, 0) if np.ma.isMaskedArray(values) else np.asarray(values)


def slot_labels(ds: netCDF4.Dataset, dim: str) -> tuple[str, np.ndarray, tuple[str, ...]]:
    """How the slots are labelled: (kind, numbers, labels) from ``season``, ``dayofyear`` or ``month``."""
    size = len(ds.dimensions[dim])
    season = _coord_along(ds, "season", dim)
    if season is not None:
        return "season", np.arange(1, size + 1), tuple(str(s) for s in season)
    doy = _coord_along(ds, "dayofyear", dim)
    month = _coord_along(ds, "month", dim)
    if doy is not None:
        day = _coord_along(ds, "day", dim)
        if month is not None and day is not None:
            labels = tuple(f"{int(m):02d}-{int(d):02d}" for m, d in zip(month, day, strict=True))
        else:
            labels = tuple(str(int(d)) for d in doy)
        return "dayofyear", doy.astype(np.int64), labels
    if month is not None:
        return "month", month.astype(np.int64), tuple(MONTHS[int(m) - 1] for m in month)
    return "index", np.arange(1, size + 1), tuple(str(i) for i in range(1, size + 1))


def _naming(name: str, variable: str) -> tuple[str, str]:
    """(variable, statistic) of a data variable: ``pr`` -> (pr, ''), ``pr_p90`` -> (pr, p90)."""
    if name == variable:
        return name, ""
    return variable, name[len(variable) + 1 :]


@dataclass(frozen=True, eq=False)
class WindowYears:
    """A changes' baseline's yearly values (``{variable}_window_years``): years, (years, slot, lat, lon) float32
    with NaN, and the fewest valid years a variability is given for (the file's ``min_years_for_normal``)."""

    years: np.ndarray
    data: np.ndarray
    min_years: int


def read_window_years(path: Path, variable: str) -> WindowYears | None:
    """The yearly values a baseline file of a period product or an indicator keeps, or None."""
    name = f"{variable}_window_years"
    with open_output(path) as ds:
        if name not in ds.variables:
            return None
        lat_dim, lon_dim = _horizontal_dims(ds, str(path))
        var = ds.variables[name]
        data = np.ma.filled(np.ma.asarray(var[:], dtype=np.float32), np.nan)
        if var.dimensions[2:] == (lon_dim, lat_dim):
            data = np.ascontiguousarray(data.transpose(0, 1, 3, 2))
        years = np.asarray(ds.variables[var.dimensions[0]][:], dtype=np.int64)
        minimum = int(ds.getncattr("min_years_for_normal")) if "min_years_for_normal" in ds.ncattrs() else 1
    return WindowYears(years, data, minimum)


def read_fields(path: Path, variable: str) -> tuple[dict[str, Any], list[Field]]:
    """The global attributes and every (slot, lat, lon) field of an output file."""
    with open_output(path) as ds:
        lat_dim, lon_dim = _horizontal_dims(ds, str(path))
        fields: list[Field] = []
        for name, var in ds.variables.items():
            if var.ndim != 3 or set(var.dimensions[1:]) != {lat_dim, lon_dim} or name.endswith("_bnds"):
                continue
            if name != variable and not name.startswith(f"{variable}_"):
                continue  # e.g. an ensemble's n_members
            kind, slots, labels = slot_labels(ds, var.dimensions[0])
            data = np.ma.filled(np.ma.asarray(var[:], dtype=np.float32), np.nan)
            if var.dimensions[1:] == (lon_dim, lat_dim):
                data = np.ascontiguousarray(data.transpose(0, 2, 1))
            var_name, statistic = _naming(name, variable)
            units = str(getattr(var, "units", ""))
            fields.append(Field(name, var_name, statistic, units, kind, slots, labels, data))
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    if not fields:
        raise ZonalError(f"{path}: no data variable shaped (slot, lat, lon)")
    return attrs, fields

"""What every output file shares: its dimensions, the region's grid, the data variable, the climatological time
axis and the global attributes (CF-1.8)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cftime
import netCDF4
import numpy as np

from climnorm import __version__
from climnorm._ranges import format_ranges
from climnorm.numerics.changes import DETRENDED_STD, WINDOW_YEARS
from climnorm.numerics.ensemble import percentile_of
from climnorm.numerics.periods import total_units
from climnorm.types import RegionCut
from climnorm.write.orders import Encoding, NormalMeta

FILL_VALUE = np.float32(1e20)
DEFAULT_ENCODING = Encoding()
CELL_METHODS = "time: mean within years time: mean over years"


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
    extras: tuple[tuple[str, np.ndarray], ...] = (),
) -> None:
    """The region's coordinates, the (time, *grid) variable with ``attrs`` and the ``labels`` of its time steps
    as coordinates (one chunk per step), the window statistics besides the mean (``extras``), and the global
    attributes."""
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
    for statistic, extra in extras:
        dims: tuple[str, ...] = ("time", *grid.dims)
        if statistic == WINDOW_YEARS:
            dims = (write_window_years(ds, meta.years, extra), *dims)
        w = ds.createVariable(
            window_variable(meta.variable, statistic), "f4", dims, fill_value=FILL_VALUE,
            **encoding.variable(extra.shape),
        )  # fmt: skip
        w.setncatts(window_attributes(attrs, statistic))
        w[:] = np.ma.masked_invalid(extra)
    ds.setncatts(global_attributes(meta))


def write_window_years(ds: netCDF4.Dataset, years: tuple[int, ...], values: np.ndarray) -> str:
    """The ``year`` dimension and coordinate of a window's yearly values (``values``: years first); its name."""
    if values.shape[0] != len(years):
        raise ValueError(f"{len(years)} window years but yearly values of shape {values.shape}")
    ds.createDimension("year", len(years))
    year = ds.createVariable("year", "i4", ("year",))
    year.setncatts({"long_name": "year of the window", "units": "1"})
    year[:] = np.asarray(years, dtype=np.int32)
    return "year"


#: CF cell methods of the statistics a file may hold (CF-1.8 Appendix E).
_METHODS = {"mean": "mean", "median": "median", "min": "minimum", "max": "maximum", "std": "standard_deviation"}


def statistic_method(name: str, of: str) -> str:
    """The CF cell method of a statistic over a sample (``of``: "the members", "the window's years").

    CF has no percentile method: a percentile is written as the value at one point of the sample's distribution,
    ``point``, with the percentile and its interpolation in the method's comment, which CF reserves for such detail
    (docs/normals.md, "Percentiles in CF files"): ``point (comment: 90th percentile of the members, linear
    interpolation between order statistics)``. The median is CF's own ``median``.
    """
    method, comment = _method(name, of)
    return f"{method} (comment: {comment})" if comment else method


def _method(name: str, of: str) -> tuple[str, str]:
    """A statistic's CF method, and the comment a percentile needs."""
    if name in _METHODS:
        return _METHODS[name], ""
    q = percentile_of(name)
    if q is None:
        raise ValueError(f"unknown statistic {name!r}")
    return "point", f"{_ordinal(q)} percentile of {of}, linear interpolation between order statistics"


def window_variable(name: str, statistic: str) -> str:
    """The variable of a statistic of the window's yearly values besides their mean: ``tx_ge_90F_window_p80``
    (never an ensemble statistic's name, ``tx_ge_90F_p80``)."""
    return f"{name}_window_{statistic}"


def window_attributes(attrs: dict[str, Any], statistic: str) -> dict[str, Any]:
    """A window statistic's attributes from its mean's: the same values within years, another method over them
    (``std``: the sample standard deviation, ddof 1; ``detrended_std``: ddof 0 after a linear trend), or none
    (``years``: the yearly values themselves)."""
    within = str(attrs["cell_methods"]).split(" time: mean over years")[0]
    out = {k: v for k, v in attrs.items() if k != "comment"}
    if statistic == WINDOW_YEARS:
        out["cell_methods"] = within
        out["long_name"] = f"{attrs.get('long_name', '')}: each year of the window".lstrip(": ")
        return out
    if statistic == DETRENDED_STD:
        method = "standard_deviation"
        comment = (
            "population standard deviation, ddof 0, of the window's years after removing their least-squares "
            "linear trend, the interannual variability of IPCC AR6 approach C"
        )
    else:
        method, comment = _method(statistic, "the window's years")
    if statistic == "std":
        comment = "sample standard deviation of the window's years, ddof 1"
    out["cell_methods"] = f"{within} time: {method} over years" + (f" (comment: {comment})" if comment else "")
    out["long_name"] = f"{attrs.get('long_name', '')}: {statistic} over the window's years".lstrip(": ")
    return out


def _ordinal(q: float) -> str:
    n = int(q) if float(q).is_integer() else q
    if isinstance(n, float):
        return f"{n:g}th"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def variable_attributes(meta: NormalMeta) -> dict[str, Any]:
    """The data variable's attributes: those of the daily values (made a total's where the product's steps sum
    them) or the product's own (an indicator's), the CF cell methods and the product's comment."""
    product = meta.product
    attrs: dict[str, Any] = dict(product.variable_attrs or meta.var_attrs)
    if not product.variable_attrs and product.aggregation == "sum":
        attrs["units"] = total_units(str(attrs.get("units", "")))[1]
        if attrs.get("standard_name") == "precipitation_flux":
            attrs["standard_name"] = "lwe_thickness_of_precipitation_amount"
        if "long_name" in attrs:
            attrs["long_name"] = f"{attrs['long_name']} total"
    attrs["cell_methods"] = f"time: {product.within or product.aggregation} within years time: mean over years"
    if product.comment:
        attrs["comment"] = product.comment
    return attrs


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
    write_time(ds, t, lo, hi, units, calendar)


def write_time(
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
        "title": f"{len(target.window)}-year {meta.product.title} of {target.variable} for {region.name}",
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
    attrs.update(meta.product.attrs)  # a daily file says nothing of products: its layout predates them
    return attrs

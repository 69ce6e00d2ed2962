"""``climnorm export``: one consolidated store per chain and product of an output directory (docs/normals.md,
"One dataset per chain"), from the datasets :func:`climnorm.outputs.datasets.open_normals` returns.

- **Zarr** (v3, through the ``zarr`` package): the dataset as it is, dimensions (target_year, time, *grid),
  one target per chunk.
- **NetCDF-4**: the targets one after another along a single CF ``time`` axis (target_year × steps), each step
  with its climatology bounds and ``target_year``, ``period`` … as coordinates along it, so CDO and other CF
  tools read it as they read one normal; one target per chunk.

Each store is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import cftime
import numpy as np
import xarray as xr

from climnorm._atomic import atomic_directory, atomic_file
from climnorm.errors import DatasetError
from climnorm.outputs.datasets import Chain, chains, lazy_available, open_chain
from climnorm.outputs.index import OutputIndex

T_Format = Literal["zarr", "netcdf"]
_KEEP = ("units", "calendar", "dtype", "_FillValue", "missing_value")
_SUFFIX = {"zarr": ".zarr", "netcdf": ".nc"}


def store_name(chain: Chain) -> str:
    """The file name (without suffix) of one chain's and product's store."""
    c = chain
    parts = (c.variable, c.region, c.scenario, c.model, c.variant, f"{c.window_years}yr", c.product)
    return "_".join(str(p) for p in parts if p)  # an ensemble has no variant


def _encodings(ds: xr.Dataset, chunks: dict[str, tuple[int, ...]], netcdf: bool) -> xr.Dataset:
    """``ds`` with encodings that keep only what the values need, and ``chunks`` for its data variables."""
    for name, var in ds.variables.items():
        encoding = {k: v for k, v in var.encoding.items() if k in _KEEP}
        if name in ds.data_vars:
            shape = chunks[str(name)]
            encoding.update({"zlib": True, "complevel": 1, "shuffle": True, "chunksizes": shape} if netcdf else {})
            if not netcdf:
                encoding["chunks"] = shape
        var.encoding = encoding
    return ds


def zarr_layout(ds: xr.Dataset) -> xr.Dataset:
    """The dataset for Zarr: strings as variable-length (the ``string`` type), one target per chunk."""
    if lazy_available():
        ds = ds.chunk({"target_year": 1})
    text = [n for n, v in ds.coords.items() if v.dtype.kind == "U"]
    ds = ds.assign_coords({n: (ds[n].dims, np.asarray(ds[n].values, dtype=object), ds[n].attrs) for n in text})
    return _encodings(ds, {str(n): (1, *v.shape[1:]) for n, v in ds.data_vars.items()}, netcdf=False)


def netcdf_layout(ds: xr.Dataset) -> xr.Dataset:
    """The dataset with its targets one after another on one CF ``time`` axis (see the module docstring)."""
    n, steps = ds.sizes["target_year"], ds.sizes["time"]
    out = xr.Dataset(attrs=ds.attrs)
    for name, var in ds.variables.items():
        dims = var.dims
        if dims[:2] == ("target_year", "time"):
            data = var.data.reshape((n * steps, *var.shape[2:]))
            new = xr.Variable(("time", *dims[2:]), data, var.attrs, var.encoding)
        elif dims == ("target_year",):
            new = xr.Variable(("time",), np.repeat(var.values, steps), var.attrs, var.encoding)
        elif dims[:1] == ("time",):
            new = xr.Variable(dims, np.tile(var.values, (n, *([1] * (var.ndim - 1)))), var.attrs, var.encoding)
        else:
            new = var
        out[str(name) if name != "climatology_time" else "time"] = new
    out = out.set_coords([str(c) if c != "climatology_time" else "time" for c in ds.coords])
    out["time"] = ("time", _increasing_times(ds), {**out["time"].attrs, "axis": "T"}, out["time"].encoding)
    out["target_year"].attrs = {"long_name": "target year of the normal (last year of its window)"}
    return _encodings(out, {str(k): (steps, *v.shape[1:]) for k, v in out.data_vars.items()}, netcdf=True)


def _increasing_times(ds: xr.Dataset) -> list[cftime.datetime]:
    """Each step's representative time moved to the middle year of its target's window (where monthly, seasonal
    and annual files have it already), so one axis increases through the targets; a 29 February in a common
    year becomes 28 February 18:00. Still inside each step's climatology bounds."""
    calendar = str(ds["climatology_time"].encoding.get("calendar", "standard"))
    out: list[cftime.datetime] = []
    for row, window in zip(ds["climatology_time"].values, ds["window"].values, strict=True):
        first, last = (int(y) for y in str(window).split("-"))
        middle = first + (last - first + 1) // 2
        for t in row:
            try:
                out.append(cftime.datetime(middle, t.month, t.day, t.hour, t.minute, calendar=calendar))
            except ValueError:  # 29 February, in a common year
                out.append(cftime.datetime(middle, t.month, t.day - 1, 18, calendar=calendar))
    return out


def _write_zarr(ds: xr.Dataset, path: Path) -> None:
    with atomic_directory(path) as tmp, warnings.catch_warnings():
        # consolidated metadata is a zarr-python extension of the v3 specification; readers of v3 without it
        # still read the store (it is only an index of the arrays' metadata)
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr_layout(ds).to_zarr(tmp, mode="w", zarr_format=3, consolidated=True)


def _write_netcdf(ds: xr.Dataset, path: Path) -> None:
    with atomic_file(path) as tmp:
        netcdf_layout(ds).to_netcdf(tmp, engine="netcdf4", format="NETCDF4")


def _has_changes(index: OutputIndex, chain: Chain) -> bool:
    """Whether the chain has change files (the store then carries them as variables of their own)."""
    return any(
        r.variable == chain.variable and r.region == chain.region and r.product == chain.product
        and r.scenario in (chain.scenario, "historical") and r.model == chain.model
        for r in index.changes
    )  # fmt: skip


def export(
    output_dir: Path | str,
    *,
    format: T_Format,
    out_dir: Path | str | None = None,
    products: Iterable[str] | None = None,
) -> list[Path]:
    """One consolidated store per chain and product of ``output_dir`` (only ``products`` when given) in
    ``out_dir`` (default ``{output_dir}/export``): Zarr v3 (the ``export`` extra) or NetCDF-4. Returns the
    stores' paths."""
    output_dir = Path(output_dir)
    if format not in _SUFFIX:
        raise DatasetError(f"unknown export format {format!r}: zarr or netcdf")
    if format == "zarr" and importlib.util.find_spec("zarr") is None:
        raise DatasetError("export to Zarr needs the zarr package: pip install 'climnorm[export]'")
    index = OutputIndex.load(output_dir)
    records = index.records
    target_dir = Path(out_dir) if out_dir is not None else output_dir / "export"
    written: list[Path] = []
    wanted = set(products) if products is not None else None
    every = chains(records)
    chosen = [c for c in every if wanted is None or c.product in wanted]
    if not chosen:
        have = ", ".join(sorted({c.product for c in every}))
        raise DatasetError(f"{output_dir}: no {', '.join(sorted(wanted or ()))} normals to export (products: {have})")
    for chain in chosen:
        path = target_dir / (store_name(chain) + _SUFFIX[format])
        with open_chain(output_dir, chain, change=_has_changes(index, chain)) as ds:
            (_write_zarr if format == "zarr" else _write_netcdf)(ds, path)
        written.append(path)
    return written

"""The ``zarr`` output layout (docs/normals.md, "Output layouts"): one Zarr v3 store per chain and product, with a
``target_year`` dimension, each target written into its own chunks as it lands.

A target's output is addressed as ``{store}.zarr#{target year}``. Its writer writes the NetCDF file it always writes
(under a temporary name), then :func:`land_target` copies that file's variables into the store: what differs from
target to target (the time axis, its climatology bounds, every gridded variable) into the target's chunk of arrays
whose first dimension is ``target_year``, the rest (grid, step labels) once, when the store is made. Each target also
keeps its file's structure and attributes (``target_attributes``, JSON), so :func:`open_output` gives back, for either
layout, the same ``netCDF4.Dataset`` the file would be: every reader (ensembles, changes, zonal tables, pictures,
``verify``, :func:`climnorm.open_normals`) reads both layouts through it. A baseline's yearly values (a ``year``
dimension) go in a group of their own, ``window_years/{target year}``.

The store's metadata is written once, under a temporary name, then renamed into place (the first writer of a chain
makes it; a second finds it there); targets then only write chunks, so targets of one store can land from several
processes at once. The manifest records a target only after its chunks are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np

from climnorm._atomic import TMP_MARK
from climnorm.errors import OutputError
from climnorm.records import in_store, store_and_year
from climnorm.write.orders import ZarrTarget
from climnorm.write.store import consolidate

TARGETS = "target_attributes"  # per target: its file's dimensions, variables' attributes and global attributes (JSON)
YEARS_GROUP = "window_years"
STORE_TIME_UNITS = "days since 1850-01-01 00:00:00"
_RENAMED = {"time": "climatology_time"}  # a 2-D variable cannot share its name with a dimension (xarray)
_PER_TARGET = ("time", "climatology_bnds")
_FLAT_KEYS = {"name": "v2", "separator": "."}  # a target's chunk is one file in its array's folder: "2.0.0.0"


def _per_target(name: str, var: netCDF4.Variable[Any]) -> bool:
    """Whether a variable of a target's file differs from target to target: its time axis and bounds, and what is
    given on the grid at each step (the normal, its statistics, an ensemble's counts)."""
    return name in _PER_TARGET or ("time" in var.dimensions and var.ndim >= 2 and var.dtype.kind != "S")


def _encode(value: Any) -> Any:
    """An attribute value as JSON that keeps its numpy type."""
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    return {"dtype": array.dtype.str, "value": array.tolist()}


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return value
    array = np.asarray(value["value"], dtype=value["dtype"])
    return array[()] if array.ndim == 0 else array


def _plain(value: Any) -> Any:
    """An attribute value as Zarr metadata takes it (numbers and lists, for readers of the store itself)."""
    return value if isinstance(value, str) else np.asarray(value).tolist()


def _attrs(var: netCDF4.Variable[Any] | netCDF4.Dataset) -> dict[str, Any]:
    return {k: var.getncattr(k) for k in var.ncattrs()}


def _fill(var: netCDF4.Variable[Any]) -> Any:
    return var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None


def _zarr_fill(var: netCDF4.Variable[Any]) -> Any:
    """The fill value of a variable's array in a store: its file's, else NaN or 0 (what unwritten targets read)."""
    fill = _fill(var)
    if fill is not None:
        return fill
    return np.nan if np.dtype(var.dtype).kind == "f" else 0


def _dtype(var: netCDF4.Variable[Any]) -> str:
    return "str" if var.dtype is str else np.dtype(var.dtype).str


def _time_offset(units: str, calendar: str) -> float:
    """Days from the store's time origin to ``units``' origin (a whole number: both are midnights)."""
    origin = cftime.num2date(0.0, units, calendar)
    return float(cftime.date2num(origin, STORE_TIME_UNITS, calendar))


def _raw(var: netCDF4.Variable[Any]) -> np.ndarray:
    var.set_auto_maskandscale(False)
    var.set_auto_chartostring(False)
    return np.asarray(var[...])


def _structure(src: netCDF4.Dataset) -> dict[str, Any]:
    """What a target's file is besides its values: dimensions, variables (type, fill, attributes), global
    attributes, in the file's order."""
    return {
        "dimensions": [[n, len(d)] for n, d in src.dimensions.items()],
        "variables": [_variable(n, v) for n, v in src.variables.items()],
        "attributes": {k: _encode(a) for k, a in _attrs(src).items()},
    }


def _variable(name: str, var: netCDF4.Variable[Any]) -> list[Any]:
    """A variable of a target's file: name, dimensions, type, fill value and attributes."""
    fill = _fill(var)
    attrs = {k: _encode(a) for k, a in _attrs(var).items() if k != "_FillValue"}
    return [name, list(var.dimensions), _dtype(var), None if fill is None else _encode(fill), attrs]


def _calendar(src: netCDF4.Dataset) -> tuple[str, str]:
    time = src.variables["time"]
    return str(time.getncattr("units")), str(getattr(time, "calendar", "standard"))


def _create(store: Path, src: netCDF4.Dataset, target: ZarrTarget) -> None:
    """The store's arrays and metadata, from its first target's file, under a temporary name renamed into place
    (another process may have made it meanwhile: then its store is kept)."""
    from zarr.core.sync import sync

    tmp = store.with_name(f".{store.name}.{uuid.uuid4().hex}{TMP_MARK}")
    try:
        sync(_make_arrays(str(tmp), _store_attrs(src), _arrays(src, target)))
        consolidate(tmp)
        try:
            os.rename(tmp, store)
        except OSError:
            if not (store / "zarr.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


T_Array = tuple[str, dict[str, Any], "np.ndarray | None"]
"""An array of a store: its name, how it is made (``create_array``'s keywords), and its values (None: per target)."""


def _arrays(src: netCDF4.Dataset, target: ZarrTarget) -> list[T_Array]:
    """The arrays of a store made from its first target's file."""
    years = target.years
    target_year = np.asarray(years, dtype=np.int32)
    arrays: list[T_Array] = [
        ("target_year", {"shape": target_year.shape, "dtype": target_year.dtype, "dimension_names": ("target_year",),
                         "attributes": {"long_name": "target year of the normal (last year of its window)"}},
         target_year),
        (TARGETS, {"shape": (len(years),), "chunks": (1,), "dtype": str, "dimension_names": ("target_year",),
                   "chunk_key_encoding": _FLAT_KEYS}, None),
    ]  # fmt: skip
    for name, var in src.variables.items():
        if "year" in var.dimensions:
            continue  # a baseline's yearly values: a group per target
        if _per_target(name, var):
            arrays.append((*_target_array(name, var, target), None))
            continue
        values, dims = _raw(var), var.dimensions
        if var.dtype.kind == "S" and var.ndim == 2:  # labels as characters (season): as strings here
            values, dims = netCDF4.chartostring(values).astype(object), dims[:1]
        kind = {"shape": values.shape, "dtype": str if values.dtype == object else values.dtype}
        arrays.append((name, {**kind, "dimension_names": dims, "attributes": _zarr_attrs(var)}, values))
    return arrays


async def _make_arrays(store: str, attrs: dict[str, Any], arrays: list[T_Array]) -> None:
    """Write a store's metadata and its arrays' values that are not per target, all at once."""
    from zarr.api.asynchronous import open_group

    root: Any = await open_group(store=store, mode="w", zarr_format=3, attributes=attrs)
    made = await asyncio.gather(*(root.create_array(name, **kind) for name, kind, _ in arrays))
    await asyncio.gather(
        *(a.setitem(slice(None), v) for a, (_, _, v) in zip(made, arrays, strict=True) if v is not None)
    )


def _zarr_attrs(var: netCDF4.Variable[Any]) -> dict[str, Any]:
    """A variable's attributes as its array in the store has them (its fill value is the array's)."""
    return {k: _plain(v) for k, v in _attrs(var).items() if k not in ("_FillValue", "_Encoding")}


def _target_array(name: str, var: netCDF4.Variable[Any], target: ZarrTarget) -> tuple[str, dict[str, Any]]:
    """The array of a variable that differs from target to target (its name, how it is made): ``target_year``
    first, a chunk per target, compressed as configured (Blosc's zstd at the configured level, with the shuffle:
    smaller and faster than zarr's default zstd on these fields; zlib is NetCDF's)."""
    from zarr.codecs import BloscCodec

    e, n = target.encoding, len(target.years)
    compressors = [BloscCodec(cname="zstd", clevel=e.complevel, shuffle="shuffle" if e.shuffle else "noshuffle")]
    attrs = _zarr_attrs(var)
    if name == "time":
        attrs["units"] = STORE_TIME_UNITS
    return _RENAMED.get(name, name), {
        "shape": (n, *var.shape), "chunks": (1, *var.shape), "dtype": str if var.dtype is str else var.dtype,
        "fill_value": _zarr_fill(var), "dimension_names": ("target_year", *var.dimensions), "attributes": attrs,
        "chunk_key_encoding": _FLAT_KEYS, "compressors": compressors if e.zlib else None,
    }  # fmt: skip


def _store_attrs(src: netCDF4.Dataset) -> dict[str, Any]:
    """The store's global attributes: the first target's file's, less what differs from target to target (each
    target's own are in ``target_attributes``)."""
    per_target = ("target_year", "period", "scenarios", "window", "source_years", "missing_years",
                  "number_of_years", "creation_time", "input_files_digest")  # fmt: skip
    return {k: _plain(v) for k, v in _attrs(src).items() if k not in per_target}


def land_target(nc_path: str | Path, target: ZarrTarget) -> int:
    """Copy one target's file into its chain's store (made from this file if it is not there yet); returns the bytes
    of the target's chunks. Raises OutputError when the store was made for another shape of output."""
    import zarr
    from zarr.core.sync import sync

    store = Path(target.store)
    with netCDF4.Dataset(nc_path) as src:
        if not (store / "zarr.json").exists():
            _create(store, src, target)
        root: Any = zarr.open_group(store, mode="r+", zarr_format=3, use_consolidated=False)
        i = target.years.index(target.year)
        units, calendar = _calendar(src)
        offset = _time_offset(units, calendar)
        values: dict[str, np.ndarray] = {}
        for name, var in src.variables.items():
            if "year" in var.dimensions or not _per_target(name, var):
                continue
            if not (store / _RENAMED.get(name, name) / "zarr.json").exists():  # not in its first target's file:
                zname, kind = _target_array(name, var, target)  # a baseline's window statistics
                root.create_array(zname, **kind)
            values[_RENAMED.get(name, name)] = _raw(var) + offset if name in _PER_TARGET else _raw(var)
        _write_years(root, src, target.year)
        structure = _structure(src)
        structure["time_units"] = units
        sync(_write_chunks(str(store), target, values, json.dumps(structure)))
    return target_size(store, i)


async def _write_chunks(store: str, target: ZarrTarget, values: dict[str, np.ndarray], structure: str) -> None:
    """Write one target's chunks, all at once, then its ``target_attributes`` (what says it is there)."""
    from zarr.api.asynchronous import open_group

    root: Any = await open_group(store=store, mode="r+", zarr_format=3, use_consolidated=False)
    years_array, *arrays = await asyncio.gather(root.getitem("target_year"), *(root.getitem(n) for n in values))
    years = tuple(int(y) for y in await years_array.getitem(slice(None)))
    if years != target.years:
        raise OutputError(
            f"{store}: holds targets {years[0]}-{years[-1]}, not the run's {target.years[0]}-{target.years[-1]}: "
            "it was made by another configuration; remove it"
        )
    i = years.index(target.year)
    for (name, data), array in zip(values.items(), arrays, strict=True):
        if tuple(array.shape[1:]) != data.shape:
            raise OutputError(
                f"{store}: {name} of shape {tuple(array.shape[1:])} cannot take target {target.year}'s "
                f"{data.shape}: the store was made by another configuration; remove it"
            )
    await asyncio.gather(*(a.setitem(i, data) for a, data in zip(arrays, values.values(), strict=True)))
    targets = await root.getitem(TARGETS)
    await targets.setitem(i, structure)


def land_bytes(data: bytes, target: ZarrTarget) -> int:
    """:func:`land_target` of a file's bytes (written by a worker that shares no disk with this process)."""
    folder = Path(target.store).parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".target-", suffix=TMP_MARK, dir=folder) as scratch:
        path = Path(scratch) / "target.nc"
        path.write_bytes(data)
        return land_target(path, target)


def _write_years(root: Any, src: netCDF4.Dataset, year: int) -> None:
    """A baseline's yearly values (and their ``year``), in the group ``window_years/{year}``."""
    names = [n for n, v in src.variables.items() if "year" in v.dimensions]
    if not names:
        return
    group = root.create_group(f"{YEARS_GROUP}/{year}", overwrite=True)
    for name in names:
        var = src.variables[name]
        group.create_array(
            name, data=_raw(var), dimension_names=var.dimensions, fill_value=_zarr_fill(var),
            attributes={k: _plain(v) for k, v in _attrs(var).items() if k != "_FillValue"},
        )  # fmt: skip


def _chunks(store: Path, index: int, *, data_only: bool = False) -> Iterator[Path]:
    """The chunk file of target ``index`` of each per-target array; ``data_only``: not its ``target_attributes``
    (whose creation time varies from run to run)."""
    for array in sorted(store.iterdir()):
        meta = array / "zarr.json"
        if not meta.is_file():
            continue
        metadata = json.loads(meta.read_text())
        dims = metadata.get("dimension_names") or []
        if dims[:1] == ["target_year"] and array.name != "target_year" and not (data_only and array.name == TARGETS):
            yield array / ".".join([str(index)] + ["0"] * (len(metadata["shape"]) - 1))


def target_size(store: Path | str, index: int) -> int:
    """The bytes of one target's data chunks in a store: the same in every run that computes the same values."""
    store = Path(store)
    total = 0
    for chunk in _chunks(store, index, data_only=True):
        with contextlib.suppress(FileNotFoundError):  # a chunk all fill values is not written
            total += chunk.stat().st_size
    return total


def output_size(path: str | os.PathLike[str]) -> int | None:
    """The size of an output: its file's, or its target's chunks' in a store; None when there is none."""
    try:
        if not in_store(path):
            return os.stat(path).st_size
        store, year = store_and_year(path)
        years = _years(Path(store))
        if year not in years:
            return None
        i = years.index(year)
        if not _written(Path(store), i):
            return None
        return target_size(store, i)
    except (OSError, ValueError, KeyError):
        return None


def _years(store: Path) -> tuple[int, ...]:
    import zarr

    root: Any = zarr.open_group(store, mode="r", zarr_format=3, use_consolidated=False)
    return tuple(int(y) for y in root["target_year"][:])


def _written(store: Path, index: int) -> bool:
    return (store / TARGETS / str(index)).is_file()


def remove_output(path: str | os.PathLike[str]) -> None:
    """Remove an output: its file, or its target's chunks (the store's metadata stays)."""
    if not in_store(path):
        Path(path).unlink(missing_ok=True)
        return
    store, year = store_and_year(path)
    try:
        index = _years(Path(store)).index(year)
    except (OSError, ValueError, KeyError):
        return
    for chunk in _chunks(Path(store), index):
        chunk.unlink(missing_ok=True)
    shutil.rmtree(Path(store) / YEARS_GROUP / str(year), ignore_errors=True)


@contextlib.contextmanager
def open_output(path: str | os.PathLike[str]) -> Iterator[netCDF4.Dataset]:
    """An output as the ``netCDF4.Dataset`` of its file, for either layout (in memory, from its store's chunks, for
    a target of the ``zarr`` layout). OSError when there is no such output."""
    if not in_store(path):
        with netCDF4.Dataset(path) as ds:
            yield ds
        return
    ds = _rebuild(*store_and_year(path))
    try:
        yield ds
    finally:
        ds.close()


async def _read_target(store: str, year: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A target's ``target_attributes`` and its variables' values as its store holds them, read all at once."""
    from zarr.api.asynchronous import open_group

    root: Any = await open_group(store=store, mode="r", zarr_format=3, use_consolidated=False)
    years_array, targets = await asyncio.gather(root.getitem("target_year"), root.getitem(TARGETS))
    years = tuple(int(y) for y in await years_array.getitem(slice(None)))
    i = years.index(year)
    text = str(await targets.getitem(i))
    if not text:
        raise FileNotFoundError(f"{store}: target {year} was never written")
    structure = json.loads(text)
    names = [n for n, *_ in structure["variables"]]
    paths = [f"{YEARS_GROUP}/{year}/{n}" if "year" in d else _RENAMED.get(n, n) for n, d, *_ in structure["variables"]]
    arrays = await asyncio.gather(*(root.getitem(p) for p in paths))
    per_target = [(a.metadata.dimension_names or ())[:1] == ("target_year",) for a in arrays]
    values = await asyncio.gather(
        *(a.getitem(i if t else slice(None)) for a, t in zip(arrays, per_target, strict=True))
    )
    return structure, {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


def _rebuild(store: str, year: int) -> netCDF4.Dataset:
    """A target's file, rebuilt in memory from its store."""
    from zarr.core.sync import sync

    try:
        structure, stored = sync(_read_target(store, year))
    except (ValueError, KeyError, FileNotFoundError) as err:
        raise FileNotFoundError(f"{store}: no target {year} ({err})") from None
    except Exception as err:  # a damaged chunk: what its codec raises is the codec's
        raise OSError(f"{store}#{year}: unreadable ({type(err).__name__}: {err})") from None
    # in memory only, under a name of its own (two of one target may be open at once: a baseline's own change)
    ds = netCDF4.Dataset(f"{store}#{year}.{uuid.uuid4().hex}", "w", diskless=True, persist=False, format="NETCDF4")
    for name, size in structure["dimensions"]:
        ds.createDimension(name, size)
    units = structure["time_units"]
    calendar = next((_decode(a["calendar"]) for n, _, _, _, a in structure["variables"] if n == "time"), "standard")
    offset = _time_offset(units, str(calendar))
    for name, dims, dtype, fill, attrs in structure["variables"]:
        var = ds.createVariable(name, str if dtype == "str" else np.dtype(dtype), dims,
                                fill_value=_decode(fill) if fill is not None else None)  # fmt: skip
        var.setncatts({k: _decode(v) for k, v in attrs.items()})
        var.set_auto_maskandscale(False)
        var.set_auto_chartostring(False)
        values = stored[name] - offset if name in _PER_TARGET else stored[name]
        if np.dtype(dtype).kind == "S" and len(dims) == 2:  # labels, kept as strings in the store
            values = netCDF4.stringtochar(np.asarray(values, dtype=f"S{len(ds.dimensions[dims[1]])}"))
        var[...] = values
        var.set_auto_maskandscale(True)
        var.set_auto_chartostring(True)
    ds.setncatts({k: _decode(v) for k, v in structure["attributes"].items()})
    return ds

"""The ``zarr`` output layout (docs/normals.md, "Output layouts"): one Zarr v3 store per chain and product, with a
``target_year`` dimension, each target written into its own chunks as it lands.

A target's output is addressed as ``{store}.zarr#{target year}``. Its writer writes the NetCDF file it always writes
(under a temporary name), then :func:`land_target` copies that file's variables into the store: what differs from
target to target (the time axis, its climatology bounds, every gridded variable) into the target's chunk of arrays
whose first dimension is ``target_year``, the rest (grid, step labels) once, when the store is made. Each target also
keeps its file's structure and attributes (``target_attributes``, JSON), so `climnorm.write.readback.open_output`
gives back, for either layout, the same ``netCDF4.Dataset`` the file would be: every reader (ensembles, changes,
zonal tables, pictures, ``verify``, :func:`climnorm.open_normals`) reads both layouts through it. A baseline's yearly
values (a ``year`` dimension) go in a group of their own, ``window_years/{target year}``.

The store's metadata is written once, under a temporary name, then renamed into place (the first writer of a chain
makes it; a second finds it there; in a bucket, its objects are put with its ``zarr.json`` last); targets then only
write chunks, so targets of one store can land from several processes at once. The manifest records a target only
after its chunks are written.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from climnorm._atomic import TMP_MARK
from climnorm.errors import OutputError
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import is_s3_url
from climnorm.write.orders import ZarrTarget
from climnorm.write.readback import (
    PER_TARGET,
    RENAMED,
    STORE_TIME_UNITS,
    TARGETS,
    YEARS_GROUP,
    array_of,
    open_root,
    run_sync,
    target_chunk,
    time_offset,
    zarr_store,
)
from climnorm.write.store import consolidate

_FLAT_KEYS = {"name": "v2", "separator": "."}  # a target's chunk is one file in its array's folder: "2.0.0.0"


def _per_target(name: str, var: netCDF4.Variable[Any]) -> bool:
    """Whether a variable of a target's file differs from target to target: its time axis and bounds, and what is
    given on the grid at each step (the normal, its statistics, an ensemble's counts)."""
    return name in PER_TARGET or ("time" in var.dimensions and var.ndim >= 2 and var.dtype.kind != "S")


def _encode(value: Any) -> Any:
    """An attribute value as JSON that keeps its numpy type."""
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    return {"dtype": array.dtype.str, "value": array.tolist()}


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


def _create(store: Any, src: netCDF4.Dataset, target: ZarrTarget) -> None:
    """The store's arrays and metadata, from its first target's file, made under a temporary name (beside it on
    local disk, renamed into place; another process may have made it meanwhile: then its store is kept), or, for a
    store in a bucket, made locally and put there object by object, its ``zarr.json`` last (what says it is
    there; a second maker puts the same objects)."""
    local = not is_s3_url(target.store)
    tmp = Path(tempfile.mkdtemp(prefix=f".{Path(target.store).name}.", suffix=TMP_MARK, dir=scratch_folder(target)))
    try:
        run_sync(_make_arrays(str(tmp), _store_attrs(src), _arrays(src, target)))
        consolidate(tmp, None)
        if not local:
            run_sync(_put_tree(tmp, store))
            return
        try:
            os.rename(tmp, target.store)
        except OSError:
            if not (Path(target.store) / "zarr.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _put_tree(tree: Path, store: Any) -> None:
    """Put every file of a local store into ``store``, its ``zarr.json`` last."""
    from zarr.core.buffer import cpu

    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    rest = [f for f in files if f != "zarr.json"]
    await asyncio.gather(*(store.set(f, cpu.Buffer.from_bytes((tree / f).read_bytes())) for f in rest))
    await store.set("zarr.json", cpu.Buffer.from_bytes((tree / "zarr.json").read_bytes()))


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
    return RENAMED.get(name, name), {
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


@dataclass
class _Opened:
    """A store this process has landed targets in: its root group, its target years, the arrays it has opened (a
    store's metadata does not change once made, so a process reads it once per run: in a bucket each read is a
    request)."""

    store: Any
    root: Any
    years: tuple[int, ...]
    arrays: dict[str, Any] = field(default_factory=dict)


_OPENED: dict[tuple[str, str, StorageOptions | None], _Opened] = {}


def land_target(nc_path: str | Path, target: ZarrTarget) -> int:
    """Copy one target's file into its chain's store (made from this file if it is not there yet); returns the bytes
    of the target's chunks. Raises OutputError when the store was made for another shape of output."""
    with netCDF4.Dataset(nc_path) as src:
        opened = _open_store(src, target)
        units, calendar = _calendar(src)
        offset = time_offset(units, calendar)
        values: dict[str, np.ndarray] = {}
        kinds: dict[str, dict[str, Any]] = {}
        for name, var in src.variables.items():
            if "year" in var.dimensions or not _per_target(name, var):
                continue
            zname, kinds[zname] = _target_array(name, var, target)  # (a baseline's window statistics may be new)
            values[zname] = _raw(var) + offset if name in PER_TARGET else _raw(var)
        yearly = [_yearly(n, v) for n, v in src.variables.items() if "year" in v.dimensions]
        structure = _structure(src)
        structure["time_units"] = units
    return int(run_sync(_land(opened, target, values, kinds, yearly, json.dumps(structure))))


def _open_store(src: netCDF4.Dataset, target: ZarrTarget) -> _Opened:
    """The store of ``target``'s chain, made from ``src`` if it is not there yet, opened once per process and run."""
    key = (target.run, target.store, target.storage)
    opened = _OPENED.get(key)
    if opened is not None:
        return opened
    store = _sizing_store()(zarr_store(target.store, target.storage))
    try:
        root, years, targets = run_sync(open_root(store, "r+"))
    except FileNotFoundError:  # (zarr's GroupNotFoundError)
        _create(store, src, target)
        root, years, targets = run_sync(open_root(store, "r+"))
    if years != target.years:
        raise OutputError(
            f"{target.store}: holds targets {years[0]}-{years[-1]}, not the run's {target.years[0]}-"
            f"{target.years[-1]}: it was made by another configuration; remove it"
        )
    if len(_OPENED) > 256:
        _OPENED.clear()
    opened = _OPENED[key] = _Opened(store, root, years, {TARGETS: targets})
    return opened


async def _array(opened: _Opened, name: str, kind: dict[str, Any] | None) -> Any:
    """An array of the store, opened once; made if it is not there (an array the store's first target had not)."""
    from zarr.errors import ContainsArrayError

    if name not in opened.arrays:
        try:
            opened.arrays[name] = await array_of(opened.root, opened.store, name)
        except (KeyError, FileNotFoundError):
            if kind is None:
                raise
            try:
                opened.arrays[name] = await opened.root.create_array(name, **kind)
            except ContainsArrayError:  # another process made it meanwhile
                opened.arrays[name] = await array_of(opened.root, opened.store, name)
    return opened.arrays[name]


async def _land(
    opened: _Opened,
    target: ZarrTarget,
    values: dict[str, np.ndarray],
    kinds: dict[str, dict[str, Any]],
    yearly: list[T_Yearly],
    structure: str,
) -> int:
    """Write one target's chunks and its yearly values, all at once, then its ``target_attributes`` (what says it
    is there); returns its data chunks' bytes."""
    arrays = await asyncio.gather(*(_array(opened, n, kinds[n]) for n in values))
    for (name, data), array in zip(values.items(), arrays, strict=True):
        if tuple(array.shape[1:]) != data.shape:
            raise OutputError(
                f"{target.store}: {name} of shape {tuple(array.shape[1:])} cannot take target {target.year}'s "
                f"{data.shape}: the store was made by another configuration; remove it"
            )
    i = opened.years.index(target.year)
    await asyncio.gather(
        *(a.setitem(i, data) for a, data in zip(arrays, values.values(), strict=True)),
        _write_years(opened.root, yearly, target.year),
    )
    targets = await _array(opened, TARGETS, None)
    await targets.setitem(i, structure)
    keys = [target_chunk(n, a, i) for n, a in zip(values, arrays, strict=True)]
    return sum(opened.store.sizes.pop(k, 0) for k in keys)  # a chunk all fill values is not written


@functools.cache
def _sizing_store() -> Any:
    """The class of a store that keeps the bytes of each object it puts (a target's size is its chunks' bytes: no
    request to ask for them again)."""
    from zarr.storage import WrapperStore

    class SizingStore(WrapperStore[Any]):
        def __init__(self, store: Any) -> None:
            super().__init__(store)
            self.sizes: dict[str, int] = {}

        def _with_store(self, store: Any) -> Any:
            other = type(self)(store)
            other.sizes = self.sizes
            return other

        async def set(self, key: str, value: Any) -> None:
            await self._store.set(key, value)
            if not key.endswith("zarr.json") and not key.startswith((YEARS_GROUP, TARGETS)):  # a target's data chunk
                self.sizes[key] = len(value)

    return SizingStore


def scratch_folder(target: ZarrTarget) -> str | None:
    """Where a target's temporary files go: beside its chain's store on local disk (made if need be: a rename into
    place stays on one filesystem, and a killed run's leftovers are found there), the system's temporary folder
    for a store in a bucket (None)."""
    if is_s3_url(target.store):
        return None
    folder = os.path.dirname(target.store)
    os.makedirs(folder, exist_ok=True)
    return folder


def land_bytes(data: bytes, target: ZarrTarget) -> int:
    """:func:`land_target` of a file's bytes (written by a worker that shares no disk with this process)."""
    with tempfile.TemporaryDirectory(prefix=".target-", suffix=TMP_MARK, dir=scratch_folder(target)) as scratch:
        path = Path(scratch) / "target.nc"
        path.write_bytes(data)
        return land_target(path, target)


T_Yearly = tuple[str, np.ndarray, tuple[str, ...], Any, dict[str, Any]]
"""A baseline's variable of yearly values: name, values, dimensions, fill value, attributes."""


def _yearly(name: str, var: netCDF4.Variable[Any]) -> T_Yearly:
    attrs = {k: _plain(v) for k, v in _attrs(var).items() if k != "_FillValue"}
    return name, _raw(var), tuple(var.dimensions), _zarr_fill(var), attrs


async def _write_years(root: Any, yearly: list[T_Yearly], year: int) -> None:
    """A baseline's yearly values (and their ``year``), in the group ``window_years/{year}``."""
    if not yearly:
        return
    group = await root.create_group(f"{YEARS_GROUP}/{year}", overwrite=True)
    made = await asyncio.gather(*(
        group.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=dims, fill_value=fill,
                           attributes=attrs)
        for name, values, dims, fill, attrs in yearly
    ))  # fmt: skip
    await asyncio.gather(*(a.setitem(slice(None), v[1]) for a, v in zip(made, yearly, strict=True)))

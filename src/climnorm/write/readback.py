"""An output read back, sized or removed, for either layout and either store: a file, or a target of the ``zarr``
layout (`climnorm.write.zarr_chain`), on local disk or in a bucket (``s3://`` URLs, reached with a
`StorageOptions`). :func:`open_output` gives the same ``netCDF4.Dataset`` in every case: every reader (ensembles,
changes, zonal tables, pictures, ``verify``, :func:`climnorm.open_normals`) reads outputs through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np

from climnorm.records import in_store, store_and_year
from climnorm.storage.options import StorageOptions
from climnorm.storage.retry import scrub
from climnorm.storage.urls import is_s3_url

TARGETS = "target_attributes"  # per target: its file's dimensions, variables' attributes and global attributes (JSON)
YEARS_GROUP = "window_years"
STORE_TIME_UNITS = "days since 1850-01-01 00:00:00"
RENAMED = {"time": "climatology_time"}  # a 2-D variable cannot share its name with a dimension (xarray)
PER_TARGET = ("time", "climatology_bnds")


def reader_options(storage: StorageOptions | None) -> StorageOptions:
    """How a reader reaches outputs in a bucket: as given, else the ``AWS_*`` environment's, signed (outputs are
    private: with no keys found, the instance's role signs) unless ``anon`` says otherwise."""
    if storage is not None:
        return storage
    options = StorageOptions.from_config()
    return dataclasses.replace(options, anon=False) if options.anon is None else options


def _object(url: str, storage: StorageOptions | None) -> tuple[Any, str]:
    """The bucket (`climnorm.write.bucket.ObjectDirectory`) of the output object at ``url``, and its key."""
    from climnorm.write.bucket import ObjectDirectory

    return ObjectDirectory.of_object(url, reader_options(storage))


def zarr_store(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> Any:
    """The zarr-python store of a chain's store: a local directory, or an ``s3://`` URL reached with ``storage``
    (:func:`reader_options` when not given)."""
    if is_s3_url(location):
        from climnorm.storage.client import zarr_store_for

        return zarr_store_for(reader_options(storage), str(location))
    from zarr.storage import LocalStore

    return LocalStore(str(location))


def decode(value: Any) -> Any:
    """An attribute value from its JSON (`climnorm.write.zarr_chain`), with its numpy type."""
    if isinstance(value, str):
        return value
    array = np.asarray(value["value"], dtype=value["dtype"])
    return array[()] if array.ndim == 0 else array


def time_offset(units: str, calendar: str) -> float:
    """Days from the store's time origin to ``units``' origin (a whole number: both are midnights)."""
    origin = cftime.num2date(0.0, units, calendar)
    return float(cftime.date2num(origin, STORE_TIME_UNITS, calendar))


def run_sync(coroutine: Any) -> Any:
    """Run a coroutine of zarr-python's async API on its event loop."""
    from zarr.core.sync import sync

    return sync(coroutine)


async def open_root(store: Any, mode: str = "r") -> tuple[Any, tuple[int, ...], Any]:
    """A store's root group (with its consolidated metadata, where it has some: read its arrays with
    :func:`array_of`, since targets add to a store after it is consolidated), its target years (its
    ``target_year`` coordinate) and its ``target_attributes`` array."""
    from zarr.api.asynchronous import open_group

    root: Any = await open_group(store=store, mode=mode, zarr_format=3, use_consolidated=None)  # type: ignore[arg-type]
    years, targets = await asyncio.gather(root.getitem("target_year"), array_of(root, store, TARGETS))
    return root, tuple(int(y) for y in await years.getitem(slice(None))), targets


async def _chunk_size(store: Any, key: str) -> int:
    """The bytes of a chunk (0: not written, all fill values)."""
    try:
        return int(await store.getsize(key))
    except FileNotFoundError:  # a chunk all fill values is not written
        return 0


def target_chunk(name: str, array: Any, index: int) -> str:
    """The key of target ``index``'s chunk of the per-target array ``name``."""
    return f"{name}/{array.metadata.encode_chunk_key((index,) + (0,) * (len(array.shape) - 1))}"


async def _chunk_keys(root: Any, store: Any, index: int) -> list[str]:
    """The keys of target ``index``'s data chunks: its chunk of each per-target array (the store's folders, their
    metadata from its consolidated copy where it has them) but its ``target_attributes`` (whose creation time varies
    from run to run)."""
    names = [n async for n in store.list_dir("") if n not in ("zarr.json", TARGETS, "target_year", YEARS_GROUP)]
    arrays = await asyncio.gather(*(_an_array(root, store, n) for n in names))
    keys = []
    for name, array in zip(names, arrays, strict=True):
        if array is not None and tuple(array.metadata.dimension_names or ())[:1] == ("target_year",):
            keys.append(target_chunk(name, array, index))
    return keys


async def _an_array(root: Any, store: Any, name: str) -> Any:
    """The array ``name`` of a store, or None for anything else found there (a stray file or folder)."""
    try:
        node = await array_of(root, store, name)
    except (KeyError, ValueError, FileNotFoundError):  # (zarr's NodeNotFoundError is both of the last two)
        return None
    return node if hasattr(node, "shape") else None


async def _target_size(location: str, storage: StorageOptions | None) -> int | None:
    store_path, year = store_and_year(location)
    store = zarr_store(store_path, storage)
    root, years, written = await open_root(store)
    if year not in years:
        return None
    i = years.index(year)
    keys = await _chunk_keys(root, store, i)
    there, *sizes = await asyncio.gather(
        store.exists(target_chunk(TARGETS, written, i)), *(_chunk_size(store, k) for k in keys)
    )
    return sum(sizes) if there else None


def output_size(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> int | None:
    """The size of an output: its file's, or its target's chunks' in a store; None when there is none."""
    try:
        if in_store(location):
            size: int | None = run_sync(_target_size(str(location), storage))  # no store: zarr's FileNotFoundError
            return size
        if is_s3_url(location):
            bucket, key = _object(str(location), storage)
            head = bucket.head(key)
            return None if head is None else int(head["size"])
        return os.stat(location).st_size
    except (OSError, ValueError, KeyError):  # (a request that failed for good: not there to us)
        return None


async def _remove(location: str, storage: StorageOptions | None) -> None:
    store_path, year = store_and_year(location)
    store = zarr_store(store_path, storage)
    root, years, written = await open_root(store)
    index = years.index(year)
    await store.delete(target_chunk(TARGETS, written, index))  # first: what says the target is there
    keys = await _chunk_keys(root, store, index)
    await asyncio.gather(*(store.delete(k) for k in keys))
    await store.delete_dir(f"{YEARS_GROUP}/{year}")


def remove_output(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> None:
    """Remove an output: its file, or its target's chunks (the store's metadata stays)."""
    if not in_store(location):
        Path(location).unlink(missing_ok=True)
        return
    with contextlib.suppress(Exception):  # no store, or no such target: nothing to remove
        run_sync(_remove(str(location), storage))


@contextlib.contextmanager
def open_output(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> Iterator[netCDF4.Dataset]:
    """An output as the ``netCDF4.Dataset`` of its file, for either layout and either store (in memory, for a target
    of the ``zarr`` layout or an object in a bucket). OSError when there is no such output."""
    with fetch_output(location, storage) as fetched, opened(fetched) as ds:
        yield ds


T_Target = tuple[dict[str, Any], dict[str, np.ndarray]]
"""A target as its store holds it: its ``target_attributes`` (its file's structure) and its variables' values."""


@dataclass
class Fetched:
    """An output's bytes brought here (:func:`fetch_output`): its file (local, or fetched into a temporary one), or
    its target's values as its store holds them."""

    location: str
    path: str | None = None
    target: T_Target | None = None


@contextlib.contextmanager
def fetch_output(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> Iterator[Fetched]:
    """Bring an output's bytes here, without the NetCDF library (threads may fetch several at once: HDF5 is not
    thread-safe); :func:`opened` then reads them. An object in a bucket is fetched whole into a local temporary file
    (an ensemble opens dozens of outputs at once)."""
    location = str(location)
    if in_store(location):
        yield Fetched(location, target=_fetch_target(*store_and_year(location), storage))
    elif is_s3_url(location):
        with tempfile.NamedTemporaryFile(prefix="climnorm-output-", suffix=".nc") as local:
            bucket, key = _object(location, storage)
            bucket.download(key, local)
            yield Fetched(location, path=local.name)
    else:
        yield Fetched(location, path=location)


@contextlib.contextmanager
def opened(fetched: Fetched) -> Iterator[netCDF4.Dataset]:
    """A fetched output as the ``netCDF4.Dataset`` of its file."""
    if fetched.target is not None:
        store, year = store_and_year(fetched.location)
        ds = _rebuild(store, year, *fetched.target)
    else:
        assert fetched.path is not None
        ds = netCDF4.Dataset(fetched.path)
    try:
        yield ds
    finally:
        ds.close()


async def _read_target(store: Any, year: int) -> T_Target:
    """A target's ``target_attributes`` and its variables' values as its store holds them, read all at once (the
    arrays' metadata from the store's consolidated copy where it has them: in a bucket each read is a request)."""
    root, years, targets = await open_root(store)
    i = years.index(year)
    text = str(await targets.getitem(i))
    if not text:
        raise FileNotFoundError(f"target {year} was never written")
    structure = json.loads(text)
    names = [n for n, *_ in structure["variables"]]
    paths = [f"{YEARS_GROUP}/{year}/{n}" if "year" in d else RENAMED.get(n, n) for n, d, *_ in structure["variables"]]
    arrays = await asyncio.gather(*(array_of(root, store, p) for p in paths))
    per_target = [(a.metadata.dimension_names or ())[:1] == ("target_year",) for a in arrays]
    values = await asyncio.gather(
        *(a.getitem(i if t else slice(None)) for a, t in zip(arrays, per_target, strict=True))
    )
    return structure, {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


async def array_of(root: Any, store: Any, path: str) -> Any:
    """An array of a store: from the root's consolidated metadata, else (added since: a baseline's yearly values,
    its window statistics) read from the store."""
    from zarr.api.asynchronous import open_array

    try:
        return await root.getitem(path)
    except KeyError:
        if root.metadata.consolidated_metadata is None:
            raise
        return await open_array(store=store, path=path, zarr_format=3)


def _fetch_target(store: str, year: int, storage: StorageOptions | None) -> T_Target:
    """A target's structure and values, read from its store."""
    try:
        fetched: T_Target = run_sync(_read_target(zarr_store(store, storage), year))
    except (ValueError, KeyError, FileNotFoundError) as err:
        raise FileNotFoundError(f"{store}: no target {year} ({err})") from None
    except Exception as err:  # a damaged chunk (what its codec raises is the codec's), a request that failed
        said = scrub(str(err), storage.secrets()) if storage is not None else str(err)
        raise OSError(f"{store}#{year}: unreadable ({type(err).__name__}: {said})") from None
    return fetched


def _rebuild(store: str, year: int, structure: dict[str, Any], stored: dict[str, np.ndarray]) -> netCDF4.Dataset:
    """A target's file, rebuilt in memory from what its store holds."""
    # in memory only, under a name of its own (two of one target may be open at once: a baseline's own change)
    # (not a URL: the NetCDF library would open one itself)
    name = f"{store.replace('://', '-')}#{year}.{uuid.uuid4().hex}"
    ds = netCDF4.Dataset(name, "w", diskless=True, persist=False, format="NETCDF4")
    for name, size in structure["dimensions"]:
        ds.createDimension(name, size)
    units = structure["time_units"]
    calendar = next((decode(a["calendar"]) for n, _, _, _, a in structure["variables"] if n == "time"), "standard")
    offset = time_offset(units, str(calendar))
    for name, dims, dtype, fill, attrs in structure["variables"]:
        var = ds.createVariable(name, str if dtype == "str" else np.dtype(dtype), dims,
                                fill_value=decode(fill) if fill is not None else None)  # fmt: skip
        var.setncatts({k: decode(v) for k, v in attrs.items()})
        var.set_auto_maskandscale(False)
        var.set_auto_chartostring(False)
        values = stored[name] - offset if name in PER_TARGET else stored[name]
        if np.dtype(dtype).kind == "S" and len(dims) == 2:  # labels, kept as strings in the store
            values = netCDF4.stringtochar(np.asarray(values, dtype=f"S{len(ds.dimensions[dims[1]])}"))
        var[...] = values
        var.set_auto_maskandscale(True)
        var.set_auto_chartostring(True)
    ds.setncatts({k: decode(v) for k, v in structure["attributes"].items()})
    return ds

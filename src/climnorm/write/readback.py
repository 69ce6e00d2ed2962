"""An output read back, sized or removed, for either layout and either store: a file, or a target of the ``zarr``
layout (`climnorm.write.zarr_chain`), on local disk or in a bucket (``s3://`` URLs, reached with a
`StorageOptions`). :func:`open_output` gives the same ``netCDF4.Dataset`` in every case: every reader (ensembles,
changes, zonal tables, pictures, ``verify``, :func:`climnorm.open_normals`) reads outputs through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import cftime
import netCDF4
import numpy as np

from climnorm.records import in_store, store_and_year
from climnorm.storage.options import StorageOptions
from climnorm.storage.urls import is_s3_url

TARGETS = "target_attributes"  # per target: its file's dimensions, variables' attributes and global attributes (JSON)
YEARS_GROUP = "window_years"
STORE_TIME_UNITS = "days since 1850-01-01 00:00:00"
RENAMED = {"time": "climatology_time"}  # a 2-D variable cannot share its name with a dimension (xarray)
PER_TARGET = ("time", "climatology_bnds")


def zarr_store(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> Any:
    """The zarr-python store of a chain's store: a local directory, or an ``s3://`` URL reached with ``storage``
    (from the environment when not given)."""
    if is_s3_url(location):
        from climnorm.storage.client import zarr_store_for

        return zarr_store_for(storage or StorageOptions.from_config(), str(location))
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


async def _open(store: Any, mode: str = "r") -> Any:
    from zarr.api.asynchronous import open_group

    return await open_group(store=store, mode=mode, zarr_format=3, use_consolidated=False)  # type: ignore[arg-type]


async def _years(root: Any) -> tuple[int, ...]:
    years = await root.getitem("target_year")
    return tuple(int(y) for y in await years.getitem(slice(None)))


async def chunk_keys(root: Any, index: int, *, data_only: bool = False) -> list[str]:
    """The keys of target ``index``'s chunk of each per-target array; ``data_only``: not its ``target_attributes``
    (whose creation time varies from run to run)."""
    keys = []
    async for name, array in root.arrays():
        dims = tuple(array.metadata.dimension_names or ())
        if dims[:1] == ("target_year",) and name != "target_year" and not (data_only and name == TARGETS):
            coords = (index,) + (0,) * (len(array.shape) - 1)
            keys.append(f"{name}/{array.metadata.encode_chunk_key(coords)}")
    return sorted(keys)


async def _size(store: Any, index: int) -> int:
    root = await _open(store)
    keys = await chunk_keys(root, index, data_only=True)
    sizes = await asyncio.gather(*(_getsize(store, k) for k in keys))
    return sum(sizes)


async def _getsize(store: Any, key: str) -> int:
    try:
        return int(await store.getsize(key))
    except FileNotFoundError:  # a chunk all fill values is not written
        return 0


def target_size(store: str | os.PathLike[str], index: int, storage: StorageOptions | None = None) -> int:
    """The bytes of one target's data chunks in a store: the same in every run that computes the same values."""
    return int(run_sync(_size(zarr_store(store, storage), index)))


async def _target_size(location: str, storage: StorageOptions | None) -> int | None:
    store_path, year = store_and_year(location)
    store = zarr_store(store_path, storage)
    root = await _open(store)
    years = await _years(root)
    if year not in years:
        return None
    i = years.index(year)
    written = await root.getitem(TARGETS)
    if not await store.exists(f"{TARGETS}/{written.metadata.encode_chunk_key((i,))}"):
        return None
    return await _size(store, i)


def output_size(location: str | os.PathLike[str], storage: StorageOptions | None = None) -> int | None:
    """The size of an output: its file's, or its target's chunks' in a store; None when there is none."""
    try:
        if in_store(location):
            size: int | None = run_sync(_target_size(str(location), storage))
            return size
        if is_s3_url(location):
            from climnorm.storage.source import S3Source

            return S3Source(str(location), storage or StorageOptions.from_config()).size
        return os.stat(location).st_size
    except (OSError, ValueError, KeyError):
        return None
    except Exception as err:  # what a missing store or a failed request raises is zarr's or the client's
        if type(err).__name__ in ("GroupNotFoundError", "NodeNotFoundError", "InputFileError"):
            return None
        raise


async def _remove(location: str, storage: StorageOptions | None) -> None:
    store_path, year = store_and_year(location)
    store = zarr_store(store_path, storage)
    root = await _open(store)
    index = (await _years(root)).index(year)
    keys = await chunk_keys(root, index)
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
    with contextlib.ExitStack() as stack:
        if in_store(location):
            ds = _rebuild(*store_and_year(location), storage)
        elif is_s3_url(location):  # fetched whole into a local temporary file (an ensemble opens dozens at once)
            local = stack.enter_context(tempfile.NamedTemporaryFile(prefix="climnorm-output-", suffix=".nc"))
            _download(str(location), storage or StorageOptions.from_config(), local)
            ds = netCDF4.Dataset(local.name)
        else:
            ds = netCDF4.Dataset(location)
        try:
            yield ds
        finally:
            ds.close()


def _download(url: str, storage: StorageOptions, to: IO[bytes]) -> None:
    """An object's bytes streamed into a local file (retried whole as the options say); FileNotFoundError when
    there is no such object."""
    import obstore

    from climnorm.storage.client import store_for
    from climnorm.storage.retry import RequestFailed, with_retries
    from climnorm.storage.urls import S3Url

    where = S3Url.parse(url)
    store = store_for(storage, where.bucket)

    def fetch() -> None:
        to.seek(0)
        to.truncate()
        for chunk in obstore.get(store, where.key):
            to.write(chunk)
        to.flush()

    try:
        with_retries(fetch, url, storage.retry, storage.secrets())
    except RequestFailed as err:
        kind = FileNotFoundError if err.failure.kind == "missing" else OSError
        raise kind(f"{url}: cannot read it: {err.problem()}") from None


async def _read_target(store: Any, year: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A target's ``target_attributes`` and its variables' values as its store holds them, read all at once."""
    root = await _open(store)
    years, targets = await asyncio.gather(_years(root), root.getitem(TARGETS))
    i = years.index(year)
    text = str(await targets.getitem(i))
    if not text:
        raise FileNotFoundError(f"target {year} was never written")
    structure = json.loads(text)
    names = [n for n, *_ in structure["variables"]]
    paths = [f"{YEARS_GROUP}/{year}/{n}" if "year" in d else RENAMED.get(n, n) for n, d, *_ in structure["variables"]]
    arrays = await asyncio.gather(*(root.getitem(p) for p in paths))
    per_target = [(a.metadata.dimension_names or ())[:1] == ("target_year",) for a in arrays]
    values = await asyncio.gather(
        *(a.getitem(i if t else slice(None)) for a, t in zip(arrays, per_target, strict=True))
    )
    return structure, {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


def _rebuild(store: str, year: int, storage: StorageOptions | None) -> netCDF4.Dataset:
    """A target's file, rebuilt in memory from its store."""
    try:
        structure, stored = run_sync(_read_target(zarr_store(store, storage), year))
    except (ValueError, KeyError, FileNotFoundError) as err:
        raise FileNotFoundError(f"{store}: no target {year} ({err})") from None
    except Exception as err:  # a damaged chunk: what its codec raises is the codec's
        if type(err).__name__ in ("GroupNotFoundError", "NodeNotFoundError"):
            raise FileNotFoundError(f"{store}: no target {year} (no store)") from None
        raise OSError(f"{store}#{year}: unreadable ({type(err).__name__}: {err})") from None
    # in memory only, under a name of its own (two of one target may be open at once: a baseline's own change)
    ds = netCDF4.Dataset(f"{store}#{year}.{uuid.uuid4().hex}", "w", diskless=True, persist=False, format="NETCDF4")
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

"""File checks: open each selected file's header and say in one line what is wrong with it.

Slower than cataloguing (it opens every file), so it is a separate step: ``climnorm catalog --check``. Opening a
file is reading it, so the check lives with the reader (the catalog knows names only).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from climnorm.catalog.filenames import FileEntry, InputPath
from climnorm.catalog.scan import Catalog
from climnorm.errors import InputFileError
from climnorm.read.truncation import HDF5_SIGNATURE, HDF5_SIGNATURE_OFFSETS, classic_problem, classic_problem_of
from climnorm.storage.options import StorageOptions
from climnorm.storage.source import open_source
from climnorm.storage.urls import ObjectPath

logger = logging.getLogger(__name__)

_NETCDF_LOCK = threading.Lock()  # the netCDF-C / HDF5 libraries are not thread-safe: one open at a time


@dataclass(frozen=True)
class FileProblem:
    """A file that cannot be used, with a one-line description of why."""

    path: InputPath
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def _one_line(text: str) -> str:
    """Collapse a (library) message onto one line."""
    return " ".join(str(text).split())


def check_file(entry: FileEntry, storage: StorageOptions | None = None) -> FileProblem | None:
    """Open one file's header and return what's wrong with it (unreadable, truncated, variable missing)."""
    path = entry.path
    if isinstance(path, ObjectPath):
        return _check_object(entry, path, storage)
    try:
        size = os.stat(path).st_size
        if size == 0:
            return FileProblem(path, "zero-byte file")
        with open(path, "rb") as fh:
            head = fh.read(max(HDF5_SIGNATURE_OFFSETS) + len(HDF5_SIGNATURE))
    except FileNotFoundError:
        return FileProblem(path, "file not found")
    except OSError as err:
        return FileProblem(path, f"cannot read: {_one_line(err.strerror or str(err))}")
    if head[:3] == b"CDF" and len(head) >= 4 and head[3] in (1, 2, 5):
        problem = classic_problem(path, size)
        if problem:
            return FileProblem(path, problem)
    elif not any(head[o : o + 8] == HDF5_SIGNATURE for o in HDF5_SIGNATURE_OFFSETS):
        return FileProblem(path, f"not a NetCDF/HDF5 file (starts with {head[:16]!r})")

    import netCDF4  # imported here: cataloguing never needs it

    try:
        with _NETCDF_LOCK, netCDF4.Dataset(path, "r") as ds:
            names = list(ds.variables)
    except Exception as err:  # netCDF4 raises OSError, RuntimeError, ... with the library's message
        message = re.sub(r":\s*'[^']*'\s*$", "", _one_line(str(err)))  # drop the repeated file name
        return FileProblem(path, f"cannot open with netCDF4: {message}")
    return _variable_problem(entry, names)


def _variable_problem(entry: FileEntry, names: list[str]) -> FileProblem | None:
    if entry.variable not in names:
        return FileProblem(
            entry.path, f"variable '{entry.variable}' not found; variables present: {', '.join(names) or 'none'}"
        )
    return None


def _check_object(entry: FileEntry, path: ObjectPath, storage: StorageOptions | None) -> FileProblem | None:
    """`check_file` for an object: HDF5 metadata through ranged reads, a classic file fetched whole."""
    import netCDF4

    from climnorm.read.ncobject import open_object

    source = open_source(path.url, storage)
    try:
        size = source.size
        if size == 0:
            return FileProblem(path, "zero-byte object")
        head = source.read_ranges([(0, min(size, len(HDF5_SIGNATURE)))])[0]
        if head == HDF5_SIGNATURE:
            try:
                with open_object(source.open()) as h5:
                    names = list(h5.variables)
            except (OSError, ValueError, KeyError) as err:
                return FileProblem(path, f"cannot open as NetCDF (truncated or corrupt: {_one_line(str(err))})")
        elif head.startswith(b"CDF"):
            data = source.read_all()
            problem = classic_problem_of(lambda n: data[:n], size)
            if problem:
                return FileProblem(path, problem)
            with _NETCDF_LOCK, netCDF4.Dataset(path.name, "r", memory=data) as nc:
                names = list(nc.variables)
        else:
            return FileProblem(path, f"not a NetCDF/HDF5 file (starts with {head!r})")
    except InputFileError as err:
        return FileProblem(path, err.problem)
    return _variable_problem(entry, names)


def check_files(catalog: Catalog, workers: int = 1, storage: StorageOptions | None = None) -> list[FileProblem]:
    """Check every selected file of the catalog (see ``check_file``); problems sorted by path.

    With ``workers > 1`` a thread pool overlaps the file-system work (stat, reading headers); the
    netCDF4 opens themselves are serialised because the C libraries are not thread-safe.
    """
    entries = list(catalog.entries())
    if workers > 1 and len(entries) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="climnorm-check") as pool:
            results = list(pool.map(lambda e: check_file(e, storage), entries))
    else:
        results = [check_file(e, storage) for e in entries]
    problems = sorted((p for p in results if p is not None), key=lambda p: str(p.path))
    for p in problems:
        logger.warning("%s", p)
    logger.info("checked %d files: %d with problems", len(entries), len(problems))
    return problems

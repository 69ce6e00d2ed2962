"""File checks: open each selected file's header and say in one line what is wrong with it.

Slower than cataloguing (it opens every file), so it is a separate step: ``climnorm catalog --check``. The
classic-format reader here is just enough to know how long a NetCDF-3 file must be (truncation check); the
reader uses it too.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from climnorm.catalog import Catalog
from climnorm.errors import InputFileError
from climnorm.filenames import FileEntry, InputPath
from climnorm.storage.options import StorageOptions
from climnorm.storage.source import open_source
from climnorm.storage.urls import ObjectPath

logger = logging.getLogger(__name__)

_NETCDF_LOCK = threading.Lock()  # the netCDF-C / HDF5 libraries are not thread-safe: one open at a time
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)
_NC_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_CLASSIC_HEADER_READ = 1 << 16


@dataclass(frozen=True)
class FileProblem:
    """A file that cannot be used, with a one-line description of why."""

    path: InputPath
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


class _ShortHeader(Exception):
    """The classic header runs past the bytes read so far."""


class _ClassicHeader:
    """Just enough of a CDF-1/2/5 header reader to know how long the file must be (truncation check)."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 4
        self.version = buf[3]
        self.count_fmt = ">Q" if self.version == 5 else ">I"

    def _take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise _ShortHeader
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return int(value)

    def count(self) -> int:
        return self._take(self.count_fmt)

    def skip(self, n: int) -> None:
        self.pos += (n + 3) // 4 * 4
        if self.pos > len(self.buf):
            raise _ShortHeader

    def attributes(self) -> None:
        self._take(">I")  # NC_ATTRIBUTE or ABSENT
        for _ in range(self.count()):
            self.skip(self.count())  # name
            nc_type = self._take(">I")
            self.skip(self.count() * _NC_TYPE_SIZES.get(nc_type, 1))

    def data_end(self) -> int:
        """Smallest file size that holds every variable's data."""
        numrecs = self.count()
        self._take(">I")  # NC_DIMENSION or ABSENT
        dims = []
        for _ in range(self.count()):
            self.skip(self.count())
            dims.append(self.count())
        self.attributes()
        self._take(">I")  # NC_VARIABLE or ABSENT
        variables: list[tuple[bool, int, int]] = []  # (is_record, bytes per record or in all, begin)
        for _ in range(self.count()):
            self.skip(self.count())
            dimids = [self.count() for _ in range(self.count())]
            self.attributes()
            nc_type = self._take(">I")
            self.count()  # vsize (wrong above 4 GiB in CDF-1/2: recomputed below)
            begin = self._take(">I" if self.version == 1 else ">Q")
            is_record = bool(dimids) and dims[dimids[0]] == 0
            n = _NC_TYPE_SIZES.get(nc_type, 1)
            for d in dimids[1:] if is_record else dimids:
                n *= dims[d]
            variables.append((is_record, n, begin))
        records = [v for v in variables if v[0]]
        recsize = records[0][1] if len(records) == 1 else sum((n + 3) // 4 * 4 for _, n, _ in records)
        end = 0
        for is_record, n, begin in variables:
            if not is_record:
                end = max(end, begin + n)
            elif 0 < numrecs < 0xFFFFFFFF:  # 0xFFFFFFFF: streaming, record count unknown
                end = max(end, begin + (numrecs - 1) * recsize + n)
        return end


def classic_problem(path: Path, size: int) -> str | None:
    """For a classic NetCDF file: 'truncated' when it is shorter than its header says, else None."""

    def head(n: int) -> bytes:
        with open(path, "rb") as fh:
            return fh.read(n)

    return classic_problem_of(head, size)


def classic_problem_of(head: Callable[[int], bytes], size: int) -> str | None:
    """`classic_problem` for any bytes: ``head(n)`` gives the first n bytes (fewer at the end)."""
    want = _CLASSIC_HEADER_READ
    while True:
        buf = head(want)
        try:
            needed = _ClassicHeader(buf).data_end()
        except _ShortHeader:
            if len(buf) < want:
                return f"truncated NetCDF classic header ({size} bytes)"
            want *= 4
            continue
        except (KeyError, IndexError, struct.error):
            return "corrupt NetCDF classic header"
        if size < needed:
            return f"truncated: {size} bytes, the header needs {needed}"
        return None


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

    from climnorm.ncobject import open_object

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

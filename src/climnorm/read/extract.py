"""Read one input file once and cut every requested region out of that read, as per-year day-slot fields.

This is the only stage that decompresses data; everything after it works on small regional arrays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import netCDF4
import numpy as np

from climnorm._memory import address_space_cap, check_estimate
from climnorm.calendars import SlotScheme
from climnorm.errors import InputFileError
from climnorm.numerics.days import day_means
from climnorm.numerics.sums import block_ranges
from climnorm.read import fastread
from climnorm.read.grids import Box, Layout, T_Take, as_take, cut_region, layout_of, read_boxes
from climnorm.read.ncobject import open_object
from climnorm.read.orders import ReadTask
from climnorm.read.timeaxis import date_range, decode_time
from climnorm.read.truncation import HDF5_SIGNATURE, classic_problem, classic_problem_of
from climnorm.storage.source import ByteSource, open_source
from climnorm.storage.urls import is_s3_url
from climnorm.types import FileResult, RegionCut, YearPiece

log = logging.getLogger(__name__)

BLOCK_BYTES = 256 * 2**20  # read this much at a time, so memory stays bounded on global grids


_KEPT_ATTRS = ("standard_name", "long_name", "units")


def read_file(task: ReadTask, memory_limit: int | None = None) -> FileResult:
    """Read ``task.path`` once; return per-(year, region) day-slot fields for the requested years.

    With ``memory_limit`` (bytes), a read whose estimated need (one read block plus the regional fields it
    returns) exceeds it is refused before any data is decompressed, and one that grows beyond it while reading
    fails; both raise `TaskMemoryError`.
    """
    start = time.perf_counter()
    path = task.path
    if is_s3_url(path):
        return read_object(task, open_source(path, task.storage, task.listed), memory_limit, start)
    try:
        ds = netCDF4.Dataset(path, "r")
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except OSError as err:
        raise InputFileError(path, f"cannot open as NetCDF ({_describe_open_error(path, err)})") from None

    def truncation() -> str | None:
        return classic_problem(Path(path), Path(path).stat().st_size)

    return _read_guarded(ds, task, start, memory_limit, truncation)


def read_object(
    task: ReadTask, source: ByteSource, memory_limit: int | None = None, start: float | None = None
) -> FileResult:
    """`read_file` for the bytes of an object: the fast path with ranged reads where the variable qualifies
    (metadata through h5netcdf over a cached file-like view), else netCDF4 from the whole object in memory."""
    start = time.perf_counter() if start is None else start
    path = task.path
    size = source.size  # missing, forbidden: InputFileError naming the object
    if size == 0:
        raise InputFileError(path, "cannot open as NetCDF (zero-byte object)")
    view = source.open()  # cached blocks: the head read here is the block h5py then opens the file from
    head = view.read(len(HDF5_SIGNATURE))
    if not (head.startswith(b"CDF") or head == HDF5_SIGNATURE):
        raise InputFileError(path, f"cannot open as NetCDF (not a NetCDF or HDF5 file: starts with {head!r})")
    if head == HDF5_SIGNATURE and task.fast_read:
        view.seek(0)
        opened = _open_hdf5(task, source, view)
        if opened is not None:
            return _read_guarded(opened[0], task, start, memory_limit, None, opened[1])
    data = source.read_all()
    try:
        ds = netCDF4.Dataset(Path(path).name, "r", memory=data)  # a plain name: libnetcdf would fetch a URL itself
    except OSError as err:
        raise InputFileError(path, f"cannot open as NetCDF (truncated or corrupt: {err.strerror or err})") from None
    return _read_guarded(ds, task, start, memory_limit, lambda: classic_problem_of(lambda n: data[:n], size))


def _open_hdf5(task: ReadTask, source: ByteSource, view: IO[bytes]) -> tuple[Any, fastread.FastReader] | None:
    """The object opened through h5netcdf on its file view, and its fast reader; None when the variable does not
    qualify."""
    try:
        ds = open_object(view)
    except (OSError, ValueError, KeyError) as err:
        raise InputFileError(task.path, f"cannot open as NetCDF (truncated or corrupt: {err})") from None
    var = ds.variables.get(task.variable)
    fast = None
    if var is not None:
        opened = (ds._h5file, source)
        fast = fastread.reader_for(task.path, task.variable, var.shape, task.fast_read_threads, opened=opened)
    if fast is None:
        ds.close()
        return None
    return ds, fast


def _read_guarded(
    ds: Any,
    task: ReadTask,
    start: float,
    memory_limit: int | None,
    truncation: Callable[[], str | None] | None,
    fast: fastread.FastReader | None = None,
) -> FileResult:
    """Read an open dataset (closing it after); its failures become one-line `InputFileError`s.

    ``truncation`` says what is wrong with a classic-format file's length (the HDF5 library checks its own).
    """
    path = task.path
    try:
        if truncation is not None and ds.data_model.startswith("NETCDF3") and (problem := truncation()):
            raise InputFileError(path, problem)
        return _read_open_dataset(ds, task, start, memory_limit, fast)
    except InputFileError:
        raise
    except RuntimeError as err:
        if "can't start new thread" in str(err):  # no address space left for a thread stack: out of memory
            raise MemoryError(str(err)) from None
        raise InputFileError(path, f"read failed: {type(err).__name__}: {err}") from None
    except (OSError, ValueError, IndexError, KeyError) as err:
        raise InputFileError(path, f"read failed: {type(err).__name__}: {err}") from None
    finally:
        ds.close()


def _describe_open_error(path: str, err: OSError) -> str:
    try:
        size = Path(path).stat().st_size
    except OSError:
        return str(err)
    if size == 0:
        return "zero-byte file"
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not (head.startswith(b"CDF") or head.startswith(b"\x89HDF")):
        return "not a NetCDF or HDF5 file"
    return f"truncated or corrupt: {err.strerror or err}"


T_Rule = tuple[str, Callable[[np.ndarray], np.ndarray]]
"""A plausibility rule: its description and a test returning True where values are impossible."""


def _read_open_dataset(
    ds: netCDF4.Dataset, task: ReadTask, start: float, memory_limit: int | None, fast: fastread.FastReader | None
) -> FileResult:
    path = task.path
    if task.variable not in ds.variables:
        present = [n for n, v in ds.variables.items() if v.ndim >= 2 and n not in ds.dimensions]
        raise InputFileError(path, f"variable {task.variable!r} not found (data variables: {', '.join(present)})")
    var = ds.variables[task.variable]
    layout = layout_of(ds, var, path)
    calendar, years, slots_in = decode_time(ds, layout.time_dim, path)
    absent = sorted(set(task.years) - set(np.unique(years).tolist()))
    if absent and years.size:
        first, last = date_range(ds, layout.time_dim)
        raise InputFileError(
            path,
            f"no time steps in {', '.join(map(str, absent))}, which its name claims (its dates run {first} to {last})",
        )
    reading = _Reading(ds, var, task, layout, SlotScheme(calendar, task.leap_day), years, slots_in)
    reading.fast = fast
    if reading.grids and reading.wanted.any():
        reading.read(memory_limit)
    return FileResult(
        path=path,
        calendar=calendar,
        units=reading.units,
        attrs=reading.attrs,
        grids=reading.grids,
        pieces=reading.pieces,
        empty_regions=tuple(reading.empty_regions),
        bytes_read=reading.bytes_read,
        seconds=time.perf_counter() - start,
        impossible=reading.impossible,
        impossible_rule=reading.impossible_rule,
        fast_path=reading.fast is not None and not reading.fast.failed,
    )


class _Reading:
    """One read of one open file: which regions and steps it wants, and what it has gathered so far."""

    def __init__(
        self,
        ds: netCDF4.Dataset,
        var: netCDF4.Variable[Any],
        task: ReadTask,
        layout: Layout,
        scheme: SlotScheme,
        years: np.ndarray,
        slots_in: tuple[np.ndarray, ...],
    ) -> None:
        self.ds, self.var, self.task, self.layout, self.scheme, self.years = ds, var, task, layout, scheme, years
        self.slots = scheme.slots(*slots_in)
        self.wanted = np.isin(years, np.asarray(task.years, dtype=np.int64))
        self.attrs = {k: str(getattr(var, k)) for k in _KEPT_ATTRS if k in var.ncattrs()}
        self.units: str | None = getattr(var, "units", None)
        self.grids: dict[str, RegionCut] = {}
        self.empty_regions: list[str] = []
        for region in task.regions:
            cut = cut_region(layout, region, task.lon_convention)
            if cut is None:
                self.empty_regions.append(region.key)
            else:
                self.grids[region.key] = cut
        self.pieces: dict[tuple[int, str], YearPiece] = {}
        self.bytes_read = 0
        self.impossible = 0
        self.impossible_rule = ""
        self.fast: fastread.FastReader | None = None

    def read(self, memory_limit: int | None) -> None:
        """Decompress the wanted steps (refused first if they would need more memory than allowed) and turn each
        (year, region) into its day-slot piece."""
        task, layout, years = self.task, self.layout, self.years
        steps = np.nonzero(self.wanted)[0]
        t0, t1 = int(steps[0]), int(steps[-1]) + 1
        # on regular grids read only the rows the regions need (chunks are inflated whole either way)
        row_dim = layout.horizontal[0]
        r0, r1 = 0, len(self.ds.dimensions[row_dim])
        if layout.kind == "regular":
            rows = np.concatenate([c.index[0] for c in self.grids.values()])
            r0, r1 = int(rows.min()), int(rows.max()) + 1
        time_axis = layout.file_dims.index(layout.time_dim)
        dims = self.ds.dimensions
        cells = int(np.prod([len(dims[d]) for d in layout.file_dims if d not in (layout.time_dim, row_dim)]))
        blocks = _blocks(self.var, time_axis, t0, t1, (r1 - r0) * cells)
        block_bytes = max(b1 - b0 for b0, b1 in blocks) * (r1 - r0) * cells * 4
        region_bytes = sum(int(np.prod(c.shape)) for c in self.grids.values()) * 4
        nyears = len(set(years[self.wanted].tolist()))
        need = 2 * block_bytes + 3 * region_bytes * (self.scheme.nslots * nyears + t1 - t0)
        check_estimate("reading it", need, memory_limit)
        if task.fast_read and self.fast is None:
            self.fast = fastread.reader_for(task.path, task.variable, self.var.shape, task.fast_read_threads)
        with address_space_cap("reading it", memory_limit):
            collected = self._collect(blocks, (r0, r1), (r1 - r0) * cells * 4)
        for (year, key), parts in collected.items():
            in_year = np.nonzero(years[t0:t1] == year)[0] + t0
            values = parts[0] if len(parts) == 1 else np.concatenate(parts)
            means, counts = day_means(values, self.slots[in_year], self.scheme.nslots)
            self.pieces[(year, key)] = YearPiece(means, counts, block_ranges(means))

    def _collect(
        self, blocks: list[tuple[int, int]], rows: tuple[int, int], step_bytes: int
    ) -> dict[tuple[int, str], list[np.ndarray]]:
        """Decompress the wanted time steps block by block; every region's steps, grouped by (year, region)."""
        task, layout = self.task, self.layout
        rule = _impossible_rule(task.variable, self.attrs, self.units)
        packed = _packed(self.var)
        fills = [] if packed else _fill_values(self.var)
        first_row = rows[0] if layout.kind == "regular" else 0
        in_band = {
            key: (0, tuple(as_take(i - (first_row if n == 0 else 0)) for n, i in enumerate(c.index)))
            for key, c in self.grids.items()
        }
        boxes, in_box = read_boxes(self.grids) if layout.kind == "regular" and not packed else ([], {})
        collected: dict[tuple[int, str], list[np.ndarray]] = {}
        for b0, b1 in blocks:
            try:
                sources, where, views = self._read_boxes(boxes, b0, b1), in_box, True
                if sources is None:  # no boxes (or the fast path failed): the rows' whole band
                    sources, where, views = [self._read_band(b0, b1, rows, fast=not boxes)], in_band, False
            except (RuntimeError, OSError) as err:
                if "can't start new thread" in str(err):  # no address space left for a thread stack
                    raise MemoryError(str(err)) from None
                problem = f"corrupt or unreadable data in time steps {b0}-{b1 - 1} ({err})"
                raise InputFileError(task.path, problem) from None
            self.bytes_read += (b1 - b0) * step_bytes
            block_years = self.years[b0:b1]
            for key, cut in self.grids.items():
                k, take = where[key]
                sub = self._checked(_region(sources[k], take, cut.mask, fills, views), rule)
                for year in np.unique(block_years[self.wanted[b0:b1]]):
                    sel = block_years == year
                    collected.setdefault((int(year), key), []).append(sub if sel.all() else sub[sel])
        return collected

    def _read_boxes(self, boxes: list[Box], b0: int, b1: int) -> list[np.ndarray] | None:
        """Raw values of each box for steps [b0, b1) through the fast path (canonical order), or None."""
        if not boxes or self.fast is None:
            return None
        layout = self.layout
        row_dim, col_dim = layout.horizontal
        selections = [
            [
                slice(b0, b1)
                if d == layout.time_dim
                else slice(*box.rows)
                if d == row_dim
                else [slice(a, b) for a, b in box.cols]
                if d == col_dim
                else slice(None)
                for d in layout.file_dims
            ]
            for box in boxes
        ]
        arrays = self.fast.read_many(selections)
        return None if arrays is None else [np.transpose(a, layout.transpose) for a in arrays]

    def _read_band(self, b0: int, b1: int, rows: tuple[int, int], fast: bool) -> np.ndarray:
        """Raw values of steps [b0, b1) on rows [r0, r1) (every row on other layouts), canonical order."""
        layout = self.layout
        row_dim = layout.horizontal[0]
        index = tuple(
            slice(b0, b1) if d == layout.time_dim else slice(*rows) if d == row_dim else slice(None)
            for d in layout.file_dims
        )
        return np.transpose(_read_raw(self.var, index, self.fast if fast else None), layout.transpose)

    def _checked(self, sub: np.ndarray, rule: T_Rule | None) -> np.ndarray:
        """Count impossible values (and mask them when asked)."""
        if rule is None:
            return sub
        bad = rule[1](sub)
        nbad = int(np.count_nonzero(bad))
        if nbad:
            self.impossible += nbad
            self.impossible_rule = rule[0]
            if self.task.mask_impossible:
                return np.where(bad, np.float32(np.nan), sub)
        return sub


def _impossible_rule(variable: str, attrs: dict[str, str], units: str | None) -> T_Rule | None:
    """A physical-plausibility test for temperatures and precipitation (others: none)."""
    standard = attrs.get("standard_name", "")
    u = (units or "").replace(" ", "").lower()
    if standard == "air_temperature" or variable in ("tas", "tasmax", "tasmin"):
        if u == "k":
            return "temperature outside 150..350 K", lambda a: (a < 150) | (a > 350)
        if u in ("degc", "celsius", "°c", "c", "deg_c"):
            return "temperature outside -123..77 degC", lambda a: (a < -123) | (a > 77)
    if "precipitation" in standard or variable in ("pr", "prsn"):
        return "negative precipitation", lambda a: a < 0
    return None


def _blocks(var: netCDF4.Variable[Any], time_axis: int, t0: int, t1: int, cells: int) -> list[tuple[int, int]]:
    """Time ranges aligned to the file's time chunks, each about BLOCK_BYTES, so no chunk is inflated twice."""
    chunking = var.chunking()
    tchunk = chunking[time_axis] if isinstance(chunking, list | tuple) else 1  # h5netcdf: a tuple
    per_step = max(1, cells * 4)
    length = max(tchunk, (BLOCK_BYTES // per_step) // tchunk * tchunk)
    first = t0 - t0 % tchunk
    return [(max(b, t0), min(b + length, t1)) for b in range(first, t1, length)]


def _packed(var: netCDF4.Variable[Any]) -> bool:
    return any(a in var.ncattrs() for a in ("scale_factor", "add_offset"))


def _read_raw(var: netCDF4.Variable[Any], index: tuple[slice, ...], fast: fastread.FastReader | None) -> np.ndarray:
    """A hyperslab's values as stored (via ``fast`` if given and it succeeds, else netCDF4); packed variables
    unpacked to float32 with every masked value NaN (only netCDF4 datasets: packed objects are read from memory
    through netCDF4)."""
    if _packed(var):
        var.set_auto_maskandscale(True)
        data = np.ma.filled(np.ma.asarray(var[index]).astype(np.float32), np.nan)
        return np.asarray(data)
    if hasattr(var, "set_auto_maskandscale"):  # h5netcdf's variables give the stored values as they are
        var.set_auto_maskandscale(False)
    raw = fast.read(index) if fast is not None else None
    if raw is None:
        raw = np.asarray(var[index])
    return raw


def _as_float32(raw: np.ndarray, fills: list[float]) -> np.ndarray:
    """Raw values as float32 with every fill value as NaN (in place when ``raw`` is a writable float32 array)."""
    writable = raw.dtype == np.float32 and raw.flags.writeable
    data = raw if writable else raw.astype(np.float32)
    if fills:
        mask = raw == fills[0] if len(fills) == 1 else np.isin(raw, fills)
        data[mask] = np.nan
    return data


def _region(
    source: np.ndarray, take: T_Take, mask: np.ndarray | None, fills: list[float], keep_view: bool = False
) -> np.ndarray:
    """One region's float32 values (fill values and cells outside it NaN) from a block's raw ``source``
    (time, *extra, *horizontal); ``take`` counts within ``source``.

    A region that is a plain slice of ``source`` gets its own copy unless ``keep_view`` (a box read for the
    regions alone: its fill values may turn NaN in place, which is what every region holding them sees anyway).
    """
    n = len(take)
    views: tuple[Any, ...] = (..., *(t if isinstance(t, slice) else slice(None) for t in take))
    out = source[views]
    gathered = False
    for i, t in enumerate(take):
        if not isinstance(t, slice):
            out, gathered = np.take(out, t, axis=out.ndim - n + i), True
    if not gathered and out.dtype == np.float32 and not (keep_view and mask is None):
        out = out.copy()
    data = _as_float32(out, fills)
    if mask is not None:
        data[..., mask] = np.nan
    return data


def _read_block(
    var: netCDF4.Variable[Any], index: tuple[slice, ...], path: str, fast: fastread.FastReader | None = None
) -> np.ndarray:
    """Read a hyperslab as float32 with every fill/missing value (and NaN) as NaN (raw values via ``fast`` if
    given and it succeeds, else netCDF4)."""
    raw = _read_raw(var, index, fast)
    return raw if _packed(var) else _as_float32(raw, _fill_values(var))


def _fill_values(var: netCDF4.Variable[Any]) -> list[float]:
    attrs = var.ncattrs()
    values: list[Any] = []  # as the attributes hold them (float32 values compare exactly with the data)
    for name in ("_FillValue", "missing_value"):
        if name in attrs:
            values.extend(np.atleast_1d(np.asarray(var.getncattr(name))).tolist())
    if "_FillValue" not in attrs:
        default = netCDF4.default_fillvals.get(var.dtype.str[1:])
        if default is not None:
            values.append(default)
    return sorted(set(values))

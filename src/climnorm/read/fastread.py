"""A direct read path for deflate(+shuffle)-compressed NetCDF4 variables, bit-identical to netCDF4's.

On NEX-GDDP-CMIP6-shaped files most of a read is spent in HDF5's zlib filter. This module skips HDF5 for the
data: it takes the chunk index once per file (via h5py), reads each needed chunk's raw bytes with a plain
``os.pread``, inflates them with libdeflate (the ``deflate`` package, which releases the GIL), undoes the HDF5
shuffle filter with a few whole-array integer operations (see :func:`_unshuffle_into`) and writes the requested
part of each chunk straight into the output array, in native byte order.

:func:`reader_for` decides per file whether the variable qualifies (HDF5-based NetCDF4; chunked; every chunk
allocated; filters exactly ``deflate`` or ``shuffle`` then ``deflate``; little- or big-endian float32/float64;
no ``scale_factor``/``add_offset``). Any chunk shape works, including partial edge chunks. When a variable does
not qualify, or a read fails for any reason (a corrupt chunk, a short read), the caller falls back to netCDF4,
which then reports the problem the way it always has. Fill values are not touched here: the caller applies
the same ``_FillValue``/``missing_value`` rule to the raw values whichever path produced them.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import deflate
import h5py
import numpy as np

from climnorm.errors import InputFileError
from climnorm.storage.source import ByteSource

log = logging.getLogger(__name__)

DEFAULT_THREADS = 2
"""Threads that inflate chunks in parallel inside one read (libdeflate and numpy release the GIL)."""

_FILTER_DEFLATE = 1  # H5Z_FILTER_DEFLATE
_FILTER_SHUFFLE = 2  # H5Z_FILTER_SHUFFLE
_PACKING_ATTRS = ("scale_factor", "add_offset")


class NotEligible(Exception):
    """The variable cannot be read by the fast path; the message says why."""


@dataclass(frozen=True)
class ChunkRef:
    """Where one chunk's stored bytes are, and which filters were skipped for it (HDF5's filter mask)."""

    offset: int
    size: int
    filter_mask: int


_Part = tuple[int, tuple[slice, ...], tuple[slice, ...]]  # which output, part of the chunk, part of that output
_Job = tuple[ChunkRef, tuple[_Part, ...]]  # one chunk (inflated once) and every part of it the outputs need
T_Selection = Sequence[slice | Sequence[slice]]
"""Per axis a slice, or several slices whose values are concatenated along that axis (e.g. column spans)."""


@dataclass
class FastReader:
    """Reads hyperslabs of one qualifying variable of one file (see :func:`reader_for`)."""

    path: str
    variable: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    shuffle_bit: int | None
    deflate_bit: int
    index: dict[tuple[int, ...], ChunkRef]
    threads: int = DEFAULT_THREADS
    failed: bool = False
    source: ByteSource | None = None  # an object's bytes (ranged GETs); None: os.pread on the local path

    @property
    def out_dtype(self) -> np.dtype:
        """The dtype of what :meth:`read` returns: the variable's, in native byte order."""
        return self.dtype.newbyteorder("=")

    @property
    def chunk_nbytes(self) -> int:
        return math.prod(self.chunks) * self.dtype.itemsize

    def read(self, index: Sequence[slice]) -> np.ndarray | None:
        """The values of ``var[index]`` (slices with step 1), exactly as stored, or None if the fast path failed
        (the reason is logged; the caller then reads through netCDF4, and :attr:`failed` stays set)."""
        outs = self.read_many([index])
        return None if outs is None else outs[0]

    def read_many(self, selections: Sequence[T_Selection]) -> list[np.ndarray] | None:
        """Several selections in one pass, every chunk read and inflated once however many of them need it.

        A selection gives per axis a slice or a sequence of slices (steps 1); along such an axis its output holds
        the slices' values one after the other, so only the parts of each chunk that are asked for are
        unshuffled and copied. Values exactly as stored, or None if the fast path failed (as :meth:`read`).
        """
        try:
            return self._read(selections)
        except InputFileError:
            raise  # the object cannot be fetched (missing, forbidden, store unreachable): no fallback helps
        except (OSError, ValueError, NotEligible, deflate.DeflateError) as err:
            self.failed = True
            log.debug("fast read of %s:%s failed (%s); using netCDF4", self.path, self.variable, err)
            return None

    def _read(self, selections: Sequence[T_Selection]) -> list[np.ndarray]:
        spans = [_spans(selection, self.shape) for selection in selections]
        outs = [np.empty(tuple(sum(b - a for a, b in axis) for axis in s), dtype=self.out_dtype) for s in spans]
        jobs = self._jobs(spans)
        if not jobs:
            return outs
        if self.source is not None:  # an object: every chunk in one batch of coalesced, concurrent ranged reads
            stored = self.source.read_ranges([(ref.offset, ref.size) for ref, _ in jobs])
            by_offset = {ref.offset: data for (ref, _), data in zip(jobs, stored, strict=True)}
            self._decode_all(jobs, outs, lambda ref: by_offset[ref.offset])
            return outs
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self._decode_all(jobs, outs, lambda ref: _pread(fd, ref))
        finally:
            os.close(fd)
        return outs

    def _decode_all(self, jobs: list[_Job], outs: list[np.ndarray], fetch: Callable[[ChunkRef], bytes]) -> None:
        """Inflate every job's chunk (its stored bytes from ``fetch``) into ``outs``, on threads where possible."""

        def decode(job: _Job) -> None:
            self._decode(fetch(job[0]), *job, outs)

        if self.threads > 1 and len(jobs) > 1:
            try:
                with ThreadPoolExecutor(min(self.threads, len(jobs)), thread_name_prefix="fastread") as pool:
                    for _ in pool.map(decode, jobs):
                        pass
                return
            except (RuntimeError, MemoryError) as err:  # e.g. no address space for thread stacks under a cap
                log.debug("fast read of %s: threads failed (%s); inflating on one thread", self.path, err)
                self.threads = 1
        for job in jobs:
            decode(job)

    def _jobs(self, spans: list[list[list[tuple[int, int]]]]) -> list[_Job]:
        """Every chunk that some selection touches (in file order), with the parts of it each selection needs.

        ``spans[k][axis]`` are selection k's (start, stop) ranges along ``axis``; a part is one combination of
        ranges intersected with one chunk, with where it goes in output k.
        """
        parts: dict[tuple[int, ...], list[_Part]] = {}
        for k, selection in enumerate(spans):
            per_axis = [_axis_parts(axis, c) for axis, c in zip(selection, self.chunks, strict=True)]
            for combo in itertools.product(*per_axis):
                grid_pos = tuple(p[0] for p in combo)
                parts.setdefault(grid_pos, []).append((k, tuple(p[1] for p in combo), tuple(p[2] for p in combo)))
        jobs = []
        for grid_pos, chunk_parts in parts.items():
            origin = tuple(g * c for g, c in zip(grid_pos, self.chunks, strict=True))
            ref = self.index.get(origin)
            if ref is None:
                raise NotEligible(f"chunk at {origin} is not allocated")
            jobs.append((ref, tuple(chunk_parts)))
        jobs.sort(key=lambda job: job[0].offset)
        return jobs

    def _decode(self, stored: bytes, ref: ChunkRef, parts: tuple[_Part, ...], outs: list[np.ndarray]) -> None:
        """Inflate and unshuffle one chunk's stored bytes, writing each part ``(k, src, dst)`` into ``outs[k][dst]``."""
        nbytes = self.chunk_nbytes
        if ref.filter_mask & self.deflate_bit:
            data: bytes | bytearray = stored
        else:
            data = deflate.zlib_decompress(stored, nbytes)
        if len(data) != nbytes:
            raise ValueError(f"chunk at byte {ref.offset} holds {len(data)} bytes, expected {nbytes}")
        raw = np.frombuffer(data, dtype=np.uint8)
        if self.shuffle_bit is not None and not ref.filter_mask & self.shuffle_bit:
            for k, src, dst in parts:
                _unshuffle_into(outs[k][dst], raw, self.chunks, src, self.dtype)
        else:
            values = raw.view(self.dtype).reshape(self.chunks)
            for k, src, dst in parts:
                np.copyto(outs[k][dst], values[src])


def _pread(fd: int, ref: ChunkRef) -> bytes:
    """One chunk's stored bytes from a local file."""
    stored = os.pread(fd, ref.size, ref.offset)
    if len(stored) != ref.size:
        raise OSError(f"short read at byte {ref.offset}: {len(stored)} of {ref.size} bytes")
    return stored


def _spans(selection: T_Selection, shape: tuple[int, ...]) -> list[list[tuple[int, int]]]:
    """Per axis, the (start, stop) ranges a selection asks for (empty ones dropped)."""
    if len(selection) != len(shape):
        raise NotEligible(f"index {selection} does not match shape {shape}")
    spans = []
    for item, size in zip(selection, shape, strict=True):
        axis = []
        for part in [item] if isinstance(item, slice) else item:
            if not isinstance(part, slice):
                raise NotEligible(f"index {part!r} is not a slice")
            start, stop, step = part.indices(size)
            if step != 1:
                raise NotEligible(f"slice step {step} is not 1")
            if stop > start:
                axis.append((start, stop))
        spans.append(axis)
    return spans


def _axis_parts(spans: list[tuple[int, int]], chunk: int) -> list[tuple[int, slice, slice]]:
    """Along one axis: (chunk number, part of that chunk, part of the output) for ranges laid one after the other
    in the output."""
    parts, at = [], 0
    for a, b in spans:
        for g in range(a // chunk, (b - 1) // chunk + 1):
            lo, hi = max(a, g * chunk), min(b, (g + 1) * chunk)
            parts.append((g, slice(lo - g * chunk, hi - g * chunk), slice(at + lo - a, at + hi - a)))
        at += b - a
    return parts


def _unshuffle_into(
    target: np.ndarray, raw: np.ndarray, chunks: tuple[int, ...], src: tuple[slice, ...], dtype: np.dtype
) -> None:
    """Undo HDF5's shuffle for the ``src`` part of one chunk, writing native-order values into ``target``.

    Shuffled bytes hold byte ``j`` of every element in plane ``j``. Viewing ``target`` as unsigned integers of
    the same width, each value is the sum of ``plane[j] << 8*j`` for little-endian data (``8*(size-1-j)`` for
    big-endian), whatever the host's byte order; built Horner-style this is ``3*size - 2`` vectorised passes
    (copy, then shift-or per plane) and byte-swaps big-endian data for free. That is several times faster than
    a transposing byte copy, which numpy runs as one-byte strided moves.
    """
    size = dtype.itemsize
    planes = raw.reshape((size, *chunks))
    ints = target.view(np.dtype(f"=u{size}"))
    order = range(size - 1, -1, -1) if dtype == dtype.newbyteorder("<") else range(size)
    first, *rest = order
    np.copyto(ints, planes[first][src])
    for j in rest:
        ints <<= 8
        ints |= planes[j][src]


def reader_for(
    path: str,
    variable: str,
    shape: tuple[int, ...] | None = None,
    threads: int = DEFAULT_THREADS,
    opened: tuple[h5py.File, ByteSource] | None = None,
) -> FastReader | None:
    """A :class:`FastReader` for ``variable`` in ``path`` if it qualifies, else None (reason logged at debug).

    ``shape`` is the variable's shape as netCDF4 sees it; a dataset shorter than its unlimited dimension
    (netCDF4 pads it with fill values) does not qualify. ``opened``: the object's file, already open in h5py, and
    its byte source (an object on S3: chunks are then fetched with ranged reads).
    """
    try:
        if opened is None:
            reader = _probe(path, variable, threads)
        else:
            reader = _inspect(opened[0], path, variable, threads)
            reader.source = opened[1]
        if shape is not None and tuple(shape) != reader.shape:
            raise NotEligible(f"stored shape {reader.shape} differs from the NetCDF shape {tuple(shape)}")
    except NotEligible as why:
        log.debug("%s: %s: netCDF4 read path (%s)", path, variable, why)
        return None
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        log.debug("%s: %s: netCDF4 read path (cannot inspect with h5py: %s)", path, variable, err)
        return None
    log.debug(
        "%s: %s: fast read path (chunks %s, %s, %s)",
        path,
        variable,
        reader.chunks,
        reader.dtype.str,
        "shuffle+deflate" if reader.shuffle_bit is not None else "deflate",
    )
    return reader


def _probe(path: str, variable: str, threads: int) -> FastReader:
    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89HDF\r\n\x1a\n":
            raise NotEligible("not an HDF5-based (NetCDF4) file")
    with h5py.File(path, "r") as f:
        return _inspect(f, path, variable, threads)


def _inspect(f: h5py.File, path: str, variable: str, threads: int) -> FastReader:
    """The fast reader of ``variable`` in the open file ``f``, or NotEligible saying why not."""
    if f.id.get_create_plist().get_userblock() != 0:
        raise NotEligible("file has an HDF5 user block")
    ds = f.get(variable)
    if not isinstance(ds, h5py.Dataset):
        raise NotEligible(f"no HDF5 dataset named {variable!r}")
    dtype = ds.dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or dtype.byteorder == "|":
        raise NotEligible(f"data type {dtype.str} is not float32/float64")
    packed = [a for a in _PACKING_ATTRS if a in ds.attrs]
    if packed:
        raise NotEligible(f"packed data ({', '.join(packed)})")
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() != h5py.h5d.CHUNKED or ds.chunks is None:
        raise NotEligible("not chunked")
    filters = [dcpl.get_filter(i) for i in range(dcpl.get_nfilters())]
    codes = [fil[0] for fil in filters]
    if codes == [_FILTER_DEFLATE]:
        shuffle_bit = None
    elif codes == [_FILTER_SHUFFLE, _FILTER_DEFLATE]:
        if tuple(filters[0][2][:1]) not in ((), (dtype.itemsize,)):
            raise NotEligible(f"shuffle element size {filters[0][2]} differs from {dtype.itemsize}")
        shuffle_bit = 1
    else:
        names = [fil[3].decode(errors="replace") or str(fil[0]) for fil in filters] or ["none"]
        raise NotEligible(f"filters {' + '.join(names)} (need deflate, optionally after shuffle)")
    if int(np.prod(ds.chunks)) * dtype.itemsize >= 2**32:
        raise NotEligible(f"chunks {ds.chunks} hold 4 GiB or more")
    index = _chunk_index(ds.id)
    expected = int(np.prod([-(-s // c) for s, c in zip(ds.shape, ds.chunks, strict=True)]))
    if len(index) != expected:
        raise NotEligible(f"{expected - len(index)} of {expected} chunks are not allocated")
    return FastReader(
        path=path,
        variable=variable,
        shape=tuple(ds.shape),
        chunks=tuple(ds.chunks),
        dtype=dtype,
        shuffle_bit=shuffle_bit,
        deflate_bit=1 << codes.index(_FILTER_DEFLATE),
        index=index,
        threads=max(1, threads),
    )


def _chunk_index(dsid: h5py.h5d.DatasetID) -> dict[tuple[int, ...], ChunkRef]:
    """Chunk origin (in elements) -> stored location, in one pass over the index where HDF5 allows."""
    index: dict[tuple[int, ...], ChunkRef] = {}

    def visit(info: h5py.h5d.StoreInfo) -> None:
        index[tuple(info.chunk_offset)] = ChunkRef(int(info.byte_offset), int(info.size), int(info.filter_mask))

    try:
        dsid.chunk_iter(visit)
    except (AttributeError, NotImplementedError):  # older HDF5: one lookup per chunk
        for i in range(dsid.get_num_chunks()):
            visit(dsid.get_chunk_info(i))
    return index

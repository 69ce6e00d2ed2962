"""Window years parked on disk: the yearly fields a rolling window must subtract later, kept out of memory.

A 30-year window over the five U.S. regions at 0.25 degrees holds ~2 GB of yearly float32 fields per variable;
only the window sums need to be in memory. Within a memory budget the fields stay in memory (:class:`Held`);
beyond it they are parked in one unnamed temporary file (``O_TMPFILE``, or
unlinked at once), so nothing is left behind however the run ends, and the page cache may keep them if memory
is free without counting against the process.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import weakref
from collections import defaultdict
from pathlib import Path
from types import EllipsisType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# os.pread/pwrite move at most this many bytes per call on Linux
_IO_MAX = 0x7FFFF000
# the scratch file never grows into the last GiB of its disk: outputs and the manifest need room more
RESERVE_BYTES = 2**30


class Parked:
    """One array in a scratch file; ``np.asarray(parked)`` reads it back. Its slot is freed when it is dropped."""

    __slots__ = ("__weakref__", "_scratch", "dtype", "nbytes", "offset", "shape")

    def __init__(self, scratch: Scratch, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self._scratch = scratch
        self.offset = offset
        self.shape = shape
        self.dtype = dtype
        self.nbytes = math.prod(shape) * dtype.itemsize

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=self.dtype)
        self._scratch.read_into(out, self.offset)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, where: slice | EllipsisType) -> np.ndarray:
        """Read back leading rows ``where`` (a slice with step 1) or, with ``...``, the whole array."""
        if where is Ellipsis or not self.shape:
            return np.asarray(self)
        start, stop, step = where.indices(self.shape[0])
        if step != 1:
            raise ValueError(f"parked arrays read back contiguous rows, not step {step}")
        out = np.empty((max(0, stop - start), *self.shape[1:]), dtype=self.dtype)
        self._scratch.read_into(out, self.offset + start * (self.nbytes // self.shape[0]))
        return out


class Held:
    """An array a :class:`Scratch` keeps in memory (within its memory budget) instead of on disk; indexing and
    ``np.asarray`` give the array itself. The budget is given back when it is dropped."""

    __slots__ = ("__weakref__", "values")

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype, copy=False)

    def __getitem__(self, where: slice | EllipsisType) -> np.ndarray:
        return self.values[where]


class Scratch:
    """An unnamed temporary file in ``directory`` holding parked arrays; freed slots of the same size are reused,
    so the file stays as large as the most arrays parked at once. It grows only while ``reserve_bytes`` stay
    free on its disk; beyond that (or when a write fails) arrays stay in memory.

    The first ``memory_bytes`` of arrays parked at once stay in memory (:class:`Held`), as a spilling store
    keeps its target in memory: writing years to disk and reading them back costs the reducer more system time
    than its arithmetic (`docs/performance.md`), and only what exceeds the budget needs to leave memory."""

    def __init__(self, directory: Path, reserve_bytes: int = RESERVE_BYTES, memory_bytes: int = 0) -> None:
        self.directory = directory
        self.reserve_bytes = reserve_bytes
        self.memory_bytes = memory_bytes
        self.held_bytes = 0
        self.peak_held_bytes = 0
        self._fh = tempfile.TemporaryFile(dir=directory, prefix=".climnorm-scratch-")  # noqa: SIM115 (closed by close())
        self._fd = self._fh.fileno()
        self._end = 0
        self._free: dict[int, list[int]] = defaultdict(list)
        self._lock = threading.Lock()
        self._disabled: str | None = None
        self.parked_bytes = 0
        self.peak_bytes = 0

    def park(self, values: np.ndarray) -> np.ndarray | Parked | Held:
        """Move ``values`` to disk and return its stand-in; if the disk refuses (full, quota), keep it in memory.
        Within the memory budget it stays in memory."""
        if self._disabled is not None or values.nbytes == 0:
            return values
        if self._hold(values.nbytes):
            held = Held(values)
            weakref.finalize(held, self._unhold, values.nbytes)
            return held
        data = np.ascontiguousarray(values)
        nbytes = data.nbytes
        with self._lock:
            slots = self._free.get(nbytes)
            if slots:
                offset = slots.pop()
            else:
                offset = self._end
                self._end += nbytes
        try:
            if self.reserve_bytes and offset + nbytes > os.fstat(self._fd).st_size:
                disk = os.statvfs(self._fd)
                if disk.f_bavail * disk.f_frsize < nbytes + self.reserve_bytes:
                    raise OSError(f"less than {self.reserve_bytes / 2**20:.0f} MiB would remain free on its disk")
            _pwrite_all(self._fd, data.data.cast("B"), offset)
        except OSError as err:
            self._disabled = err.strerror or str(err)
            log.warning(
                "%s: cannot park window years on disk (%s); keeping them in memory from here on",
                self.directory,
                self._disabled,
            )
            self._release(offset, nbytes)
            return values
        parked = Parked(self, offset, data.shape, data.dtype)
        with self._lock:
            self.parked_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.parked_bytes)
        weakref.finalize(parked, self._dropped, offset, nbytes)
        return parked

    def _hold(self, nbytes: int) -> bool:
        with self._lock:
            if self.held_bytes + nbytes > self.memory_bytes:
                return False
            self.held_bytes += nbytes
            self.peak_held_bytes = max(self.peak_held_bytes, self.held_bytes)
            return True

    def _unhold(self, nbytes: int) -> None:
        with self._lock:
            self.held_bytes -= nbytes

    def read_into(self, out: np.ndarray, offset: int) -> None:
        view = out.data.cast("B")
        done = 0
        while done < len(view):
            n = os.preadv(self._fd, [view[done : done + _IO_MAX]], offset + done)
            if n <= 0:
                raise OSError(f"{self.directory}: scratch file ended early (read {done} of {len(view)} bytes)")
            done += n

    def _dropped(self, offset: int, nbytes: int) -> None:
        with self._lock:
            self.parked_bytes -= nbytes
        self._release(offset, nbytes)

    def _release(self, offset: int, nbytes: int) -> None:
        with self._lock:
            self._free[nbytes].append(offset)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done : done + _IO_MAX], offset + done)

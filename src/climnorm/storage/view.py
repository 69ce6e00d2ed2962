"""A read-only, seekable file object over a byte source, with an LRU cache of fixed-size blocks.

Small reads (HDF5 superblock, object headers, B-tree nodes) are served from whole cached blocks, so h5py opens a
file and walks its chunk index with few requests; a read of at least one block (chunk data) is fetched exactly and
not cached, so bytes fetched stay close to bytes needed.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol


class _Ranged(Protocol):
    @property
    def size(self) -> int: ...

    def read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]: ...


class BlockReader(io.RawIOBase):
    """`read`/`readinto`/`seek`/`tell` over `source`, caching up to `max_blocks` blocks of `block_size` bytes.

    Like any file object it has one position, so one thread should use it at a time (the cache itself is locked).
    """

    def __init__(
        self, source: _Ranged, block_size: int, max_blocks: int, count: Callable[..., None] | None = None
    ) -> None:
        super().__init__()
        self.source = source
        self.block_size = max(1, block_size)
        self.max_blocks = max(1, max_blocks)
        self._count = count or (lambda **_: None)
        self._size = source.size
        self._pos = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The source's name (path or URL)."""
        return str(getattr(self.source, "name", "<bytes>"))

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (past the end is allowed; reads there return nothing)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the current position; returns the bytes read (0 at the end)."""
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos)
        if n <= 0:
            return 0
        view[:n] = self._read(self._pos, n)
        self._pos += n
        return n

    def _read(self, pos: int, n: int) -> bytes:
        if n >= self.block_size:
            return self.source.read_ranges([(pos, n)])[0]
        first, last = pos // self.block_size, (pos + n - 1) // self.block_size
        blocks = self._get_blocks(range(first, last + 1))
        data = blocks[0] if len(blocks) == 1 else b"".join(blocks)
        start = pos - first * self.block_size
        return data[start : start + n]

    def _get_blocks(self, indices: range) -> list[bytes]:
        with self._lock:
            have = {i: self._blocks[i] for i in indices if i in self._blocks}
            for i in have:
                self._blocks.move_to_end(i)
        missing = [i for i in indices if i not in have]
        self._count(cache_hits=len(have), cache_misses=len(missing))
        if missing:
            runs: list[list[int]] = []
            for i in missing:
                if runs and runs[-1][-1] == i - 1:
                    runs[-1].append(i)
                else:
                    runs.append([i])
            ranges = [
                (r[0] * self.block_size, min(self._size, (r[-1] + 1) * self.block_size) - r[0] * self.block_size)
                for r in runs
            ]
            for run, data in zip(runs, self.source.read_ranges(ranges), strict=True):
                for j, i in enumerate(run):
                    have[i] = data[j * self.block_size : (j + 1) * self.block_size]
            self._store(have, missing)
        return [have[i] for i in indices]

    def _store(self, have: dict[int, bytes], fresh: list[int]) -> None:
        with self._lock:
            for i in fresh:
                self._blocks[i] = have[i]
                self._blocks.move_to_end(i)
            while len(self._blocks) > self.max_blocks:
                self._blocks.popitem(last=False)

    def cached_blocks(self) -> int:
        """How many blocks the cache holds now."""
        with self._lock:
            return len(self._blocks)

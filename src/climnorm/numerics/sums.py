"""The rolling window sums a normal is a difference of: exact, block by block, on reducer threads or compiled.

numpy in, numpy out: no files, no logging, no configuration.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from types import EllipsisType
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from climnorm.numerics import _kernels
from climnorm.numerics._kernels import NONE32, flat

#: Day slots one block of the window sums spans: blocks are what reducer threads share out, and the unit of the
#: exactness test below. Fixed, so that nothing depends on the number of threads.
BLOCK_SLOTS = 16
#: Blocks one reducer thread takes at a time, and the smallest window (values) worth sharing out to threads:
#: below them the threads would spend more time taking turns at the interpreter than adding.
THREAD_BLOCKS = 2
THREADED_VALUES = 2**20
#: The smallest window (values) updated by the compiled loops: loading them costs the main process about a second
#: once (numba's import and cache), which a smaller window's numpy path does not lose over a run (docs/performance.md).
COMPILED_VALUES = 2**22


@dataclass
class WindowSums:
    """Sums and valid counts of yearly day-slot fields over the years currently in the window.

    Adding a year and dropping the oldest are a few array operations each, so a normal costs O(1) per target
    and memory is bounded by the window (the members are kept to subtract them when they leave). The sums are
    kept exactly as double-double numbers (``sums + residue``, Knuth's two-sum), so subtracting a year that
    leaves restores the exact sum of the others: a window of near-zero precipitation after a wet year comes
    out as its own mean, not as the wet year's rounding noise.

    Where float64 adds a block of float32 years exactly (positive values within 2**29 of each other in magnitude,
    as temperatures in kelvin always are: see :meth:`_exact`), the two-sum's error term is zero, so the block is
    added and dropped with one operation instead; results are the same to the bit either way. A block of a year
    without missing values is counted once for the whole block (``_Block.full``) instead of cell by cell, and
    :meth:`add` with ``drop_before`` drops and adds block by block, so each block's sums are read once per year
    while they are in cache: the operations on every value, and so the bits, are the same as dropping and adding
    in two passes. Where neither year has a missing value in a block, the drop and the add (and, when a mean is
    coming, its quotient) are one compiled pass (`numerics._kernels`: numba; the same operations, the same bits).

    ``park`` (optional) stores a member until it leaves and returns a stand-in whose leading slices read back
    as arrays (`climnorm.runner.scratch` keeps them on disk), so memory holds the sums, not the window.
    ``pool`` (optional) runs the blocks of ``BLOCK_SLOTS`` slots on reducer threads (numpy releases the GIL).
    """

    shape: tuple[int, ...]
    park: Callable[[np.ndarray], Stored] | None = None
    pool: Executor | None = None
    sums: np.ndarray = field(init=False)
    residue: np.ndarray = field(init=False)
    members: deque[_Member] = field(init=False)
    blocks: list[_Block] = field(init=False)
    _counts: np.ndarray = field(init=False)  # valid years per cell of the members with a gap in the cell's block
    _quotient: np.ndarray | None = field(init=False, default=None)  # the mean's quotient, taken by the last add
    _quotient_blocks: list[bool] = field(init=False, default_factory=list)  # its blocks that hold it

    def __post_init__(self) -> None:
        self.sums = np.zeros(self.shape, dtype=np.float64)
        self.residue = np.zeros(self.shape, dtype=np.float64)
        self._counts = np.zeros(self.shape, dtype=np.int32)
        self.members = deque()
        self.blocks = [_Block(where) for where in block_slices(self.shape)]

    @property
    def years(self) -> list[int]:
        return [m.year for m in self.members]

    @property
    def counts(self) -> np.ndarray:
        """Valid years per cell (int32)."""
        counts = self._counts.copy()
        for block in self.blocks:
            counts[block.where] += block.full
        return counts

    def _each_block(self, work: Callable[[int, _Block], None]) -> None:
        """Run ``work`` on every block: on the reducer threads in runs of ``THREAD_BLOCKS`` blocks when the window
        is large enough to gain from them, else here."""

        def run(first: int) -> None:
            for i in range(first, min(first + THREAD_BLOCKS, len(self.blocks))):
                work(i, self.blocks[i])

        if self.pool is None or len(self.blocks) <= THREAD_BLOCKS or self.sums.size < THREADED_VALUES:
            for first in range(0, len(self.blocks), THREAD_BLOCKS):
                run(first)
            return
        for _ in self.pool.map(run, range(0, len(self.blocks), THREAD_BLOCKS)):
            pass

    def add(
        self,
        year: int,
        values: np.ndarray,
        drop_before: int | None = None,
        ranges: np.ndarray | None = None,
        quotient: bool = False,
    ) -> None:
        """Include one year's day-slot field (NaN = missing), after removing the years older than
        ``drop_before``; years must arrive in increasing order. ``ranges``: :func:`block_ranges` of ``values``
        if already known (taken by the worker that made them), else they are taken here. ``quotient``: a
        :meth:`mean` of the new window is coming, so the compiled pass takes its quotient while it has the sums."""
        if values.shape != self.shape:
            raise ValueError(f"year {year}: field shape {values.shape} differs from the window's {self.shape}")
        if ranges is not None and ranges.shape != (len(self.blocks), 3):
            raise ValueError(f"year {year}: {ranges.shape[0]} block ranges for the window's {len(self.blocks)} blocks")
        leaving = self._leaving(drop_before)
        if len(self.members) > leaving and year <= self.members[-1].year:
            raise ValueError(f"year {year} added after year {self.members[-1].year}")
        old = [self.members.popleft() for _ in range(leaving)]
        gaps = [False] * len(self.blocks)
        members = len(self.members) + 1
        self._quotient = np.empty(self.shape, dtype=np.float32) if quotient and self._kernels() is not None else None
        self._quotient_blocks = [False] * len(self.blocks)

        def step(i: int, block: _Block) -> None:
            span = value_range(values[block.where]) if ranges is None else ranges[i]
            if not self._roll_block(i, block, old, values, members, span):
                self._drop_block(i, block, old)
                gaps[i] = self._add_block(block, values, members, span)

        # the year is parked on a reducer thread while the others update the blocks
        parking = self.pool.submit(self.park, values) if self.park is not None and self.pool is not None else None
        self._each_block(step)
        stored = parking.result() if parking is not None else values if self.park is None else self.park(values)
        self.members.append(_Member(year, stored, tuple(gaps)))

    def drop_before(self, first_year: int) -> None:
        """Remove the years older than ``first_year``."""
        old = [self.members.popleft() for _ in range(self._leaving(first_year))]
        if old:
            self._quotient = None
            self._each_block(lambda i, block: self._drop_block(i, block, old))

    def _leaving(self, first_year: int | None) -> int:
        if first_year is None:
            return 0
        return next((i for i, m in enumerate(self.members) if m.year >= first_year), len(self.members))

    def _kernels(self) -> _kernels.Kernels | None:
        """The compiled loops for a window of at least ``COMPILED_VALUES`` values, else None (numpy)."""
        return _kernels.get() if self.sums.size >= COMPILED_VALUES else None

    def _roll_block(
        self, i: int, block: _Block, old: Sequence[_Member], values: np.ndarray, members: int, span: Sequence[float]
    ) -> bool:
        """Add the year's block (after dropping the leaving member's, if one leaves) in one compiled pass, where
        neither has missing values and the block stays as exact as it was; returns whether it did (else nothing
        changed and the numpy path runs)."""
        kernels = self._kernels()
        if kernels is None or len(old) > 1 or bool(span[2]) or not isinstance(block.where, slice):
            return False
        if old and old[0].gaps[i]:
            return False
        sums, new = flat(self.sums[block.where], np.float64), flat(values[block.where], np.float32)
        leaving = flat(np.asarray(old[0].values[block.where]), np.float32) if old else NONE32
        if sums is None or new is None or leaving is None:
            return False
        if block.exact and not self._exact(block, new, members, float(span[0]), float(span[1])):
            return False  # exact before the year, not with it: the numpy path drops exactly, then two-sums the year
        block.full += not old
        out, n = NONE32, float(max(block.full, 1))
        if self._quotient is not None and block.gaps == 0:  # every cell counts the same years: a uniform mean
            out = self._quotient[block.where].reshape(-1)
            self._quotient_blocks[i] = True
        if block.exact:
            kernels.update(sums, new, leaving, out, n)
        else:
            kernels.update_two_sum(sums, self.residue[block.where].reshape(-1), new, leaving, out, n)
        return True

    def _add_block(self, block: _Block, values: np.ndarray, members: int, span: Sequence[float]) -> bool:
        """Add a block of a year whose :func:`value_range` is ``span``; returns whether it has missing values."""
        x = values[block.where]
        low, high, gap = float(span[0]), float(span[1]), bool(span[2])
        block.exact = block.exact and self._exact(block, x, members, low, high)
        self._update(block, x, +1, None if not gap else ~np.isnan(x))
        block.gaps += gap
        return gap

    def _drop_block(self, i: int, block: _Block, old: Sequence[_Member]) -> None:
        """Subtract block ``i`` of each leaving member, oldest first."""
        for member in old:
            gap = member.gaps[i]
            x = np.asarray(member.values[block.where])
            self._update(block, x, -1, ~np.isnan(x) if gap else None)
            block.gaps -= gap

    def _update(self, block: _Block, x: np.ndarray, sign: int, valid: np.ndarray | None) -> None:
        """Add (``sign`` +1) or subtract a block of a year; ``valid`` None: no value missing."""
        where = block.where
        sums = self.sums[where]
        if not block.exact:
            self._two_sum(where, x, valid, sign)
        elif valid is None:
            (np.add if sign > 0 else np.subtract)(sums, x, out=sums)
        else:
            (np.add if sign > 0 else np.subtract)(sums, x, out=sums, where=valid)
        if valid is None:
            block.full += sign
        elif sign > 0:
            self._counts[where] += valid
        else:
            self._counts[where] -= valid

    def _two_sum(self, where: T_Where, values: np.ndarray, valid: np.ndarray | None, sign: int) -> None:
        x = values.astype(np.float64)
        if valid is not None:
            np.copyto(x, 0.0, where=~valid)
        if sign < 0:
            np.negative(x, out=x)
        sums = self.sums[where]
        # two-sum: residue += (sums - (total - back)) + (x - back), in place to keep three temporaries
        total = sums + x
        back = total - sums
        np.subtract(x, back, out=x)
        np.subtract(total, back, out=back)
        np.subtract(sums, back, out=back)
        np.add(back, x, out=back)
        self.residue[where] += back
        sums[...] = total

    @staticmethod
    def _exact(block: _Block, x: np.ndarray, members: int, low: float, high: float) -> bool:
        """Whether adding (and later subtracting) ``x`` is exact in float64, given what the block has seen: every
        value float32 and positive, so each is a multiple of the smallest one's ulp 2**e, and no partial sum of
        ``members`` of them reaches 2**(e + 53). ``low``, ``high``: the block's smallest and largest value."""
        if x.dtype != np.float32 or not x.size:
            return x.size == 0
        if low != low:  # every value NaN: nothing is added
            return True
        if not low > 0.0 or low < _FLOAT32_TINY:
            return False
        block.low = min(block.low, low)
        block.high = max(block.high, high)
        ulp = math.frexp(block.low)[1] - 1 - 23  # exponent of the smallest value's last mantissa bit
        return members * block.high < math.ldexp(1.0, ulp + 53)

    def mean(self, thresholds: np.ndarray) -> np.ndarray:
        """The window mean as float32; NaN where fewer valid years than ``thresholds`` (per leading slot)."""
        out, taken = self._quotient, self._quotient_blocks
        self._quotient = None  # handed out: a second mean is computed afresh
        if out is None:
            out, taken = np.empty(self.shape, dtype=np.float32), [False] * len(self.blocks)
        need = thresholds.reshape((-1,) + (1,) * (self.sums.ndim - 1))

        def block_mean(i: int, block: _Block) -> None:
            where = block.where
            if block.gaps == 0 and isinstance(where, slice):  # every cell counts the same years
                n = block.full
                if not taken[i]:  # else the update's pass wrote it
                    np.divide(self._total(block), max(n, 1), out=out[where], casting="same_kind")
                out[where][n < need[where].reshape(-1)] = np.nan
                return
            total = self._total(block)
            counts = self._counts[where] + block.full
            with np.errstate(invalid="ignore", divide="ignore"):
                quotient = total / np.maximum(counts, 1)
            quotient[counts < need[where]] = np.nan
            out[where] = quotient

        self._each_block(block_mean)
        return out

    def stack(self) -> np.ndarray:
        """The window's yearly fields, (years, *shape) float64 (read back from where they are parked)."""
        out = np.empty((len(self.members), *self.shape), dtype=np.float64)
        for i, member in enumerate(self.members):
            out[i] = np.asarray(member.values[...])
        return out

    def _total(self, block: _Block) -> np.ndarray:
        """The block's sums (plus the two-sum's residue where it is not exact)."""
        return self.sums[block.where] if block.exact else self.sums[block.where] + self.residue[block.where]

    def fork(self) -> WindowSums:
        """An independent copy sharing the (read-only) member arrays: a scenario continues a historical run."""
        twin = WindowSums(self.shape, self.park, self.pool)
        twin.sums = self.sums.copy()
        twin.residue = self.residue.copy()
        twin._counts = self._counts.copy()
        twin.members = deque(self.members)
        twin.blocks = [replace(b) for b in self.blocks]
        return twin


T_Where = slice | EllipsisType  # a block's slots; the whole of a scalar window


def block_slices(shape: tuple[int, ...]) -> list[T_Where]:
    """The blocks of ``BLOCK_SLOTS`` leading slots a window of ``shape`` is updated by (``...`` for a scalar)."""
    n = shape[0] if shape else 0
    return [slice(a, min(n, a + BLOCK_SLOTS)) for a in range(0, n, BLOCK_SLOTS)] or [...]


def value_range(x: np.ndarray) -> tuple[float, float, bool]:
    """The smallest and largest value of ``x`` (NaN ignored; NaN if all are) and whether any is NaN."""
    if not x.size:
        return 0.0, 0.0, False
    low = float(np.min(x))
    if low == low:
        return low, float(np.max(x)), False
    return float(np.fmin.reduce(x, axis=None)), float(np.fmax.reduce(x, axis=None)), True


def block_ranges(values: np.ndarray) -> np.ndarray:
    """:func:`value_range` of each block of a day-slot field, as (blocks, 3) float64: taken by the worker that
    makes the field, while it is in cache, so that the reducer need not read the field once more for them."""
    return np.array([value_range(values[where]) for where in block_slices(values.shape)], dtype=np.float64)


class Stored(Protocol):
    """A window member as kept until it leaves: an array, or a stand-in reading a block of slots back."""

    def __getitem__(self, where: T_Where, /) -> ArrayLike: ...


_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # below it float32 values are subnormal: no 24-bit mantissa


@dataclass
class _Block:
    """A block of slots of the window sums, and what its values have been so far (for the exactness test)."""

    where: T_Where
    exact: bool = True  # every addition so far exact: the residue is zero
    low: float = math.inf
    high: float = 0.0
    full: int = 0  # members without a missing value in the block: counted here, not cell by cell
    gaps: int = 0  # members with a missing value in the block (counted cell by cell)


@dataclass(frozen=True)
class _Member:
    """A year in the window: its field (or its parked stand-in) and which blocks of it have missing values."""

    year: int
    values: Stored
    gaps: tuple[bool, ...]

"""The pure numerical core of a normal: day means of a year, a year assembled from its files, rolling window sums.

numpy in, numpy out: no files, no logging, no configuration.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from types import EllipsisType

import numpy as np
from numpy.typing import ArrayLike

from climnorm.types import YearPiece

#: Day slots one block of the window sums spans: blocks are what reducer threads share out, and the unit of the
#: exactness test below. Fixed, so that nothing depends on the number of threads.
BLOCK_SLOTS = 16


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
    added and dropped with one masked operation instead; results are the same to the bit either way.

    ``park`` (optional) stores a member until it leaves and returns a stand-in that ``np.asarray`` turns back
    into the array (`climnorm._scratch` keeps them on disk), so memory holds the sums, not the window.
    ``pool`` (optional) runs the blocks of ``BLOCK_SLOTS`` slots on reducer threads (numpy releases the GIL).
    """

    shape: tuple[int, ...]
    park: Callable[[np.ndarray], ArrayLike] | None = None
    pool: Executor | None = None
    sums: np.ndarray = field(init=False)
    residue: np.ndarray = field(init=False)
    counts: np.ndarray = field(init=False)
    members: deque[tuple[int, ArrayLike]] = field(init=False)
    blocks: list[_Block] = field(init=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros(self.shape, dtype=np.float64)
        self.residue = np.zeros(self.shape, dtype=np.float64)
        self.counts = np.zeros(self.shape, dtype=np.int32)
        self.members = deque()
        n = self.shape[0] if self.shape else 0
        self.blocks = [_Block(slice(a, min(n, a + BLOCK_SLOTS))) for a in range(0, n, BLOCK_SLOTS)] or [_Block(...)]

    @property
    def years(self) -> list[int]:
        return [y for y, _ in self.members]

    def _each_block(self, work: Callable[[_Block], None]) -> None:
        if self.pool is None or len(self.blocks) == 1:
            for block in self.blocks:
                work(block)
            return
        for _ in self.pool.map(work, self.blocks):
            pass

    def _accumulate(self, values: np.ndarray, sign: int) -> None:
        self._each_block(lambda block: self._block_update(block, values, sign))

    def _block_update(self, block: _Block, values: np.ndarray, sign: int) -> None:
        where = block.where
        x, sums, counts = values[where], self.sums[where], self.counts[where]
        valid = ~np.isnan(x)
        if sign > 0:
            block.exact = block.exact and self._exact(block, x, len(self.members) + 1)
        if block.exact:
            (np.add if sign > 0 else np.subtract)(sums, x, out=sums, where=valid)
        else:
            self._two_sum(where, x, valid, sign)
        if sign > 0:
            counts += valid
        else:
            counts -= valid

    def _two_sum(self, where: T_Where, values: np.ndarray, valid: np.ndarray, sign: int) -> None:
        x = values.astype(np.float64)
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
    def _exact(block: _Block, x: np.ndarray, members: int) -> bool:
        """Whether adding (and later subtracting) ``x`` is exact in float64, given what the block has seen: every
        value float32 and positive, so each is a multiple of the smallest one's ulp 2**e, and no partial sum of
        ``members`` of them reaches 2**(e + 53)."""
        if x.dtype != np.float32 or not x.size:
            return x.size == 0
        low, high = float(np.fmin.reduce(x, axis=None)), float(np.fmax.reduce(x, axis=None))
        if low != low:  # every value NaN: nothing is added
            return True
        if not low > 0.0 or low < _FLOAT32_TINY:
            return False
        block.low = min(block.low, low)
        block.high = max(block.high, high)
        ulp = math.frexp(block.low)[1] - 1 - 23  # exponent of the smallest value's last mantissa bit
        return members * block.high < math.ldexp(1.0, ulp + 53)

    def add(self, year: int, values: np.ndarray) -> None:
        """Include one year's day-slot field (NaN = missing); years must arrive in increasing order."""
        if values.shape != self.shape:
            raise ValueError(f"year {year}: field shape {values.shape} differs from the window's {self.shape}")
        if self.members and year <= self.members[-1][0]:
            raise ValueError(f"year {year} added after year {self.members[-1][0]}")
        self._accumulate(values, +1)
        self.members.append((year, values if self.park is None else self.park(values)))

    def drop_before(self, first_year: int) -> None:
        """Remove the years older than ``first_year``."""
        while self.members and self.members[0][0] < first_year:
            _, values = self.members.popleft()
            self._accumulate(np.asarray(values), -1)

    def mean(self, thresholds: np.ndarray) -> np.ndarray:
        """The window mean as float32; NaN where fewer valid years than ``thresholds`` (per leading slot)."""
        out = np.empty(self.shape, dtype=np.float32)
        need = thresholds.reshape((-1,) + (1,) * (self.counts.ndim - 1))

        def block_mean(block: _Block) -> None:
            where = block.where
            counts = self.counts[where]
            total = self.sums[where] if block.exact else self.sums[where] + self.residue[where]
            with np.errstate(invalid="ignore", divide="ignore"):
                quotient = total / np.maximum(counts, 1)
            quotient[counts < need[where]] = np.nan
            out[where] = quotient

        self._each_block(block_mean)
        return out

    def fork(self) -> WindowSums:
        """An independent copy sharing the (read-only) member arrays: a scenario continues a historical run."""
        twin = WindowSums(self.shape, self.park, self.pool)
        twin.sums = self.sums.copy()
        twin.residue = self.residue.copy()
        twin.counts = self.counts.copy()
        twin.members = deque(self.members)
        twin.blocks = [replace(b) for b in self.blocks]
        return twin


T_Where = slice | EllipsisType  # a block's slots; the whole of a scalar window
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # below it float32 values are subnormal: no 24-bit mantissa


@dataclass
class _Block:
    """A block of slots of the window sums, and what its values have been so far (for the exactness test)."""

    where: T_Where
    exact: bool = True  # every addition so far exact: the residue is zero
    low: float = math.inf
    high: float = 0.0


def day_means(values: np.ndarray, slots: np.ndarray, nslots: int) -> tuple[np.ndarray, np.ndarray]:
    """Average time steps falling on the same slot; returns (float32 per-slot field, steps per slot).

    ``values`` is (time, ...) with NaN for missing data; steps with slot -1 are dropped. The common case of
    one step per slot is a plain scatter, so daily data never pays for averaging.
    """
    keep = slots >= 0
    if not keep.all():
        slots = slots[keep]
        values = values[keep]
    steps = np.bincount(slots, minlength=nslots)[:nslots]
    if steps.max(initial=0) <= 1:
        if steps.min(initial=1) == 1:  # every slot once: each is written, none needs NaN first
            out = np.empty((nslots, *values.shape[1:]), dtype=np.float32)
        else:
            out = np.full((nslots, *values.shape[1:]), np.nan, dtype=np.float32)
        out[slots] = values
        return out, steps
    out = np.full((nslots, *values.shape[1:]), np.nan, dtype=np.float32)
    total = np.zeros(out.shape, dtype=np.float64)
    count = np.zeros(out.shape, dtype=np.int32)
    valid = ~np.isnan(values)
    np.add.at(total, slots, np.where(valid, values, 0))
    np.add.at(count, slots, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[...] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out, steps


@dataclass(frozen=True)
class YearFields:
    """One year's day-slot field per region, assembled from the pieces of its files.

    ``overlap``: two files hold the same day (the year is refused: values are never averaged across files);
    ``missing_days``: days of the year no file holds (the year is refused as incomplete). ``fields`` is empty
    when either is set.
    """

    fields: dict[str, np.ndarray]
    overlap: bool = False
    missing_days: int = 0


def assemble_year(pieces: Mapping[str, Sequence[YearPiece]], expected: np.ndarray) -> YearFields:
    """Combine each region's pieces of one year (one per file) and check that every ``expected`` slot is there."""
    fields: dict[str, np.ndarray] = {}
    for region, parts in pieces.items():
        if not parts:
            continue
        merged = merge_pieces(parts)
        if merged is None:
            return YearFields({}, overlap=True)
        values, steps = merged
        present = steps > 0
        if not present[expected].all():
            return YearFields({}, missing_days=int((~present[expected]).sum()))
        fields[region] = values
    return YearFields(fields)


def merge_pieces(pieces: Sequence[YearPiece]) -> tuple[np.ndarray, np.ndarray] | None:
    """Combine one year's pieces from several files; None when two files hold the same day."""
    if len(pieces) == 1:
        return pieces[0].values, pieces[0].steps
    values = pieces[0].values.copy()
    steps = pieces[0].steps.copy()
    for p in pieces[1:]:
        has = p.steps > 0
        if (steps[has] > 0).any():
            return None
        values[has] = p.values[has]
        steps += p.steps
    return values, steps

"""The pure numerical core of a normal: day means of a year, a year assembled from its files, rolling window sums.

numpy in, numpy out: no files, no logging, no configuration.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from climnorm.types import YearPiece


@dataclass
class WindowSums:
    """Sums and valid counts of yearly day-slot fields over the years currently in the window.

    Adding a year and dropping the oldest are a few array operations each, so a normal costs O(1) per target
    and memory is bounded by the window (the members are kept to subtract them when they leave). The sums are
    kept exactly as double-double numbers (``sums + residue``, Knuth's two-sum), so subtracting a year that
    leaves restores the exact sum of the others: a window of near-zero precipitation after a wet year comes
    out as its own mean, not as the wet year's rounding noise.

    ``park`` (optional) stores a member until it leaves and returns a stand-in that ``np.asarray`` turns back
    into the array (`climnorm._scratch` keeps them on disk), so memory holds the sums, not the window.
    """

    shape: tuple[int, ...]
    park: Callable[[np.ndarray], ArrayLike] | None = None
    sums: np.ndarray = field(init=False)
    residue: np.ndarray = field(init=False)
    counts: np.ndarray = field(init=False)
    members: deque[tuple[int, ArrayLike]] = field(init=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros(self.shape, dtype=np.float64)
        self.residue = np.zeros(self.shape, dtype=np.float64)
        self.counts = np.zeros(self.shape, dtype=np.int32)
        self.members = deque()

    @property
    def years(self) -> list[int]:
        return [y for y, _ in self.members]

    def _accumulate(self, values: np.ndarray, sign: int) -> None:
        valid = ~np.isnan(values)
        x = values.astype(np.float64)
        np.copyto(x, 0.0, where=~valid)
        if sign < 0:
            np.negative(x, out=x)
        # two-sum: residue += (sums - (total - back)) + (x - back), in place to keep three temporaries
        total = self.sums + x
        back = total - self.sums
        np.subtract(x, back, out=x)
        np.subtract(total, back, out=back)
        np.subtract(self.sums, back, out=back)
        np.add(back, x, out=back)
        self.residue += back
        self.sums = total
        self.counts += valid if sign > 0 else -valid.astype(np.int32)

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
        need = thresholds.reshape((-1,) + (1,) * (self.counts.ndim - 1))
        ok = self.counts >= need
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(ok, (self.sums + self.residue) / np.maximum(self.counts, 1), np.nan)
        return out.astype(np.float32)

    def fork(self) -> WindowSums:
        """An independent copy sharing the (read-only) member arrays: a scenario continues a historical run."""
        twin = WindowSums(self.shape, self.park)
        twin.sums = self.sums.copy()
        twin.residue = self.residue.copy()
        twin.counts = self.counts.copy()
        twin.members = deque(self.members)
        return twin


def day_means(values: np.ndarray, slots: np.ndarray, nslots: int) -> tuple[np.ndarray, np.ndarray]:
    """Average time steps falling on the same slot; returns (float32 per-slot field, steps per slot).

    ``values`` is (time, ...) with NaN for missing data; steps with slot -1 are dropped. The common case of
    one step per slot is a plain scatter, so daily data never pays for averaging.
    """
    keep = slots >= 0
    slots = slots[keep]
    values = values[keep]
    steps = np.bincount(slots, minlength=nslots)[:nslots]
    out = np.full((nslots, *values.shape[1:]), np.nan, dtype=np.float32)
    if steps.max(initial=0) <= 1:
        out[slots] = values
        return out, steps
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

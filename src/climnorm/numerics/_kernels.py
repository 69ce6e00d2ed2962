"""Compiled loops for the window update's common cases: one pass over a block where numpy needs several.

A year entering the window (and the one leaving it) are one pass over the block's sums here (numpy: one pass per
operation, each float32 value cast to float64 through a buffer). Every element goes through the same IEEE
operations in the same order as :class:`climnorm.numerics.sums.WindowSums`'s numpy path, without fast-math, so the
results are the same to the bit (tests/test_kernels.py compares both). numba is a dependency; if it cannot be
imported (a numpy newer than its release supports), or ``CLIMNORM_KERNELS=numpy``, :func:`get` gives None and
the numpy path runs.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kernels:
    """The compiled loops; each takes 1-D C-contiguous views (sums float64, values float32) and works in place.

    ``update(sums, new, old, out, n)``: sums += new, after sums -= old (``old`` empty: nothing leaves), and with
    ``out`` not empty, out = float32(sums / n) in the same pass; ``update_two_sum`` the same on the double-double
    ``sums + residue``."""

    update: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], None]
    update_two_sum: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], None]


@functools.cache
def get() -> Kernels | None:
    """The compiled loops, or None for the numpy path; numba is imported on first use (the worker processes,
    which never update windows, don't pay for it)."""
    if os.environ.get("CLIMNORM_KERNELS", "numba").lower() == "numpy":
        return None
    try:
        import numba
    except Exception as e:  # ImportError, or numba refusing this numpy
        log.info("numba unavailable (%s): the window update runs on numpy", e)
        return None
    return _build(numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False))


def _build(jit: Any) -> Kernels:
    """The loops, compiled by ``jit`` (numba caches them beside this file: compiled once per machine)."""

    @jit
    def update(sums: np.ndarray, new: np.ndarray, old: np.ndarray, out: np.ndarray, n: float) -> None:
        drop, quotient = old.size > 0, out.size > 0
        for i in range(sums.size):
            s = sums[i]
            if drop:
                s = s - np.float64(old[i])
            s = s + np.float64(new[i])
            sums[i] = s
            if quotient:
                out[i] = np.float32(s / n)

    @jit
    def two_sum(sums: np.ndarray, residue: np.ndarray, i: int, x: float) -> None:
        # numpy path: total = s + x; back = total - s; x -= back; back = s - (total - back); residue += back + x
        s = sums[i]
        total = s + x
        back = total - s
        residue[i] += (s - (total - back)) + (x - back)
        sums[i] = total

    @jit
    def update_two_sum(
        sums: np.ndarray, residue: np.ndarray, new: np.ndarray, old: np.ndarray, out: np.ndarray, n: float
    ) -> None:
        drop, quotient = old.size > 0, out.size > 0
        for i in range(sums.size):
            if drop:
                two_sum(sums, residue, i, -np.float64(old[i]))
            two_sum(sums, residue, i, np.float64(new[i]))
            if quotient:
                out[i] = np.float32((sums[i] + residue[i]) / n)

    return Kernels(update, update_two_sum)


#: An empty operand: nothing leaves the window, or no quotient is wanted.
NONE32 = np.empty(0, dtype=np.float32)


def flat(x: np.ndarray, dtype: type[np.generic]) -> np.ndarray | None:
    """``x`` as a 1-D view for a kernel, or None if it is not C-contiguous of ``dtype`` (the numpy path then)."""
    if x.dtype != dtype or not x.flags.c_contiguous:
        return None
    return x.reshape(-1)

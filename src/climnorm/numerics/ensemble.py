"""Ensemble statistics, the pure numerical core: many members' normals of one target, cell by cell and slot by slot.

numpy in, numpy out. Members come in noleap (365 slots), 360_day (360) and leap calendars (366); the ensemble is
on the 365-slot noleap (month, day) axis: :func:`noleap_slots` says which member slot stands for each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NOLEAP_SLOTS = 365
FEB29_SLOT = 59  # 0-based slot of 29 February under the calendar_day policy of a 366-slot calendar


def noleap_slots(nslots: int, leap_day: str) -> np.ndarray:
    """For each noleap slot s = 0..364, the member's slot that stands for it.

    365 slots: the same slot. 366 slots: 29 February is dropped (under ``dayofyear``, day 366). 360 slots
    (360_day): ``floor(s * 360 / 365)``, so each member day stands for one or two noleap days.
    """
    s = np.arange(NOLEAP_SLOTS)
    if nslots == NOLEAP_SLOTS:
        return s
    if nslots == 366:
        return s if leap_day == "dayofyear" else np.where(s < FEB29_SLOT, s, s + 1)
    if nslots == 360:
        return (s * 360) // NOLEAP_SLOTS
    raise ValueError(f"a normal of {nslots} day slots has no noleap alignment (expected 360, 365 or 366)")


def percentile_of(name: str) -> float | None:
    """The percentile a statistic's name asks for (median: 50, pNN: NN), or None."""
    if name == "median":
        return 50.0
    if name.startswith("p") and name[1:].isdigit():
        return float(name[1:])
    return None


def member_statistics(
    stack: np.ndarray, names: Sequence[str], min_members: int, ddof: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each named statistic over the members (axis 0 of ``stack``, float64, NaN = missing), and the number of
    valid members per cell; NaN where fewer than ``min_members`` (at least one) are valid.

    Percentiles interpolate linearly between order statistics (numpy's default method), NaN members skipped;
    ``std`` divides by the valid members less ``ddof``: 0 for an ensemble's population, 1 for a window's sample
    of years (NaN where that leaves none).
    """
    data = np.asarray(stack, dtype=np.float64)
    valid = ~np.isnan(data)
    n = valid.sum(axis=0)
    ok = n >= max(1, min_members)
    count = np.maximum(n, 1)
    total = np.where(valid, data, 0.0).sum(axis=0)
    mean = total / count
    ordered = np.sort(data, axis=0)  # NaN last
    out: dict[str, np.ndarray] = {}
    for name in names:
        q = percentile_of(name)
        if name == "mean":
            value = mean
        elif name == "std":
            squares = np.where(valid, (data - mean) ** 2, 0.0).sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.sqrt(np.where(n > ddof, squares / np.maximum(n - ddof, 1), np.nan))
        elif name == "min":
            value = ordered[0]
        elif name == "max":
            value = np.take_along_axis(ordered, (count - 1)[None], axis=0)[0]
        elif q is not None:
            value = _quantile(ordered, count, q / 100.0)
        else:
            raise ValueError(f"unknown ensemble statistic {name!r}")
        out[name] = np.where(ok, value, np.nan)
    return out, n


def _quantile(ordered: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    """Linear interpolation between the order statistics of the valid members (sorted first, NaN after them)."""
    h = (count - 1) * q
    lo = np.floor(h).astype(np.intp)
    hi = np.minimum(lo + 1, count - 1)
    a = np.take_along_axis(ordered, lo[None], axis=0)[0]
    b = np.take_along_axis(ordered, hi[None], axis=0)[0]
    return a + (h - lo) * (b - a)

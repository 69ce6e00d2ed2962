"""An independent float64 reference for monthly, seasonal and annual values and their normals, and for the
smoothed daily normal, for the tests that check climnorm's (``climnorm.products``).

Nothing here imports climnorm: dates come from cftime one day at a time, days are grouped by ``date.month`` in
plain Python loops, the completeness rule is an explicit run-length loop, seasons are their own table, the
smoothing is ``numpy.linalg.lstsq`` on a design matrix built here and a direct loop.

A year's data is a :class:`YearData`: one row of float64 values (NaN = missing) per *date* of the year, in date
order; the tests turn it into climnorm's day-slot field through ``reference.day_key``/``slot_keys``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cftime
import numpy as np

#: The meteorological seasons, written out again (DJF: December of the year before).
SEASON_MONTHS = {"DJF": ((-1, 12), (0, 1), (0, 2)), "MAM": ((0, 3), (0, 4), (0, 5)), "JJA": ((0, 6), (0, 7), (0, 8))}
SEASON_MONTHS["SON"] = ((0, 9), (0, 10), (0, 11))
SEASON_ORDER = ("DJF", "MAM", "JJA", "SON")


@dataclass
class YearData:
    """Every date of one year (cftime) and its values, (dates, cells) float64 with NaN where missing."""

    year: int
    dates: list[cftime.datetime]
    values: np.ndarray


def dates_of(calendar: str, year: int) -> list[cftime.datetime]:
    """Every date of ``year`` in ``calendar``, stepping one day at a time."""
    out = []
    date = cftime.datetime(year, 1, 1, calendar=calendar)
    while date.year == year:
        out.append(date)
        date = date + dt.timedelta(days=1)
    return out


def in_field(date: cftime.datetime, policy: str, calendar: str) -> bool:
    """Whether a date's value reaches the day-slot field: ``drop`` leaves 29 February out (not in 360_day)."""
    return not (policy == "drop" and calendar != "360_day" and date.month == 2 and date.day == 29)


def longest_run(flags: Sequence[bool]) -> int:
    """The longest run of True in ``flags``, counted one by one."""
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def month_value(values: Sequence[float], kind: str, scale: float, max_missing: int, max_consecutive: int) -> float:
    """One month of one cell: NaN when incomplete (a total: any day missing), else the mean or total × scale."""
    missing = [math.isnan(v) for v in values]
    if kind == "sum":
        if any(missing):
            return math.nan
        return math.fsum(values) * scale
    if sum(missing) > max_missing or longest_run(missing) > max_consecutive:
        return math.nan
    valid = [v for v in values if not math.isnan(v)]
    return math.fsum(valid) / len(valid) * scale if valid else math.nan


def monthly(
    data: YearData, policy: str, calendar: str, kind: str, scale: float, max_missing: int, max_consecutive: int
) -> np.ndarray:
    """(12, cells): each month's value per cell, from the dates whose ``month`` it is."""
    ncells = data.values.shape[1]
    out = np.full((12, ncells), np.nan)
    for month in range(1, 13):
        rows = [i for i, d in enumerate(data.dates) if d.month == month and in_field(d, policy, calendar)]
        for cell in range(ncells):
            days = [float(data.values[i, cell]) for i in rows]
            out[month - 1, cell] = month_value(days, kind, scale, max_missing, max_consecutive)
    return out


def combine(values: Sequence[float], kind: str) -> float:
    """Mean or total of some monthly values; NaN when any is NaN."""
    if any(math.isnan(v) for v in values):
        return math.nan
    total = math.fsum(values)
    return total if kind == "sum" else total / len(values)


def seasonal(months_by_year: Mapping[int, np.ndarray], year: int, kind: str) -> np.ndarray:
    """(4, cells): DJF, MAM, JJA, SON of ``year``; a December from a year not in ``months_by_year`` is missing."""
    ncells = months_by_year[year].shape[1]
    out = np.full((4, ncells), np.nan)
    for s, name in enumerate(SEASON_ORDER):
        for cell in range(ncells):
            picked = []
            for offset, month in SEASON_MONTHS[name]:
                source = months_by_year.get(year + offset)
                picked.append(math.nan if source is None else float(source[month - 1, cell]))
            out[s, cell] = combine(picked, kind)
    return out


def annual(months: np.ndarray, kind: str) -> np.ndarray:
    """(1, cells): the calendar year's mean or total of its 12 monthly values."""
    return np.array([[combine([float(v) for v in months[:, c]], kind) for c in range(months.shape[1])]])


def window_normal(per_year: Mapping[int, np.ndarray], window: Sequence[int], min_years: int) -> np.ndarray:
    """Mean of the valid values of the window's years that exist; NaN where fewer than ``min_years``."""
    present = [per_year[y] for y in window if y in per_year]
    shape = present[0].shape
    out = np.full(shape, np.nan)
    for index in np.ndindex(shape):
        valid = [float(a[index]) for a in present if not math.isnan(a[index])]
        if len(valid) >= min_years:
            out[index] = math.fsum(valid) / len(valid)
    return out


def window_statistic(
    per_year: Mapping[int, np.ndarray], window: Sequence[int], min_years: int, name: str
) -> np.ndarray:
    """A statistic of the valid values of the window's years: the sample standard deviation (``statistics.stdev``)
    or a percentile by linear interpolation between order statistics (``pNN``, ``median``); NaN where fewer than
    ``min_years``."""
    present = [per_year[y] for y in window if y in per_year]
    out = np.full(present[0].shape, np.nan)
    for index in np.ndindex(out.shape):
        valid = sorted(float(a[index]) for a in present if not math.isnan(a[index]))
        if len(valid) < min_years:
            continue
        if name == "std":
            out[index] = statistics.stdev(valid)
        else:
            h = (len(valid) - 1) * (50.0 if name == "median" else float(name[1:])) / 100.0
            low = math.floor(h)
            high = min(low + 1, len(valid) - 1)
            out[index] = valid[low] + (h - low) * (valid[high] - valid[low])
    return out


def harmonic_reference(normal: np.ndarray, harmonics: int) -> np.ndarray:
    """Per cell, ``numpy.linalg.lstsq`` of 1, cos(2πks/N), sin(2πks/N) (k ≤ K) on its valid slots; NaN when it
    has fewer than 2K+1."""
    n = normal.shape[0]
    s = np.arange(n)
    design = np.column_stack(
        [np.ones(n)] + [f(2 * np.pi * k * s / n) for k in range(1, harmonics + 1) for f in (np.cos, np.sin)]
    )
    out = np.full(normal.shape, np.nan)
    for cell in range(normal.shape[1]):
        y = normal[:, cell].astype(np.float64)
        ok = ~np.isnan(y)
        if ok.sum() >= 2 * harmonics + 1:
            coef = np.linalg.lstsq(design[ok], y[ok], rcond=None)[0]
            out[:, cell] = design @ coef
    return out


def running_reference(normal: np.ndarray, days: int) -> np.ndarray:
    """Per cell and slot, the mean of the non-NaN values among the ``days`` slots centred on it, wrapping."""
    n = normal.shape[0]
    half = days // 2
    out = np.full(normal.shape, np.nan)
    for cell in range(normal.shape[1]):
        for slot in range(n):
            around = [float(normal[(slot + j) % n, cell]) for j in range(-half, half + 1)]
            valid = [v for v in around if not math.isnan(v)]
            if valid:
                out[slot, cell] = math.fsum(valid) / len(valid)
    return out

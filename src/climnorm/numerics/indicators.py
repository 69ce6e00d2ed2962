"""Per-year values of climate indices from one year's daily values at a time, equal to xclim's indicators
(``xclim.indicators.atmos.<name>``) run with ``check_missing="wmo"`` on the continuous daily series. An index is
computed by its :data:`Kind` (a count, a deficit, a rolling maximum...); which index is which kind, with xclim's
names and defaults, is declared once in `climnorm.products.indicators`.

numpy in, numpy out: no files, no logging, no configuration. Conventions:

* In: one year's days in date order (:class:`YearDays`, from a day-slot field by :func:`year_days`), temperatures in
  K and precipitation in mm/day. Thresholds in ``params`` are plain floats in those units; the other parameters keep
  xclim's names and values (``op``, ``window``, ``before_date``/``after_date``/``mid_date`` as "MM-DD"), every one
  the kind reads given (the caller fills xclim's defaults).
* Out: (steps, *cells) float64 in the units xclim's indicator declares: 1 step for ``YS``, 12 for
  ``MS``, 4 for ``QS-DEC`` (DJF, MAM, JJA, SON of the year; xclim labels this year's DJF 1 December of the year
  before). Counts, sums, extremes and means are over the valid days, unscaled, as xclim's resampling skips NaN; a
  missing day meets no threshold and adds no degree day or precipitation.
* Completeness: a month is missing under ``rule`` (:data:`~climnorm.numerics.periods.WMO`: 11 or more missing
  days, or 5 or more consecutive, as xclim's MissingWMO), a year or season when any of its months is; missing
  steps are NaN.
* Previous year: DJF's December, and the days a rolling window starting in the previous year reaches
  (max_n_day_precipitation_amount: a sum of ``window`` days, missing when any of them is, as xclim's
  ``rolling(time=window).sum(skipna=False)`` gives across 1 January). Without it, those are what xclim gives at
  the start of a series: missing sums and a missing DJF.
* A year without the event: counts and degree days 0; last_spring_frost and first_day_tn_below NaN;
  frost_free_season_length 0 without a start, and until the end of the year without an end. As in xclim, a
  ``window`` of 1 finds no day when every day it looks at meets the condition (xclim takes an all-true run for
  no run), e.g. first_day_tn_below after "01-01" in a year that is below the threshold every day.
* Days of year are each date's true day of year, and a frost-free season's length counts calendar days: the
  same as xclim's day counts when every day of the year is there, and also right when the slot scheme drops
  29 February (which xclim, working on the continuous series, has no counterpart for).
"""

from __future__ import annotations

import functools
import itertools
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from climnorm.calendars import SlotScheme, is_leap
from climnorm.numerics.periods import WMO, Completeness, _spans, month_missing
from climnorm.numerics.runs import OPS, yearly_value
from climnorm.types import T_LeapDay

Freq = Literal["YS", "MS", "QS-DEC"]
Variable = Literal["tasmax", "tasmin", "tas", "pr"]
Kind = Literal[
    "count",
    "count_per",
    "count_wet_per",
    "fraction",
    "deficit",
    "excess",
    "max",
    "min",
    "mean",
    "total",
    "wet_total",
    "rolling_max",
    "last_spring_frost",
    "first_day_below",
    "season_length",
]
_Reduction = Literal["sum", "max", "min", "mean", "ratio"]

ALL_FREQS: tuple[Freq, ...] = ("YS", "MS", "QS-DEC")
STEPS: Mapping[Freq, int] = MappingProxyType({"YS": 1, "MS": 12, "QS-DEC": 4})
"""How many values a year has at each frequency."""

_ABOVE = (">", "gt", ">=", "ge")
_BELOW = ("<", "lt", "<=", "le")
PER_DAY_KINDS: frozenset[Kind] = frozenset({"count_per", "count_wet_per", "fraction"})
"""Kinds that need ``per_day``, a per-day percentile threshold (xclim's ``tasmax_per``, ``tasmin_per`` or ``pr_per``
mapped to each day, as xclim's ``resample_doy`` does)."""
YEARLY_KINDS: frozenset[Kind] = frozenset({"last_spring_frost", "first_day_below", "season_length"})
"""Kinds of a whole year only (``YS``): a frost date or a frost-free season is a property of a whole year."""


_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


@dataclass(frozen=True)
class YearDays:
    """One year's days in date order: ``values`` (ndays, *cells) float64 (NaN = missing), each day's month (1-12)
    and day of year (1-based, as xclim's time.dt.dayofyear)."""

    year: int
    values: np.ndarray
    months: np.ndarray
    doy: np.ndarray

    def __post_init__(self) -> None:
        n = self.values.shape[0]
        if self.months.shape != (n,) or self.doy.shape != (n,):
            raise ValueError(f"year {self.year}: {n} days of values, {self.months.shape} months, {self.doy.shape} doy")


def year_days(field: np.ndarray, scheme: SlotScheme, year: int, scale: float = 1.0) -> YearDays:
    """The days of ``year`` from its (slot, *cells) day-slot field, as float64 times ``scale``."""
    if field.shape[0] != scheme.nslots:
        raise ValueError(f"year {year}: field has {field.shape[0]} slots, the scheme {scheme.nslots}")
    ranges, months, doy = _day_slots(scheme.calendar, scheme.policy, is_leap(year, scheme.calendar))
    values = np.concatenate([field[a:b] for a, b in ranges], axis=0, dtype=np.float64)
    if scale != 1.0:
        values *= scale
    return YearDays(year, values, months, doy)


@functools.cache
def _day_slots(
    calendar: str, policy: T_LeapDay, leap: bool
) -> tuple[tuple[tuple[int, int], ...], np.ndarray, np.ndarray]:
    """The slot ranges holding a year's days in date order, and each day's month and true day of year."""
    spans = _spans(calendar, policy, leap)
    months = np.repeat(np.arange(1, 13), spans[:, 1] - spans[:, 0])
    slots = np.concatenate([np.arange(a, b) for a, b in spans])
    lengths = np.full(12, 30) if calendar == "360_day" else _MONTH_DAYS + np.eye(12, dtype=np.int64)[1] * leap
    first = np.concatenate([[1], 1 + np.cumsum(lengths)[:-1]])
    doy = first[months - 1] + slots - spans[months - 1, 0]
    pieces = np.split(slots, np.flatnonzero(np.diff(slots) != 1) + 1)
    months.setflags(write=False)
    doy.setflags(write=False)
    return tuple((int(s[0]), int(s[-1]) + 1) for s in pieces), months, doy


def index_values(
    kind: Kind,
    days: YearDays,
    previous: YearDays | None,
    *,
    freq: Freq,
    params: Mapping[str, Any],
    rule: Completeness = WMO,
    per_day: np.ndarray | None = None,
    previous_per_day: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    """(steps, *cells) float64 values of an index of ``kind`` for the year ``days``: 1 step for YS, 12 for MS, 4 for
    QS-DEC (DJF, MAM, JJA, SON; DJF takes December from ``previous``, the year before, and is NaN where that is None).

    ``params``: every parameter the kind reads (``thresh`` a float in the days' units, ``op``, ``window``, the
    dates; `climnorm.products.indicators` fills xclim's defaults). ``per_day``: the (ndays, *cells) per-day
    threshold of a percentile kind (:data:`PER_DAY_KINDS`); ``previous_per_day``: the same for ``previous``, which
    its DJF needs. ``missing``: :func:`months_missing` of ``days`` under ``rule``, when the caller computes several
    indices of the same days (it is the same for all).
    """
    if kind in YEARLY_KINDS and freq != "YS":
        raise ValueError(f"{kind} is a value of a whole year (freq YS), not of {freq!r}")
    p = _params(kind, params)
    cells = days.values.shape[1:]
    n = days.values.shape[0]
    values = days.values.reshape(n, -1)
    per = _per_day(kind, per_day, days)
    starts = _month_starts(days.months)
    missing = _months_missing(np.isnan(values), starts, rule) if missing is None else missing.reshape(12, -1)
    if kind in YEARLY_KINDS:
        out = np.where(missing.any(axis=0), np.nan, yearly_value(kind, values, days, p))[np.newaxis]
        return out.reshape((1, *cells))
    if previous is not None and (previous.year != days.year - 1 or previous.values.shape[1:] != cells):
        raise ValueError(
            f"previous must be year {days.year - 1} with cells {cells}, not {previous.year}, "
            f"{previous.values.shape[1:]}"
        )
    before = None if previous is None else previous.values.reshape(previous.values.shape[0], -1)
    reduction, monthly = _monthly(kind, values, per, p, before, starts)
    if freq == "MS":
        out = np.where(missing, np.nan, _finish(reduction, monthly))
    elif freq == "YS":
        folded = tuple(_fold(reduction, part) for part in monthly)
        out = np.where(missing.any(axis=0), np.nan, _finish(reduction, folded))[np.newaxis]
    else:
        out = np.empty((4, values.shape[1]))
        out[0] = _djf(kind, days, previous, per_day, previous_per_day, p, rule, reduction, monthly, missing)
        for i, (a, b) in enumerate(((2, 5), (5, 8), (8, 11)), start=1):
            folded = tuple(_fold(reduction, part[a:b]) for part in monthly)
            out[i] = np.where(missing[a:b].any(axis=0), np.nan, _finish(reduction, folded))
    return out.reshape((out.shape[0], *cells))


def _params(kind: Kind, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked for what ``kind`` reads: a numeric threshold, a known comparison, a whole window."""
    out = dict(params)
    thresh = out.get("thresh")
    if thresh is not None and (isinstance(thresh, bool) or not isinstance(thresh, numbers.Real)):
        raise ValueError(f"{kind}: thresh must be a number in the input's units, not {thresh!r}")
    if "op" in out and out["op"] not in OPS:
        raise ValueError(f"{kind}: unknown op {out['op']!r}")
    window = out.get("window", 1)
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
        raise ValueError(f"{kind}: window must be a whole number >= 1, not {window!r}")
    out["window"] = int(window)
    return out


def _per_day(kind: Kind, per_day: np.ndarray | None, days: YearDays) -> np.ndarray | None:
    if kind not in PER_DAY_KINDS:
        return None
    if per_day is None:
        raise ValueError(f"{kind} needs per_day, the per-day percentile threshold")
    if per_day.shape != days.values.shape:
        raise ValueError(f"{kind}: per_day has shape {per_day.shape}, the days {days.values.shape}")
    return np.asarray(per_day, dtype=np.float64).reshape(per_day.shape[0], -1)


def _month_starts(months: np.ndarray) -> np.ndarray:
    """Index of each month's first day (days in date order, every month there)."""
    starts = np.searchsorted(months, np.arange(1, 13))
    ordered = months.size > 0 and not np.any(np.diff(months) < 0)
    if not ordered or np.any(months[starts.clip(max=months.size - 1)] != np.arange(1, 13)):
        raise ValueError("days must be in date order with every month of the year")
    return starts


def months_missing(days: YearDays, rule: Completeness = WMO) -> np.ndarray:
    """(12, cells) whether each month of the year's days is missing under ``rule`` (cells flattened)."""
    values = days.values.reshape(days.values.shape[0], -1)
    return _months_missing(np.isnan(values), _month_starts(days.months), rule)


def _months_missing(miss: np.ndarray, starts: np.ndarray, rule: Completeness) -> np.ndarray:
    """(12, cells) whether each month is missing under ``rule``."""
    bounds = np.append(starts, miss.shape[0])
    return np.stack([month_missing(miss[a:b], rule) for a, b in itertools.pairwise(bounds)])


def _monthly(
    kind: Kind,
    values: np.ndarray,
    per: np.ndarray | None,
    p: Mapping[str, Any],
    before: np.ndarray | None,
    starts: np.ndarray,
) -> tuple[_Reduction, tuple[np.ndarray, ...]]:
    """How a period reduces an index's per-day quantities, and their partial results per month (from each of
    ``starts`` to the next, the last to the end), month by month: a month's block stays in the CPU's cache.

    ``before``: the days before ``values``, of which rolling windows take the last ``window`` - 1.
    """
    reduction: _Reduction = "sum"
    months = []
    k = p["window"] - 1 if kind == "rolling_max" else 0  # the days before each one its quantity needs
    for a, b in itertools.pairwise([*starts.tolist(), values.shape[0]]):
        # the month's days and the k before them: a view, but for the first days, which reach into ``before``
        block = values[a - k : b] if a >= k else _with_before(values[:b], before, k)[a:]
        reduction, daily = _daily(kind, block, None if per is None else per[a:b], p)
        months.append([_month_part(reduction, q) for q in daily])
    return reduction, tuple(np.stack(parts) for parts in zip(*months, strict=True))


def _daily(
    kind: Kind, values: np.ndarray, per: np.ndarray | None, p: Mapping[str, Any]
) -> tuple[_Reduction, tuple[np.ndarray, ...]]:
    """The per-day quantities of an index over some days, and how a period reduces them (rolling sums: over the
    days after the first ``window`` - 1)."""
    op = OPS.get(p.get("op") or "", np.greater)
    thresh = p.get("thresh", np.nan)
    if kind == "count":
        return "sum", (op(values, thresh),)
    if kind == "count_per":
        return "sum", (op(values, per),)
    if kind in ("count_wet_per", "fraction"):
        assert per is not None
        over = op(values, np.fmax(per, thresh))  # xclim: the wet day threshold where the percentile is not above it
        if kind == "count_wet_per":
            return "sum", (over,)
        return "ratio", (_where(over, values), _where(op(values, thresh), values))
    if kind == "deficit":
        return "sum", (np.fmax(thresh - values, 0.0),)  # fmax: a missing day adds 0
    if kind == "excess":
        return "sum", (np.fmax(values - thresh, 0.0),)
    if kind == "max":
        return "max", (values,)
    if kind == "min":
        return "min", (values,)
    if kind == "mean":
        return "mean", (_zero_nan(values), ~np.isnan(values))
    if kind == "total":
        return "sum", (_zero_nan(values),)
    if kind == "wet_total":
        return "sum", (_where(values >= thresh, values),)
    if kind == "rolling_max":
        return "max", (_rolling_sums(values, p["window"]),)
    raise AssertionError(kind)


def _where(cond: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``cond``, else 0 (as ``np.where(cond, values, 0)``, faster on a scattered ``cond``)."""
    out: np.ndarray = values * cond
    out[np.isnan(out)] = 0.0  # a missing day, never meeting cond
    return out


def _zero_nan(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    out[np.isnan(out)] = 0.0
    return out


def _with_before(values: np.ndarray, before: np.ndarray | None, k: int) -> np.ndarray:
    """``values`` after the last ``k`` days of ``before``, NaN for those it does not have."""
    if k == 0:
        return values
    out = np.full((values.shape[0] + k, values.shape[1]), np.nan)
    if before is not None:
        take = before[max(0, before.shape[0] - k) :]
        out[k - take.shape[0] : k] = take
    out[k:] = values
    return out


def _rolling_sums(ext: np.ndarray, window: int) -> np.ndarray:
    """The sums of ``window`` consecutive days of ``ext`` (days and the ``window`` - 1 before them), NaN when any is
    missing: xclim's ``rolling(time=window).sum(skipna=False)``."""
    n = ext.shape[0] - window + 1
    out = ext[:n].copy()
    for j in range(1, window):
        out += ext[j : j + n]
    return out


def _month_part(reduction: _Reduction, block: np.ndarray) -> np.ndarray:
    """One month's partial result of a per-day quantity (a loop over months beats ``reduceat`` on the day axis)."""
    if block.dtype == bool:
        return np.asarray(block.view(np.uint8).sum(axis=0, dtype=np.uint16))  # counts: byte sums are the fastest
    if reduction in ("max", "min"):
        return np.asarray((np.fmax if reduction == "max" else np.fmin).reduce(block, axis=0))
    return np.asarray(np.add.reduce(block, axis=0))


def _fold(reduction: _Reduction, part: np.ndarray) -> np.ndarray:
    """Combine partial results of several months (the first axis)."""
    if reduction in ("max", "min"):
        return np.asarray((np.fmax if reduction == "max" else np.fmin).reduce(part, axis=0))
    return np.asarray(part.sum(axis=0))


def _finish(reduction: _Reduction, parts: tuple[np.ndarray, ...]) -> np.ndarray:
    """The values of periods from their combined partial results."""
    if reduction in ("mean", "ratio"):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(parts[0] / parts[1])  # 0 / 0: NaN, as in xclim
    return parts[0].astype(np.float64)


def _djf(
    kind: Kind,
    days: YearDays,
    previous: YearDays | None,
    per_day: np.ndarray | None,
    previous_per_day: np.ndarray | None,
    p: Mapping[str, Any],
    rule: Completeness,
    reduction: _Reduction,
    monthly: tuple[np.ndarray, ...],
    missing: np.ndarray,
) -> np.ndarray:
    """DJF: the previous December with this January and February; NaN without the previous year."""
    ncells = missing.shape[1]
    if previous is None:
        return np.full(ncells, np.nan)
    prev = previous.values.reshape(previous.values.shape[0], -1)
    dec = int(_month_starts(previous.months)[11])
    per = None
    if kind in PER_DAY_KINDS:
        if previous_per_day is None:
            raise ValueError(f"the DJF of {kind} needs previous_per_day, the previous year's per-day threshold")
        per = _per_day(kind, previous_per_day, previous)
        assert per is not None
        per = per[dec:]
    dec_missing = month_missing(np.isnan(prev[dec:]), rule)
    _, december = _monthly(kind, prev[dec:], per, p, prev[:dec], np.zeros(1, dtype=np.intp))
    folded = tuple(
        _fold(reduction, np.concatenate([d.astype(m.dtype), m[:2]])) for d, m in zip(december, monthly, strict=True)
    )
    return np.where(dec_missing | missing[:2].any(axis=0), np.nan, _finish(reduction, folded))

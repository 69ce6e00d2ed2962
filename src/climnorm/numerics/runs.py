"""Values of a whole year made of runs of days: the last spring frost, the first autumn frost and the frost-free
season's length (xclim's ``last_spring_frost``, ``first_day_tn_below``, ``frost_free_season_length``), vectorised
over cells with sliding runs of ``window`` days; `climnorm.numerics.indicators` masks them by completeness.

numpy in, numpy out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from climnorm.numerics.indicators import YearDays

#: xclim's comparison operators, by their names.
OPS: dict[str, np.ufunc] = {">": np.greater, "gt": np.greater, ">=": np.greater_equal, "ge": np.greater_equal}
OPS |= {"<": np.less, "lt": np.less, "<=": np.less_equal, "le": np.less_equal}


def yearly_value(kind: str, values: np.ndarray, days: YearDays, p: Mapping[str, Any]) -> np.ndarray:
    """(cells,) a frost date or the frost-free season's length of the whole year."""
    cond = OPS[p["op"]](values, p["thresh"])  # a missing day is False
    n, ncells = cond.shape
    window: int = p["window"]
    none = np.full(ncells, np.nan)
    if kind == "last_spring_frost":
        last = n - 1 if p["before_date"] is None else _date_position(days, p["before_date"])
        if last < 0:
            return none
        end = _last_end(cond[: last + 1], window, all_true_is_none=window == 1 and last == n - 1)
        return np.where(end >= 0, days.doy[end], np.nan)
    if kind == "first_day_below":
        first = 0 if p["after_date"] is None else _date_position(days, p["after_date"])
        if first < 0:
            return none
        start = _first_start(cond[first:], window, all_true_is_none=window == 1 and first == 0)
        return np.where(start >= 0, days.doy[start + first], np.nan)
    assert kind == "season_length"
    mid = 0 if p["mid_date"] is None else _date_position(days, p["mid_date"])
    if mid < 0:
        return np.zeros(ncells)  # xclim: no mid date, no start, a season of 0 days
    limit = n if p["mid_date"] is None else min(mid + window - 1, n)  # the start's run ends before mid + window - 1
    begin = _first_start(cond[:limit], window, all_true_is_none=window == 1 and limit == n)
    after = np.arange(n)[:, np.newaxis] >= np.maximum(begin, mid)
    end = _first_start(~cond & after, window, all_true_is_none=window == 1)
    doy = days.doy
    b = doy[begin.clip(0)]
    length = np.where(end >= 0, doy[end.clip(0)] - b, doy[-1] + 1 - b)
    return np.where(begin >= 0, length, 0).astype(np.float64)


def _date_position(days: YearDays, date: str) -> int:
    """Position of the date "MM-DD" in the year's days; -1 when the year does not have it."""
    parts = date.split("-")
    if len(parts) != 2 or not all(s.isdigit() for s in parts):
        raise ValueError(f"a date is 'MM-DD', not {date!r}")
    month, day = int(parts[0]), int(parts[1])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise ValueError(f"a date is 'MM-DD', not {date!r}")
    first = int(np.searchsorted(days.months, month))
    pos = first + day - 1
    if pos >= days.months.size or days.months[pos] != month or days.doy[pos] - days.doy[first] != day - 1:
        return -1
    return pos


def _window_all(cond: np.ndarray, window: int) -> np.ndarray:
    """(ndays - window + 1, cells): whether ``cond`` holds on each day and the ``window`` - 1 days after it."""
    out = cond
    span = 1
    while 2 * span <= window:  # runs of 2 * span from runs of span
        out = out[:-span] & out[span:]
        span *= 2
    if span < window:  # two overlapping runs of span cover window days
        out = out[: out.shape[0] - (window - span)] & out[window - span :]
    return out


def _first_start(cond: np.ndarray, window: int, *, all_true_is_none: bool) -> np.ndarray:
    """(cells,) the first day of the first run of ``window`` days meeting ``cond``; -1 where there is none."""
    if cond.shape[0] < window:
        return np.full(cond.shape[1], -1)
    runs = _window_all(cond, window)
    first = runs.argmax(axis=0)
    found = runs.any(axis=0)
    if all_true_is_none:
        found &= ~runs.all(axis=0)
    return np.where(found, first, -1)


def _last_end(cond: np.ndarray, window: int, *, all_true_is_none: bool) -> np.ndarray:
    """(cells,) the last day of the last run of ``window`` days meeting ``cond``; -1 where there is none."""
    if cond.shape[0] < window:
        return np.full(cond.shape[1], -1)
    runs = _window_all(cond, window)
    last = runs.shape[0] - 1 - runs[::-1].argmax(axis=0) + window - 1
    found = runs.any(axis=0)
    if all_true_is_none:
        found &= ~runs.all(axis=0)
    return np.where(found, last, -1)

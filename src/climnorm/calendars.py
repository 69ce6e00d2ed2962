"""Day slots: which position within the climatological year each date falls in, per calendar and leap-day policy.

A slot scheme is pure arithmetic on (year, month, day) so the reader, the reducer and the tests agree on it.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

import cftime
import numpy as np

from climnorm.types import T_LeapDay

_CALENDAR_ALIASES = {
    "gregorian": "standard",
    "standard": "standard",
    "proleptic_gregorian": "proleptic_gregorian",
    "julian": "julian",
    "noleap": "noleap",
    "365_day": "noleap",
    "all_leap": "all_leap",
    "366_day": "all_leap",
    "360_day": "360_day",
}
_MONTH_DAYS_LEAP = np.array([31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_MONTH_DAYS_NOLEAP = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_START_LEAP = np.concatenate([[0], np.cumsum(_MONTH_DAYS_LEAP)[:-1]])
_START_NOLEAP = np.concatenate([[0], np.cumsum(_MONTH_DAYS_NOLEAP)[:-1]])


def normalise_calendar(name: str | None) -> str:
    """The canonical CF calendar name (a missing calendar attribute means 'standard', as CF says)."""
    key = (name or "standard").strip().lower()
    if key not in _CALENDAR_ALIASES:
        raise ValueError(f"unsupported calendar {name!r}; supported: {', '.join(sorted(_CALENDAR_ALIASES))}")
    return _CALENDAR_ALIASES[key]


def is_leap(year: int, calendar: str) -> bool:
    """Whether ``year`` has a Feb 29 in ``calendar`` (all_leap: always; noleap: never)."""
    calendar = normalise_calendar(calendar)
    if calendar == "all_leap":
        return True
    if calendar in ("noleap", "360_day"):
        return False
    return bool(cftime.is_leap_year(year, calendar))


def days_in_year(year: int, calendar: str) -> int:
    calendar = normalise_calendar(calendar)
    if calendar == "360_day":
        return 360
    return 366 if is_leap(year, calendar) else 365


@dataclass(frozen=True)
class SlotScheme:
    """Maps dates of one calendar to day slots under one leap-day policy."""

    calendar: str
    policy: T_LeapDay

    def __post_init__(self) -> None:
        object.__setattr__(self, "calendar", normalise_calendar(self.calendar))

    @property
    def has_leap_years(self) -> bool:
        return self.calendar in ("standard", "proleptic_gregorian", "julian", "all_leap")

    @property
    def nslots(self) -> int:
        if self.calendar == "360_day":
            return 360
        if self.policy == "drop" or self.calendar == "noleap":
            return 365
        return 366

    def slots(self, month: np.ndarray, day: np.ndarray, dayofyr: np.ndarray) -> np.ndarray:
        """Slot index (0-based) of each date; -1 for dates the policy drops (Feb 29 under `drop`)."""
        month = np.asarray(month, dtype=np.int64)
        day = np.asarray(day, dtype=np.int64)
        if self.calendar == "360_day":
            return (month - 1) * 30 + day - 1
        if self.policy == "dayofyear":
            return np.asarray(dayofyr, dtype=np.int64) - 1
        if self.nslots == 366:
            return _START_LEAP[month - 1] + day - 1
        feb29 = (month == 2) & (day == 29)
        return np.where(feb29, -1, _START_NOLEAP[month - 1] + day - 1)

    def year_slots(self, year: int) -> np.ndarray:
        """Boolean mask of the slots a complete ``year`` fills."""
        mask = np.ones(self.nslots, dtype=bool)
        if self.nslots == 366 and not is_leap(year, self.calendar):
            mask[365 if self.policy == "dayofyear" else 59] = False
        return mask

    def thresholds(self, window: range, min_years: int) -> np.ndarray:
        """Per slot, how many valid years make a cell-slot valid: the minimum scaled to years having the slot."""
        having = np.zeros(self.nslots, dtype=np.int64)
        for year in window:
            having += self.year_slots(year)
        width = len(window)
        return np.array([math.ceil(min_years * h / width) if h else 1 for h in having], dtype=np.int64)

    def slot_date(self, slot: int, year: int, hour: int = 0) -> cftime.datetime:
        """The date a slot stands for in ``year`` (for a year that has the slot)."""
        if self.policy == "dayofyear" and self.calendar != "360_day":
            return cftime.datetime(year, 1, 1, hour, calendar=self.calendar) + dt.timedelta(days=int(slot))
        month, day = self.labels()
        return cftime.datetime(year, int(month[slot]), int(day[slot]), hour, calendar=self.calendar)

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(month, day) of each slot in the slot's reference year (a leap year where slots have Feb 29);
        read-only arrays, made once per kind of slots."""
        return _labels(self.calendar == "360_day", self.nslots)


@functools.cache
def _labels(thirty: bool, nslots: int) -> tuple[np.ndarray, np.ndarray]:
    if thirty:
        idx = np.arange(360)
        month, day = idx // 30 + 1, idx % 30 + 1
    else:
        lengths = _MONTH_DAYS_LEAP if nslots == 366 else _MONTH_DAYS_NOLEAP
        month = np.repeat(np.arange(1, 13), lengths)
        day = np.concatenate([np.arange(1, n + 1) for n in lengths])
    month.setflags(write=False)
    day.setflags(write=False)
    return month, day


_US_PER_DAY = 86_400_000_000
_GREGORIAN_START = (1582, 10, 15)  # the standard calendar is Gregorian from this date on


def whole_day_dates(values: np.ndarray, units: str, calendar: str) -> tuple[np.ndarray, ...] | None:
    """(year, month, day, dayofyr) of each time value, exactly as ``cftime.num2date`` dates them, by whole-day
    arithmetic instead of one datetime object per value; None where that is not sure (the caller asks cftime).

    cftime itself parses ``units`` (the reference date and the unit's length come from dating 0 and 1), and
    each value becomes microseconds the way cftime rounds it (``rint`` in long double, then its snapping of
    one microsecond off a whole second), so the day of every value is an exact integer division. Covered:
    noleap, all_leap, 360_day, proleptic_gregorian, and standard from 1582-10-15 on; years from 1 on.
    """
    if calendar not in ("noleap", "all_leap", "360_day", "proleptic_gregorian", "standard"):
        return None
    values = np.asarray(values)
    if values.ndim != 1 or values.dtype.kind != "f" or not values.size or not np.isfinite(values).all():
        return None
    base, one = cftime.num2date(np.array([0.0, 1.0]), units, calendar, only_use_cftime_datetimes=True)
    unit_us = (one - base) // dt.timedelta(microseconds=1)
    scaled = values.astype(np.longdouble) * unit_us
    if not (np.abs(scaled) < 2.0**62).all():
        return None
    us = np.rint(scaled).astype(np.int64)
    if unit_us >= 1_000_000:  # cftime: a value 1 us off a whole second is taken as that second
        us = np.where(us % 1_000_000 == 1, np.floor(scaled).astype(np.int64), us)
        us = np.where(us % 1_000_000 == 999_999, np.ceil(scaled).astype(np.int64), us)
    base_us = ((base.hour * 60 + base.minute) * 60 + base.second) * 1_000_000 + base.microsecond
    days = (us + base_us) // _US_PER_DAY  # whole days after the reference date's midnight
    if calendar in ("proleptic_gregorian", "standard"):
        dates = np.datetime64(f"{base.year:04d}-{base.month:02d}-{base.day:02d}", "D") + days
        year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
        if base.year < 1 or year.min() < 1:
            return None
        if calendar == "standard" and min((base.year, base.month, base.day), _first(dates)) < _GREGORIAN_START:
            return None
        month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
        day = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
        doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1
        return year, month, day, doy
    length = {"noleap": 365, "all_leap": 366, "360_day": 360}[calendar]
    ordinal = base.dayofyr - 1 + days
    year = base.year + ordinal // length
    doy0 = ordinal % length
    if base.year < 1 or year.min() < 1:
        return None
    if calendar == "360_day":
        return year, doy0 // 30 + 1, doy0 % 30 + 1, doy0 + 1
    starts = _START_LEAP if calendar == "all_leap" else _START_NOLEAP
    month = np.searchsorted(starts, doy0, side="right").astype(np.int64)
    return year, month, doy0 - starts[month - 1] + 1, doy0 + 1


def _first(dates: np.ndarray) -> tuple[int, int, int]:
    first = dates.min().astype(dt.date)
    return first.year, first.month, first.day

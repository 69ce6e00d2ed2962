"""The time axis of a normal of day slots (a `climnorm.products.DaySlots` layout: the daily and smoothed daily
normals) in a CF-1.8 climatology NetCDF file: one climatological step per slot, bounded by the slot's first and
last day in the window."""

from __future__ import annotations

import datetime as dt
import functools

import cftime
import netCDF4
import numpy as np

from climnorm.calendars import SlotScheme, is_leap
from climnorm.write.netcdf import write_time


def _slot_years(scheme: SlotScheme, window: range) -> tuple[int, np.ndarray, np.ndarray]:
    """The representative year (mid-window, a leap year where the slots need one) and, per slot, the first and
    last year of the window that has it (the representative year for a slot none has)."""
    years = list(window)
    middle = years[len(years) // 2]
    ref = middle
    if scheme.nslots == 366 and scheme.calendar != "all_leap":
        leaps = [y for y in years if is_leap(y, scheme.calendar)] or [2000]
        ref = min(leaps, key=lambda y: (abs(y - middle), y))
    having = np.array([scheme.year_slots(y) for y in years])
    held = having.any(axis=0)
    first = np.where(held, np.asarray(years)[np.argmax(having, axis=0)], ref)
    last = np.where(held, np.asarray(years)[len(years) - 1 - np.argmax(having[::-1], axis=0)], ref)
    return ref, first, last


def _slot_dates(
    scheme: SlotScheme, window: range
) -> tuple[list[cftime.datetime], list[cftime.datetime], list[cftime.datetime]]:
    """Per slot: a representative date (mid-window, a leap year where the slot needs one) and the climatology
    bounds, from the slot's first day in the window to the day after its last."""
    ref, first, last = _slot_years(scheme, window)
    dates = [scheme.slot_date(slot, ref, hour=12) for slot in range(scheme.nslots)]
    lower = [scheme.slot_date(slot, int(year)) for slot, year in enumerate(first)]
    upper = [scheme.slot_date(slot, int(year)) + dt.timedelta(days=1) for slot, year in enumerate(last)]
    return dates, lower, upper


def write_day_slots(ds: netCDF4.Dataset, scheme: SlotScheme, window: range, leap_day: str) -> None:
    """The climatological time axis of day slots (CF-1.8 climatology bounds) and its dayofyear/month/day labels
    (dimensions ``time`` and ``nv`` must exist)."""
    units = f"days since {window.start:04d}-01-01 00:00:00"
    write_time(ds, *_slot_numbers(scheme, window, units), units, scheme.calendar)
    doy = ds.createVariable("dayofyear", "i2", ("time",))
    doy.setncatts({"long_name": f"day slot of the climatological year ({leap_day} policy)", "units": "1"})
    doy[:] = np.arange(1, scheme.nslots + 1)
    month, day = scheme.labels()
    for name, values, long in (("month", month, "calendar month of the slot"), ("day", day, "day of month")):
        v = ds.createVariable(name, "i1", ("time",))
        v.long_name = long
        v[:] = values


@functools.lru_cache(maxsize=16)
def _slot_numbers(scheme: SlotScheme, window: range, units: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The day slots' dates and climatology bounds as numbers in ``units``, once per window in a worker (every
    region's normal of a target has the same time axis).

    A slot's date lies a fixed number of days after 1 January in every year as long or as short as its own, so
    the numbers are each year's 1 January plus those days: exact integers and halves, the same as cftime gives
    for each date (tests/test_write.py), without making a thousand dates per file. Across the 1582 switch of the
    standard calendar the dates are made one by one.
    """
    ref, first, last = _slot_years(scheme, window)
    if not (scheme.calendar == "standard" and min(window) <= 1583):
        numbers = (
            _numbers(scheme, np.full(scheme.nslots, ref), units, 0.5),
            _numbers(scheme, first, units, 0.0),
            _numbers(scheme, last, units, 1.0),
        )
        if not any(np.isnan(n).any() for n in numbers):
            return numbers
    dates = _slot_dates(scheme, window)
    t, lo, hi = (np.asarray(cftime.date2num(d, units, scheme.calendar), np.float64) for d in dates)
    return t, lo, hi


def _numbers(scheme: SlotScheme, years: np.ndarray, units: str, extra_days: float) -> np.ndarray:
    """Each slot's date in its year (``years`` per slot), ``extra_days`` later, as a number in ``units``."""
    out = np.empty(scheme.nslots)
    for year in np.unique(years):
        new_year = cftime.datetime(int(year), 1, 1, calendar=scheme.calendar)
        here = years == year
        offsets = _day_offsets(scheme, is_leap(int(year), scheme.calendar))[here]
        out[here] = float(cftime.date2num(new_year, units, scheme.calendar)) + offsets + extra_days
    return out


@functools.cache
def _day_offsets(scheme: SlotScheme, leap: bool) -> np.ndarray:
    """Days from 1 January to each slot's date in a (leap) year; NaN for the slots such a year lacks."""
    year = 2000 if leap else 2001  # leap, and not, in every calendar that has leap years
    has = scheme.year_slots(year)
    new_year = cftime.datetime(year, 1, 1, calendar=scheme.calendar)
    return np.array(
        [(scheme.slot_date(slot, year) - new_year).days if has[slot] else np.nan for slot in range(scheme.nslots)]
    )

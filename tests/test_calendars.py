"""Tests of climnorm.calendars: slots of every date of every CF calendar under every leap-day policy."""

from __future__ import annotations

import datetime as dt
import math

import cftime
import numpy as np
import pytest

from climnorm.calendars import SlotScheme, days_in_year, is_leap, normalise_calendar
from climnorm.types import T_LeapDay
from helpers import CALENDARS, LEAP_CALENDARS

POLICIES: tuple[T_LeapDay, ...] = ("calendar_day", "dayofyear", "drop")
WITH_LEAP_YEARS = tuple(sorted(LEAP_CALENDARS))
LEAP, COMMON = 2000, 2001  # a leap and a non-leap year in every calendar that has both


def _year_dates(year: int, calendar: str) -> list[cftime.datetime]:
    """Every date of ``year`` in ``calendar``, built with cftime."""
    start = cftime.datetime(year, 1, 1, calendar=calendar)
    dates = []
    date = start
    while date.year == year:
        dates.append(date)
        date = date + dt.timedelta(days=1)
    return dates


def _fields(dates: list[cftime.datetime]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    month = np.array([d.month for d in dates])
    day = np.array([d.day for d in dates])
    doy = np.array([d.dayofyr for d in dates])
    return month, day, doy


def _slots(scheme: SlotScheme, dates: list[cftime.datetime]) -> np.ndarray:
    return scheme.slots(*_fields(dates))


def _slot_of(scheme: SlotScheme, year: int, month: int, day: int) -> int:
    date = cftime.datetime(year, month, day, calendar=scheme.calendar)
    return int(scheme.slots(np.array([month]), np.array([day]), np.array([date.dayofyr]))[0])


@pytest.fixture(params=CALENDARS)
def calendar(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=POLICIES)
def policy(request: pytest.FixtureRequest) -> T_LeapDay:
    return request.param  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------------ calendars


def test_normalise_calendar_aliases() -> None:
    assert normalise_calendar("gregorian") == "standard"
    assert normalise_calendar("365_day") == "noleap"
    assert normalise_calendar("366_day") == "all_leap"
    assert normalise_calendar(" Proleptic_Gregorian ") == "proleptic_gregorian"
    assert normalise_calendar(None) == "standard"  # CF: no calendar attribute means standard
    assert normalise_calendar("") == "standard"
    for name in ("julian", "noleap", "all_leap", "360_day", "standard"):
        assert normalise_calendar(name) == name


@pytest.mark.parametrize("name", ["martian", "none", "365day"])
def test_unknown_calendar_raises_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        normalise_calendar(name)
    with pytest.raises(ValueError, match=name):
        SlotScheme(name, "calendar_day")
    with pytest.raises(ValueError, match=name):
        is_leap(2000, name)


def test_is_leap_and_days_in_year() -> None:
    assert is_leap(1900, "julian")
    assert not is_leap(1900, "proleptic_gregorian")
    assert not is_leap(1900, "standard")
    assert is_leap(2000, "standard") and is_leap(2000, "proleptic_gregorian")
    assert not is_leap(2001, "julian")
    assert is_leap(2001, "all_leap") and is_leap(2001, "366_day")
    assert not is_leap(2000, "noleap") and not is_leap(2000, "360_day")
    assert days_in_year(1900, "julian") == 366
    assert days_in_year(1900, "gregorian") == 365
    assert days_in_year(2000, "standard") == 366
    assert days_in_year(2000, "noleap") == 365
    assert days_in_year(2001, "all_leap") == 366
    assert days_in_year(2000, "360_day") == 360


def test_days_in_year_matches_cftime(calendar: str) -> None:
    for year in (1900, 1999, 2000, 2001, 2004, 2100):
        assert days_in_year(year, calendar) == len(_year_dates(year, calendar))


def test_scheme_normalises_its_calendar() -> None:
    assert SlotScheme("gregorian", "calendar_day").calendar == "standard"
    assert SlotScheme("365_day", "drop") == SlotScheme("noleap", "drop")


def test_nslots(calendar: str, policy: T_LeapDay) -> None:
    scheme = SlotScheme(calendar, policy)
    if calendar == "360_day":
        expected = 360
    elif policy == "drop" or calendar in ("noleap", "365_day"):
        expected = 365
    else:
        expected = 366
    assert scheme.nslots == expected
    assert scheme.has_leap_years == (calendar in (*WITH_LEAP_YEARS, "all_leap", "366_day"))


# ------------------------------------------------------------------------------------------------ slots


@pytest.mark.parametrize("year", [LEAP, COMMON, 1900])
def test_complete_year_fills_exactly_its_slots(calendar: str, policy: T_LeapDay, year: int) -> None:
    scheme = SlotScheme(calendar, policy)
    dates = _year_dates(year, calendar)
    slots = _slots(scheme, dates)
    kept = slots[slots >= 0]
    assert kept.min() >= 0 and kept.max() < scheme.nslots
    assert np.unique(kept).size == kept.size  # no two dates share a slot
    mask = scheme.year_slots(year)
    assert mask.shape == (scheme.nslots,)
    filled = np.zeros(scheme.nslots, dtype=bool)
    filled[kept] = True
    np.testing.assert_array_equal(filled, mask)
    dropped = slots < 0
    if policy == "drop" and is_leap(year, calendar):
        assert dropped.sum() == 1
    else:
        assert not dropped.any()


def test_calendar_day_puts_a_date_in_the_same_slot_every_year(calendar: str) -> None:
    scheme = SlotScheme(calendar, "calendar_day")
    by_date: dict[tuple[int, int], set[int]] = {}
    for year in (1999, LEAP, COMMON, 2004):
        for date, slot in zip(_year_dates(year, calendar), _slots(scheme, _year_dates(year, calendar)), strict=True):
            by_date.setdefault((date.month, date.day), set()).add(int(slot))
    assert all(len(slots) == 1 for slots in by_date.values()), {k: v for k, v in by_date.items() if len(v) > 1}
    if calendar != "360_day":
        assert _slot_of(scheme, LEAP, 3, 1) == _slot_of(scheme, COMMON, 3, 1)
        assert _slot_of(scheme, COMMON, 12, 31) == scheme.nslots - 1


@pytest.mark.parametrize("calendar", [*WITH_LEAP_YEARS, "all_leap", "366_day"])
def test_calendar_day_feb29_is_slot_59(calendar: str) -> None:
    scheme = SlotScheme(calendar, "calendar_day")
    assert scheme.nslots == 366
    assert _slot_of(scheme, LEAP, 2, 29) == 59
    assert _slot_of(scheme, LEAP, 3, 1) == 60
    assert _slot_of(scheme, COMMON, 3, 1) == 60
    assert _slot_of(scheme, COMMON, 2, 28) == 58
    if calendar in WITH_LEAP_YEARS:
        assert not scheme.year_slots(COMMON)[59]
        assert scheme.year_slots(COMMON).sum() == 365
    assert scheme.year_slots(LEAP).all()


def test_noleap_calendar_day_is_365_slots() -> None:
    scheme = SlotScheme("noleap", "calendar_day")
    assert _slot_of(scheme, COMMON, 3, 1) == 59
    np.testing.assert_array_equal(_slots(scheme, _year_dates(COMMON, "noleap")), np.arange(365))


def test_dayofyear_is_ordinal(calendar: str) -> None:
    scheme = SlotScheme(calendar, "dayofyear")
    for year in (LEAP, COMMON):
        dates = _year_dates(year, calendar)
        np.testing.assert_array_equal(_slots(scheme, dates), np.arange(len(dates)))
    if calendar in WITH_LEAP_YEARS:
        assert _slot_of(scheme, LEAP, 3, 1) == 60  # day 61
        assert _slot_of(scheme, COMMON, 3, 1) == 59  # day 60
        assert not scheme.year_slots(COMMON)[365]
        assert scheme.year_slots(LEAP)[365]


def test_drop_removes_feb29_only(calendar: str) -> None:
    scheme = SlotScheme(calendar, "drop")
    if calendar == "360_day":
        assert scheme.nslots == 360
        return
    assert scheme.nslots == 365
    for year in (LEAP, COMMON):
        dates = _year_dates(year, calendar)
        slots = _slots(scheme, dates)
        feb29 = np.array([(d.month, d.day) == (2, 29) for d in dates])
        assert (slots[feb29] == -1).all()
        np.testing.assert_array_equal(slots[~feb29], np.arange(365))
        assert scheme.year_slots(year).all()
    if is_leap(LEAP, calendar):
        assert _slot_of(scheme, LEAP, 2, 29) == -1
    assert _slot_of(scheme, LEAP, 3, 1) == _slot_of(scheme, COMMON, 3, 1) == 59


@pytest.mark.parametrize("policy_", POLICIES)
def test_360_day_slots(policy_: T_LeapDay) -> None:
    scheme = SlotScheme("360_day", policy_)
    dates = _year_dates(LEAP, "360_day")
    month, day, _ = _fields(dates)
    np.testing.assert_array_equal(_slots(scheme, dates), (month - 1) * 30 + day - 1)
    assert _slot_of(scheme, COMMON, 2, 30) == 59
    assert _slot_of(scheme, COMMON, 12, 30) == 359
    assert scheme.year_slots(COMMON).all()


# ------------------------------------------------------------------------------------------------ labels


def test_labels_agree_with_slots(calendar: str, policy: T_LeapDay) -> None:
    scheme = SlotScheme(calendar, policy)
    month, day = scheme.labels()
    assert month.shape == day.shape == (scheme.nslots,)
    assert month[0] == 1 and day[0] == 1
    assert (month[-1], day[-1]) == ((12, 30) if calendar == "360_day" else (12, 31))
    # reference year: a leap year when the slots have Feb 29
    reference = LEAP if scheme.nslots == 366 else COMMON
    ref_calendar = "all_leap" if scheme.nslots == 366 else ("360_day" if calendar == "360_day" else "noleap")
    doy = np.array(
        [cftime.datetime(reference, m, d, calendar=ref_calendar).dayofyr for m, d in zip(month, day, strict=True)]
    )
    np.testing.assert_array_equal(scheme.slots(month, day, doy), np.arange(scheme.nslots))
    has_feb29 = bool(((month == 2) & (day == 29)).any())
    assert has_feb29 == (scheme.nslots in (360, 366))
    if calendar == "360_day":
        assert (day <= 30).all() and ((month == 2) & (day == 30)).any()


def test_labels_name_the_dates_of_a_complete_year(calendar: str) -> None:
    scheme = SlotScheme(calendar, "calendar_day")
    month, day = scheme.labels()
    for year in (LEAP, COMMON):
        dates = _year_dates(year, calendar)
        slots = _slots(scheme, dates)
        for date, slot in zip(dates, slots, strict=True):
            assert (month[slot], day[slot]) == (date.month, date.day)


# ------------------------------------------------------------------------------------------------ thresholds


def _leap_years(window: range, calendar: str) -> int:
    return sum(is_leap(y, calendar) for y in window)


def test_thresholds_standard_1981_2010() -> None:
    window = range(1981, 2011)
    assert _leap_years(window, "standard") == 7
    th = SlotScheme("standard", "calendar_day").thresholds(window, 25)
    assert th.shape == (366,)
    assert th[59] == math.ceil(25 * 7 / 30) == 6
    assert (np.delete(th, 59) == 25).all()
    th = SlotScheme("standard", "dayofyear").thresholds(window, 25)
    assert th[365] == 6
    assert (th[:365] == 25).all()


def test_thresholds_julian_vs_proleptic_gregorian_1900() -> None:
    window = range(1871, 1901)  # ends on 1900: a leap year only in the julian calendar
    assert _leap_years(window, "julian") == 8
    assert _leap_years(window, "proleptic_gregorian") == 7
    julian = SlotScheme("julian", "calendar_day").thresholds(window, 25)
    gregorian = SlotScheme("proleptic_gregorian", "calendar_day").thresholds(window, 25)
    assert julian[59] == math.ceil(25 * 8 / 30) == 7
    assert gregorian[59] == math.ceil(25 * 7 / 30) == 6
    assert julian[60] == gregorian[60] == 25


def test_thresholds_every_calendar_and_policy(calendar: str, policy: T_LeapDay) -> None:
    window = range(1991, 2021)
    min_years = 20
    scheme = SlotScheme(calendar, policy)
    th = scheme.thresholds(window, min_years)
    assert th.shape == (scheme.nslots,)
    having = sum(scheme.year_slots(y).astype(int) for y in window)
    for slot in range(scheme.nslots):
        if having[slot] == len(window):
            assert th[slot] == min_years
        else:
            assert th[slot] == math.ceil(min_years * having[slot] / len(window))
    if scheme.nslots == 366 and calendar in WITH_LEAP_YEARS:
        leap_slot = 59 if policy == "calendar_day" else 365
        assert th[leap_slot] == math.ceil(min_years * _leap_years(window, calendar) / 30)
        assert (np.delete(th, leap_slot) == min_years).all()
    else:
        assert (th == min_years).all()


def test_thresholds_short_window() -> None:
    th = SlotScheme("standard", "calendar_day").thresholds(range(2001, 2004), 2)  # no leap year
    assert (np.delete(th, 59) == 2).all()
    assert th[59] >= 1  # a slot no year has can never be valid: no zero threshold

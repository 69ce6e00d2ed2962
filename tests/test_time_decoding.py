"""calendars.whole_day_dates dates time values exactly as cftime.num2date does, or declines."""

from __future__ import annotations

import cftime
import numpy as np
import pytest

from climnorm.calendars import whole_day_dates

US = 1e-6 / 86400.0  # one microsecond in days

UNITS = [
    "days since 1850-01-01",
    "days since 1950-01-01 00:00:00",
    "days since 2000-1-1 12:00:00",
    "hours since 1900-01-01 06:30:00",
    "minutes since 1950-01-01",
    "seconds since 1970-01-01T00:00:00Z",
    "days since 1980-01-01 00:00:00 -06:00",
    "milliseconds since 2001-01-01",
]
COVERED = ["noleap", "all_leap", "360_day", "proleptic_gregorian", "standard"]


def _cftime(values: np.ndarray, units: str, calendar: str) -> tuple[np.ndarray, ...]:
    dates = np.atleast_1d(cftime.num2date(values, units, calendar, only_use_cftime_datetimes=True))
    return tuple(np.array([getattr(d, a) for d in dates], dtype=np.int64) for a in ("year", "month", "day", "dayofyr"))


def _values(units: str, seed: int) -> np.ndarray:
    """Values over three centuries, on whole and half days, and within microseconds of midnight."""
    per_day = {"days": 1, "hours": 24, "minutes": 1440, "seconds": 86400, "milliseconds": 86_400_000}
    scale = per_day[units.split()[0]]
    rng = np.random.default_rng(seed)
    days = rng.integers(-20_000, 90_000, 400).astype(np.float64)
    near = np.concatenate([days[:50] + k * US for k in (-1.5, -1, -0.5, -1e-3, 1e-3, 0.5, 1, 1.5)])
    spread = rng.uniform(-20_000, 90_000, 400)
    return np.concatenate([days, days + 0.5, near, spread, [0.0, -0.0, 1.0, 365.0, 366.0, 1461.0]]) * scale


@pytest.mark.parametrize("calendar", COVERED)
@pytest.mark.parametrize("units", UNITS)
def test_same_dates_as_cftime(calendar: str, units: str) -> None:
    values = _values(units, seed=len(units) + len(calendar))
    got = whole_day_dates(values, units, calendar)
    assert got is not None
    for mine, theirs, what in zip(
        got, _cftime(values, units, calendar), ("year", "month", "day", "dayofyr"), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs, err_msg=what)
        assert mine.dtype == np.int64


def test_a_daily_year_at_noon_in_every_calendar() -> None:
    for calendar in COVERED:
        values = np.arange(23_741, 23_741 + 366) + 0.5  # 2015 onward, NEX-style noon stamps
        got = whole_day_dates(values, "days since 1950-01-01", calendar)
        assert got is not None
        for mine, theirs in zip(got, _cftime(values, "days since 1950-01-01", calendar), strict=True):
            np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize(
    ("values", "units", "calendar"),
    [
        (np.array([0.0, 1.0]), "days since 1850-01-01", "julian"),  # not covered
        (np.array([0.0, np.nan]), "days since 1850-01-01", "noleap"),  # missing time values
        (np.array([-200_000.0]), "days since 1850-01-01", "standard"),  # before 1582-10-15
        (np.array([0.0]), "days since 1500-01-01", "standard"),  # a Julian reference date
        (np.array([-700_000.0]), "days since 1850-01-01", "proleptic_gregorian"),  # before year 1
        (np.array([0.0]), "days since 0000-01-01", "noleap"),  # year 0
        (np.array([], dtype=np.float64), "days since 1850-01-01", "noleap"),
        (np.array([1e18]), "seconds since 1850-01-01", "noleap"),  # beyond int64 microseconds
    ],
)
def test_declines_what_it_cannot_promise(values: np.ndarray, units: str, calendar: str) -> None:
    assert whole_day_dates(values, units, calendar) is None

"""The climatological time axis: slot dates and bounds as numbers, bit for bit what cftime gives date by date."""

from __future__ import annotations

import itertools

import cftime
import numpy as np
import pytest

from climnorm.calendars import SlotScheme
from climnorm.write.days import _slot_dates, _slot_numbers

CALENDARS = ["standard", "proleptic_gregorian", "julian", "noleap", "all_leap", "360_day"]
POLICIES = ["calendar_day", "dayofyear", "drop"]
WINDOWS = [range(1991, 2021), range(1995, 2005), range(2001, 2004), range(2001, 2002), range(2000, 2001),
           range(1897, 1906), range(2085, 2101), range(1570, 1600)]  # fmt: skip


@pytest.mark.parametrize(("calendar", "policy"), list(itertools.product(CALENDARS, POLICIES)))
def test_slot_numbers_equal_cftime_date_by_date(calendar: str, policy: str) -> None:
    scheme = SlotScheme(calendar, policy)  # type: ignore[arg-type]
    for window in WINDOWS:
        units = f"days since {window.start:04d}-01-01 00:00:00"
        _slot_numbers.cache_clear()
        fast = _slot_numbers(scheme, window, units)
        slow = [np.asarray(cftime.date2num(d, units, scheme.calendar)) for d in _slot_dates(scheme, window)]
        for name, a, b in zip(("time", "lower bound", "upper bound"), fast, slow, strict=True):
            assert a.dtype == np.float64 and a.shape == (scheme.nslots,)
            assert np.array_equal(a, b.astype(np.float64)), f"{calendar} {policy} {window}: {name} differs"
        assert np.all(np.diff(fast[0]) > 0) and np.all(fast[1] < fast[2])

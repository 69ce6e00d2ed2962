"""Day-of-year percentile thresholds (climnorm.numerics.percentiles) against xclim, never against climnorm:
``percentile_doy`` for the thresholds, ``resample_doy`` for their mapping to a year's days, and the ``tx90p``,
``tn10p`` and ``days_over_precip_doy_thresh`` indicators for counts made here in plain numpy from the mapping.

xclim is given the float32 values climnorm reads from files: its percentiles are then ours to the bit. Given the same
values as float64 (cast before xclim), they differ only by our float32 storage, far below the 1e-6 promised.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import xarray as xr

from climnorm.numerics.percentiles import DoyPercentiles, doy_thresholds, wet_days

xclim = pytest.importorskip("xclim")
pytestmark = pytest.mark.filterwarnings("ignore:The 'name' property is deprecated")  # xclim 0.62 on pandas 3

BASE = (2001, 2006)  # 2004 is a leap year
AFTER = (2007, 2009)  # 2008 is
CELLS = (4, 6)
CALENDARS = ("noleap", "360_day", "standard", "proleptic_gregorian", "all_leap", "julian")


def _time(calendar: str, first: int, last: int) -> xr.CFTimeIndex:
    return xr.date_range(f"{first}-01-01", f"{last + 1}-01-01", calendar=calendar, use_cftime=True, inclusive="left")


@functools.cache
def _tas(calendar: str) -> xr.DataArray:
    """Daily temperatures (K, float32) from the first base year to the last target year, with NaN planted."""
    time = _time(calendar, BASE[0], AFTER[1])
    rng = np.random.default_rng(sum(map(ord, calendar)))
    doy = np.asarray(time.dayofyear)
    season = 12.0 * np.sin(2 * np.pi * doy / 365.0)[:, None, None]
    values = (280.0 + season + rng.normal(0.0, 4.0, (len(time), *CELLS))).astype(np.float32)
    base = np.asarray(time.year) <= BASE[1]
    values[base[:, None, None] & (rng.random(values.shape) < 0.03)] = np.nan  # scattered: samples of varying size
    values[:, 0, 0] = np.nan  # a cell without data: NaN everywhere
    values[base & (doy >= 100) & (doy <= 130), 1, 1] = np.nan  # days of year without a value: NaN (or filled)
    values[np.asarray(time.year) == BASE[0], 2, 2] = np.nan  # the first base year missing: truncated windows
    values[np.asarray(time.year) == BASE[0], 3, 3] = np.round(values[np.asarray(time.year) == BASE[0], 3, 3])  # ties
    values[np.flatnonzero(np.asarray(time.year) == 2008)[40], 3, 4] = np.nan  # a target day missing
    return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": time}, attrs={"units": "K"})


@functools.cache
def _pr(calendar: str) -> xr.DataArray:
    """Daily precipitation (mm/d, float32): half the days dry, one cell almost a desert."""
    time = _time(calendar, BASE[0], AFTER[1])
    rng = np.random.default_rng(sum(map(ord, calendar)) + 1)
    shape = (len(time), *CELLS)
    values = np.where(rng.random(shape) < 0.5, 0.0, rng.gamma(0.7, 6.0, shape)).astype(np.float32)
    values[:, 0, 1] = np.where(rng.random(len(time)) < 0.01, 5.0, 0.0)  # wet days too few for some days of year
    return xr.DataArray(values, dims=("time", "y", "x"), coords={"time": time}, attrs={"units": "mm/d"})


def _years(da: xr.DataArray, first: int, last: int) -> xr.DataArray:
    return da.sel(time=(da.time.dt.year >= first) & (da.time.dt.year <= last))


def _xclim_per(base: xr.DataArray, per: float, window: int = 5) -> xr.DataArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN samples
        return xclim.core.calendar.percentile_doy(base, window=window, per=per).sel(percentiles=per)


def _ours(base: xr.DataArray, per: float, window: int = 5, years: int | None = None) -> DoyPercentiles:
    """The base period fed year by year, as climnorm reads it."""
    acc = DoyPercentiles(base.time.dt.calendar, per, window=window, years=years)
    year = np.asarray(base.time.dt.year)
    for y in np.unique(year):
        acc.add(int(y), base.values[year == y].astype(np.float64), np.asarray(base.time.dt.dayofyear)[year == y])
    return acc


def _doy_first(per: xr.DataArray) -> np.ndarray:
    return np.asarray(per.transpose("dayofyear", ...).values)


@pytest.mark.parametrize("calendar", CALENDARS)
@pytest.mark.parametrize(("per", "years", "compact"), [(90, 6, True), (10, 6, True), (50, 6, False), (90, None, False)])
def test_percentile_doy(calendar: str, per: float, years: int | None, compact: bool) -> None:
    """Kept order statistics (90th, 10th) or kept days (median; number of years unknown): xclim's to the bit."""
    base = _years(_tas(calendar), *BASE)
    acc = _ours(base, per, years=years)
    assert (acc.nbytes_per_cell < 4 * 6 * 360) == compact  # the compact path is the one tested
    ours = acc.thresholds()
    theirs = _doy_first(_xclim_per(base, per))
    assert ours.shape == theirs.shape == ({"noleap": 365, "360_day": 360}.get(calendar, 366), *CELLS)
    np.testing.assert_array_equal(ours, theirs)
    assert np.isnan(ours[:, 0, 0]).all()
    if ours.shape[0] == 366:  # percentiles stretched from 365 days: the gap left by the missing days filled
        assert not np.isnan(ours[:, 1, 1]).any()
    else:
        assert np.isnan(ours[105:125, 1, 1]).all()


@pytest.mark.parametrize("calendar", ["noleap", "360_day", "standard"])
def test_percentile_doy_float64(calendar: str) -> None:
    """xclim given float64 values (cast before xclim): within 1e-6 relative, the same NaN."""
    base = _years(_tas(calendar), *BASE).astype(np.float64)
    ours = _ours(base, 90, years=6).thresholds()
    np.testing.assert_allclose(ours, _doy_first(_xclim_per(base, 90)), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    ("calendar", "first", "last", "window", "per", "years", "dry"),
    [
        ("noleap", 2003, 2003, 1, 99.9, 1, 0.0),  # one year, no window
        ("standard", 2003, 2004, 4, 95, 2, 0.5),  # even windows reach one day further back than forward
        ("360_day", 2001, 2003, 6, 5, 5, 0.8),  # more years declared than come
        ("standard", 2000, 2002, 11, 100, None, 0.95),  # the largest value; samples of one value and of none
        ("all_leap", 2001, 2002, 3, 0, 2, 0.3),  # the smallest value
        ("julian", 2003, 2005, 2, 66.7, 3, 0.97),
    ],
)
def test_percentile_doy_edges(
    calendar: str, first: int, last: int, window: int, per: float, years: int | None, dry: float
) -> None:
    time = _time(calendar, first, last)
    rng = np.random.default_rng(window)
    values = np.round(rng.gamma(0.5, 3.0, (len(time), 5)), 1).astype(np.float32)
    values[rng.random(values.shape) < dry] = np.nan
    base = xr.DataArray(values, dims=("time", "c"), coords={"time": time}, attrs={"units": "mm/d"})
    ours = _ours(base, per, window=window, years=years).thresholds()
    np.testing.assert_array_equal(ours, _doy_first(_xclim_per(base, per, window=window)))


@pytest.mark.parametrize(
    ("base_calendar", "calendar", "year"),
    [
        ("noleap", "noleap", 2008),
        ("360_day", "360_day", 2008),
        ("standard", "standard", 2007),  # a common year takes days 1-365 of the 366
        ("standard", "standard", 2008),
        ("proleptic_gregorian", "proleptic_gregorian", 2008),
        ("all_leap", "all_leap", 2007),
        ("julian", "julian", 2007),
        ("noleap", "360_day", 2008),  # across calendars: interpolated, as xclim does
        ("360_day", "noleap", 2007),
        ("noleap", "standard", 2008),
        ("standard", "noleap", 2007),
    ],
)
def test_doy_thresholds(base_calendar: str, calendar: str, year: int) -> None:
    """Each day's threshold as resample_doy maps xclim's percentiles onto a year of the target calendar."""
    base = _years(_tas(base_calendar), *BASE)
    target = _years(_tas(calendar), year, year)
    theirs = xclim.core.calendar.resample_doy(_xclim_per(base, 90), target).transpose("time", ...).values
    ours = doy_thresholds(_ours(base, 90, years=6).thresholds(), np.asarray(target.time.dt.dayofyear), calendar, year)
    assert ours.shape == target.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def _count(acc: DoyPercentiles, target: xr.DataArray, above: bool, floor: float | None = None) -> np.ndarray:
    """Days per year beyond their threshold, NaN for a year with a day missing: the indicator, in plain numpy."""
    thresholds = acc.thresholds()
    calendar = target.time.dt.calendar
    year, doy = np.asarray(target.time.dt.year), np.asarray(target.time.dt.dayofyear)
    counts = []
    for y in np.unique(year):
        values = target.values[year == y]
        threshold = doy_thresholds(thresholds, doy[year == y], calendar, int(y))
        if floor is not None:  # days_over_precip_doy_thresh: no threshold below the wet-day one (NaN: that one)
            threshold = np.where(threshold > floor, threshold, floor)
        beyond = values > threshold if above else values < threshold
        counts.append(np.where(np.isnan(values).any(axis=0), np.nan, beyond.sum(axis=0)))
    return np.array(counts)


@pytest.mark.parametrize("calendar", ["noleap", "360_day", "standard"])
def test_tx90p_tn10p(calendar: str) -> None:
    """xclim's tx90p and tn10p on the years after the base period against counts from doy_thresholds."""
    tas = _tas(calendar)
    base, target = _years(tas, *BASE), _years(tas, *AFTER)
    with xclim.set_options(check_missing="any"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the data's metadata (standard name, cell methods)
        tx90p = xclim.indicators.atmos.tx90p(tasmax=target, tasmax_per=_xclim_per(base, 90), freq="YS")
        tn10p = xclim.indicators.atmos.tn10p(tasmin=target, tasmin_per=_xclim_per(base, 10), freq="YS")
    ours = _count(_ours(base, 90, years=6), target, above=True)
    np.testing.assert_array_equal(ours, tx90p.transpose("time", ...).values)
    np.testing.assert_array_equal(_count(_ours(base, 10, years=6), target, above=False), tn10p.transpose("time", ...))
    assert np.isnan(ours[1, 3, 4]) and not np.isnan(ours[0, 3, 4])  # 2008 misses a day there
    assert 5 < np.nanmean(ours[:, 1:, 1:]) < 80  # about a tenth of the days, not a degenerate 0 or 365


@pytest.mark.parametrize("calendar", ["noleap", "standard"])
def test_wet_day_percentile(calendar: str) -> None:
    """percentile_doy(pr.where(pr >= 1 mm/d), window=5, per=95), and days_over_precip_doy_thresh with it."""
    pr = _pr(calendar)
    base, target = _years(pr, *BASE), _years(pr, *AFTER)
    theirs = _xclim_per(base.where(base >= 1.0), 95)
    wet = base.copy(data=wet_days(base.values, 1.0).astype(np.float32))
    acc = _ours(wet, 95, years=6)
    ours = acc.thresholds()
    np.testing.assert_array_equal(ours, _doy_first(theirs))
    assert np.isnan(ours[:, 0, 1]).any()  # the desert's days of year without a wet day
    with xclim.set_options(check_missing="any"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r95 = xclim.indicators.atmos.days_over_precip_doy_thresh(pr=target, pr_per=theirs, thresh="1 mm/d", freq="YS")
    np.testing.assert_array_equal(_count(acc, target, above=True, floor=1.0), r95.transpose("time", ...).values)


def test_memory() -> None:
    """The module docstring's figures: 30 years, 5-day window, a 366-day calendar."""
    per_cell = {p: DoyPercentiles("standard", p, years=30).nbytes_per_cell for p in (10, 50, 90, 95, 99)}
    assert per_cell == {10: 366 * 66, 50: 4 * 30 * 365.25, 90: 366 * 66, 95: 366 * 34, 99: 366 * 10}


def test_misuse() -> None:
    acc = DoyPercentiles("noleap", 90, years=1)
    with pytest.raises(ValueError, match="no base year"):
        acc.thresholds()
    acc.add(2001, np.zeros((365, 2)), np.arange(1, 366))
    with pytest.raises(ValueError, match="increasing order"):
        acc.add(2001, np.zeros((365, 2)), np.arange(1, 366))
    with pytest.raises(ValueError, match="one more"):
        acc.add(2002, np.zeros((365, 2)), np.arange(1, 366))
    with pytest.raises(ValueError, match="not increasing"):
        DoyPercentiles("noleap", 90).add(2001, np.zeros((366, 2)), np.arange(1, 367))
    with pytest.raises(ValueError, match="never occur"):
        half = DoyPercentiles("standard", 90)
        half.add(2001, np.zeros((100, 2)), np.arange(1, 101))
        half.thresholds()
    with pytest.raises(ValueError, match="not within"):
        doy_thresholds(np.zeros((366, 2)), np.arange(1, 367), "standard", 2001)

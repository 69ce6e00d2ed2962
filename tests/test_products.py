"""climnorm.products against the independent float64 reference (tests/products_reference.py): monthly, seasonal
and annual values with the completeness thresholds hit exactly, in every calendar and leap-day policy, their
rolling normals across the historical/scenario split, and the smoothed daily normal."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from climnorm.calendars import SlotScheme
from climnorm.numerics.periods import (
    STRICT,
    WMO,
    Completeness,
    PeriodYears,
    annual_values,
    completeness,
    month_spans,
    seasonal_values,
    total_units,
    year_periods,
)
from climnorm.numerics.smoothing import Smoothing, harmonic_smooth, running_smooth, smoothing
from climnorm.numerics.sums import WindowSums
from climnorm.products import product_path
from helpers import DISTINCT_CALENDARS
from products_reference import (
    YearData,
    annual,
    dates_of,
    harmonic_reference,
    monthly,
    running_reference,
    seasonal,
    window_normal,
)
from reference import assert_close_with_same_nans, day_key, slot_keys

POLICIES = ("calendar_day", "dayofyear", "drop")
SCALE = {"mean": 1.0, "sum": 86400.0}
#: (name, month) of the cells whose missing days hit a threshold exactly; the rest have random gaps.
PATTERNS = ("none", "ten", "eleven", "run4", "run5", "one", "boundary", "whole", "feb29", "feb_last5")
MONTHS = (1, 2, 4, 11)
CUSTOM = Completeness(max_missing=3, max_consecutive=2)


def _missing(pattern: str, data: YearData, month: int, rng: np.random.Generator) -> list[int]:
    """Date indices to blank for one cell: ``ten`` = 10 days in runs of 4, 4, 2; ``eleven`` one more; runs of
    4 and 5; one day; the last 3 days of the month and the first 3 of the next; the whole month; 29 February;
    the last 5 days of February."""
    if pattern == "random":
        return [int(i) for i in np.flatnonzero(rng.random(len(data.dates)) < 0.04)]
    rows = [i for i, d in enumerate(data.dates) if d.month == month]
    feb = [i for i, d in enumerate(data.dates) if d.month == 2]
    chosen = {
        "none": [],
        "ten": [rows[i] for i in (0, 1, 2, 3, 5, 6, 7, 8, 10, 11)],
        "eleven": [rows[i] for i in (0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 13)],
        "run4": rows[5:9],
        "run5": rows[5:10],
        "one": rows[7:8],
        "boundary": [*rows[-3:], rows[-1] + 1, rows[-1] + 2, rows[-1] + 3],
        "whole": rows,
        "feb29": [i for i in feb if data.dates[i].day == 29],
        "feb_last5": feb[-5:],
    }
    return chosen[pattern]


def make_year(calendar: str, year: int, kind: str, rng: np.random.Generator, cells: list[tuple[str, int]]) -> YearData:
    """Random daily values (float32-exact) of ``cells`` (pattern, month), blanked by their patterns."""
    dates = dates_of(calendar, year)
    if kind == "sum":
        values = np.where(
            rng.random((len(dates), len(cells))) < 0.3, 0.0, rng.exponential(4e-5, (len(dates), len(cells)))
        )
    else:
        values = 260.0 + 30.0 * rng.random((len(dates), len(cells)))
    values = values.astype(np.float32).astype(np.float64)
    data = YearData(year, dates, values)
    for cell, (pattern, month) in enumerate(cells):
        data.values[_missing(pattern, data, month, rng), cell] = np.nan
    return data


def slot_field(data: YearData, policy: str, calendar: str) -> np.ndarray:
    """The day-slot field climnorm gets (what ``reduce.assemble_year`` yields): NaN where a slot has no day."""
    keys = slot_keys(policy, calendar)
    index = {k: i for i, k in enumerate(keys)}
    field = np.full((len(keys), data.values.shape[1]), np.nan, dtype=np.float32)
    for i, d in enumerate(data.dates):
        key = day_key(policy, calendar, d.month, d.day, d.dayofyr)
        if key is not None:
            field[index[key]] = data.values[i]
    return field


CELLS = [(p, m) for p in PATTERNS for m in MONTHS] + [("random", 0)] * 6
YEARS = (1899, 1900, 2000, 2001)  # 1900: leap in julian only; 2000: leap but in noleap and 360_day


def _limits(rule: Completeness) -> tuple[int, int]:
    return rule.max_missing, rule.max_consecutive


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("calendar", DISTINCT_CALENDARS)
def test_year_values_equal_the_reference(calendar: str, policy: str) -> None:
    scheme = SlotScheme(calendar, policy)  # type: ignore[arg-type]
    for kind, rule in (("mean", WMO), ("mean", STRICT), ("mean", CUSTOM), ("sum", WMO)):
        rng = np.random.default_rng(zlib.crc32(f"{calendar} {policy} {kind} {rule.name}".encode()))
        data = {y: make_year(calendar, y, kind, rng, CELLS) for y in YEARS}
        ref_months = {y: monthly(d, policy, calendar, kind, SCALE[kind], *_limits(rule)) for y, d in data.items()}
        ours = {}
        for year in YEARS:
            previous = ours[year - 1].december if year - 1 in ours else None
            field = slot_field(data[year], policy, calendar)
            ours[year] = year_periods(
                field, scheme, year, kind=kind, scale=SCALE[kind], rule=rule, previous_december=previous
            )
            what = f"{calendar} {policy} {kind} {rule.name} {year}"
            assert_close_with_same_nans(ours[year].monthly, ref_months[year], what=f"{what} monthly")
            ref_seasons = seasonal(ref_months, year, kind)
            assert_close_with_same_nans(ours[year].seasonal, ref_seasons, what=f"{what} seasonal")
            assert_close_with_same_nans(ours[year].annual, annual(ref_months[year], kind), what=f"{what} annual")


@dataclass
class _One:
    """The monthly values of one standard-calendar year for the threshold cells."""

    values: np.ndarray

    def month(self, pattern: str, month: int, value_month: int | None = None) -> float:
        """The value in ``value_month`` (default ``month``) of the cell with ``pattern`` in ``month``."""
        return float(self.values[(value_month or month) - 1, CELLS.index((pattern, month))])


def _one_year(year: int, policy: str, kind: str, rule: Completeness) -> _One:
    rng = np.random.default_rng(7)
    data = make_year("standard", year, kind, rng, CELLS)
    field = slot_field(data, policy, "standard")
    scheme = SlotScheme("standard", policy)  # type: ignore[arg-type]
    return _One(year_periods(field, scheme, year, kind=kind, scale=SCALE[kind], rule=rule).monthly)


def test_the_wmo_thresholds_are_hit_exactly() -> None:
    """10 missing days keep a month, 11 lose it; a run of 4 keeps it, 5 lose it; runs stop at month ends."""
    got = _one_year(2001, "calendar_day", "mean", WMO)
    for month in MONTHS:
        assert not np.isnan(got.month("ten", month)) and np.isnan(got.month("eleven", month))
        assert not np.isnan(got.month("run4", month)) and np.isnan(got.month("run5", month))
        assert not np.isnan(got.month("one", month)) and np.isnan(got.month("whole", month))
        assert not np.isnan(got.month("boundary", month)) and not np.isnan(got.month("boundary", month, month + 1))
    strict = _one_year(2001, "calendar_day", "mean", STRICT)
    assert np.isnan(strict.month("one", 4)) and not np.isnan(strict.month("none", 4))


def test_a_precipitation_total_needs_every_day() -> None:
    got = _one_year(2001, "calendar_day", "sum", WMO)
    assert np.isnan(got.month("one", 4)) and np.isnan(got.month("ten", 4)) and not np.isnan(got.month("none", 4))
    assert np.isnan(got.month("boundary", 4, 5)) and not np.isnan(got.month("one", 4, 5))


def test_february_29_counts_only_where_the_year_and_the_policy_have_it() -> None:
    """Leap year: 25-29 February missing is a run of 5 (February lost) unless ``drop`` leaves 29 February out
    (a run of 4). Common year: the empty 29 February slot is no missing day."""
    assert np.isnan(_one_year(2000, "calendar_day", "mean", WMO).month("feb_last5", 2))
    assert np.isnan(_one_year(2000, "dayofyear", "mean", WMO).month("feb_last5", 2))
    assert not np.isnan(_one_year(2000, "drop", "mean", WMO).month("feb_last5", 2))
    assert np.isnan(_one_year(2000, "calendar_day", "sum", WMO).month("feb29", 2))
    assert not np.isnan(_one_year(2000, "drop", "sum", WMO).month("feb29", 2))
    for policy in POLICIES:
        assert not np.isnan(_one_year(2001, policy, "sum", STRICT).month("none", 2)), policy


def test_month_spans_follow_the_dates_of_the_year() -> None:
    """calendar_day: a common year skips slot 59; dayofyear: slot 59 is 1 March in a common year."""
    day = SlotScheme("standard", "calendar_day")
    assert month_spans(day, 2001)[1:3].tolist() == [[31, 59], [60, 91]]
    assert month_spans(day, 2000)[1:3].tolist() == [[31, 60], [60, 91]]
    ordinal = SlotScheme("standard", "dayofyear")
    assert month_spans(ordinal, 2001)[1:3].tolist() == [[31, 59], [59, 90]]
    assert month_spans(ordinal, 2001)[11].tolist() == [334, 365]
    assert month_spans(SlotScheme("360_day", "drop"), 2001)[1].tolist() == [30, 60]
    assert month_spans(SlotScheme("julian", "calendar_day"), 1900)[1].tolist() == [31, 60]


def _chain(calendar: str, kind: str, years: range, seed: int) -> dict[int, YearData]:
    rng = np.random.default_rng(seed)
    patterns = [*PATTERNS, "random", "random"]
    out = {}
    for year in years:
        cells = [(patterns[int(rng.integers(len(patterns)))], int(rng.choice(MONTHS))) for _ in range(24)]
        out[year] = make_year(calendar, year, kind, rng, cells)
    return out


def _reference_normals(
    chain: dict[int, YearData], calendar: str, kind: str, targets: range, window: int, min_years: int
) -> dict[int, dict[str, np.ndarray]]:
    months = {y: monthly(d, "calendar_day", calendar, kind, SCALE[kind], *_limits(WMO)) for y, d in chain.items()}
    per_year = {
        "monthly": months,
        "seasonal": {y: seasonal(months, y, kind) for y in months},
        "annual": {y: annual(m, kind) for y, m in months.items()},
    }
    return {
        t: {p: window_normal(v, range(t - window + 1, t + 1), min_years) for p, v in per_year.items()} for t in targets
    }


class PeriodWindows:
    """What a chain's accumulator keeps for the period products of one region: the yearly values' source (its
    December carried) and one window of sums per product."""

    def __init__(self, years: PeriodYears, sums: dict[str, WindowSums] | None = None) -> None:
        self.years = years
        self.sums = sums or {}

    def add_year(self, year: int, field: np.ndarray, first: int) -> None:
        for name, values in self.years.add(year, field).items():
            self.sums.setdefault(name, WindowSums(values.shape)).add(year, values, drop_before=first)

    def fork(self) -> PeriodWindows:
        return PeriodWindows(self.years.fork(), {k: v.fork() for k, v in self.sums.items()})

    def normals(self, first: int, min_years: int) -> dict[str, np.ndarray]:
        for window in self.sums.values():
            window.drop_before(first)
        return {k: w.mean(np.full(w.shape[0], min_years, dtype=np.int64)) for k, w in self.sums.items()}


def _feed(windows: PeriodWindows, chain: dict[int, YearData], years: range, calendar: str, window: int) -> None:
    for year in years:
        if year in chain:
            windows.add_year(year, slot_field(chain[year], "calendar_day", calendar), year - window + 1)


@pytest.mark.parametrize(("calendar", "kind"), [("standard", "mean"), ("standard", "sum"), ("360_day", "mean")])
def test_normals_across_the_historical_scenario_split(calendar: str, kind: str) -> None:
    """Window 5, at least 4 valid years. The first scenario DJF takes the historical December 2014; scenario B
    lacks 2017 (its DJF 2018 has no December). Each scenario forks the historical sums independently."""
    window, min_years = 5, 4
    historical = _chain(calendar, kind, range(2008, 2015), seed=1)
    scenarios = {
        "A": _chain(calendar, kind, range(2015, 2021), seed=2),
        "B": _chain(calendar, kind, range(2015, 2021), 3),
    }
    del scenarios["B"][2017]
    scheme = SlotScheme(calendar, "calendar_day")
    hist = PeriodWindows(PeriodYears(scheme, kind, SCALE[kind], WMO))
    _feed(hist, historical, range(2008, 2015), calendar, window)
    before = hist.normals(2014 - window + 1, min_years)
    for product, values in _reference_normals(historical, calendar, kind, range(2014, 2015), window, min_years)[
        2014
    ].items():
        assert_close_with_same_nans(before[product], values, what=f"historical 2014 {product}")
    for name, chain in scenarios.items():
        fork = hist.fork()
        full = {**historical, **chain}
        expected = _reference_normals(full, calendar, kind, range(2015, 2021), window, min_years)
        for target in range(2015, 2021):
            _feed(fork, full, range(target, target + 1), calendar, window)
            got = fork.normals(target - window + 1, min_years)
            for product, values in expected[target].items():
                assert_close_with_same_nans(got[product], values, what=f"{name} {target} {product}")
    after = hist.normals(2014 - window + 1, min_years)
    for product in before:
        np.testing.assert_array_equal(before[product], after[product])
    assert np.isfinite(before["seasonal"]).any() and np.isnan(before["seasonal"]).any()


def _normal(nslots: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    s = np.arange(nslots)[:, None]
    cycle = 280.0 + 12.0 * np.cos(2 * np.pi * (s - 200) / nslots) + 2.0 * np.sin(6 * np.pi * s / nslots)
    return (cycle + rng.normal(0, 1.5, (nslots, cells))).astype(np.float32)


@pytest.mark.parametrize("nslots", [360, 365, 366])
@pytest.mark.parametrize("harmonics", [1, 3, 5])
def test_harmonic_smoothing_equals_lstsq(nslots: int, harmonics: int) -> None:
    """Shared missing patterns (fitted together) and cells of their own (fitted one by one); 2K+1 valid slots
    fit, 2K do not."""
    rng = np.random.default_rng(nslots + harmonics)
    normal = _normal(nslots, 64, rng)
    normal[rng.random(nslots) < 0.1, 20:32] = np.nan  # one pattern shared by 12 cells
    normal[:, 32:50][rng.random((nslots, 18)) < 0.15] = np.nan  # a pattern per cell
    p = 2 * harmonics + 1
    for cell, keep in ((50, p), (51, p - 1), (52, 0)):
        normal[:, cell] = np.nan
        normal[np.sort(rng.choice(nslots, keep, replace=False)), cell] = 280.0 + rng.random(keep)
    normal[:, 53:58] = np.nan
    normal[100:160, 53:58] = _normal(60, 5, rng)  # two months of data only
    raw = normal.copy()
    got = harmonic_smooth(normal, harmonics)
    expected = harmonic_reference(normal, harmonics)
    assert_close_with_same_nans(got, expected, what=f"K={harmonics} N={nslots}")
    assert np.isnan(got[:, 51]).all() and np.isfinite(got[:, 50]).all() and np.isfinite(got[:, 32]).all()
    np.testing.assert_array_equal(normal, raw)
    assert got.dtype == np.float32 and got.shape == normal.shape


def test_harmonic_smoothing_keeps_the_grid_shape() -> None:
    rng = np.random.default_rng(3)
    normal = _normal(365, 12, rng).reshape(365, 3, 4)
    normal[:, 0, 0] = np.nan
    got = harmonic_smooth(normal, 3)
    expected = harmonic_reference(normal.reshape(365, 12), 3).reshape(365, 3, 4)
    assert_close_with_same_nans(got, expected)


@pytest.mark.parametrize("nslots", [360, 365, 366])
@pytest.mark.parametrize("days", [1, 5, 31])
def test_running_smoothing_equals_a_direct_loop(nslots: int, days: int) -> None:
    """NaN slots skipped, the year wraps from the last slot to the first, NaN where a whole window is NaN."""
    rng = np.random.default_rng(nslots * days)
    normal = _normal(nslots, 10, rng)
    normal[:, 5:][rng.random((nslots, 5)) < 0.1] = np.nan
    normal[:4, 2] = normal[-3:, 2] = np.nan  # at the wrap
    normal[100:150, 3] = np.nan  # longer than any window
    normal[:, 4] = np.nan
    got = running_smooth(normal, days)
    assert_close_with_same_nans(got, running_reference(normal, days), what=f"D={days} N={nslots}")
    half = days // 2
    assert np.isnan(got[100 + half : 150 - half, 3]).all() and np.isfinite(got[99 - half, 3])
    assert np.isnan(got[:, 4]).all() and np.isfinite(got[:, 2]).all() == (days >= 9)


def test_running_smoothing_needs_an_odd_window_within_the_year() -> None:
    normal = np.zeros((365, 2), dtype=np.float32)
    for days in (0, 30, 367):
        with pytest.raises(ValueError, match="odd number of days"):
            running_smooth(normal, days)


def test_smoothing_spec() -> None:
    assert smoothing({"method": "harmonic", "harmonics": 4}) == Smoothing("harmonic", harmonics=4)
    assert smoothing({"method": "running"}) == Smoothing("running", days=31)
    assert "3 harmonics" in smoothing({"method": "harmonic"}).describe()
    for bad in ({"method": "spline"}, {"method": "running", "harmonics": 3}, {"method": "running", "days": 30.5}):
        with pytest.raises(ValueError):
            smoothing(bad)
    with pytest.raises(ValueError, match="odd"):
        Smoothing("running", days=30)
    normal = _normal(365, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(Smoothing("running", days=5).apply(normal), running_smooth(normal, 5))


def test_completeness_rules() -> None:
    assert completeness("wmo") == WMO == Completeness(10, 4) and completeness("STRICT") == STRICT
    assert completeness({"max_missing": 3, "max_consecutive": 2}) == CUSTOM
    assert CUSTOM.name == "max_missing=3, max_consecutive=2" and WMO.name == "wmo"
    for bad in (
        "who",
        {"max_missing": 3},
        {"max_missing": 3, "max_consecutive": True},
        {"max_missing": -1, "max_consecutive": 0},
    ):
        with pytest.raises(ValueError):
            completeness(bad)  # type: ignore[arg-type]


def test_total_units_and_product_paths() -> None:
    assert total_units("kg m-2 s-1") == (86400.0, "mm") and total_units("mm/day") == (1.0, "mm")
    with pytest.raises(ValueError, match="cannot total"):
        total_units("K")
    daily = "pr/CONUS/ssp245/pr_CONUS_ssp245_hybrid_2016_30yr_normal.nc"
    assert product_path(daily, "daily") == daily
    assert product_path(daily, "monthly") == "pr/CONUS/ssp245/pr_CONUS_ssp245_hybrid_2016_30yr_monthly_normal.nc"
    assert product_path("a/b_2016.nc", "daily_smoothed") == "a/b_2016_daily_smoothed.nc"
    with pytest.raises(ValueError, match="unknown product"):
        product_path(daily, "weekly")


def test_a_missing_previous_december_makes_djf_missing() -> None:
    scheme = SlotScheme("noleap", "calendar_day")
    field = np.full((365, 2), 280.0, dtype=np.float32)
    without = year_periods(field, scheme, 2001, kind="mean")
    assert np.isnan(without.seasonal[0]).all() and np.isfinite(without.seasonal[1:]).all()
    december = np.array([270.0, np.nan])
    got = year_periods(field, scheme, 2001, kind="mean", previous_december=december)
    np.testing.assert_allclose(got.seasonal[0], [(270.0 + 280.0 + 280.0) / 3, np.nan])
    with pytest.raises(ValueError, match="slots"):
        year_periods(field[:300], scheme, 2001, kind="mean")


def test_the_worked_examples_of_docs_normals() -> None:
    """docs/normals.md: January 2001 with 10, 11 and 5-in-a-row missing days; a March total; DJF 2015."""
    jan = np.array([271.4, 270.9, 272.3, 273.0, 272.2, 271.8, 270.1, 269.5, 270.7, 271.9, 272.6, 273.4, 272.8,
                    271.3, 270.6, 269.9, 270.4, 271.7, 272.9, 273.5, 274.0, 273.1, 272.4, 271.6, 270.8, 270.2,
                    271.1, 272.0, 272.7, 273.3, 272.5], dtype=np.float32)  # fmt: skip
    field = np.full((365, 3), 275.0, dtype=np.float32)
    field[:31] = jan[:, None]
    ten = [0, 1, 2, 3, 9, 10, 11, 12, 20, 21]
    field[ten, 0] = np.nan
    field[[*ten, 25], 1] = np.nan
    field[14:19, 2] = np.nan
    scheme = SlotScheme("noleap", "calendar_day")
    january = year_periods(field, scheme, 2001, kind="mean").monthly[0]
    assert round(float(january[0]), 2) == 271.49 and np.isnan(january[1:]).all()
    rain = np.full((365, 2), 3.0e-5, dtype=np.float32)
    rain[70, 1] = np.nan  # 12 March
    march = year_periods(rain, scheme, 2001, kind="sum", scale=86400.0).monthly[2]
    assert round(float(march[0]), 2) == 80.35 and np.isnan(march[1])
    months = np.full((12, 1), 275.0)
    months[:2, 0] = 269.1, 271.0
    assert round(float(seasonal_values(months, np.array([270.4]), "mean")[0, 0]), 2) == 270.17
    totals = np.full((12, 1), 50.0)
    totals[:2, 0] = 75.0, 61.5
    assert round(float(seasonal_values(totals, np.array([88.2]), "sum")[0, 0]), 1) == 224.7
    assert round(float(annual_values(totals, "sum")[0, 0]), 1) == 75.0 + 61.5 + 500.0

"""Climate indices year by year (climnorm.numerics.indicators) against xclim's indicators run on the continuous daily
series with check_missing="wmo": 3 years of a few dozen cells in the noleap, 360_day and standard calendars, with
missing days planted so that the WMO rule both masks and keeps months. The reference is xclim, never climnorm."""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import xarray as xr

from climnorm.calendars import SlotScheme, days_in_year
from climnorm.numerics.indicators import PER_DAY_KINDS, Freq, YearDays, year_days
from climnorm.numerics.indicators import index_values as kernel
from climnorm.products.indicators import BY_NAME, resolve
from climnorm.types import T_LeapDay

xclim = pytest.importorskip("xclim")  # xclim is slow to import: once, here
from xclim.core.calendar import percentile_doy, resample_doy  # noqa: E402
from xclim.core.missing import MissingWMO  # noqa: E402
from xclim.core.units import convert_units_to  # noqa: E402
from xclim.indicators import atmos  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The 'name' property is deprecated")  # pandas 3 to xclim 0.62

# What climnorm declares of each index (climnorm.products.indicators), by name
INDICES = tuple(BY_NAME)
DEFAULTS = {name: dict(i.params) for name, i in BY_NAME.items()}
VARIABLES = {name: i.variable for name, i in BY_NAME.items()}
UNITS = {name: i.units for name, i in BY_NAME.items()}
XCLIM = {name: i.xclim_indicator for name, i in BY_NAME.items()}
FREQS = {name: i.freqs for name, i in BY_NAME.items()}
YEARLY_ONLY = {name for name, i in BY_NAME.items() if i.freqs == ("YS",)}
PER_DAY = {name for name, i in BY_NAME.items() if i.kind in PER_DAY_KINDS}


def index_values(index: str, days: YearDays, previous: YearDays | None, **kw: Any) -> np.ndarray:
    """The index's kernel by its name, xclim's defaults filled for the parameters left out (thresholds apart)."""
    declared = BY_NAME[index]
    params = {k: v for k, v in declared.params.items() if k != "thresh"} | dict(kw.pop("params"))
    if declared.fixed_op:
        params["op"] = declared.fixed_op
    return kernel(declared.kind, days, previous, params=params, **kw)


YEARS = (1999, 2000, 2001)  # 2000 is a leap year in the standard calendar
NCELLS = 24
CALENDARS = ("noleap", "360_day", "standard")
SECONDS_PER_DAY = 86400.0
ATTRS = {
    "tasmax": {"units": "K", "standard_name": "air_temperature", "cell_methods": "time: maximum within days"},
    "tasmin": {"units": "K", "standard_name": "air_temperature", "cell_methods": "time: minimum within days"},
    "tas": {"units": "K", "standard_name": "air_temperature", "cell_methods": "time: mean within days"},
    "pr": {"units": "kg m-2 s-1", "standard_name": "precipitation_flux", "cell_methods": "time: mean within days"},
}
PERCENTILE = {"tx90p": 90, "tx10p": 10, "tn90p": 90, "tn10p": 10}
# (cell, year, month, days of the month made missing)
PLANTED = (
    (12, 2000, 3, tuple(range(1, 23, 2))),  # 11 scattered days: the month is missing
    (13, 2000, 6, (10, 11, 12, 13, 14)),  # 5 consecutive days: missing
    (14, 2001, 2, (1, 2, 3, 4, 10, 11, 12, 13, 20, 22)),  # 10 days, at most 4 in a row: still valid
    (15, 2000, 12, tuple(range(1, 32))),  # a whole month: the year 2000 and the DJF of 2001 are missing
    (16, 2000, 12, (29, 30)),  # 4 in a row across the new year (with 2001-01-01, 02): valid, but no 5-day sums
    (16, 2001, 1, (1, 2)),
    (17, 1999, 4, (3, 4, 5, 6, 9, 12, 15, 18, 21, 24)),  # 10 days, 4 in a row: valid
    (18, 2000, 2, (29,)),
    (19, 2001, 7, tuple(range(5, 15))),  # 10 days in a row: missing
)


@dataclass(frozen=True)
class Series:
    """One calendar's continuous daily series (float32 as climnorm's day-slot fields hold them) and its dates."""

    calendar: str
    time: Any
    values: Mapping[str, np.ndarray]  # temperatures in K, pr in kg m-2 s-1
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray
    doy: np.ndarray
    cache: dict[Any, Any] = field(default_factory=dict)

    def data(self, variable: str) -> xr.DataArray:
        """The variable as xclim gets it: the float32 values cast to float64, the numbers climnorm reads too."""
        values = self.values["pr" if variable == "pr" else "t"].astype(np.float64)
        coords = {"time": self.time}
        return xr.DataArray(values, dims=("time", "cell"), coords=coords, attrs=ATTRS[variable], name=variable)


@functools.cache
def series(calendar: str) -> Series:
    ndays = sum(days_in_year(y, calendar) for y in YEARS)
    time = xr.date_range(f"{YEARS[0]}-01-01", periods=ndays, freq="D", calendar=calendar, use_cftime=True)
    year, month, day = (np.array(getattr(time, a)) for a in ("year", "month", "day"))
    doy = np.array(time.dayofyear)
    rng = np.random.default_rng(20240611)
    n = time.size
    length = np.where(calendar == "360_day", 360.0, 365.25)
    means = np.linspace(246.0, 300.0, NCELLS)  # from always frozen to tropical nights
    cycle = -12.0 * np.cos(2 * np.pi * (doy - 15) / length)
    t = means + cycle[:, None] + rng.normal(0.0, 3.0, (n, NCELLS))
    wet = rng.random((n, NCELLS)) < 0.45
    amount = np.where(rng.random((n, NCELLS)) < 0.1, 0.2, rng.gamma(0.8, 6.0, (n, NCELLS)))  # some exactly 0.2 mm
    pr = np.where(wet, amount, 0.0) / SECONDS_PER_DAY
    miss = rng.random((n, NCELLS)) < 0.003
    for cell, y, m, ds in PLANTED:
        miss[(year == y) & (month == m) & np.isin(day, ds), cell] = True
    values = {name: np.where(miss, np.nan, v).astype(np.float32) for name, v in (("t", t), ("pr", pr))}
    return Series(calendar, time, values, year, month, day, doy)


def slot_field(s: Series, scheme: SlotScheme, year: int, name: str) -> np.ndarray:
    """A year's (slot, cell) day-slot field, as climnorm's reader fills it from the series' dates."""
    sel = s.year == year
    slots = scheme.slots(s.month[sel], s.day[sel], s.doy[sel])
    out = np.full((scheme.nslots, NCELLS), np.nan, dtype=np.float32)
    out[slots[slots >= 0]] = s.values[name][sel][slots >= 0]
    return out


def our_days(s: Series, variable: str) -> dict[int, YearDays]:
    """Each year's days through a day-slot field (29 February kept in the standard calendar), in K or mm/day."""
    key = ("days", variable)
    if key not in s.cache:
        scheme = SlotScheme(s.calendar, "calendar_day")
        name, scale = ("pr", SECONDS_PER_DAY) if variable == "pr" else ("t", 1.0)
        s.cache[key] = {y: year_days(slot_field(s, scheme, y, name), scheme, y, scale) for y in YEARS}
    return s.cache[key]  # type: ignore[no-any-return]


def per_threshold(s: Series, index: str) -> xr.DataArray:
    """xclim's percentile of the series per day of year, for the percentile indices."""
    key = ("per", index)
    if key not in s.cache:
        da = s.data(VARIABLES[index])
        per = PERCENTILE.get(index, 75)
        s.cache[key] = percentile_doy(da, window=5, per=per).sel(percentiles=per, drop=True)
    return s.cache[key]  # type: ignore[no-any-return]


def wmo_mask(s: Series, freq: str) -> xr.DataArray:
    """xclim's WMO mask of the series (all variables have the same missing days)."""
    key = ("mask", freq)
    if key not in s.cache:
        s.cache[key] = MissingWMO()(s.data("tas"), freq, "D")
    return s.cache[key]  # type: ignore[no-any-return]


def xclim_call(s: Series, index: str, freq: str, xparams: Mapping[str, Any]) -> xr.DataArray:
    """The xclim indicator on the whole series without its missing-value mask (see ``reference``)."""
    variable = VARIABLES[index]
    inputs: dict[str, Any] = {variable: s.data(variable)}
    if index in PER_DAY:
        inputs[f"{variable}_per"] = per_threshold(s, index)
    # run_length_ufunc=False: the path xclim takes on its own for grids of over 9000 cells, as climnorm's are
    # (the same results as its per-cell path, which would cost another numba compilation here)
    with warnings.catch_warnings(), xclim.set_options(run_length_ufunc=False):
        warnings.simplefilter("ignore")
        out = getattr(atmos, XCLIM[index])(**inputs, **xparams, freq=freq)
    return out.transpose("time", "cell")


def reference(s: Series, index: str, freq: Freq, xparams: Mapping[str, Any]) -> np.ndarray:
    """(years, steps, cells) xclim's values with check_missing="wmo".

    xclim masks an indicator's output with the OR of its time-dependent inputs' masks (CheckMissingIndicator
    ._postprocess); the inputs here share one, so each series' mask is computed once and the indicator run with
    check_missing="skip" (test_reference_is_xclims_wmo_run checks this equals a run with check_missing="wmo").
    """
    with xclim.set_options(check_missing="skip"):
        raw = xclim_call(s, index, freq, xparams)
    out = raw.where(~wmo_mask(s, freq)).values
    steps = {"YS": 1, "MS": 12, "QS-DEC": 4}[freq]
    first = raw.time.values[0]
    # xclim labels the DJF of our year Y (Y-1)-12-01: its first one is our first year's, its last (the last
    # December) is the year after the series
    assert (first.year, first.month) == ((YEARS[0] - 1, 12) if freq == "QS-DEC" else (YEARS[0], 1))
    return out[: len(YEARS) * steps].reshape(len(YEARS), steps, NCELLS)


def ours(s: Series, index: str, freq: Freq, params: Mapping[str, Any]) -> np.ndarray:
    """(years, steps, cells) climnorm's values, year by year, each with the year before (none for the first)."""
    variable = VARIABLES[index]
    days = our_days(s, variable)
    per: dict[int, np.ndarray | None] = dict.fromkeys(YEARS)
    if index in PER_DAY:
        mapped = resample_doy(per_threshold(s, index), s.data(variable)).transpose("time", "cell").values
        scale = SECONDS_PER_DAY if variable == "pr" else 1.0
        per = {y: mapped[s.year == y] * scale for y in YEARS}
    out = []
    for y in YEARS:
        prev = days.get(y - 1)
        kw = {"per_day": per[y], "previous_per_day": per.get(y - 1)}
        out.append(index_values(index, days[y], prev, freq=freq, params=params, **kw))
    return np.stack(out)


def our_params(index: str, xparams: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters in the units climnorm gives: thresholds as floats in K or mm/day, the rest as xclim's."""
    params = {**DEFAULTS[index], **xparams}
    if "thresh" in params:
        units, context = ("mm/day", "hydro") if VARIABLES[index] == "pr" else ("K", "none")
        params["thresh"] = float(convert_units_to(params["thresh"], units, context=context))
    return params


@dataclass(frozen=True)
class Case:
    index: str
    calendar: str
    xparams: Mapping[str, Any] = field(default_factory=dict)  # xclim's spelling; the defaults for the rest
    freqs: tuple[Freq, ...] | None = None  # None: all the index allows

    @property
    def id(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.xparams.items())
        return f"{self.index}-{self.calendar}" + (f"-{extra}" if extra else "")


def cases() -> list[Case]:
    """Every index with its defaults at every frequency it allows in one calendar (taking turns), the calendar-
    sensitive ones (dates, rolling sums, per-day percentiles) in more, and other parameters once each."""
    out = [Case(index, CALENDARS[i % 3]) for i, index in enumerate(INDICES)]
    out += [Case("max_n_day_precipitation_amount", "360_day", {"window": 5})]
    out += [Case("max_n_day_precipitation_amount", c, {"window": 5}, ("YS",)) for c in ("noleap", "standard")]
    out += [Case("frost_free_season_length", c, {"window": 3, "mid_date": "08-01", "op": ">"}) for c in CALENDARS]
    out += [Case("first_day_tn_below", c, {"after_date": "01-01"}) for c in ("360_day", "standard")]  # xclim's no-run
    out += [
        Case("last_spring_frost", "standard", {"window": 3, "thresh": "2 degC", "op": "<="}),
        Case("first_day_tn_below", "noleap", {"window": 3, "thresh": "-2 degC"}),
        Case("frost_free_season_length", "noleap", {"window": 1}),
        Case("frost_free_season_length", "standard", {"mid_date": "02-29"}),  # only 2000 has it
        Case("tx90p", "standard", freqs=("QS-DEC",)),
        Case("days_over_precip_doy_thresh", "standard", {"op": ">="}, ("YS",)),
        Case("fraction_over_precip_doy_thresh", "360_day", {"op": ">="}, ("QS-DEC",)),
        Case("tx_days_above", "standard", {"thresh": "20 degC", "op": ">="}, ("MS",)),
        Case("tn_days_below", "noleap", {"op": "lt"}, ("YS",)),
        Case("wetdays", "360_day", {"thresh": "0 mm/day", "op": ">"}, ("YS",)),
        Case("dry_days", "standard", {"op": "<="}, ("MS",)),
        Case("wet_precip_accumulation", "standard", {"thresh": "0.5 mm/day"}, ("YS",)),
    ]
    return out


CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_index_values_equal_xclim(case: Case) -> None:
    s = series(case.calendar)
    params = our_params(case.index, case.xparams)
    for freq in case.freqs or FREQS[case.index]:
        expected = reference(s, case.index, freq, case.xparams)
        got = ours(s, case.index, freq, params)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{case.id} {freq}: NaN masks")
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=f"{case.id} {freq}")
        assert np.isfinite(expected).mean() > 0.5, "the reference has values, not only NaN"


def test_cases_see_every_index_and_freq() -> None:
    seen = {(c.index, f) for c in CASES for f in c.freqs or FREQS[c.index]}
    assert seen == {(i, f) for i in INDICES for f in FREQS[i]}


def test_planted_gaps_mask_as_xclim() -> None:
    """The planted gaps do what they are for: masked and kept months, a missing year and DJF, NaN 5-day sums."""
    s = series("noleap")
    ms = wmo_mask(s, "MS").values.reshape(len(YEARS), 12, NCELLS)
    assert ms[1, 2, 12] and ms[1, 5, 13] and ms[1, 11, 15] and ms[2, 6, 19]
    assert not ms[2, 1, 14] and not ms[0, 3, 17] and not ms[1, 11, 16] and not ms[2, 0, 16]
    rx5 = ours(s, "max_n_day_precipitation_amount", "MS", {"window": 5})
    assert np.isfinite(rx5[2, 0, 16]), "January 2001 of cell 16 is valid, its sums crossing the gap are not"
    assert np.isnan(ours(s, "tg_mean", "QS-DEC", {})[2, 0, 15]), "DJF 2001 lacks December 2000"


def test_reference_is_xclims_wmo_run() -> None:
    """The reference's mask split off equals xclim's own check_missing="wmo" run (with an input without time, at
    seasons whose first one lacks its December)."""
    for index, calendar, freq in (("max_n_day_precipitation_amount", "360_day", "QS-DEC"), ("tx90p", "standard", "MS")):
        s = series(calendar)
        with xclim.set_options(check_missing="wmo"):
            full = xclim_call(s, index, freq, {}).values
        split = reference(s, index, freq, {})
        np.testing.assert_array_equal(full[: split.size // NCELLS].reshape(split.shape), split)


@pytest.mark.parametrize("index", INDICES)
def test_metadata_is_xclims(index: str) -> None:
    """What climnorm declares of each index (its variable, parameter defaults, units) is what xclim declares."""
    indicator = getattr(atmos, XCLIM[index])
    variables = [k for k, p in indicator.parameters.items() if p.kind.name == "VARIABLE"]
    assert variables[0] == VARIABLES[index]
    skip = {"freq", "ds", "indexer", "bootstrap", *variables}
    assert {k: p.default for k, p in indicator.parameters.items() if k not in skip} == dict(DEFAULTS[index])
    assert indicator.cf_attrs[0].get("units", "") == UNITS[index]
    if index in YEARLY_ONLY:
        assert FREQS[index] == ("YS",)


@pytest.mark.parametrize(
    ("calendar", "policy", "year"),
    [
        ("standard", "calendar_day", 2000),
        ("standard", "calendar_day", 2001),
        ("standard", "dayofyear", 2000),
        ("standard", "dayofyear", 2001),
        ("standard", "drop", 2000),
        ("standard", "drop", 2001),
        ("noleap", "calendar_day", 2001),
        ("360_day", "calendar_day", 2000),
    ],
)
def test_year_days_are_the_dates(calendar: str, policy: T_LeapDay, year: int) -> None:
    """year_days gives the year's dates in order with their true day of year (29 February gone under drop)."""
    s = series(calendar)
    scheme = SlotScheme(calendar, policy)
    got = year_days(slot_field(s, scheme, year, "pr"), scheme, year, SECONDS_PER_DAY)
    keep = (s.year == year) & ~((policy == "drop") & (s.month == 2) & (s.day == 29))
    np.testing.assert_array_equal(got.months, s.month[keep])
    np.testing.assert_array_equal(got.doy, s.doy[keep])
    np.testing.assert_array_equal(got.values, s.values["pr"][keep].astype(np.float64) * SECONDS_PER_DAY)
    assert got.values.dtype == np.float64 and got.year == year


def test_refusals() -> None:
    s = series("noleap")
    days = our_days(s, "tas")[2000]
    with pytest.raises(ValueError, match="a value of a whole year"):
        index_values("last_spring_frost", days, None, freq="MS", params={"thresh": 273.15})
    with pytest.raises(ValueError, match="needs per_day"):
        index_values("tx90p", days, None, freq="YS", params={})
    with pytest.raises(ValueError, match="thresh must be a number"):
        index_values("tx_days_above", days, None, freq="YS", params={"thresh": "25 degC"})
    with pytest.raises(ValueError, match="op '<' is not one of"):
        resolve({"index": "tx_days_above", "op": "<"})
    with pytest.raises(ValueError, match="unknown parameter\\(s\\) window"):
        resolve({"index": "tx_max", "window": 3})
    with pytest.raises(ValueError, match="freq 'MS' is not one it can take"):
        resolve({"index": "last_spring_frost", "freq": "MS"})
    per = np.zeros_like(days.values)
    with pytest.raises(ValueError, match="previous_per_day"):
        index_values("tx90p", days, our_days(s, "tas")[1999], freq="QS-DEC", params={}, per_day=per)


def test_cells_keep_their_shape() -> None:
    """Cells may be any shape: (steps, *cells) out, the same values as flat."""
    s = series("360_day")
    flat = our_days(s, "pr")
    grid = {y: YearDays(y, d.values.reshape(-1, 4, 6), d.months, d.doy) for y, d in flat.items()}
    for index, freq in itertools.product(("max_n_day_precipitation_amount", "prcptot"), ("YS", "QS-DEC")):
        a = index_values(index, grid[2001], grid[2000], freq=freq, params={"window": 3} if "n_day" in index else {})
        b = index_values(index, flat[2001], flat[2000], freq=freq, params={"window": 3} if "n_day" in index else {})
        assert a.shape == (b.shape[0], 4, 6)
        np.testing.assert_array_equal(a.reshape(b.shape), b)


def test_every_index_runs_on_a_leap_year_without_29_february() -> None:
    """Under the drop policy a leap year has 365 days whose day of year skips 60: every index still runs, and a
    date after February is the date's true day of year."""
    s = series("standard")
    scheme = SlotScheme("standard", "drop")
    for variable in ("tas", "pr"):
        name, scale = ("pr", SECONDS_PER_DAY) if variable == "pr" else ("t", 1.0)
        days = {y: year_days(slot_field(s, scheme, y, name), scheme, y, scale) for y in (1999, 2000)}
        assert days[2000].values.shape[0] == 365 and days[2000].doy[59] == 61
        for index in (i for i in INDICES if (VARIABLES[i] == "pr") == (variable == "pr")):
            params = our_params(index, {})
            per = {y: np.full_like(d.values, 2.0 if variable == "pr" else 285.0) for y, d in days.items()}
            for freq in FREQS[index]:
                kw = {"per_day": per[2000], "previous_per_day": per[1999]} if index in PER_DAY else {}
                out = index_values(index, days[2000], days[1999], freq=freq, params=params, **kw)
                assert out.shape == ({"YS": 1, "MS": 12, "QS-DEC": 4}[freq], NCELLS)
                assert np.isfinite(out).any(), (index, freq)
    tasmin = year_days(slot_field(s, scheme, 2000, "t"), scheme, 2000)
    frost = index_values("last_spring_frost", tasmin, None, freq="YS", params={"thresh": 273.15})
    calendar_day = our_days(s, "tasmin")[2000]
    expected = index_values("last_spring_frost", calendar_day, None, freq="YS", params={"thresh": 273.15})
    later = expected > 60  # after 29 February, which both have as the same date
    np.testing.assert_array_equal(frost[later], expected[later])

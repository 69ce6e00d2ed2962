"""Indicator normals end to end: a run of every index over a small archive of three members (noleap, 360_day and
standard calendars) with missing days planted, across the historical/scenario split, against xclim's indicators
computed with check_missing="wmo" on the same input files, then averaged over each window's valid years in the
test (the slow, obvious way), and the window statistics (sample std, median, percentiles) against numpy on those
yearly values. The reference is xclim and numpy, never climnorm."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import xarray as xr

from climnorm.config.model import parse_config
from climnorm.outputs.index import OutputIndex
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from climnorm.synth.archive import file_path
from helpers import T_Archive, link_archives

xclim = pytest.importorskip("xclim")
from xclim.core.calendar import percentile_doy  # noqa: E402
from xclim.core.missing import MissingWMO  # noqa: E402
from xclim.indicators import atmos  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:The 'name' property is deprecated")  # pandas 3 to xclim 0.62

SPEC = SynthSpec(
    variables=("tas", "tasmax", "tasmin", "pr"),
    scenarios=("historical", "ssp245"),
    historical_years=(2007, 2014),
    scenario_years=(2015, 2017),
    resolution=10.0,
    box=(25.0, 65.0, 240.0, 290.0),
    holes=0.002,
)
MEMBERS = (
    replace(SPEC, model="IND-A", calendar="noleap"),
    replace(SPEC, model="IND-B", calendar="360_day", noise=1),
    replace(SPEC, model="IND-C", calendar="standard", noise=2),
)
WINDOW, MIN_YEARS = 4, 3
WINDOW_STATISTICS = ("std", "median", "p10", "p90")
TARGETS = (2012, 2014, 2016, 2017)  # historical windows, and hybrid ones across the split (historical_end 2014)
BASE = [2007, 2011]
# (year, month, days, cell (lat, lon)) made missing in every variable
PLANTED = (
    (2010, 3, range(1, 23, 2), (0, 0)),  # 11 scattered days: March 2010 missing, so the year
    (2016, 6, range(10, 15), (0, 1)),  # 5 in a row: June 2016 missing
    (2012, 2, (1, 2, 3, 4, 10, 11, 12, 13, 20, 22), (1, 0)),  # 10 days, at most 4 in a row: still valid
    (2013, 12, range(1, 31), (1, 1)),  # December 2013: the year 2013 and the DJF of 2014
    (2014, 12, (29, 30), (2, 2)),  # across the split's new year with 2015-01-01: rolling sums NaN, months valid
    (2015, 1, (1,), (2, 2)),
)
# id -> the entry (xclim's parameter names); YS unless freq says otherwise
ENTRIES: dict[str, dict[str, Any]] = {
    "tx_days_above": {"thresh": "20 degC", "op": ">="},
    "tx_days_below": {},
    "tn_days_above": {"thresh": "10 degC"},
    "tn_days_below": {"thresh": "-5 degC", "op": "<="},
    "tg_days_above": {},
    "tropical_nights": {"thresh": "15 degC"},
    "frost_days": {},
    "ice_days": {},
    "wetdays": {"thresh": "0.04 in/day"},
    "dry_days": {},
    "heating_degree_days": {"thresh": "65 degF"},
    "cooling_degree_days": {},
    "growing_degree_days": {"thresh": "10 degC"},
    "tx_max": {},
    "tx_min": {},
    "tn_max": {},
    "tn_min": {},
    "tg_mean": {},
    "max_1day_precipitation_amount": {},
    "max_n_day_precipitation_amount": {"window": 5},
    "prcptot": {},
    "wet_precip_accumulation": {},
    "last_spring_frost": {},
    "first_day_tn_below": {},
    "frost_free_season_length": {},
    "tx90p": {"base_period": BASE},
    "tx10p": {"base_period": BASE},
    "tn90p": {"base_period": BASE},
    "tn10p": {"base_period": BASE},
    "days_over_precip_doy_thresh": {"base_period": BASE},
    "fraction_over_precip_doy_thresh": {"base_period": BASE, "per": 90},
    "txge20_monthly": {"index": "tx_days_above", "thresh": "20 degC", "freq": "MS"},
    "hdd_seasonal": {"index": "heating_degree_days", "freq": "QS-DEC"},
    "rx5day_seasonal": {"index": "max_n_day_precipitation_amount", "window": 5, "freq": "QS-DEC"},
    "tn10p_seasonal": {"index": "tn10p", "base_period": BASE, "freq": "QS-DEC"},
    "tg_mean_monthly": {"index": "tg_mean", "freq": "MS"},
}
XCLIM_NAME = {"prcptot": "precip_accumulation"}
PERCENTILE = {"tx90p": 90, "tx10p": 10, "tn90p": 90, "tn10p": 10}
STEPS = {"YS": 1, "MS": 12, "QS-DEC": 4}


def _plant(root: Path, spec: SynthSpec) -> None:
    """The planted gaps, in every variable's files (NaN, as some models write them)."""
    for year, month, days, (i, j) in PLANTED:
        if spec.calendar == "360_day" and max(days) > 30:
            days = [d for d in days if d <= 30]
        for variable in spec.variables:
            scenario = "historical" if year <= 2014 else "ssp245"
            with netCDF4.Dataset(file_path(root, spec, variable, scenario, year), "a") as ds:
                dates = netCDF4.num2date(ds["time"][:], ds["time"].units, ds["time"].calendar)
                steps = [k for k, d in enumerate(dates) if d.month == month and d.day in days]
                ds[variable][steps, i, j] = np.nan


def _entries() -> list[dict[str, Any]]:
    return [{"index": e.get("index", ident), "id": ident, **{k: v for k, v in e.items() if k != "index"}}
            for ident, e in ENTRIES.items()]  # fmt: skip


@pytest.fixture(scope="module")
def indicator_run(synth_archive: T_Archive, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One run over the three members' archives (linked into one folder): every index, its normals."""
    root = tmp_path_factory.mktemp("indicators")
    archive = link_archives(root / "archive", [synth_archive(spec, _plant) for spec in MEMBERS])
    config = {
        "input_dirs": [str(archive)], "output_dir": str(root / "out"), "models": "all",
        "variables": ["tas", "tasmax", "tasmin", "pr"], "regions": ["all"], "scenarios": ["historical", "ssp245"],
        "window_years": WINDOW, "min_years_for_normal": MIN_YEARS, "products": ["daily"],
        "periods": {"historical": [2012, 2014], "hybrid": [2016, 2017]}, "multiprocessing_workers": 2,
        "indicators": _entries(), "window_statistics": ["mean", *WINDOW_STATISTICS],
    }  # fmt: skip
    summary = run(parse_config(config))
    assert summary.failures == []
    return archive, root / "out"


@functools.cache
def _series(archive: Path, spec: SynthSpec, variable: str) -> xr.DataArray:
    """The member's continuous daily series of the ssp245 chain (the historical years, then the scenario's), as
    xclim gets it: float64, with the files' units and standard name."""
    parts = []
    for scenario, (first, last) in (("historical", (2007, 2014)), ("ssp245", (2015, 2017))):
        for year in range(first, last + 1):
            with xr.open_dataset(
                file_path(archive, spec, variable, scenario, year),
                decode_times=xr.coders.CFDatetimeCoder(use_cftime=True),
            ) as ds:
                parts.append(ds[variable].load())
    da = xr.concat(parts, "time")
    return da.astype(np.float64).assign_attrs(parts[0].attrs)


def _yearly(archive: Path, spec: SynthSpec, ident: str, entry: Mapping[str, Any]) -> dict[int, np.ndarray]:
    """xclim's values per year of the member, (steps, lat, lon) each; a DJF labelled (Y-1)-12-01 is year Y's."""
    index = entry.get("index", ident)
    params = {k: v for k, v in entry.items() if k not in ("index", "freq", "base_period", "per")}
    freq = entry.get("freq", "YS")
    variable = atmos_variable(index)
    da = _series(archive, spec, variable)
    inputs: dict[str, Any] = {variable: da}
    if "base_period" in entry:
        base = da.sel(time=slice(str(BASE[0]), str(BASE[1])))
        per = entry.get("per", PERCENTILE.get(index, 95))
        if variable == "pr":
            base = base.where(base >= 1.0 / 86400)  # the wet days (>= 1 mm/day)
        inputs[f"{variable}_per"] = percentile_doy(base, window=5, per=per).sel(percentiles=per, drop=True)
    if index == "wetdays":
        params["thresh"] = "1.016 mm/day"  # 0.04 in/day, as xclim writes it
    with warnings.catch_warnings(), xclim.set_options(check_missing="skip"):
        warnings.simplefilter("ignore")
        out = getattr(atmos, XCLIM_NAME.get(index, index))(**inputs, **params, freq=freq)
    out = out.where(~_wmo_mask(archive, spec, variable, freq))  # xclim's own check_missing="wmo" (see the helper)
    values = out.transpose("time", "lat", "lon").values
    years: dict[int, list[np.ndarray]] = {}
    for t, v in zip(out.time.values, values, strict=True):
        year = t.year + 1 if (freq == "QS-DEC" and t.month == 12) else t.year
        years.setdefault(year, []).append(v)
    return {y: np.stack(v) for y, v in years.items() if len(v) == STEPS[freq]}


@functools.cache
def _wmo_mask(archive: Path, spec: SynthSpec, variable: str, freq: str) -> xr.DataArray:
    """xclim's WMO mask of the series at ``freq``: what check_missing="wmo" applies to an indicator of it (its
    CheckMissingIndicator masks the output with its time-dependent inputs' masks; computed once per series here,
    as tests/test_indicator_values.py checks equals a check_missing="wmo" run)."""
    return MissingWMO()(_series(archive, spec, variable), freq, "D")


def atmos_variable(index: str) -> str:
    indicator = getattr(atmos, XCLIM_NAME.get(index, index))
    return next(k for k, p in indicator.parameters.items() if p.kind.name == "VARIABLE")


def _normal(yearly: Mapping[int, np.ndarray], target: int, statistic: str = "mean") -> np.ndarray:
    """The mean (or another statistic) over the window's years with a valid value; NaN below the minimum (numpy,
    the obvious way: a sample standard deviation, linearly interpolated percentiles)."""
    stack = np.stack([yearly[y] for y in range(target - WINDOW + 1, target + 1)])
    count = np.sum(~np.isnan(stack), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        if statistic == "mean":
            value = np.nanmean(stack, axis=0)
        elif statistic == "std":
            value = np.nanstd(stack, axis=0, ddof=1)
        else:
            q = 50.0 if statistic == "median" else float(statistic[1:])
            value = np.nanpercentile(stack, q, axis=0, method="linear")
    return np.where(count >= MIN_YEARS, value, np.nan)


STATISTICS = ("mean", *WINDOW_STATISTICS)


def _name(ident: str, statistic: str) -> str:
    return ident if statistic == "mean" else f"{ident}_window_{statistic}"


@pytest.mark.parametrize("spec", MEMBERS, ids=[m.calendar for m in MEMBERS])
def test_every_indicator_normal_equals_xclim_averaged(spec: SynthSpec, indicator_run: tuple[Path, Path]) -> None:
    archive, out = indicator_run
    index = OutputIndex.load(out)
    checked = 0
    for ident, entry in ENTRIES.items():
        yearly = _yearly(archive, spec, ident, entry)
        for target in TARGETS:
            scenario = "historical" if target <= 2014 else "ssp245"
            (record,) = index.select(model=spec.model, product=ident, scenario=scenario, target_year=target)
            with netCDF4.Dataset(index.path(record)) as ds:
                got = {s: np.ma.filled(ds[_name(ident, s)][:].astype(np.float64), np.nan) for s in STATISTICS}
            for statistic in STATISTICS:
                expected = _normal(yearly, target, statistic)
                where = f"{spec.calendar} {ident} {target} {statistic}"
                np.testing.assert_array_equal(np.isnan(got[statistic]), np.isnan(expected), err_msg=f"{where}: NaN")
                atol = 1e-5 * float(np.nanmax(np.abs(got["mean"]), initial=1.0)) if statistic == "std" else 0.0
                np.testing.assert_allclose(got[statistic], expected, rtol=1e-6, atol=atol, err_msg=where)
            checked += 1
    assert checked == len(ENTRIES) * len(TARGETS)


def test_planted_gaps_reach_the_normals(indicator_run: tuple[Path, Path]) -> None:
    """The planted missing months leave their windows one year short, not missing (3 of 4 valid), and the seasonal
    values of a window without enough valid DJFs missing."""
    _, out = indicator_run
    index = OutputIndex.load(out)
    (record,) = index.select(model="IND-A", product="tx_max", scenario="historical", target_year=2012)
    with netCDF4.Dataset(index.path(record)) as ds:
        assert np.isfinite(ds["tx_max"][0, 0, 0]), "2009-2012 has 3 valid years at the cell whose 2010 is missing"

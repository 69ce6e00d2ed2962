"""Products in a run: every product from the one read of each input file, against the independent float64
reference of ``products_reference`` computed from the input files themselves (dates from their time axis, days
grouped by ``date.month``), in several calendars, with missing days placed on the WMO 11/5 thresholds and
windows that cross the historical/scenario split with DJF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cftime
import netCDF4
import numpy as np
import pytest

from climnorm.config.model import parse_config
from climnorm.outputs.verify import verify_outputs
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec, file_path, write_archive
from climnorm.write.manifest import manifest_outputs
from conftest import T_Archive
from products_reference import (
    YearData,
    annual,
    harmonic_reference,
    monthly,
    running_reference,
    seasonal,
    window_normal,
    window_statistic,
)
from reference import assert_close_with_same_nans

PRODUCTS = ["daily", "daily_smoothed", "monthly", "seasonal", "annual"]
SCALE = {"pr": 86400.0, "tas": 1.0}
KIND = {"pr": "sum", "tas": "mean"}
WINDOW, MIN_YEARS = 5, 4
TARGETS = {"historical": range(2011, 2015), "ssp245": range(2015, 2019)}
WINDOW_STATISTICS = ["mean", "std", "median", "p20", "p90"]  # of the window's years, in the period products' files
# (cell, year, month, missing days of the month, 1-based): the 11/5 rule's edges, twice in one cell so that its
# January normal has 3 of 5 valid years (NaN), once elsewhere so that it has 4 (a mean of fewer years)
HOLES = [
    (0, 2012, 1, [1, 2, 3, 4, 10, 11, 12, 13, 21, 22]),  # 10 missing, longest run 4: kept
    (1, 2012, 1, [1, 2, 3, 4, 10, 11, 12, 13, 21, 22, 26]),  # 11 missing: the month is missing
    (2, 2013, 2, [5, 6, 7, 8]),  # 4 in a row: kept
    (3, 2013, 2, [5, 6, 7, 8, 9]),  # 5 in a row: missing
    (1, 2013, 1, list(range(1, 12))),  # the second missing January of cell 1
    (4, 2014, 12, [30, 31]),  # December 2014: the first scenario DJF (2015) of a total is missing
    (5, 2006, 12, [20]),  # December before the window of target 2011 (2007-2011): its DJF 2007 total is missing
]


def _spec(calendar: str) -> SynthSpec:
    return SynthSpec(
        variables=("tas", "pr"),
        scenarios=("historical", "ssp245"),
        historical_years=(2006, 2014),
        scenario_years=(2015, 2018),
        calendar=calendar,
        resolution=5.0,
        box=(30.0, 45.0, 240.0, 255.0),
    )


def _cells(ds: netCDF4.Dataset) -> tuple[int, int]:
    return len(ds.dimensions["lat"]), len(ds.dimensions["lon"])


def _punch(root: Path, spec: SynthSpec) -> None:
    """Make the days of ``HOLES`` missing in the input files (both variables)."""
    for variable in spec.variables:
        for cell, year, month, days in HOLES:
            scenario = "historical" if year <= 2014 else "ssp245"
            with netCDF4.Dataset(file_path(root, spec, variable, scenario, year), "a") as ds:
                time = ds.variables["time"]
                dates = cftime.num2date(time[:], time.units, spec.calendar)
                steps = [i for i, d in enumerate(dates) if d.month == month and d.day in days]
                lat, lon = np.unravel_index(cell, _cells(ds))
                var = ds.variables[variable]
                for i in steps:
                    var[i, lat, lon] = np.ma.masked


def _year_data(root: Path, spec: SynthSpec, variable: str, year: int) -> YearData:
    scenario = "historical" if year <= 2014 else "ssp245"
    with netCDF4.Dataset(file_path(root, spec, variable, scenario, year)) as ds:
        time = ds.variables["time"]
        dates = list(cftime.num2date(time[:], time.units, spec.calendar))
        values = np.ma.filled(ds.variables[variable][:].astype(np.float64), np.nan)
    return YearData(year, dates, values.reshape(len(dates), -1))


def _expected(root: Path, spec: SynthSpec, variable: str, policy: str) -> dict[tuple[str, int, str], np.ndarray]:
    """(scenario, target, product) -> the reference normal (steps, cells), from the input files."""
    kind, scale = KIND[variable], SCALE[variable]
    months = {}
    for year in range(spec.historical_years[0], spec.scenario_years[1] + 1):
        months[year] = monthly(_year_data(root, spec, variable, year), policy, spec.calendar, kind, scale, 10, 4)
    per_year = {
        "monthly": months,
        "seasonal": {y: seasonal(months, y, kind) for y in months},
        "annual": {y: annual(m, kind) for y, m in months.items()},
    }
    out = {}
    for scenario, t in ((s, t) for s, targets in TARGETS.items() for t in targets):
        window = range(t - WINDOW + 1, t + 1)
        for product, values in per_year.items():
            out[(scenario, t, product)] = window_normal(values, window, MIN_YEARS)
            for name in WINDOW_STATISTICS[1:]:
                out[(scenario, t, f"{product} {name}")] = window_statistic(values, window, MIN_YEARS, name)
    return out


def _config(root: Path, out: Path, policy: str, **extra: Any) -> dict[str, Any]:
    return {
        "input_dirs": [str(root)],
        "output_dir": str(out),
        "variables": ["tas", "pr"],
        "regions": ["all"],
        "scenarios": ["historical", "ssp245"],
        "window_years": WINDOW,
        "min_years_for_normal": MIN_YEARS,
        "periods": {"historical": [2011, 2014], "hybrid": [2015, 2018]},
        "leap_day": policy,
        "multiprocessing_workers": 2,
        **extra,
    }


def _records(out: Path) -> list[dict[str, Any]]:
    return manifest_outputs(out)


def _values(path: Path, variable: str) -> np.ndarray:
    with netCDF4.Dataset(path) as ds:
        data = np.ma.filled(ds.variables[variable][:].astype(np.float64), np.nan)
    return data.reshape(data.shape[0], -1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("calendar", "policy"), [("standard", "calendar_day"), ("360_day", "calendar_day"), ("noleap", "calendar_day"),
                             ("standard", "dayofyear")]
)  # fmt: skip
def test_every_product_equals_the_reference(
    tmp_path: Path, calendar: str, policy: str, synth_archive: T_Archive
) -> None:
    spec = _spec(calendar)
    root = synth_archive(spec, _punch)
    out = tmp_path / "out"
    summary = run(parse_config(_config(root, out, policy, products=PRODUCTS, window_statistics=WINDOW_STATISTICS)))
    assert summary.failures == [] and summary.skipped == []
    assert summary.files_read == 2 * 13  # every file once: 2 variables x 2006-2018 (2006: only its December)
    records = _records(out)
    assert len(records) == 2 * 8 * len(PRODUCTS)
    for variable in ("tas", "pr"):
        expected = _expected(root, spec, variable, policy)
        if variable == "tas":
            january = expected[("historical", 2014, "monthly")][0]
            assert np.isnan(january[1]) and np.isfinite(january[0])  # the 11/5 edges made a difference
        mine = [r for r in records if r["variable"] == variable]
        for r in mine:
            product = r.get("product", "daily")
            got = _values(out / r["path"], variable)
            if product in ("monthly", "seasonal", "annual"):
                want = expected[(r["scenario"], r["target_year"], product)]
                assert_close_with_same_nans(got, want, what=f"{r['path']}")
                for name in WINDOW_STATISTICS[1:]:
                    got = _values(out / r["path"], f"{variable}_window_{name}")
                    want = expected[(r["scenario"], r["target_year"], f"{product} {name}")]
                    assert_close_with_same_nans(got, want, what=f"{r['path']} {name}")
        for r in (r for r in mine if r.get("product") == "daily_smoothed"):
            raw = _values(out / r["path"].replace("_daily_smoothed_normal", "_normal"), variable)
            assert_close_with_same_nans(_values(out / r["path"], variable), harmonic_reference(raw, 3), what=r["path"])
    assert verify_outputs(out)[1] == []


def test_products_read_once_keep_daily_bit_for_bit_and_resume(tmp_path: Path, synth_archive: T_Archive) -> None:
    """The daily normals of a run with products are those of a daily-only run; a second run is up to date; a new
    completeness rule recomputes the period products only; smoothing by a running mean equals a direct loop."""
    spec = _spec("noleap")
    root = synth_archive(spec, _punch)
    daily_only = run(parse_config(_config(root, tmp_path / "daily", "calendar_day")))
    extra = {"products": PRODUCTS, "smoothing": {"method": "running", "days": 15}}
    out = tmp_path / "out"
    first = run(parse_config(_config(root, out, "calendar_day", **extra)))
    assert daily_only.files_read == 2 * 12 and first.files_read == 2 * 13  # 2006: for the first DJF only
    daily = {r["path"]: r["checksum"] for r in _records(tmp_path / "daily")}
    together = {r["path"]: r["checksum"] for r in _records(out) if "product" not in r}
    assert together == daily
    smoothed = [r for r in _records(out) if r.get("product") == "daily_smoothed"]
    for r in smoothed[:3]:
        raw = _values(out / r["path"].replace("_daily_smoothed_normal", "_normal"), r["variable"])
        assert_close_with_same_nans(_values(out / r["path"], r["variable"]), running_reference(raw, 15), what="run")
    again = run(parse_config(_config(root, out, "calendar_day", **extra)))
    assert (again.written, again.up_to_date, again.files_read) == (0, first.written, 0)
    limits = {"max_missing": 0, "max_consecutive": 0}
    changed = run(parse_config(_config(root, out, "calendar_day", **extra, monthly_completeness=limits)))
    assert changed.written == 3 * 2 * 8 and changed.up_to_date == 2 * 2 * 8
    attrs = netCDF4.Dataset(out / next(r["path"] for r in _records(out) if r.get("product") == "monthly"))
    with attrs:
        assert attrs.monthly_completeness == "strict" and attrs.product == "monthly"


def test_seasonal_outputs_name_the_december_year_among_their_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], synth_archive: T_Archive
) -> None:
    """A run of the seasonal product alone: its record lists the file of the year before the window (its
    December begins the first DJF) among the inputs, not among the years."""
    spec = _spec("noleap")
    root = synth_archive(spec)
    out = tmp_path / "out"
    summary = run(parse_config(_config(root, out, "calendar_day", products=["seasonal"], variables=["pr"])))
    assert summary.failures == []
    records = _records(out)
    assert {r["product"] for r in records} == {"seasonal"}
    first = next(r for r in records if r["target_year"] == 2011)
    assert [i["path"] for i in first["inputs"]] == [
        str(file_path(root, spec, "pr", "historical", y)) for y in range(2006, 2012)
    ]
    assert first["years"] == list(range(2007, 2012))


def test_ensemble_statistics_of_period_products(tmp_path: Path) -> None:
    """Monthly and seasonal ensembles of members in different calendars: numpy's statistics over the members'
    own product files, step by step (no calendar alignment: a month is a month)."""
    root = tmp_path / "archive"
    members = {"ESM-A": "noleap", "ESM-B": "360_day", "ESM-C": "standard"}
    for i, (model, calendar) in enumerate(members.items()):
        write_archive(root, SynthSpec(**{**_spec(calendar).__dict__, "model": model, "offset": i - 1.0, "noise": i}))
    out = tmp_path / "out"
    config = _config(root, out, "calendar_day", products=["monthly", "seasonal"], variables=["pr"], models="all")
    summary = run(parse_config({**config, "ensemble": {"statistics": ["mean", "p90", "min"]}}))
    assert summary.failures == []
    records = _records(out)
    ensembles = [r for r in records if r["model"] == "ensemble"]
    assert len(ensembles) == 2 * 8 and {r["product"] for r in ensembles} == {"monthly", "seasonal"}
    by_key = {(r["model"], r["product"], r["scenario"], r["target_year"]): r for r in records}
    for ens in ensembles:
        key = (ens["product"], ens["scenario"], ens["target_year"])
        stack = np.stack([_values(out / by_key[(m, *key)]["path"], "pr") for m in members])
        with np.errstate(all="ignore"):
            assert_close_with_same_nans(_values(out / ens["path"], "pr_mean"), np.nanmean(stack, axis=0), what="mean")
            assert_close_with_same_nans(_values(out / ens["path"], "pr_min"), np.nanmin(stack, axis=0), what="min")
            p90 = np.nanpercentile(stack, 90, axis=0)
        assert_close_with_same_nans(_values(out / ens["path"], "pr_p90"), p90, what="p90")
        with netCDF4.Dataset(out / ens["path"]) as ds:
            assert ds.product == ens["product"] and ds.variables["pr_mean"].units == "mm"
            assert len(ds.dimensions["time"]) == {"monthly": 12, "seasonal": 4}[ens["product"]]
    assert verify_outputs(out)[1] == []

"""Members' change files as a run with ``changes:`` writes them: each against xarray's float64 difference (or
ratio) of the two normals its record names, computed here; cfchecks; resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from climnorm.config.model import parse_config
from climnorm.outputs.index import OutputIndex
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from climnorm.write.orders import change_variable
from helpers import T_Archive

SPEC = SynthSpec(
    variables=("pr", "tas"), scenarios=("historical", "ssp245"), historical_years=(2006, 2014),
    scenario_years=(2015, 2022), resolution=2.0, box=(18.0, 24.0, 198.0, 206.0), holes=0.002,
)  # fmt: skip
NORMALS = (2 * 2 + 1) * 3  # (2 products x 2 variables + tg_mean) x (the baseline, 2021, 2022)


def _config(archive: Path, out: Path, **changes: Any) -> dict[str, Any]:
    return {
        "input_dirs": [str(archive)], "output_dir": str(out), "variables": ["pr", "tas"], "regions": ["all"],
        "scenarios": ["historical", "ssp245"], "window_years": 5, "min_years_for_normal": 4,
        "periods": {"future": [2021, 2022]}, "products": ["daily", "monthly"], "indicators": [{"index": "tg_mean"}],
        "changes": {"baseline": [2010, 2014], **changes}, "multiprocessing_workers": 1,
    }  # fmt: skip


@pytest.fixture(scope="module")
def changes_run(synth_archive: T_Archive, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with a 2010-2014 baseline no period has: its normals are written with every target's, and every
    normal's change against it."""
    out = tmp_path_factory.mktemp("changes") / "out"
    summary = run(parse_config(_config(synth_archive(SPEC), out)))
    assert summary.written == 2 * NORMALS and not summary.failures, summary
    return out


def test_every_change_file_equals_the_difference_of_the_normals_it_names(changes_run: Path) -> None:
    index = OutputIndex.load(changes_run)
    assert len(index.records) == NORMALS and len(index.changes) == NORMALS
    for record in index.changes:
        target, baseline = (changes_run / m.path for m in record.member_outputs)
        assert record.baseline == (2010, 2014) and "_2014_" in baseline.name
        kind = "relative" if record.data_name == "pr" else "additive"
        assert record.change == kind
        name = record.data_name
        with (
            xr.open_dataset(target, decode_times=False) as t,
            xr.open_dataset(baseline, decode_times=False) as b,
            xr.open_dataset(changes_run / record.path, decode_times=False) as c,
        ):
            a, z = t[name].values.astype(np.float64), b[name].values.astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                expected = (a - z) if kind == "additive" else 100.0 * (a - z) / np.where(z == 0, np.nan, z)
            got = c[change_variable(name)].values
            assert np.array_equal(np.isnan(got), np.isnan(expected)), record.path
            ok = ~np.isnan(expected)
            assert ok.sum() > 0.5 * ok.size
            np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-6, atol=1e-6 * np.abs(expected[ok]).max())
            assert c[change_variable(name)].attrs["units"] == ("%" if kind == "relative" else t[name].attrs["units"])
            assert c.attrs["baseline"] == "2010-2014" and c.attrs["change_kind"] == kind
            np.testing.assert_array_equal(c["climatology_bnds"].values, t["climatology_bnds"].values)
            assert name not in c.variables
        if record.target_year == 2014:  # the baseline's own change
            assert np.all(got[ok] == 0)


def test_change_files_pass_the_cf_checker(changes_run: Path, tmp_path: Path) -> None:
    from test_cf import _checker, _errors

    check = _checker(tmp_path)
    index = OutputIndex.load(changes_run)
    for product in ("daily", "monthly", "tg_mean"):
        record = next(r for r in index.changes if r.product == product and r.target_year == 2022)
        assert _errors(check(str(changes_run / record.path))) == [], record.path


def test_resume_keeps_the_changes_and_a_changed_kind_redoes_exactly_its_changes(
    synth_archive: T_Archive, changes_run: Path
) -> None:
    again = run(parse_config(_config(synth_archive(SPEC), changes_run)))
    assert (again.written, again.up_to_date) == (0, 2 * NORMALS)
    before = {r.path: r for r in OutputIndex.load(changes_run).changes}
    additive = run(parse_config(_config(synth_archive(SPEC), changes_run, kind={"pr": "additive"})))
    assert additive.written == 2 * 3 and additive.up_to_date == 2 * NORMALS - 6  # pr: daily, monthly x 3 targets
    after = {r.path: r for r in OutputIndex.load(changes_run).changes}
    pr = {p for p, r in after.items() if r.variable == "pr"}
    assert len(pr) == 6 and {after[p].change for p in pr} == {"additive"}
    assert all(after[p] == before[p] for p in after if p not in pr)  # the others kept as they were
    changed = [p for p in pr if "_2014_" not in p]  # the baseline's own change is 0 either way
    assert all(after[p].checksum != before[p].checksum for p in changed)


def _detrended_std(yearly: np.ndarray, years: np.ndarray, min_years: int) -> np.ndarray:
    """numpy's least-squares line through each cell's valid years, then the population std of the residuals."""
    flat = yearly.reshape(yearly.shape[0], -1)
    out = np.full(flat.shape[1], np.nan)
    for i in range(flat.shape[1]):
        ok = ~np.isnan(flat[:, i])
        if ok.sum() >= min_years:
            fit = np.polyfit(years[ok], flat[ok, i], 1)
            out[i] = np.std(flat[ok, i] - np.polyval(fit, years[ok]))
    return out.reshape(yearly.shape[1:])


def test_the_baselines_interannual_variability_is_numpys_over_the_input_days(
    synth_archive: T_Archive, changes_run: Path
) -> None:
    """The daily baseline's ``tas_window_detrended_std``, slot by slot, against np.polyfit over the archive's own
    days of 2010-2014 (noleap: a slot is a day of the year); and the change files carry it."""
    from climnorm.synth.archive import file_path

    archive = synth_archive(SPEC)
    years = np.arange(2010, 2015)
    days = []
    for year in years:
        with xr.open_dataset(file_path(archive, SPEC, "tas", "historical", int(year)), decode_times=False) as ds:
            days.append(ds["tas"].values.astype(np.float64))
    expected = _detrended_std(np.stack(days), years.astype(np.float64), 4)
    index = OutputIndex.load(changes_run)
    [baseline] = index.select(variable="tas", product="daily", target_year=2014)
    with xr.open_dataset(changes_run / baseline.path, decode_times=False) as b:
        got = b["tas_window_detrended_std"].values.astype(np.float64)
        assert "standard_deviation over years" in b["tas_window_detrended_std"].attrs["cell_methods"]
    assert got.shape == expected.shape
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-5)  # float32 in the file
    [change] = [r for r in index.changes if r.variable == "tas" and r.product == "daily" and r.target_year == 2022]
    with xr.open_dataset(changes_run / change.path, decode_times=False) as c:
        np.testing.assert_array_equal(c["tas_baseline_detrended_std"].values, got.astype(np.float32))


def _monthly_means_wmo(days: xr.DataArray) -> np.ndarray:
    """Each month's mean of its valid days, missing where 11 or more days, or 5 in a row, are (WMO's 11/5 rule)."""
    out = []
    for _, month in days.astype(np.float64).groupby("time.month"):
        values = month.values
        missing = np.isnan(values)
        run = np.zeros(missing.shape[1:], dtype=int)
        longest = np.zeros_like(run)
        for day in missing:
            run = np.where(day, run + 1, 0)
            longest = np.maximum(longest, run)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(values, axis=0)
        out.append(np.where((missing.sum(axis=0) >= 11) | (longest >= 5), np.nan, mean))
    return np.stack(out)


def test_a_period_baseline_keeps_its_years_values_as_the_archive_has_them(
    synth_archive: T_Archive, changes_run: Path, tmp_path: Path
) -> None:
    """The monthly baseline's ``tas_window_years`` (year, month, lat, lon): each year's monthly means of the
    archive's own days (xarray's groupby), the year coordinate the window's; open_normals leaves them out; and the
    file passes cfchecks."""
    from climnorm import open_normals
    from climnorm.synth.archive import file_path
    from test_cf import _checker, _errors

    archive = synth_archive(SPEC)
    expected = []
    for year in range(2010, 2015):
        path = file_path(archive, SPEC, "tas", "historical", year)
        with xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as ds:
            expected.append(_monthly_means_wmo(ds["tas"]))
    index = OutputIndex.load(changes_run)
    [baseline] = index.select(variable="tas", product="monthly", target_year=2014)
    with xr.open_dataset(changes_run / baseline.path, decode_times=False) as b:
        got = b["tas_window_years"]
        assert got.dims[:2] == ("year", "time") and list(b["year"].values) == list(range(2010, 2015))
        values = got.values.astype(np.float64)
        assert "over years" not in got.attrs["cell_methods"]
        np.testing.assert_allclose(values.mean(axis=0), b["tas"].values, rtol=1e-6)  # the normal is their mean
    want = np.stack(expected)
    assert np.array_equal(np.isnan(values), np.isnan(want))
    np.testing.assert_allclose(values, want, rtol=1e-6)
    [daily] = index.select(variable="tas", product="daily", target_year=2014)
    with xr.open_dataset(changes_run / daily.path, decode_times=False) as d:
        assert "tas_window_years" not in d  # a daily baseline keeps no years
    ds = open_normals(changes_run, variable="tas", region="all", scenario="ssp245", product="monthly")
    assert "tas_window_years" not in ds and "tas_window_detrended_std" in ds
    assert _errors(_checker(tmp_path)(str(changes_run / baseline.path))) == []

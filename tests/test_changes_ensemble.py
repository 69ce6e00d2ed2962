"""The ensemble's change files of a run with ``changes:`` and ``ensemble:``: the statistics of the members' changes,
the agreement and significance fractions and the AR6 category, against numpy and xclim fed the members' change
files (never climnorm's own numerics)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from shapely.geometry import box

from climnorm.config.model import parse_config
from climnorm.outputs.index import OutputIndex
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec
from helpers import T_Archive, link_archives
from zonal_files import write_vector

xclim_ensembles = pytest.importorskip("xclim.ensembles")

SPEC = SynthSpec(
    variables=("pr", "tas"), scenarios=("historical", "ssp245"), historical_years=(2006, 2014),
    scenario_years=(2015, 2022), resolution=2.0, box=(18.0, 26.0, 196.0, 208.0),
)  # fmt: skip
COUNTIES = {  # Hawaii's counties, roughly (longitudes -180..180, the grid's 0..360)
    "15001": box(-156.1, 18.9, -154.8, 20.3),
    "15003": box(-158.3, 21.2, -157.6, 21.7),
    "15007": box(-159.8, 21.8, -159.3, 22.3),
}
MEMBERS = (replace(SPEC, model="CH-A"), replace(SPEC, model="CH-B", noise=1), replace(SPEC, model="CH-C", noise=2))


def _data(archive: Path, out: Path) -> dict[str, object]:
    return {
        "input_dirs": [str(archive)], "output_dir": str(out), "models": "all",
        "variables": ["pr", "tas"], "regions": ["all"], "scenarios": ["historical", "ssp245"], "window_years": 5,
        "min_years_for_normal": 4, "periods": {"future": [2022, 2022]}, "products": ["daily", "annual"],
        "changes": {"baseline": [2010, 2014]}, "ensemble": {"statistics": ["mean", "p10", "p90"], "min_members": 2},
        "multiprocessing_workers": 2,
    }  # fmt: skip


@pytest.fixture(scope="module")
def ensemble_run(synth_archive: T_Archive, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chens")
    shapes = write_vector(root / "counties.geojson", list(COUNTIES.values()), list(COUNTIES))
    link_archives(root / "archive", [synth_archive(spec) for spec in MEMBERS])  # the members in one folder
    data = {
        **_data(root / "archive", root / "out"),
        "zonal": {"polygons": str(shapes), "id_field": "id", "name_field": "name", "products": ["annual"]},
    }
    summary = run(parse_config(data))
    # per variable and product: 3 members x (baseline, 2022) normals and changes, and the ensemble's 2 + 2
    assert summary.failures == [] and summary.written == 2 * 2 * (3 * 2 * 2 + 2 * 2), summary
    return root / "out"


@pytest.mark.parametrize(("variable", "product"), [("tas", "daily"), ("pr", "annual")])
def test_ensemble_changes_equal_numpy_and_xclim_over_the_member_change_files(
    ensemble_run: Path, variable: str, product: str
) -> None:
    index = OutputIndex.load(ensemble_run)
    members = [r for r in index.changes if not r.is_ensemble and r.variable == variable and r.product == product
               and r.target_year == 2022]  # fmt: skip
    [ens] = [r for r in index.changes if r.is_ensemble and r.variable == variable and r.product == product
             and r.target_year == 2022]  # fmt: skip
    assert len(members) == 3 and ens.change == ("relative" if variable == "pr" else "additive")
    assert sorted(m.path for m in ens.member_outputs) == sorted(m.path for m in members)
    deltas, sigmas = [], []
    for m in members:
        with xr.open_dataset(ensemble_run / m.path, decode_times=False) as ds:
            deltas.append(ds[f"{variable}_change"].values.astype(np.float64))
            sigmas.append(ds[f"{variable}_baseline_detrended_std"].values.astype(np.float64))
    delta, sigma = np.stack(deltas), np.stack(sigmas)
    valid = ~np.isnan(delta)
    n = valid.sum(axis=0)
    enough = n >= 2
    with xr.open_dataset(ensemble_run / ens.path, decode_times=False) as ds:
        name = f"{variable}_change"
        mean = np.where(enough, np.nanmean(np.where(valid, delta, np.nan), axis=0), np.nan)
        _close(ds[f"{name}_mean"].values, mean)
        p90 = np.where(enough, np.nanpercentile(delta, 90, axis=0), np.nan)
        _close(ds[f"{name}_p90"].values, p90)
        np.testing.assert_array_equal(ds["n_members"].values, n)
        # significance by hand: |change| > sqrt(2/20) * 1.645 * sigma, over the members with a change
        with np.errstate(invalid="ignore"):
            changed = valid & (np.abs(delta) > np.sqrt(2 / 20) * 1.645 * sigma)
        fraction = np.where(enough, changed.sum(axis=0) / np.maximum(n, 1), np.nan)
        _close(ds[f"{name}_significant"].values, fraction)
        # agreement and category: xclim fed the same member changes
        realization = xr.DataArray(delta, dims=("realization", *(f"d{i}" for i in range(delta.ndim - 1))))
        fr = xclim_ensembles.robustness_fractions(realization, test=None)
        agree = np.where(enough, fr.agree.values, np.nan)
        _close(ds[f"{name}_agree"].values, agree)
        fr["changed"] = xr.DataArray(fraction, dims=fr.agree.dims)
        category = xclim_ensembles.robustness_categories(fr).values
        got = ds[f"{name}_robustness"].values
        np.testing.assert_array_equal(np.where(enough, got, 99), np.where(enough, category, 99))
        assert np.all(got[~enough] == 99)
        meanings = "robust_signal no_change_or_no_signal conflicting_signal"
        assert ds[f"{name}_robustness"].attrs["flag_meanings"] == meanings


def _close(got: np.ndarray, expected: np.ndarray) -> None:
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    ok = ~np.isnan(expected)
    scale = max(1.0, float(np.abs(expected[ok]).max()))
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-6, atol=1e-6 * scale)


def test_ensemble_change_files_pass_the_cf_checker(ensemble_run: Path, tmp_path: Path) -> None:
    from test_cf import _checker, _errors

    check = _checker(tmp_path)
    for record in (r for r in OutputIndex.load(ensemble_run).changes if r.is_ensemble):
        assert _errors(check(str(ensemble_run / record.path))) == [], record.path


def test_the_plan_reads_changes_and_ensembles_from_the_manifest_as_from_whole_records(
    ensemble_run: Path, tmp_path: Path
) -> None:
    """Outputs made of outputs (changes, ensembles) are current through the manifest's columns (their
    ``member_outputs`` alone decoded) exactly when they are through whole records: all after a run; after one
    member normal's recorded checksum changes, its change and every ensemble output made of either, not the rest."""
    import shutil

    from climnorm.catalog.scan import build_catalog
    from climnorm.plan.build import Plan, make_plan
    from climnorm.write.manifest import Manifest

    shutil.copytree(ensemble_run, tmp_path / "out")
    config = parse_config(_data(ensemble_run.parent / "archive", tmp_path / "out"))
    catalog = build_catalog(config.input_dirs, variables=config.variables)

    def current() -> tuple[dict[str, bool], Plan]:
        manifest = Manifest.read(config.output_dir)
        try:
            fast = make_plan(config, catalog, manifest.records)
            whole = make_plan(config, catalog, dict(manifest.records))
        finally:
            manifest.close()
        made = {o.path: o.up_to_date for o in (*fast.changes, *fast.ensembles)}
        assert made == {o.path: o.up_to_date for o in (*whole.changes, *whole.ensembles)}
        assert len(made) == 2 * 2 * (3 * 2 + 2 * 2)
        return made, fast

    assert all(current()[0].values())
    manifest = Manifest.load(config.output_dir)
    normal = next(r for r in manifest.records.values() if r.model == "CH-B" and r.target_year == 2022 and not r.change)
    manifest.add(replace(normal, checksum="sha256:another"))
    manifest.save()
    made, plan = current()
    (change,) = [c.path for c in plan.changes if c.output.path == normal.path]
    of_either = {e.path for e in plan.ensembles if {m.path for m in e.members} & {normal.path, change}}
    assert len(of_either) == 2 and {p for p, ok in made.items() if not ok} == {change, *of_either}


def test_verify_checks_the_change_files(ensemble_run: Path, tmp_path: Path) -> None:
    import shutil

    from climnorm.outputs.verify import verify_outputs

    checked, problems = verify_outputs(ensemble_run)
    index = OutputIndex.load(ensemble_run)
    assert checked == len(index.records) + len(index.changes) and problems == []
    copy = tmp_path / "out"
    shutil.copytree(ensemble_run, copy)
    member = next(r for r in index.changes if not r.is_ensemble)
    ensemble = next(r for r in index.changes if r.is_ensemble)
    for record in (member, ensemble):
        with netCDF4.Dataset(copy / record.path, "a") as ds:
            var = ds.variables[f"{record.data_name}_change" + ("_mean" if record.is_ensemble else "")]
            var[0, 0, 0] = 1234.5
    _, problems = verify_outputs(copy)
    expected = sorted(f"{r.path}: data checksum does not match the manifest" for r in (member, ensemble))
    assert sorted(problems) == expected


def test_open_normals_and_export_carry_the_changes(ensemble_run: Path, tmp_path: Path) -> None:
    import climnorm

    ds = climnorm.open_normals(ensemble_run, variable="tas", region="all", scenario="ssp245", product="annual",
                               model="CH-B", change=True)  # fmt: skip
    assert list(ds.target_year.values) == [2014, 2022]
    index = OutputIndex.load(ensemble_run)
    [record] = [r for r in index.changes if r.model == "CH-B" and r.variable == "tas" and r.product == "annual"
                and r.target_year == 2022]  # fmt: skip
    with xr.open_dataset(ensemble_run / record.path, decode_times=False) as c:
        np.testing.assert_array_equal(ds["tas_change"].sel(target_year=2022).values, c["tas_change"].values)
    np.testing.assert_array_equal(ds["tas_change"].sel(target_year=2014).values, 0)  # the baseline's own
    assert "tas_baseline_detrended_std" in ds and "tas" in ds
    ens = climnorm.open_normals(ensemble_run, variable="tas", region="all", scenario="ssp245", product="daily",
                                model="ensemble", change=True)  # fmt: skip
    assert {"tas_change_mean", "tas_change_agree", "tas_change_robustness", "tas_mean"} <= set(ens.data_vars)
    stores = climnorm.export(ensemble_run, format="netcdf", out_dir=tmp_path / "stores", products=["annual"])
    with xr.open_dataset(next(p for p in stores if all(k in p.name for k in ("CH-B", "tas", "ssp245")))) as store:
        assert store["tas_change"].dims == store["tas"].dims  # laid out as the normals are (targets' steps in time)
        np.testing.assert_array_equal(store["tas_change"].values, ds["tas_change"].values.reshape(2, 4, 6))


def test_a_change_map_hatches_the_ar6_categories(ensemble_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from climnorm.cli import main
    from climnorm.pictures.normals import Selection
    from climnorm.pictures.plots import map_figure

    selection = Selection("pr", "all", scenarios="ssp245", target=2022, model="ensemble", change=True)
    fig = map_figure(ensemble_run, selection, day=200, outlines="none")
    hatches = {c.get_hatch() for ax in fig.axes for c in ax.collections} - {None}
    with xr.open_dataset(next(ensemble_run.rglob("pr_ensemble_*2022_5yr_normal_change.nc"))) as ds:
        shown = set(np.unique(ds["pr_change_robustness"].values[199]))
    assert hatches == {h for k, h in ((2, "///"), (3, "xxx")) if k in shown} and hatches
    assert "change of pr against 2010-2014" in fig.axes[0].get_title()
    with pytest.raises(Exception, match="a relative change of several days"):
        map_figure(ensemble_run, selection, outlines="none")  # the annual mean of a relative change: refused
    out = tmp_path / "change.png"
    code = main(["plot", "map", str(ensemble_run), "--variable", "tas", "--region", "all", "--scenario", "ssp245",
                 "--model", "ensemble", "--change", "--day", "10", "--outlines", "none", "-o", str(out)])  # fmt: skip
    assert code == 0 and out.stat().st_size > 10_000


def test_county_changes_equal_a_recomputation_from_the_county_normals(ensemble_run: Path) -> None:
    """Each member's county change from the county table's own normals of 2022 and of the 2010-2014 baseline
    (relative: their ratio), and the ensemble's mean and agreement of those, recomputed here row by row."""
    import pandas as pd

    normals = pd.read_parquet(ensemble_run / "tables" / "counties.parquet")
    changes = pd.read_parquet(ensemble_run / "tables" / "counties_changes.parquet")
    members = normals[(normals["model"] != "ensemble") & (normals["statistic"] == "")]  # not the window statistics
    checked = 0
    for (county, model, variable), rows in members.groupby(["id", "model", "variable"], observed=True):
        target = rows[(rows["target_year"] == 2022)]["value"].to_numpy(np.float64)
        base = rows[(rows["target_year"] == 2014)]["value"].to_numpy(np.float64)
        expected = 100 * (target - base) / base if variable == "pr" else target - base
        got = changes[(changes["id"] == county) & (changes["model"] == model) & (changes["variable"] == variable)
                      & (changes["target_year"] == 2022)]  # fmt: skip
        assert list(got["statistic"]) == ["baseline_detrended_std", "change"]
        assert got["kind"].iloc[0] == ("relative" if variable == "pr" else "additive")
        np.testing.assert_allclose(got[got["statistic"] == "change"]["value"].to_numpy(), expected, rtol=1e-9)
        checked += 1
    assert checked == len(COUNTIES) * 3 * 2
    deltas = changes[(changes["model"] != "ensemble") & (changes["statistic"] == "change")]
    for (county, variable), rows in deltas.groupby(["id", "variable"], observed=True):
        member_changes = rows[rows["target_year"] == 2022]["value"].to_numpy()
        ens = changes[(changes["model"] == "ensemble") & (changes["id"] == county) & (changes["variable"] == variable)
                      & (changes["target_year"] == 2022)].set_index("statistic")["value"]  # fmt: skip
        np.testing.assert_allclose(ens["mean"], member_changes.mean(), rtol=1e-9)
        signs = [np.mean(member_changes > 0), np.mean(member_changes < 0), np.mean(member_changes == 0)]
        assert ens["agree"] == pytest.approx(max(signs))


def _county_variability(path: Path, variable: str) -> dict[str, float]:
    """Each county's detrended σ (ddof 0) of its own yearly values: area-weighted means of the file's yearly cells
    (the slow reference weights), then np.polyfit's line; NaN with fewer than 4 valid years."""
    from shapely import affinity

    from zonal_reference import bounds_from_centres, reference_mean, reference_weights

    with xr.open_dataset(path, decode_times=False) as ds:
        yearly = ds[f"{variable}_window_years"].values[:, 0].astype(np.float64)  # (year, lat, lon): one step
        years = ds["year"].values.astype(np.float64)
        lat_b, lon_b = bounds_from_centres(ds["lat"].values), bounds_from_centres(ds["lon"].values)
    out = {}
    for county, shape in COUNTIES.items():
        weights = reference_weights(affinity.translate(shape, xoff=360.0), lat_b, lon_b)
        series = np.array([reference_mean(weights, field) for field in yearly])
        ok = ~np.isnan(series)
        fit = np.polyfit(years[ok], series[ok], 1)
        out[county] = float(np.std(series[ok] - np.polyval(fit, years[ok]))) if ok.sum() >= 4 else np.nan
    return out


@pytest.mark.parametrize("variable", ["tas", "pr"])
def test_county_significance_and_categories_equal_a_recomputation(ensemble_run: Path, variable: str) -> None:
    """A county's baseline variability is the detrended σ of its own yearly values (not its cells' σ averaged),
    recomputed here from the baseline files' yearly values; in the change table each member's σ is in the change's
    units, and the ensemble's significant fraction is recomputed by hand and its agreement and category by xclim,
    fed the members' county changes."""
    import pandas as pd

    normals = pd.read_parquet(ensemble_run / "tables" / "counties.parquet")
    table = pd.read_parquet(ensemble_run / "tables" / "counties_changes.parquet")
    index = OutputIndex.load(ensemble_run)
    baselines = {r.model: r for r in index.select(variable=variable, product="annual", target_year=2014)}
    deltas, sigmas = [], []
    for model in ("CH-A", "CH-B", "CH-C"):
        expected = _county_variability(ensemble_run / baselines[model].path, variable)
        rows = normals[(normals["model"] == model) & (normals["variable"] == variable)
                       & (normals["target_year"] == 2014)].set_index(["statistic", "id"])["value"]  # fmt: skip
        got = np.array([rows[("window_detrended_std", c)] for c in COUNTIES])
        np.testing.assert_allclose(got, [expected[c] for c in COUNTIES], rtol=1e-6)
        base = np.array([rows[("", c)] for c in COUNTIES])
        mine = table[(table["model"] == model) & (table["variable"] == variable)
                     & (table["target_year"] == 2022)].set_index(["statistic", "id"])["value"]  # fmt: skip
        sigma = np.array([expected[c] for c in COUNTIES])
        want = 100 * sigma / np.abs(base) if variable == "pr" else sigma
        np.testing.assert_allclose([mine[("baseline_detrended_std", c)] for c in COUNTIES], want, rtol=1e-6)
        deltas.append([mine[("change", c)] for c in COUNTIES])
        sigmas.append(want)
    delta, sigma = np.array(deltas), np.array(sigmas)
    ens = table[(table["model"] == "ensemble") & (table["variable"] == variable)
                & (table["target_year"] == 2022)].set_index(["statistic", "id"])["value"]  # fmt: skip
    changed = (np.abs(delta) > np.sqrt(2 / 20) * 1.645 * sigma).mean(axis=0)
    np.testing.assert_allclose([ens[("significant", c)] for c in COUNTIES], changed, rtol=1e-12)
    fr = xclim_ensembles.robustness_fractions(xr.DataArray(delta, dims=("realization", "county")), test=None)
    np.testing.assert_allclose([ens[("agree", c)] for c in COUNTIES], fr.agree.values, rtol=1e-12)
    fr["changed"] = xr.DataArray(changed, dims=fr.agree.dims)
    category = xclim_ensembles.robustness_categories(fr).values
    np.testing.assert_array_equal([ens[("robustness", c)] for c in COUNTIES], category)


def test_county_categories_cover_all_three_and_equal_xclims() -> None:
    """A county table crafted so that its counties are robust, without change and conflicting (and a daily
    product without the counties' variability): fractions and categories against xclim fed the same changes."""
    import pandas as pd

    from climnorm.config.changes import Changes
    from climnorm.zonal.changes import county_changes

    rng = np.random.default_rng(7)
    deltas = np.array([[2.0, 0.1, 2.0], [2.5, -0.1, -2.0], [1.5, 0.0, 2.5], [3.0, 0.2, -1.5], [2.2, 0.1, 3.0]])
    sigma = rng.uniform(0.8, 1.2, deltas.shape)  # significance bound ~ 0.52 sigma: 0.2 never, 1.5 always
    rows = []
    for m, model in enumerate(f"M{i}" for i in range(5)):
        for c, county in enumerate(("a", "b", "c")):
            for product, kind, slots in (("annual", "", [(0, "annual")]), ("daily", "dayofyear", [(1, "01-01")])):
                for slot, label in slots:
                    base = 280.0 + c
                    key = {"id": county, "name": county, "state": "", "region": "R", "model": model, "variable": "tas",
                           "product": product, "slot_kind": kind, "slot": slot, "slot_label": label, "units": "K",
                           "scenario": "ssp245", "period": "p"}  # fmt: skip
                    rows.append({**key, "statistic": "", "target_year": 2014, "value": base})
                    rows.append({**key, "statistic": "", "target_year": 2050, "value": base + deltas[m, c]})
                    if product == "annual":  # a daily slot has no county variability
                        rows.append({**key, "statistic": "window_detrended_std", "target_year": 2014,
                                     "value": sigma[m, c]})  # fmt: skip
    out = county_changes(pd.DataFrame(rows), Changes(baseline=2014), 5, 2014, ("mean",), 3)
    ens = out[(out["model"] == "ensemble") & (out["target_year"] == 2050)]
    annual = ens[ens["product"] == "annual"].set_index(["statistic", "id"])["value"]
    changed = (np.abs(deltas) > np.sqrt(2 / 20) * 1.645 * sigma).mean(axis=0)
    np.testing.assert_array_equal([annual[("significant", c)] for c in "abc"], changed)
    fr = xclim_ensembles.robustness_fractions(xr.DataArray(deltas, dims=("realization", "county")), test=None)
    fr["changed"] = xr.DataArray(changed, dims=fr.agree.dims)
    category = xclim_ensembles.robustness_categories(fr).values
    assert sorted(category) == [1, 2, 3]
    np.testing.assert_array_equal([annual[("robustness", c)] for c in "abc"], category)
    daily = ens[ens["product"] == "daily"]
    assert set(daily["statistic"]) == {"mean", "agree"}  # changes and agreement, no significance test
    agree = daily[daily["statistic"] == "agree"].sort_values("id")["value"]
    np.testing.assert_allclose(agree, fr.agree.values)


def test_plot_change_of_the_changes_draws_each_members_change_of_its_region_mean(
    ensemble_run: Path, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    from climnorm.cli import main
    from climnorm.pictures.normals import Selection
    from climnorm.pictures.plots import change_figure

    fig = change_figure(ensemble_run, Selection("pr", "all", product="annual", change=True))
    ax = fig.axes[0]
    assert "against 2010-2014" in ax.get_title()
    drawn = {(int(x), round(float(y), 9)) for line in ax.lines for x, y in zip(*line.get_data(), strict=True)
             if np.isfinite(y) and x > 2000}  # fmt: skip
    index = OutputIndex.load(ensemble_run)
    for model in ("CH-A", "CH-B", "CH-C"):
        means = {}
        for record in index.select(variable="pr", product="annual", model=model):
            with xr.open_dataset(ensemble_run / record.path, decode_times=False) as ds:
                values = ds["pr"].values[0].astype(np.float64)
                weights = np.cos(np.deg2rad(ds["lat"].values))[:, None] * np.ones_like(values)
                ok = ~np.isnan(values)
                means[record.target_year] = float((values * weights)[ok].sum() / weights[ok].sum())
        relative = 100 * (means[2022] - means[2014]) / means[2014]
        assert (2014, 0.0) in drawn and (2022, round(relative, 9)) in drawn  # the member's: none at the baseline
    out = tmp_path / "pr-change.png"
    code = main(["plot", "change", str(ensemble_run), "--variable", "pr", "--region", "all", "--product", "annual",
                 "--change", "-o", str(out)])  # fmt: skip
    assert code == 0 and out.stat().st_size > 10_000


def test_the_report_has_a_change_section(ensemble_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from climnorm.pictures.report import write_report

    html = write_report(ensemble_run, tmp_path / "report.html").read_text()
    assert "<h2>Changes against the baseline</h2>" in html
    assert 'id="signal-pr-all"' in html and 'id="signal-tas annual map-all"' in html
    # per variable: the normals by target year, the members' changes by target year, the ensemble's change map
    assert html.count("data:image/png;base64") == 2 * 3


def test_plot_counties_of_a_change_shows_the_county_change_tables_values(ensemble_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import pandas as pd

    from climnorm.cli import main
    from climnorm.pictures.counties import counties_figure
    from climnorm.pictures.normals import Selection
    from climnorm.zonal.table import ZonalRequest

    request = ZonalRequest(polygons=ensemble_run.parent / "counties.geojson", id_field="id", name_field="name")
    selection = Selection("tas", "all", scenarios="ssp245", target=2022, model="ensemble", product="annual",
                          change=True)  # fmt: skip
    fig = counties_figure(ensemble_run, selection, request=request)
    shown = np.asarray(fig.axes[0].collections[0].get_array(), dtype=np.float64)
    table = pd.read_parquet(ensemble_run / "tables" / "counties_changes.parquet")
    mean = table[(table["model"] == "ensemble") & (table["statistic"] == "mean") & (table["variable"] == "tas")
                 & (table["target_year"] == 2022)].sort_values("id")["value"].to_numpy()  # fmt: skip
    np.testing.assert_allclose(np.sort(shown), np.sort(mean), rtol=1e-6)
    assert "change of tas against 2010-2014" in fig.axes[0].get_title()
    # the AR6 hatching: the counties of each category the change table gives them (all robust here: clear)
    robust = table[(table["model"] == "ensemble") & (table["statistic"] == "robustness") & (table["variable"] == "tas")
                   & (table["target_year"] == 2022)]["value"]  # fmt: skip
    hatched = sum(len(c.get_paths()) for c in fig.axes[0].collections[1:] if c.get_hatch())
    assert len(robust) == len(COUNTIES) and hatched == int((robust != 1).sum())
    assert "IPCC AR6" in "".join(t.get_text() for t in fig.texts)
    baseline = counties_figure(ensemble_run, replace(selection, target=2014), request=request)  # no change at all
    marks = [c for c in baseline.axes[0].collections[1:] if c.get_hatch()]
    assert [m.get_hatch() for m in marks] == ["///"] and len(marks[0].get_paths()) == len(COUNTIES)
    out = tmp_path / "counties-change.png"
    code = main(["plot", "counties", str(ensemble_run), "--variable", "pr", "--region", "all", "--scenario", "ssp245",
                 "--product", "annual", "--model", "CH-A", "--change", "--polygons",
                 str(ensemble_run.parent / "counties.geojson"), "--id", "id", "-o", str(out)])  # fmt: skip
    assert code == 0 and out.stat().st_size > 5_000


def test_the_change_files_are_queried_as_the_normals_are(ensemble_run: Path) -> None:
    """An index of the change files narrows in SQL to what filtering their records in memory gives."""
    index = OutputIndex.load(ensemble_run)
    changes = index.of_changes()
    got = changes.select(variable="tas", product="annual", model=["CH-A", "ensemble"])
    expected = [r for r in index.changes if r.variable == "tas" and r.product == "annual"
                and r.model in ("CH-A", "ensemble")]  # fmt: skip
    assert got == expected and len(got) == 4 and "records" not in vars(changes)
    assert {r.is_change for r in got} == {True}

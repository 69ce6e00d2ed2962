"""One dataset per chain (climnorm.open_normals) and one store per chain and product (climnorm.export):
values equal the per-target files bit for bit; Zarr opens with xarray.open_zarr, NetCDF with CDO.

The outputs come from running climnorm on a small synthetic archive: tas with its smoothed daily and monthly
normals, pr with daily normals only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
import pytest
import xarray as xr

from climnorm._atomic import TMP_MARK, atomic_directory, remove_leftovers
from climnorm.config.model import parse_config
from climnorm.errors import DatasetError, OutputNotFound
from climnorm.outputs.datasets import Chain, _open_target, chain_records, lazy_available, open_normals
from climnorm.outputs.export import export, store_name
from climnorm.outputs.index import OutputIndex
from climnorm.outputs.verify import verify_outputs
from climnorm.records import OutputRecord
from climnorm.runner.pipeline import run
from climnorm.synth import SynthSpec, write_archive
from climnorm.write.manifest import Manifest
from helpers import CDO, needs_cdo

SPEC = SynthSpec(
    variables=("tas", "pr"),
    scenarios=("historical", "ssp245", "ssp585"),
    historical_years=(2009, 2014),
    scenario_years=(2015, 2018),
    calendar="standard",
    resolution=5.0,
    box=(15.0, 75.0, 140.0, 300.0),
    holes=0.01,
)
HISTORICAL_TARGETS = [2012, 2013, 2014]
SCENARIO_TARGETS = [2015, 2016, 2018]


def _read(path: Path, variable: str) -> np.ndarray:
    with netCDF4.Dataset(path) as ds:
        var = ds.variables[variable]
        var.set_auto_maskandscale(True)
        return np.ma.filled(np.ma.asarray(var[:], dtype=np.float32), np.nan)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run: tas and pr over CONUS, 4-year windows, historical 2012-2014, hybrid 2015-2016, future 2018 for
    ssp245 and ssp585; tas also as smoothed daily and monthly normals."""
    root = tmp_path_factory.mktemp("datasets")
    write_archive(root / "archive", SPEC)
    config = parse_config(
        {
            "input_dirs": [str(root / "archive")],
            "output_dir": str(root / "out"),
            "variables": ["pr"],
            "regions": ["CONUS"],
            "scenarios": ["historical", "ssp245", "ssp585"],
            "window_years": 4,
            "min_years_for_normal": 3,
            "periods": {"historical": [2012, 2014], "hybrid": [2015, 2016], "future": [2018, 2018]},
            "multiprocessing_workers": 1,
        }
    )
    summary = run(config)
    assert summary.written == 3 + 2 * 3, summary.failures
    summary = run(config.model_copy(update={"variables": ["tas"], "products": ["daily", "daily_smoothed", "monthly"]}))
    assert summary.written == 3 * (3 + 2 * 3), summary.failures
    return config.output_dir


def _files(out: Path, variable: str, scenario: str, product: str = "daily") -> dict[int, Path]:
    records = Manifest.load(out).records.values()
    return {
        r.target_year: out / r.path
        for r in records
        if r.variable == variable and r.product == product and r.scenario in {scenario, "historical"}
    }


def _same_bits(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape, what
    assert np.array_equal(np.isnan(a), np.isnan(b)), what
    ok = ~np.isnan(b)
    assert np.array_equal(a[ok].view(np.uint32), b[ok].view(np.uint32)), f"{what}: values differ"


@pytest.mark.parametrize("product", ["daily", "daily_smoothed", "monthly"])
def test_open_normals_stacks_the_chain_bit_for_bit(out: Path, product: str) -> None:
    """A scenario's chain is the historical targets followed by its own; the period of each is a coordinate."""
    ds = open_normals(out, variable="tas", region="CONUS", scenario="ssp245", product=product)
    files = _files(out, "tas", "ssp245", product)
    assert ds["target_year"].values.tolist() == HISTORICAL_TARGETS + SCENARIO_TARGETS == sorted(files)
    assert ds["period"].values.tolist() == ["historical"] * 3 + ["hybrid"] * 2 + ["future"]
    assert ds["target_year_scenario"].values.tolist() == ["historical"] * 3 + ["ssp245"] * 3
    assert ds["window"].values.tolist()[3] == "2012-2015" and ds.attrs["product"] == product
    assert ds["tas"].dims == ("target_year", "time", "lat", "lon")
    if lazy_available():
        assert ds["tas"].chunks[0] == (1,) * 6  # lazy, one target per chunk
    for year, path in files.items():
        _same_bits(ds["tas"].sel(target_year=year).values, _read(path, "tas"), f"{product} {year}")
        with netCDF4.Dataset(path) as f:
            bounds = netCDF4.num2date(f.variables["climatology_bnds"][:], f.variables["time"].units, "standard")
        first = ds["climatology_bnds"].sel(target_year=year).values[0, 0]
        assert (first.year, first.month, first.day) == (bounds[0, 0].year, bounds[0, 0].month, bounds[0, 0].day)
    assert ds["tas"].attrs["cell_methods"].endswith("time: mean over years")
    ds.close()


def test_the_historical_chain_is_the_historical_targets(out: Path) -> None:
    with open_normals(out, variable="pr", region="CONUS", scenario="historical") as ds:
        assert ds["target_year"].values.tolist() == HISTORICAL_TARGETS
        assert set(ds["period"].values.tolist()) == {"historical"}
    with open_normals(out, variable="pr", region="CONUS", scenario="ssp585") as ds:
        assert ds["target_year"].values.tolist() == HISTORICAL_TARGETS + SCENARIO_TARGETS
        assert ds["target_year_scenario"].values.tolist()[-1] == "ssp585"


def test_eager_reading_gives_the_same_values(out: Path) -> None:
    record = next(r for r in Manifest.load(out).records.values() if r.variable == "tas" and r.product == "daily")
    eager = _open_target(out / record.path, record, lazy=False)
    assert not hasattr(eager["tas"].data, "dask")
    _same_bits(eager["tas"].values[0], _read(out / record.path, "tas"), "eager")


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"variable": "tasmax"}, r"no variable 'tasmax' \(there are: pr, tas\)"),
        ({"region": "AK"}, r"no region 'AK' \(there are: CONUS\)"),
        ({"scenario": "ssp126"}, r"no scenario 'ssp126' \(there are: historical, ssp245, ssp585\)"),
        ({"product": "seasonal"}, r"tas CONUS: no product 'seasonal' \(there are: daily, daily_smoothed, monthly\)"),
        ({"variable": "pr", "product": "monthly"}, r"pr CONUS: no product 'monthly' \(there are: daily\)"),
        ({"product": "weekly"}, "unknown product 'weekly'"),
        ({"model": "OTHER-ESM"}, r"no model 'OTHER-ESM' \(there are: SYNTH-ESM\)"),
        ({"window_years": 30}, r"no window_years 30 \(there are: 4\)"),
    ],
)
def test_nothing_matching_names_what_exists(out: Path, keywords: dict[str, Any], message: str) -> None:
    chosen: dict[str, Any] = {"variable": "tas", "region": "CONUS", "scenario": "ssp245", **keywords}
    with pytest.raises((OutputNotFound, DatasetError), match=message):
        open_normals(out, **chosen)


def test_several_models_must_be_chosen_between() -> None:
    records = tuple(
        OutputRecord(m, "tas", "R", "historical", "historical", 2014, 4, m, "r1", "noleap", "calendar_day", "f")
        for m in ("A", "B")
    )
    index = OutputIndex(Path("."), records)
    with pytest.raises(DatasetError, match=r"several model values \(A, B\); choose one with model="):
        chain_records(index, Chain("tas", "R", "historical"))
    assert [r.model for r in chain_records(index, Chain("tas", "R", "historical", model="B"))] == ["B"]


@pytest.fixture(scope="module")
def zarr_stores(out: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    pytest.importorskip("zarr", reason="the export extra (zarr) is not installed")
    return export(out, format="zarr", out_dir=tmp_path_factory.mktemp("zarr"))


def test_zarr_export_writes_a_v3_store_per_chain_and_product(out: Path, zarr_stores: list[Path]) -> None:
    names = sorted(p.name for p in zarr_stores)
    assert len(names) == 2 * 3 + 2 * 3  # (tas daily, smoothed, monthly; pr daily) x (historical, ssp245, ssp585)
    assert "tas_CONUS_ssp245_SYNTH-ESM_r1i1p1f1_4yr_monthly.zarr" in names
    store = next(p for p in zarr_stores if p.name == "tas_CONUS_ssp585_SYNTH-ESM_r1i1p1f1_4yr_daily_smoothed.zarr")
    meta = json.loads((store / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and "consolidated_metadata" in meta
    assert json.loads((store / "tas" / "zarr.json").read_text())["chunk_grid"]["configuration"]["chunk_shape"][0] == 1
    assert not any(TMP_MARK in p.name for p in store.parent.iterdir())


@pytest.mark.parametrize("product", ["daily", "daily_smoothed", "monthly"])
def test_zarr_store_equals_the_files_bit_for_bit(out: Path, zarr_stores: list[Path], product: str) -> None:
    name = store_name(Chain("tas", "CONUS", "ssp585", product, "SYNTH-ESM", "r1i1p1f1", 4)) + ".zarr"
    coder = xr.coders.CFDatetimeCoder(use_cftime=True)
    with xr.open_zarr(zarr_stores[0].parent / name, decode_times=coder) as ds:
        files = _files(out, "tas", "ssp585", product)
        assert ds["target_year"].values.tolist() == sorted(files)
        for year, path in files.items():
            _same_bits(ds["tas"].sel(target_year=year).values, _read(path, "tas"), f"zarr {product} {year}")
        assert ds["tas"].attrs["cell_methods"] == "time: mean within years time: mean over years"
        assert ds["tas"].attrs["units"] == "K" and ds.attrs["Conventions"] == "CF-1.8"
        assert ds["climatology_time"].attrs["climatology"] == "climatology_bnds"
        with netCDF4.Dataset(files[2012]) as f:
            time = f.variables["time"]
            expected = netCDF4.num2date(f.variables["climatology_bnds"][-1], time.units, time.calendar)
        assert ds["climatology_bnds"].sel(target_year=2012).values[-1].tolist() == list(expected)
        assert ds["period"].values.tolist()[-1] == "future"
        if product == "monthly":
            assert ds["month"].values.tolist() == list(range(1, 13)) and ds.attrs["product"] == "monthly"


@needs_cdo
def test_netcdf_export_is_one_cf_time_axis_cdo_reads(out: Path, tmp_path: Path) -> None:
    stores = export(out, format="netcdf", out_dir=tmp_path)
    assert len(stores) == 12 and all(p.suffix == ".nc" for p in stores)
    path = tmp_path / "tas_CONUS_ssp245_SYNTH-ESM_r1i1p1f1_4yr_daily.nc"
    done = subprocess.run([str(CDO), "sinfon", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "time : 2196 steps" in " ".join(done.stdout.split()) and "skipped variable tas" not in done.stderr
    with netCDF4.Dataset(path) as ds:
        time, bounds = ds.variables["time"][:], ds.variables["climatology_bnds"][:]
        years = ds.variables["target_year"][:]
        leap = (ds.variables["month"][:] == 2) & (ds.variables["day"][:] == 29)
        assert ds.variables["tas"].chunking() == [366, 5, 12] and ds.variables["time"].climatology
        data = np.ma.filled(ds.variables["tas"][:].astype(np.float32), np.nan)
    # one axis increasing through the targets; each step inside its bounds (but 29 February: a 4-year window has
    # one leap year, which no common middle year of the window can stand for)
    inside = (bounds[:, 0] <= time) & (time < bounds[:, 1])
    assert (np.diff(time) > 0).all() and inside[~leap].all() and leap.sum() == 6
    for year, file in _files(out, "tas", "ssp245").items():
        _same_bits(data[years == year], _read(file, "tas"), f"netcdf {year}")


def test_export_replaces_a_store_atomically(out: Path, zarr_stores: list[Path]) -> None:
    monthly = [p for p in zarr_stores if p.name.endswith("_monthly.zarr")]
    (monthly[0] / "stale").write_text("old")
    again = export(out, format="zarr", out_dir=zarr_stores[0].parent, products=["monthly"])
    assert again == monthly and len(monthly) == 3 and not (monthly[0] / "stale").exists()
    assert sorted(p.name for p in zarr_stores[0].parent.iterdir()) == sorted(p.name for p in zarr_stores)


def test_an_interrupted_store_leaves_a_leftover_the_next_run_removes(tmp_path: Path) -> None:
    final = tmp_path / "a.zarr"
    final.mkdir()
    (final / "kept").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        tmp.mkdir()
        (tmp / "part").write_text("new")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr"] and (final / "kept").exists()
    leftover = tmp_path / f".b.zarr.1{TMP_MARK}"
    (leftover / "c").mkdir(parents=True)
    assert remove_leftovers(tmp_path) == [leftover] and not leftover.exists()


def test_a_listed_file_that_is_gone_is_named(out: Path, tmp_path: Path) -> None:
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    gone = next(r.path for r in Manifest.load(copy).records.values() if r.variable == "pr")
    (copy / gone).unlink()
    with pytest.raises(DatasetError, match="cannot be read"):
        open_normals(copy, variable="pr", region="CONUS", scenario="ssp245")


def test_verify_checks_the_product_files(out: Path, tmp_path: Path) -> None:
    checked, problems = verify_outputs(out)
    assert checked == 18 + 9 + 9 and problems == []
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    monthly = next(p for p in Manifest.load(copy).records if p.endswith("_2016_4yr_monthly_normal.nc"))
    with netCDF4.Dataset(copy / monthly, "a") as ds:
        ds.product = "seasonal"
        ds.variables["tas"].cell_methods = "time: mean"
    _, problems = verify_outputs(copy)
    assert sorted(problems) == [
        f"{monthly}: attribute product='seasonal', manifest says 'monthly'",
        f"{monthly}: cell_methods is 'time: mean'",
    ]


def test_store_names_say_nothing_an_output_lacks() -> None:
    member = Chain("tas", "CONUS", "ssp245", "monthly", "ACCESS-CM2", "r1i1p1f1", 30)
    assert store_name(member) == "tas_CONUS_ssp245_ACCESS-CM2_r1i1p1f1_30yr_monthly"
    assert store_name(Chain("tas", "CONUS", "ssp245", "monthly", "ensemble", "", 30)) == (
        "tas_CONUS_ssp245_ensemble_30yr_monthly"
    )


def test_export_errors(tmp_path: Path, out: Path) -> None:
    with pytest.raises(OutputNotFound, match=r"no manifest here"):
        export(tmp_path, format="netcdf")
    with pytest.raises(DatasetError, match="unknown export format"):
        export(out, format="parquet")  # type: ignore[arg-type]
    shutil.rmtree(tmp_path, ignore_errors=True)

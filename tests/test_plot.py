"""Pictures of the normals (climnorm.pictures and `climnorm plot`): each made from a small run, read back as images."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from climnorm.cli import main
from climnorm.records import OutputRecord
from climnorm.write.manifest import Manifest

matplotlib = pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")

from climnorm.errors import OutputNotFound, PlotError  # noqa: E402
from climnorm.pictures import normals, plots  # noqa: E402
from climnorm.pictures.normals import Selection  # noqa: E402
from climnorm.units import display  # noqa: E402
from helpers import assert_picture  # noqa: E402

TAS = Selection("tas", "CONUS")
TAS_2019 = Selection("tas", "CONUS", ("ssp245",), 2019)


@pytest.fixture(scope="module")
def out_dir(pictures_run: Path) -> Path:
    return pictures_run


def _record(out_dir: Path, variable: str, region: str, scenario: str, target: int) -> OutputRecord:
    found = [
        r
        for r in Manifest.load(out_dir).records.values()
        if (r.variable, r.region, r.scenario, r.target_year) == (variable, region, scenario, target)
    ]
    assert len(found) == 1
    return found[0]


def _read(out_dir: Path, record: OutputRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with netCDF4.Dataset(out_dir / record.path) as ds:
        values = np.ma.filled(ds.variables[record.variable][:].astype(np.float64), np.nan)
        return values, np.asarray(ds.variables["lat"][:]), np.asarray(ds.variables["month"][:])


def _cos_mean(values: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The obvious area-weighted mean, per slot, skipping NaN."""
    weights = np.cos(np.deg2rad(lat))[:, None] * np.ones(values.shape[-1])
    out = []
    for field in values:
        ok = np.isfinite(field)
        out.append((field[ok] * weights[ok]).sum() / weights[ok].sum())
    return np.array(out)


# ---- maps ----------------------------------------------------------------------------------------------------
def test_map_of_one_day(out_dir: Path, tmp_path: Path) -> None:
    path = plots.plot_map(out_dir, tmp_path / "map.png", TAS_2019, day=196)
    assert_picture(path, 900, 600)
    fig = plots.map_figure(out_dir, TAS_2019, day=196)
    ax = fig.axes[0]
    assert "2014-2019" in ax.get_title() and "day 196 (15 Jul)" in ax.get_title()
    assert ax.get_xlabel() == "longitude" and ax.get_ylabel() == "latitude"
    assert fig.axes[1].get_ylabel() == "tas (°C)"  # the colour bar, in display units
    values, _, _ = _read(out_dir, _record(out_dir, "tas", "CONUS", "ssp245", 2019))
    shown = np.ma.filled(ax.collections[0].get_array(), np.nan).reshape(values.shape[1:])
    np.testing.assert_allclose(shown, values[195] - 273.15, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("season", ["DJF", "MAM", "JJA", "SON", "annual"])
def test_map_of_a_season_uses_the_month_coordinate(out_dir: Path, season: str) -> None:
    fig = plots.map_figure(out_dir, Selection("pr", "AK", ("ssp585",), 2021), season=season, size=(600, 400))
    values, _, month = _read(out_dir, _record(out_dir, "pr", "AK", "ssp585", 2021))
    chosen = np.isin(month, plots.SEASONS[season])
    assert chosen.sum() == (365 if season == "annual" else {"DJF": 90, "MAM": 92, "JJA": 92, "SON": 91}[season])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        expected = np.nanmean(values[chosen], axis=0) * 86400.0
    shown = np.ma.filled(fig.axes[0].collections[0].get_array(), np.nan).reshape(expected.shape)
    np.testing.assert_allclose(shown, expected, rtol=1e-5, equal_nan=True)
    assert fig.axes[1].get_ylabel() == "pr (mm/day)"
    title = "annual mean" if season == "annual" else f"{season} mean"
    assert title in fig.axes[0].get_title()


def test_map_defaults_and_choices(out_dir: Path) -> None:
    # the latest target by default; a historical target is found under a future scenario (it is shared)
    latest = normals.pick_record(normals.load_index(out_dir), Selection("tas", "AK", ("ssp245",)))
    assert latest.target_year == 2021
    shared = normals.pick_record(normals.load_index(out_dir), Selection("tas", "AK", ("ssp245",), 2013))
    assert shared.scenario == "historical"
    with pytest.raises(PlotError, match="choose one with --scenario"):
        plots.map_figure(out_dir, Selection("tas", "AK", target=2019))
    with pytest.raises(OutputNotFound, match=r"targets: 2015-2017, 2019-2021"):
        plots.map_figure(out_dir, Selection("tas", "AK", ("ssp245",), 2030))
    with pytest.raises(OutputNotFound, match=r"tas daily: no region 'HI' \(there are: AK, CONUS\)"):
        plots.map_figure(out_dir, Selection("tas", "HI"))
    with pytest.raises(OutputNotFound, match=r"outputs: no variable 'tasmax' \(there are: pr, tas\)"):
        plots.map_figure(out_dir, Selection("tasmax", "AK"))
    with pytest.raises(PlotError, match=r"outside the normal's day slots 1\.\.365"):
        plots.map_figure(out_dir, Selection("tas", "AK", ("ssp245",)), day=366)
    with pytest.raises(OutputNotFound, match=r"no manifest here"):
        plots.map_figure(out_dir / "nowhere", Selection("tas", "AK"))
    # a map shows one scenario; one name is a one-scenario selection
    with pytest.raises(PlotError, match=r"tas AK: a map shows one scenario, not 2 \(ssp245, ssp585\)"):
        plots.map_figure(out_dir, Selection("tas", "AK", ("ssp245", "ssp585")))
    assert Selection("tas", "AK", "ssp245") == Selection("tas", "AK", ["ssp245"]) == Selection("tas", "AK", ("ssp245",))


# ---- cycle and change ----------------------------------------------------------------------------------------
def test_cycle_default_targets(out_dir: Path, tmp_path: Path) -> None:
    path = plots.plot_cycle(out_dir, tmp_path / "cycle.png", TAS)
    assert_picture(path, 900, 550)
    fig = plots.cycle_figure(out_dir, TAS)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    # the first and last target of each scenario
    assert labels == [
        "historical 2012 (2007-2012)",
        "historical 2014 (2009-2014)",
        "ssp245 2015 (2010-2015)",
        "ssp245 2021 (2016-2021)",
        "ssp585 2015 (2010-2015)",
        "ssp585 2021 (2016-2021)",
    ]
    assert "cos(lat)-weighted" in fig.axes[0].get_ylabel()
    # the line is the area-weighted region mean of the normal, in °C
    values, lat, _ = _read(out_dir, _record(out_dir, "tas", "CONUS", "historical", 2012))
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), _cos_mean(values, lat) - 273.15, rtol=1e-6)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:3] == ["Jan", "Feb", "Mar"]


def test_cycle_chosen_targets_and_scenario(out_dir: Path) -> None:
    fig = plots.cycle_figure(out_dir, Selection("pr", "AK", ("ssp585",)), targets=[2016, 2020])
    assert [line.get_label() for line in fig.axes[0].get_lines()] == [
        "ssp585 2016 (2011-2016)",
        "ssp585 2020 (2015-2020)",
    ]
    with pytest.raises(PlotError, match="targets: 2015-2017, 2019-2021"):
        plots.cycle_figure(out_dir, Selection("pr", "AK", ("ssp585",)), targets=[1999])


def test_cycle_draws_the_smoothed_normal_over_the_raw_one(products_run: Path) -> None:
    fig = plots.cycle_figure(products_run, TAS)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines[:4]] == [
        "historical 2012 (2007-2012)",
        "historical 2012 (2007-2012), smoothed",
        "historical 2014 (2009-2014)",
        "historical 2014 (2009-2014), smoothed",
    ]
    assert len(lines) == 12 and lines[1].get_linewidth() > lines[0].get_linewidth()
    assert "thick: smoothed, thin: raw" in fig.axes[0].get_title()
    records = Manifest.load(products_run).records
    raw = records["tas/CONUS/historical/tas_CONUS_historical_historical_2012_6yr_normal.nc"]
    smoothed = records["tas/CONUS/historical/tas_CONUS_historical_historical_2012_6yr_daily_smoothed_normal.nc"]
    values, lat, _ = _read(products_run, smoothed)
    np.testing.assert_allclose(lines[1].get_ydata(), _cos_mean(values, lat) - 273.15, rtol=1e-6)
    values, lat, _ = _read(products_run, raw)
    np.testing.assert_allclose(lines[0].get_ydata(), _cos_mean(values, lat) - 273.15, rtol=1e-6)
    # without a smoothed normal, the cycle is as it was; maps and changes show the daily normals only
    pr = plots.cycle_figure(products_run, Selection("pr", "CONUS"))
    assert len(pr.axes[0].get_lines()) == 6 and "smoothed" not in pr.axes[0].get_title()
    change = plots.change_figure(products_run, TAS)
    assert [line.get_label() for line in change.axes[0].get_lines()] == [
        line.get_label() for line in plots.change_figure(products_run, Selection("pr", "CONUS")).axes[0].get_lines()
    ]
    assert "smoothed" not in plots.map_figure(products_run, Selection("tas", "CONUS", ("ssp245",))).axes[0].get_title()


def test_change_lines_and_periods(out_dir: Path, tmp_path: Path) -> None:
    path = plots.plot_change(out_dir, tmp_path / "change.png", TAS, size=(800, 500))
    assert_picture(path, 800, 500)
    fig = plots.change_figure(out_dir, TAS)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"historical", "ssp245", "ssp585"}
    hist = lines["historical"]
    assert list(hist.get_xdata()) == [2012, 2013, 2014]
    values, lat, _ = _read(out_dir, _record(out_dir, "tas", "CONUS", "historical", 2013))
    assert hist.get_ydata()[1] == pytest.approx(float(np.mean(_cos_mean(values, lat))) - 273.15, rel=1e-6)
    # a scenario's line starts from the last historical point and breaks at the gap between periods
    x = np.asarray(lines["ssp245"].get_xdata(), dtype=float)
    assert (
        x[0] == 2014 and np.isnan(x).sum() == 1 and list(x[~np.isnan(x)]) == [2014, 2015, 2016, 2017, 2019, 2020, 2021]
    )
    shaded = {t.get_text() for t in ax.texts}
    assert shaded == {"historical", "hybrid", "future"} and len(ax.patches) == 3
    assert "cos(lat)-weighted" in ax.get_ylabel() and "(°C)" in ax.get_ylabel()
    only = plots.change_figure(out_dir, Selection("pr", "AK", ("ssp245",)))
    assert [line.get_label() for line in only.axes[0].get_lines()] == ["ssp245"]


# ---- helpers -------------------------------------------------------------------------------------------------
def test_region_mean_is_area_weighted_and_skips_missing() -> None:
    lat = np.array([0.0, 60.0])
    values = np.array([[[1.0, 1.0], [4.0, np.nan]], [[np.nan, np.nan], [np.nan, np.nan]]])
    mean = normals.region_mean(values, lat)
    # weights cos(0) = 1 (two cells), cos(60) = 0.5 (one valid cell)
    assert mean[0] == pytest.approx((1 + 1 + 0.5 * 4) / 2.5)
    assert np.isnan(mean[1])


def test_display_units_and_slot_weights() -> None:
    assert display(np.array([273.15]), "K")[1] == "°C"
    assert display(np.array([273.15]), "K")[0][0] == pytest.approx(0.0)
    values, units = display(np.array([1.0 / 86400]), "kg m-2 s-1")
    assert units == "mm/day" and values[0] == pytest.approx(1.0)
    assert display(np.array([5.0]), "m s-1")[1] == "m s-1"
    month = np.array([1] * 31 + [2] * 29 + [3] * 306)
    day = np.concatenate([np.arange(1, 32), np.arange(1, 30), np.ones(306, int)])
    weights = normals.slot_weights(month, day, "standard", "calendar_day")
    assert weights.sum() == pytest.approx(365.25) and weights[59] == 0.25
    assert normals.slot_weights(month, day, "all_leap", "calendar_day").sum() == 366
    assert normals.slot_weights(month, day, "standard", "dayofyear")[-1] == 0.25


# ---- command line --------------------------------------------------------------------------------------------
def test_cli_plots(out_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [str(out_dir), "--variable", "tas", "--region", "CONUS"]
    assert (
        main(
            [
                "plot",
                "map",
                *base,
                "--scenario",
                "ssp245",
                "--target",
                "2019",
                "--day",
                "196",
                "-o",
                str(tmp_path / "map.png"),
            ]
        )
        == 0
    )
    assert_picture(tmp_path / "map.png", 900, 600)
    assert (
        main(
            [
                "plot",
                "map",
                *base,
                "--scenario",
                "ssp585",
                "--season",
                "JJA",
                "--size",
                "640x480",
                "-o",
                str(tmp_path / "jja.png"),
            ]
        )
        == 0
    )
    assert_picture(tmp_path / "jja.png", 640, 480)
    assert (
        main(
            [
                "plot",
                "cycle",
                *base,
                "--scenario",
                "ssp245",
                "--targets",
                "2015",
                "2021",
                "-o",
                str(tmp_path / "cycle.png"),
            ]
        )
        == 0
    )
    assert_picture(tmp_path / "cycle.png", 900, 550)
    assert main(["plot", "change", *base, "-o", str(tmp_path / "change.png")]) == 0
    assert_picture(tmp_path / "change.png", 900, 550)
    assert f"wrote {tmp_path / 'change.png'}" in capsys.readouterr().out
    assert main(["plot", "map", *base, "--target", "2019"]) == 2
    assert "choose one with --scenario" in capsys.readouterr().err


def test_cli_without_matplotlib_names_the_extra(
    out_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code = main(
        ["plot", "change", str(out_dir), "--variable", "tas", "--region", "CONUS", "-o", str(tmp_path / "c.png")]
    )
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "pip install 'climnorm[plot]'" in err
    assert not (tmp_path / "c.png").exists()


def test_region_series_in_processes_match_serial(out_dir: Path) -> None:
    records = normals.select_records(normals.load_index(out_dir), TAS)
    serial = normals.region_series_many(out_dir, records)
    parallel = normals.region_series_many(out_dir, records, workers=2)
    assert [s.record.path for s in parallel] == [r.path for r in records]
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.series, b.series)
        assert a.annual == b.annual

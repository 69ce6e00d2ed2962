"""Pictures from polygons: state and county outlines over gridded maps, and the county choropleth
(`climnorm plot counties`), checked in the figures' data and in the PNGs' pixels."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from climnorm.cli import main
from climnorm.errors import PlotError, ZonalExtraMissing

pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")

from matplotlib.collections import LineCollection, PathCollection

from climnorm.pictures import counties, outlines, plots
from climnorm.pictures.normals import Selection, load_index, pick_record
from climnorm.zonal import load_counties, zonal_table
from climnorm.zonal.table import ZonalRequest, stats
from helpers import assert_picture
from zonal_files import write_shapes, write_two_regions

TAS_2019 = Selection("tas", "CONUS", ("ssp245",), 2019)


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def _dark_along(fig, lat: float, lons: np.ndarray) -> float:
    """Share of the points along a parallel with a near-black pixel within 2 px (a drawn line)."""
    pixels = _pixels(fig)
    height = pixels.shape[0]
    hits = 0
    for lon in lons:
        x, y = fig.axes[0].transData.transform((lon, lat))
        row, col = int(np.rint(height - y)), int(np.rint(x))
        hits += bool((pixels[row - 2 : row + 3, col].max(axis=1) < 90).any())
    return hits / len(lons)


# ---- outlines over a gridded map -----------------------------------------------------------------------------
def test_state_outlines_are_drawn_over_the_map(pictures_run: Path, tmp_path: Path) -> None:
    border = np.linspace(-107.5, -103.5, 15) + 360.0  # Colorado / Wyoming at 41°N; the grid is in 0..360
    with_states = plots.map_figure(pictures_run, TAS_2019, day=196)  # states by default
    bare = plots.map_figure(pictures_run, TAS_2019, day=196, outlines="none")
    assert _dark_along(with_states, 41.0, border) > 0.9
    assert _dark_along(bare, 41.0, border) == 0.0
    assert _dark_along(with_states, 38.0, border) < 0.2  # no border along 38°N there
    lines = [c for c in with_states.axes[0].collections if isinstance(c, LineCollection)]
    assert len(lines) == 1 and len(lines[0].get_segments()) > 48
    west, east = with_states.axes[0].get_xlim()
    assert all(west - 1e-9 <= s[:, 0].min() and s[:, 0].max() <= east + 1e-9 for s in lines[0].get_segments())
    path = plots.plot_map(pictures_run, tmp_path / "map.png", TAS_2019, day=196)
    assert_picture(path, 900, 600)


def test_county_outlines_are_lighter_than_states(pictures_run: Path) -> None:
    fig = plots.map_figure(pictures_run, TAS_2019, day=196, outlines="counties")
    county, state = (c for c in fig.axes[0].collections if isinstance(c, LineCollection))
    assert len(county.get_segments()) > 3000 > len(state.get_segments())
    assert county.get_colors()[0][:3].mean() > state.get_colors()[0][:3].mean() + 0.3
    assert county.get_linewidths()[0] < state.get_linewidths()[0]


def test_without_the_zonal_extra_the_map_has_no_outlines(
    pictures_run: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing(*args: object, **kwargs: object) -> int:
        raise ZonalExtraMissing("polygon tables need the zonal extra (shapely not installed)")

    monkeypatch.setattr(outlines, "draw_outlines", missing)
    with caplog.at_level(logging.DEBUG, logger="climnorm.pictures"):
        fig = plots.map_figure(pictures_run, TAS_2019, day=196)
        assert not [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
        assert [r.levelno for r in caplog.records if "no outlines" in r.getMessage()] == [logging.DEBUG]
        plots.map_figure(pictures_run, TAS_2019, day=196, outlines="counties")  # asked for: a warning only
        assert [r.levelno for r in caplog.records if "no outlines" in r.getMessage()][-1] == logging.WARNING


def test_alaska_outline_across_the_antimeridian() -> None:
    shape = outlines.state_shapes(load_counties())["AK"]
    lines = outlines.outline_lines([shape], (170.0, 235.0, 50.0, 72.0))
    lon = np.concatenate([line[:, 0] for line in lines])
    assert lon.min() >= 170.0 and lon.max() <= 235.0
    assert (lon < 180.0).any() and (lon > 180.0).any()  # Attu in the east, the Aleutians past 180
    west = outlines.outline_lines([shape], (-180.0, -125.0, 50.0, 72.0))
    assert min(line[:, 0].min() for line in west) >= -180.0 and len(west) < len(lines)


# ---- the county choropleth -----------------------------------------------------------------------------------
def test_choropleth_values_flags_and_states_from_the_zonal_table(tmp_path: Path) -> None:
    out = write_two_regions(tmp_path / "out")
    request = ZonalRequest(write_shapes(tmp_path / "s.gpkg"), "id", "name", "state")
    fig = counties.counties_figure(out, Selection("tas", "WEST"), day=2, request=request)
    filled, hatched = (c for c in fig.axes[0].collections if isinstance(c, PathCollection))
    table = zonal_table(out, request.polygons, "id").query("region == 'WEST' and slot == 2")
    np.testing.assert_allclose(filled.get_array(), table["value"].to_numpy() - 273.15, rtol=1e-12)
    assert len(hatched.get_paths()) == 1 and hatched.get_hatch() == "////"  # "sea": the nearest valid cell
    assert fig.axes[1].get_ylabel() == "tas (°C)"
    assert "day 2 (2 Jan)" in fig.axes[0].get_title()
    states = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    assert len(states) == 1 and len(states[0].get_segments()) >= 1
    annual = counties.counties_figure(out, Selection("tas", "WEST"), request=request)
    whole = zonal_table(out, request.polygons, "id").query("region == 'WEST'").groupby("id", observed=True, sort=False)
    assert "annual mean" in annual.axes[0].get_title()
    np.testing.assert_allclose(
        next(c for c in annual.axes[0].collections).get_array(), whole["value"].mean().to_numpy() - 273.15, rtol=1e-12
    )
    with pytest.raises(PlotError, match=r"day 7 is outside the normal's day slots 1\.\.6"):
        counties.counties_figure(out, Selection("tas", "WEST"), day=7, request=request)
    with pytest.raises(PlotError, match="choose one of a day, a month or a season"):
        counties.counties_figure(out, Selection("tas", "WEST"), day=1, month=1, request=request)


def test_plot_counties_command(pictures_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["plot", "counties", str(pictures_run), "--variable", "pr", "--region", "AK", "--scenario", "ssp245"]
    out = tmp_path / "counties.png"
    assert main(["-q", *base, "--target", "2019", "--season", "JJA", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    pixels = assert_picture(out, 900, 600)[..., :3]
    assert (pixels.max(axis=2) < 0.25).sum() > 2000  # the state outline (Alaska's coast) drawn dark
    fig = counties.counties_figure(pictures_run, TAS_2019, month=7)
    record = pick_record(load_index(pictures_run), TAS_2019)
    table = stats(ZonalRequest().aggregation(pictures_run, [record])).table
    july = table[table["slot_label"].astype(str).str.startswith("07-")]
    expected = july.groupby("id", observed=True, sort=False)["value"].mean().to_numpy() - 273.15
    np.testing.assert_allclose(fig.axes[0].collections[0].get_array(), expected, rtol=1e-9)
    assert "Jul mean" in fig.axes[0].get_title() and "per county" in fig.axes[0].get_title()
    assert main(["-q", *base, "--target", "2030", "-o", str(out)]) == 2
    assert "targets: 2015-2017, 2019-2021" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main([*base, "--day", "1", "--month", "1"])
    assert stop.value.code == 2


def test_plot_counties_without_the_zonal_extra_names_it(
    pictures_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "climnorm.zonal" or m.startswith("climnorm.zonal.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyogrio", None)
    args = ["-q", "plot", "counties", str(pictures_run), "--variable", "tas", "--region", "AK", "-o", str(tmp_path)]
    assert main(args) == 2
    assert "pip install 'climnorm[zonal]'" in " ".join(capsys.readouterr().err.split())

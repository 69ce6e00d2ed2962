"""Other products and file shapes: monthly and seasonal slots, ensemble statistics, bounds, the county default,
writing Parquet/CSV, and the errors for what cannot be aggregated."""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from climnorm._atomic import TMP_MARK
from climnorm.errors import OutputNotFound
from climnorm.zonal import ZonalError, write_table, zonal_stats, zonal_table
from zonal_files import record, write_manifest, write_output, write_vector
from zonal_reference import reference_mean, reference_weights

LAT = np.arange(10.5, 13.0, 1.0)
LON = np.arange(0.5, 3.0, 1.0)


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return write_vector(tmp_path / "s.geojson", [box(0.2, 10.3, 1.7, 12.2), box(1.5, 11.5, 2.5, 12.5)], ["a", "b"])


def test_ensemble_statistics_in_monthly_and_seasonal_files(tmp_path: Path, shapes: Path) -> None:
    rng = np.random.default_rng(3)
    monthly = {f"pr_{s}": rng.random((12, 3, 3)) for s in ("mean", "p90")}
    seasonal = {"pr_mean": rng.random((4, 3, 3))}
    out = tmp_path / "out"
    write_output(out, "m.nc", LAT, LON, monthly, slots="monthly", units="mm/day")
    write_output(out, "s.nc", LAT, LON, seasonal, slots="seasonal", units="mm/day", attrs={"product": "seasonal"})
    write_manifest(
        out,
        [
            record("m.nc", "R", "pr", model="ensemble", product="monthly"),
            record("s.nc", "R", "pr", model="ensemble", product="seasonal"),
        ],
    )
    table = zonal_table(out, shapes)
    assert set(table["model"]) == {"ensemble"}
    assert set(table["statistic"]) == {"mean", "p90"}
    months = table[(table["product"] == "monthly") & (table["statistic"] == "p90") & (table["id"] == "a")]
    assert list(months["slot"]) == list(range(1, 13)) and months["slot_label"].iloc[0] == "Jan"
    seasons = table[table["product"] == "seasonal"]
    assert set(seasons["slot_kind"]) == {"season"} and list(seasons["slot_label"][:4]) == ["DJF", "MAM", "JJA", "SON"]
    ref = reference_weights(box(0.2, 10.3, 1.7, 12.2), np.c_[LAT - 0.5, LAT + 0.5], np.c_[LON - 0.5, LON + 0.5])
    np.testing.assert_allclose(months["value"], [reference_mean(ref, monthly["pr_p90"][m]) for m in range(12)], 1e-6)
    assert len(table) == 2 * (12 * 2 + 4)
    seasonal_only = zonal_table(out, shapes, products=["seasonal"])
    assert len(seasonal_only) == 2 * 4 and set(seasonal_only["product"]) == {"seasonal"}


def test_bounds_in_the_file_define_the_cells(tmp_path: Path, shapes: Path) -> None:
    lat_b = np.array([[10.0, 10.4], [10.4, 12.0], [12.0, 13.0]])
    lon_b = np.array([[0.0, 1.6], [1.6, 2.1], [2.1, 3.0]])
    data = np.random.default_rng(4).random((3, 3, 3))
    out = tmp_path / "out"
    write_output(out, "b.nc", lat_b.mean(axis=1), lon_b.mean(axis=1), {"tas": data}, bounds=(lat_b, lon_b))
    write_manifest(out, [record("b.nc", "R")])
    rows = zonal_table(out, shapes).query("id == 'a'")
    ref = reference_weights(box(0.2, 10.3, 1.7, 12.2), lat_b, lon_b)
    np.testing.assert_allclose(rows["value"], [reference_mean(ref, data[s]) for s in range(3)], rtol=1e-6)


def test_default_polygons_are_the_counties(tmp_path: Path) -> None:
    lat = np.arange(17.625, 18.5, 0.25)
    lon = np.arange(292.125, 295.4, 0.25)  # climnorm's PRVI region of the NEX-GDDP-CMIP6 grid
    data = np.full((2, lat.size, lon.size), 300.0)
    out = tmp_path / "out"
    write_output(out, "pr.nc", lat, lon, {"tas": data})
    write_manifest(out, [record("pr.nc", "PRVI")])
    result = zonal_stats(out)
    table = result.table
    assert table["id"].nunique() == 78 and set(table["state"]) == {"PR"}
    assert len(result.outside) == 3221 - 78
    np.testing.assert_allclose(table["value"], 300.0, rtol=1e-6)
    assert table.query("id == '72049'")["name"].iloc[0] == "Culebra"


def test_write_table_parquet_and_csv_round_trip(tmp_path: Path, shapes: Path) -> None:
    out = tmp_path / "out"
    write_output(out, "t.nc", LAT, LON, {"tas": np.random.default_rng(5).random((3, 3, 3))})
    write_manifest(out, [record("t.nc", "R")])
    table = zonal_table(out, shapes)
    back = pd.read_parquet(write_table(table, tmp_path / "t.parquet"))
    pd.testing.assert_frame_equal(back, table, check_categorical=False)
    csv = pd.read_csv(write_table(table, tmp_path / "sub" / "t.csv"), keep_default_na=False, na_values=[""])
    np.testing.assert_array_equal(csv["value"].to_numpy(), table["value"].to_numpy())
    assert list(csv["id"]) == list(table["id"])
    assert not list(tmp_path.rglob(f"*{TMP_MARK}"))
    with pytest.raises(ZonalError, match=r"t\.xlsx: unknown table format"):
        write_table(table, tmp_path / "t.xlsx")


def test_curvilinear_output_is_refused(tmp_path: Path, shapes: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with netCDF4.Dataset(out / "c.nc", "w") as ds:
        for dim, size in (("time", 2), ("y", 3), ("x", 3)):
            ds.createDimension(dim, size)
        ds.createVariable("lat", "f8", ("y", "x"))[:] = np.random.default_rng(0).random((3, 3))
        ds.createVariable("lon", "f8", ("y", "x"))[:] = np.random.default_rng(1).random((3, 3))
        ds.createVariable("tas", "f4", ("time", "y", "x"))[:] = np.ones((2, 3, 3))
    write_manifest(out, [record("c.nc", "R")])
    with pytest.raises(ZonalError, match=r"c\.nc: 2-D latitude/longitude \(a curvilinear grid\) is not supported"):
        zonal_table(out, shapes)


def test_missing_manifest_and_missing_file(tmp_path: Path, shapes: Path) -> None:
    with pytest.raises(OutputNotFound, match=r"no manifest here"):
        zonal_table(tmp_path, shapes)
    write_manifest(tmp_path, [record("gone.nc", "R")])
    with pytest.raises(ZonalError, match=r"gone\.nc: listed in the manifest but missing"):
        zonal_table(tmp_path, shapes)

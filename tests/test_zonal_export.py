"""The streamed table writer (one row group per output set), its one-line summary, and grids of a single row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shapely import box

from climnorm._atomic import TMP_MARK
from climnorm.zonal import ZonalError, make_grid, write_zonal_table, zonal_table
from climnorm.zonal.table import ZonalRequest
from zonal_files import (
    LAT,
    WEST_LON,
    record,
    west_data,
    write_manifest,
    write_output,
    write_shapes,
    write_two_regions,
    write_vector,
)


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """Two sets (target years 2010 and 2011) of WEST and EAST outputs."""
    out = write_two_regions(tmp_path / "out")
    rels = ["tas/WEST/tas_WEST_2011.nc", "tas/EAST/tas_EAST_2011.nc"]
    for rel in rels:
        (out / rel).write_bytes((out / rel.replace("_2011", "")).read_bytes())
    records = [record(r.replace("_2011", ""), r.split("/")[1]) for r in rels]
    records += [record(r, r.split("/")[1], target_year=2011) for r in rels]
    write_manifest(out, records)
    return out


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.csv.gz"])
def test_streamed_table_equals_the_table_in_memory(outputs: Path, tmp_path: Path, name: str) -> None:
    shapes = write_shapes(tmp_path / "shapes.gpkg")
    request = ZonalRequest(shapes, "id", "name", "state")
    written = write_zonal_table(outputs, tmp_path / "tables" / name, request)
    whole = zonal_table(outputs, shapes, "id", "name", "state")
    assert written.rows == len(whole) == 2 * 5 * 6 and written.files == 4
    if name.endswith(".parquet"):
        assert pq.ParquetFile(written.path).num_row_groups == 2  # one per output set
        back = pd.read_parquet(written.path)
        pd.testing.assert_frame_equal(back, whole, check_categorical=False)
    else:
        back = pd.read_csv(written.path, dtype={"id": str, "state": str}, keep_default_na=False, na_values=[""])
        np.testing.assert_allclose(back["value"], whole["value"], rtol=1e-15)
        assert list(back["id"]) == list(whole["id"]) and list(back["flag"].fillna("")) == list(whole["flag"])
    assert (written.polygons, written.with_values, written.flagged, written.outside) == (6, 5, ("sea",), ("far",))
    line = written.summary()
    assert f"wrote {written.path}: 60 rows from 4 outputs, 6 polygons (5 with values, 1 flagged, 1 outside" in line
    assert not list(tmp_path.rglob(f"*{TMP_MARK}"))


def test_a_table_without_rows_still_has_its_columns(outputs: Path, tmp_path: Path) -> None:
    shapes = write_shapes(tmp_path / "shapes.gpkg")
    far = write_vector(tmp_path / "far.gpkg", [box(100.0, -50.0, 101.0, -49.0)], ["far"], ["Far"], states=["XX"])
    written = write_zonal_table(outputs, tmp_path / "none.parquet", ZonalRequest(far, "id"))
    assert written.rows == 0
    assert list(pd.read_parquet(written.path).columns) == list(zonal_table(outputs, shapes, "id").columns)


def test_a_wrong_suffix_fails_before_any_work(outputs: Path, tmp_path: Path) -> None:
    with pytest.raises(ZonalError, match=r"t\.xlsx: unknown table format; use a name ending in \.parquet"):
        write_zonal_table(outputs, tmp_path / "t.xlsx", ZonalRequest(tmp_path / "no-such.gpkg", "id"))
    assert not (tmp_path / "t.xlsx").exists()


def test_a_single_row_or_column_takes_the_other_axis_spacing(tmp_path: Path) -> None:
    grid = make_grid(np.array([18.5]), np.array([292.5, 293.5, 294.5]))  # PRVI on a 1° grid
    np.testing.assert_array_equal(grid.lat_bounds, [[18.0, 19.0]])
    column = make_grid(np.arange(13.5, 21.0, 1.0), np.array([145.5]))  # GU on a 1° grid
    np.testing.assert_array_equal(column.lon_bounds, [[145.0, 146.0]])
    with pytest.raises(ZonalError, match="a grid of a single cell needs lat/lon bounds"):
        make_grid(np.array([18.5]), np.array([293.5]))
    out = tmp_path / "out"
    write_output(out, "one.nc", LAT[:1], WEST_LON, {"tas": west_data()[:, :1]})
    write_manifest(out, [record("one.nc", "WEST")])
    table = zonal_table(out, write_shapes(tmp_path / "s.gpkg"), "id")
    assert set(table["id"]) == {"coast"}  # the one polygon reaching into the row 10..11°N

"""The zonal table end to end: real output files and manifest, polygons in a GeoPackage, against the reference."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from climnorm.errors import OutputNotFound
from climnorm.zonal import zonal_stats, zonal_table
from climnorm.zonal.frame import COLUMNS
from zonal_files import (
    EAST_LON,
    LAT,
    NSLOTS,
    SHAPES,
    WEST_LON,
    region_data,
    west_data,
    write_shapes,
    write_two_regions,
    write_vector,
)  # fmt: skip
from zonal_reference import bounds_from_centres, reference_mean, reference_nearest, reference_weights


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return write_two_regions(tmp_path / "out")


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    return write_shapes(tmp_path / "shapes.gpkg")


def _rows(table: pd.DataFrame, pid: str) -> pd.DataFrame:
    return table[table["id"] == pid].sort_values("slot")


def test_values_and_coverage_match_the_reference(outputs: Path, shapes: Path) -> None:
    result = zonal_stats(outputs, shapes, "id", "name")
    table = result.table
    assert list(table.columns) == list(COLUMNS)
    grids = {"WEST": (WEST_LON, west_data()), "EAST": (EAST_LON, region_data(EAST_LON, 2))}
    for pid, region in (("full", "WEST"), ("coast", "WEST"), ("straddle", "EAST"), ("island", "EAST")):
        lon, data = grids[region]
        ref = reference_weights(SHAPES[pid], bounds_from_centres(LAT), bounds_from_centres(lon))
        rows = _rows(table, pid)
        assert set(rows["region"]) == {region} and len(rows) == NSLOTS
        want = [reference_mean(ref, data[s]) for s in range(NSLOTS)]
        np.testing.assert_allclose(rows["value"], want, rtol=1e-6)
        valid = ~np.isnan(data)
        np.testing.assert_array_equal(rows["n_cells"], [np.count_nonzero((ref > 0) & valid[s]) for s in range(NSLOTS)])
        assert set(rows["flag"]) == {""}
        assert rows["nearest_km"].isna().all()
    full, coast = _rows(table, "full"), _rows(table, "coast")
    np.testing.assert_allclose(full["covered_fraction"], 1.0, rtol=1e-12)
    ref = reference_weights(SHAPES["coast"], bounds_from_centres(LAT), bounds_from_centres(WEST_LON))
    valid = ~np.isnan(west_data())
    want = [ref[valid[s]].sum() / ref.sum() for s in range(NSLOTS)]
    np.testing.assert_allclose(coast["covered_fraction"], want, rtol=1e-9)
    assert coast["covered_fraction"].iloc[2] < coast["covered_fraction"].iloc[0] < 1.0
    assert _rows(table, "straddle")["covered_fraction"].iloc[0] == pytest.approx(1.5 / 2.5, rel=1e-3)


def test_polygon_over_all_nan_cells_takes_the_nearest_valid_cell(outputs: Path, shapes: Path) -> None:
    rows = _rows(zonal_table(outputs, shapes, "id"), "sea")
    data = west_data()
    for s, (_, row) in enumerate(rows.iterrows()):
        value, km, lat, lon = reference_nearest(1.5, 13.5, LAT, WEST_LON, data[s])
        assert row["flag"] == "nearest" and row["n_cells"] == 1 and row["covered_fraction"] == 0.0
        assert row["value"] == pytest.approx(value, rel=1e-6)
        assert row["nearest_km"] == pytest.approx(km, rel=1e-9)
        assert (row["nearest_lat"], row["nearest_lon"]) == (lat, lon)
    assert 100.0 < rows["nearest_km"].iloc[0] < 200.0


def test_polygon_outside_every_region_is_listed_once(outputs: Path, shapes: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="climnorm.zonal"):
        result = zonal_stats(outputs, shapes, "id")
    assert result.outside == ("far",)
    assert result.table.attrs["outside"] == ["far"]
    assert "far" not in set(result.table["id"])
    warnings = [r for r in caplog.records if "outside every region" in r.getMessage()]
    assert len(warnings) == 1 and "far" in warnings[0].getMessage()
    assert result.assigned["straddle"] == "EAST" and result.assigned["full"] == "WEST"


def test_daily_slots_and_record_columns(outputs: Path, shapes: Path) -> None:
    table = zonal_table(outputs, shapes, "id", "name")
    row = table.iloc[0]
    assert (row["variable"], row["units"], row["scenario"], row["period"]) == ("tas", "K", "historical", "historical")
    assert (row["model"], row["statistic"], row["product"], row["slot_kind"]) == ("SYNTH-ESM", "", "daily", "dayofyear")
    assert row["target_year"] == 2010
    full = _rows(table, "full")
    assert list(full["slot"]) == list(range(1, NSLOTS + 1))
    assert list(full["slot_label"])[:2] == ["01-01", "01-02"]
    assert set(full["name"]) == {"Full"}
    assert len(table) == (len(SHAPES) - 1) * NSLOTS


def test_region_filter_leaves_the_others_outside(outputs: Path, shapes: Path) -> None:
    result = zonal_stats(outputs, shapes, "id", regions=["EAST"])
    assert set(result.table["region"]) == {"EAST"}
    assert set(result.table["id"]) == {"straddle", "island"}
    assert set(result.outside) == {"full", "coast", "sea", "far"}
    with pytest.raises(OutputNotFound, match=r"outputs: no region 'MARS' \(there are: EAST, WEST\)"):
        zonal_stats(outputs, shapes, "id", regions=["MARS"])


def test_weights_are_cached_in_the_output_directory(outputs: Path, shapes: Path) -> None:
    first = zonal_table(outputs, shapes, "id")
    cached = sorted((outputs / "zonal-cache").glob("weights-*.npz"))
    assert len(cached) == 2
    stamps = [p.stat().st_mtime_ns for p in cached]
    second = zonal_table(outputs, shapes, "id")
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    pd.testing.assert_frame_equal(first, second)
    write_vector(shapes, [box(1.0, 11.0, 2.0, 12.0)], ["one"])
    assert set(zonal_table(outputs, shapes, "id")["id"]) == {"one"}
    assert len(list((outputs / "zonal-cache").glob("weights-*.npz"))) == 4

"""Reading polygon files (formats, CRS, errors) and the built-in county set."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from climnorm.errors import ClimnormError
from climnorm.zonal import ZonalError, compute_weights, load_counties, make_grid, read_polygons
from zonal_files import write_vector

# Census 2010 counties and county-equivalents per state (USPS code): 3,143 in the states and DC, 78 in PR.
COUNTIES_2010 = {
    "AK": 29, "AL": 67, "AR": 75, "AZ": 15, "CA": 58, "CO": 64, "CT": 8, "DC": 1, "DE": 3, "FL": 67, "GA": 159,
    "HI": 5, "IA": 99, "ID": 44, "IL": 102, "IN": 92, "KS": 105, "KY": 120, "LA": 64, "MA": 14, "MD": 24, "ME": 16,
    "MI": 83, "MN": 87, "MO": 115, "MS": 82, "MT": 56, "NC": 100, "ND": 53, "NE": 93, "NH": 10, "NJ": 21, "NM": 33,
    "NV": 17, "NY": 62, "OH": 88, "OK": 77, "OR": 36, "PA": 67, "PR": 78, "RI": 5, "SC": 46, "SD": 66, "TN": 95,
    "TX": 254, "UT": 29, "VA": 134, "VT": 14, "WA": 39, "WI": 72, "WV": 55, "WY": 23,
}  # fmt: skip


@pytest.fixture(scope="module")
def counties():
    return load_counties()


def test_county_set_loads_offline_with_known_counts(counties) -> None:
    assert len(counties) == 3221
    assert sum(COUNTIES_2010.values()) == 3221
    assert dict(Counter(counties.states)) == COUNTIES_2010
    assert all(len(f) == 5 and f.isdigit() for f in counties.ids)
    by_id = dict(zip(counties.ids, zip(counties.names, counties.states, strict=True), strict=True))
    assert by_id["48201"] == ("Harris", "TX")
    assert by_id["35013"] == ("Doña Ana", "NM")  # ISO-8859-1 in the dbf, read as text
    assert by_id["72011"] == ("Añasco", "PR")
    assert by_id["51515"][0] == "Bedford" and "46113" in by_id  # 2010 vintage: Bedford city, Shannon County


def test_aleutians_west_crosses_the_antimeridian_in_both_conventions(counties) -> None:
    one = counties.subset(["02016"])
    lat = np.arange(51.125, 57.5, 0.25)
    east = compute_weights(one, make_grid(lat, np.arange(170.125, 195.0, 0.25)))
    west = compute_weights(one, make_grid(lat, np.arange(-179.875, 180.0, 0.25)))
    assert east.grid_area[0] == pytest.approx(west.grid_area[0], rel=1e-9)
    assert east.grid_area[0] == pytest.approx(east.polygon_area[0], rel=1e-12)
    import pyproj

    geodesic = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(one.geometry(0))[0]) / 1e6
    assert east.grid_area[0] == pytest.approx(geodesic, rel=0.01)  # sphere against ellipsoid: under 1%


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_formats_give_ids_names_and_the_same_shapes(tmp_path: Path, suffix: str) -> None:
    geoms = [box(0, 0, 1, 1), box(2, 0, 3, 2)]
    path = write_vector(tmp_path / f"x{suffix}", geoms, ["01001", "01003"], ["Autauga", "Baldwin"])
    polygons = read_polygons(path, "id", "name")
    assert polygons.ids == ("01001", "01003") and polygons.names == ("Autauga", "Baldwin")
    assert polygons.states == ("", "")
    assert shapely.equals(polygons.geometry(1), geoms[1])


def test_zipped_shapefile_as_census_ships_it(tmp_path: Path) -> None:
    write_vector(tmp_path / "cb.shp", [box(0, 0, 1, 1)], ["A"])
    archive = tmp_path / "cb_2023_us_county_500k.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("cb.*"):
            z.write(part, part.name)
    assert read_polygons(archive, "id", "name").ids == ("A",)


def test_points_and_empty_geometries_are_left_out(tmp_path: Path, caplog) -> None:
    path = tmp_path / "mixed.gpkg"
    import pyogrio.raw

    wkb = np.array([shapely.to_wkb(g) for g in (box(0, 0, 1, 1), Point(5, 5))], dtype=object)
    pyogrio.raw.write(
        path, wkb, [np.array(["A", "B"], dtype=object)], ["id"], driver="GPKG", geometry_type="Unknown", crs="EPSG:4326"
    )
    assert read_polygons(path).ids == ("A",)
    assert "1 of 2 features have no polygon geometry" in caplog.text


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing", r"missing\.gpkg: no such polygon file"),
        ("field", r"no field 'GEOID'; the fields are id, name"),
        ("lines", r"no polygons \(1 features"),
        ("garbage", r"garbage\.gpkg: cannot read polygons"),
        ("repeated", r"2 values of 'id' are repeated \(A, B\)"),
    ],
)
def test_clear_one_line_errors(tmp_path: Path, case: str, match: str) -> None:
    path = tmp_path / f"{case}.gpkg"
    if case in ("field", "repeated"):
        write_vector(path, [box(0, 0, 1, 1)] * 4, ["A", "A", "B", "B"] if case == "repeated" else list("ABCD"))
    elif case == "lines":
        import pyogrio.raw

        wkb = np.array([shapely.to_wkb(LineString([(0, 0), (1, 1)]))], dtype=object)
        pyogrio.raw.write(
            path,
            wkb,
            [np.array(["A"], dtype=object)],
            ["id"],
            driver="GPKG",
            geometry_type="LineString",
            crs="EPSG:4326",
        )
    elif case == "garbage":
        path.write_bytes(b"not a geopackage" * 100)
    with pytest.raises(ZonalError, match=match) as info:
        read_polygons(path, "GEOID" if case == "field" else "id")
    assert isinstance(info.value, ClimnormError) and "\n" not in str(info.value)


def test_projected_coordinates_without_a_crs_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    write_vector(path, [box(500000, 4000000, 600000, 4100000)], ["A"])
    path.with_suffix(".prj").unlink()
    with pytest.raises(ZonalError, match="not degrees; is the file's CRS missing"):
        read_polygons(path)

"""Exact weights of hand-made polygons read from real files, against the loop-over-cells reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from climnorm._atomic import TMP_MARK
from climnorm.zonal import ZonalError, compute_weights, make_grid, read_polygons
from climnorm.zonal.cache import cache_path, cached_weights, weights_key
from zonal_files import write_vector
from zonal_reference import bounds_from_centres, cell_area_km2, reference_weights

LAT = np.arange(10.5, 15.0, 1.0)
LON = np.arange(0.5, 5.0, 1.0)
RTOL = 1e-9


def _dense(weights, index: int, shape: tuple[int, int]) -> np.ndarray:
    return weights.matrix[index].toarray().reshape(shape)


def _check(tmp_path: Path, suffix: str, geom, lat=LAT, lon=LON, truth=None) -> np.ndarray:
    """Write ``geom`` to a file, read it, weigh it on the grid and compare with the reference of ``truth``."""
    path = write_vector(tmp_path / f"p{suffix}", [geom], ["A"])
    polygons = read_polygons(path, "id", "name")
    grid = make_grid(lat, lon)
    got = _dense(compute_weights(polygons, grid), 0, grid.shape)
    want = reference_weights(truth or geom, bounds_from_centres(lat), bounds_from_centres(lon))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12 * want.max())
    assert np.array_equal(got > 0, want > 0)
    return got


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_polygon_equal_to_one_cell_has_weight_one_on_it(tmp_path: Path, suffix: str) -> None:
    got = _check(tmp_path, suffix, box(1.0, 11.0, 2.0, 12.0))
    assert np.count_nonzero(got) == 1
    assert got[1, 1] == pytest.approx(cell_area_km2(11.0, 12.0, 1.0, 2.0), rel=1e-12)


def test_half_cells_along_either_axis(tmp_path: Path) -> None:
    area = cell_area_km2(11.0, 12.0, 1.0, 2.0)
    got = _check(tmp_path, ".gpkg", box(1.0, 11.0, 1.5, 12.0))
    assert got[1, 1] == pytest.approx(0.5 * area, rel=1e-12)
    got = _check(tmp_path / "..", ".geojson", box(1.0, 11.0, 2.0, 11.5))
    assert got[1, 1] == pytest.approx(0.5 * area, rel=1e-12)  # half in degrees, not half the sphere's area


def test_polygon_with_a_hole(tmp_path: Path) -> None:
    shell = [(0.5, 10.5), (4.5, 10.5), (4.5, 14.5), (0.5, 14.5)]
    hole = [(1.5, 11.5), (3.5, 11.5), (3.5, 13.5), (1.5, 13.5)]
    got = _check(tmp_path, ".gpkg", Polygon(shell, [hole]))
    assert got[2, 2] == 0.0  # the cell wholly inside the hole
    assert got[1, 1] == pytest.approx(0.75 * cell_area_km2(11.0, 12.0, 1.0, 2.0), rel=1e-12)


def test_multipolygon_and_a_triangle(tmp_path: Path) -> None:
    geom = MultiPolygon([box(0.2, 10.2, 0.7, 10.9), Polygon([(2.1, 12.1), (4.9, 12.3), (3.0, 14.8)])])
    got = _check(tmp_path, ".shp", geom)
    assert np.count_nonzero(got) > 4


def test_island_smaller_than_a_cell_keeps_its_partial_weight(tmp_path: Path) -> None:
    island = Point(3.3, 13.4).buffer(0.1, quad_segs=16)
    got = _check(tmp_path, ".geojson", island)
    assert np.count_nonzero(got) == 1
    assert got[3, 3] == pytest.approx(island.area * cell_area_km2(13.0, 14.0, 3.0, 4.0), rel=1e-9)


def test_polygon_outside_the_grid_has_no_weight(tmp_path: Path) -> None:
    path = write_vector(tmp_path / "far.gpkg", [box(100.0, 40.0, 101.0, 41.0)], ["far"])
    weights = compute_weights(read_polygons(path), make_grid(LAT, LON))
    assert weights.matrix.nnz == 0 and weights.grid_area[0] == 0.0 and weights.polygon_area[0] > 0.0


# The antimeridian: the true shape is the box 179.25..180.75 E, 50.2..51.6 N.
TRUE_360 = box(179.25, 50.2, 180.75, 51.6)
TRUE_180 = MultiPolygon([box(179.25, 50.2, 180.0, 51.6), box(-180.0, 50.2, -179.25, 51.6)])
RING_WITH_JUMP = Polygon([(179.25, 50.2), (-179.25, 50.2), (-179.25, 51.6), (179.25, 51.6)])
GRIDS = {
    "0..360": (np.arange(0.5, 360.0, 1.0), TRUE_360),
    "-180..180": (np.arange(-179.5, 180.0, 1.0), TRUE_180),
    "continued past 180": (np.arange(175.5, 186.0, 1.0), TRUE_360),
}


ALBERS = "+proj=aea +lat_1=55 +lat_2=65 +lat_0=50 +lon_0=-154 +datum=WGS84 +units=m +no_defs"


def _albers(geom: Polygon) -> Polygon:
    """The shape in an Alaska Albers projection: read back, its longitudes jump at 180° (and must be unwrapped)."""
    import pyproj

    to_albers = pyproj.Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True)
    return shapely.transform(shapely.segmentize(geom, 0.25), lambda xy: np.column_stack(to_albers.transform(*xy.T)))


@pytest.mark.parametrize("grid_name", list(GRIDS))
@pytest.mark.parametrize("written", ["split", "ring with a jump", "0..360", "albers"])
def test_antimeridian_polygon_in_either_convention(tmp_path: Path, grid_name: str, written: str) -> None:
    lon, truth = GRIDS[grid_name]
    lat = np.arange(49.5, 53.0, 1.0)
    geoms = {"split": TRUE_180, "ring with a jump": RING_WITH_JUMP, "0..360": TRUE_360}
    geom = _albers(TRUE_360) if written == "albers" else geoms[written]
    path = write_vector(tmp_path / "am.gpkg", [geom], ["X"], crs=ALBERS if written == "albers" else "EPSG:4326")
    polygons = read_polygons(path)
    grid = make_grid(lat, lon)
    got = _dense(compute_weights(polygons, grid), 0, grid.shape)
    want = reference_weights(truth, bounds_from_centres(lat), bounds_from_centres(lon))
    rtol = 1e-8 if written == "albers" else RTOL  # projected there and back: vertices move by rounding
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12 * want.max())
    assert np.count_nonzero(got) == 4


def test_reprojected_file_gives_the_same_weights(tmp_path: Path) -> None:
    geom = Polygon([(1.2, 10.3), (4.4, 11.1), (2.5, 14.6)])
    lonlat = read_polygons(write_vector(tmp_path / "ll.gpkg", [geom], ["A"]))
    import pyproj

    to_merc = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    merc = shapely.transform(geom, lambda xy: np.column_stack(to_merc.transform(*xy.T)))
    projected = read_polygons(write_vector(tmp_path / "merc.shp", [merc], ["A"], crs="EPSG:3857"))
    grid = make_grid(LAT, LON)
    a, b = compute_weights(lonlat, grid).matrix.toarray(), compute_weights(projected, grid).matrix.toarray()
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9 * a.max())


def test_bounds_variables_define_the_cells(tmp_path: Path) -> None:
    lat_b = np.array([[10.0, 10.5], [10.5, 12.0], [12.0, 12.25]])
    lon_b = np.array([[0.0, 2.0], [2.0, 2.5], [2.5, 5.0]])
    geom = Polygon([(0.3, 10.1), (4.7, 10.4), (2.2, 12.2)])
    polygons = read_polygons(write_vector(tmp_path / "b.gpkg", [geom], ["A"]))
    grid = make_grid(lat_b.mean(axis=1), lon_b.mean(axis=1), lat_b, lon_b)
    got = _dense(compute_weights(polygons, grid), 0, grid.shape)
    want = reference_weights(geom, lat_b, lon_b)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-12 * want.max())


def test_decreasing_latitudes_keep_the_file_order(tmp_path: Path) -> None:
    geom = box(1.0, 11.0, 2.0, 12.5)
    polygons = read_polygons(write_vector(tmp_path / "d.gpkg", [geom], ["A"]))
    lat = LAT[::-1]
    grid = make_grid(lat, LON)
    got = _dense(compute_weights(polygons, grid), 0, grid.shape)
    want = reference_weights(geom, bounds_from_centres(lat), bounds_from_centres(LON))
    np.testing.assert_allclose(got, want, rtol=RTOL)
    assert got[3, 1] > 0 and got[2, 1] > 0  # rows 11..12 and 12..13 counted from the north


def test_curvilinear_grid_is_refused() -> None:
    lat2d, lon2d = np.meshgrid(LAT, LON, indexing="ij")
    with pytest.raises(ZonalError, match="curvilinear"):
        make_grid(lat2d, lon2d)


def test_polygon_area_is_the_grid_measured_area_when_inside(tmp_path: Path) -> None:
    inside = Polygon([(1.2, 10.3), (4.4, 11.1), (2.5, 14.6)])
    straddling = box(4.0, 11.0, 6.0, 12.0)  # half of it east of the grid (lon 0..5)
    polygons = read_polygons(write_vector(tmp_path / "a.gpkg", [inside, straddling], ["in", "edge"]))
    weights = compute_weights(polygons, make_grid(LAT, LON))
    assert weights.polygon_area[0] == pytest.approx(weights.grid_area[0], rel=1e-12)
    assert weights.grid_area[1] / weights.polygon_area[1] == pytest.approx(0.5, rel=1e-9)


def test_cache_is_reused_and_invalidated_by_a_changed_file(tmp_path: Path) -> None:
    path = write_vector(tmp_path / "c.gpkg", [box(1.0, 11.0, 2.0, 12.0)], ["A"])
    grid = make_grid(LAT, LON)
    cache = tmp_path / "cache"
    first = cached_weights(read_polygons(path), grid, cache)
    stored = cache_path(cache, weights_key(read_polygons(path), grid))
    mtime = stored.stat().st_mtime_ns
    second = cached_weights(read_polygons(path), grid, cache)
    assert not first.from_cache and second.from_cache
    assert stored.stat().st_mtime_ns == mtime
    assert (second.matrix != first.matrix).nnz == 0
    np.testing.assert_array_equal(second.polygon_area, first.polygon_area)
    write_vector(path, [box(1.0, 11.0, 3.0, 12.0)], ["A"])  # same name, new shape
    third = cached_weights(read_polygons(path), grid, cache)
    assert not third.from_cache and third.matrix.nnz == 2
    assert len(list(cache.glob("weights-*.npz"))) == 2
    assert not list(cache.glob(f"*{TMP_MARK}"))
    other_grid = cached_weights(read_polygons(path), make_grid(LAT + 0.25, LON), cache)
    assert not other_grid.from_cache

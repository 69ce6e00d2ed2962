"""Tests of climnorm.regions: the built-in boxes on the real 0.25° grid, conventions, seams and edges."""

from __future__ import annotations

import numpy as np
import pytest

from climnorm.regions import BUILTIN_REGIONS, Region, select_cells

# The real NEX-GDDP-CMIP6 grid (design §2).
LAT = -59.875 + 0.25 * np.arange(600)
LON = 0.125 + 0.25 * np.arange(1440)

EXPECTED_SHAPES = {"CONUS": (104, 240), "AK": (88, 260), "HI": (38, 94), "PRVI": (4, 14), "GU": (29, 6)}
CONVENTIONS = ("input", "0_360", "-180_180")


def _to_180(lon: np.ndarray) -> np.ndarray:
    return (lon + 180.0) % 360.0 - 180.0


# The same grid as many files write it: longitudes -180..180 ascending, latitudes north to south.
LON_180 = np.sort(_to_180(LON))
LAT_DESC = LAT[::-1].copy()


def _box(lat_min: float, lat_max: float, lon_min: float, lon_max: float) -> Region:
    return Region("BOX", "test box", lat_min, lat_max, lon_min, lon_max)


def _assert_increasing(values: np.ndarray) -> None:
    assert np.all(np.diff(values) > 0), values


def _centres_mod_360(lon: np.ndarray) -> list[float]:
    return sorted(np.round(lon % 360.0, 6).tolist())


def _in_lon_box(lon: float, region: Region) -> bool:
    """Brute force: is some 360° twin of ``lon`` within [lon_min, lon_min + width] (tolerance on centres)?"""
    width = (region.lon_max - region.lon_min) % 360.0 or 360.0
    return any(region.lon_min - 1e-9 <= lon + k * 360.0 <= region.lon_min + width + 1e-9 for k in (-2, -1, 0, 1, 2))


# ------------------------------------------------------------------------------------------------ built-ins


def test_builtin_regions_are_the_design_table() -> None:
    assert list(BUILTIN_REGIONS) == ["CONUS", "AK", "HI", "PRVI", "GU"]
    ak = BUILTIN_REGIONS["AK"]
    assert (ak.lat_min, ak.lat_max, ak.lon_min, ak.lon_max) == (50.0, 72.0, 170.0, 235.0)
    assert BUILTIN_REGIONS["HI"].as_dict() == {
        "key": "HI",
        "name": "Hawaii",
        "lat_min": 18.92,
        "lat_max": 28.45,
        "lon_min": 181.63,
        "lon_max": 205.20,
    }


@pytest.mark.parametrize("key", list(EXPECTED_SHAPES))
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_builtin_cell_counts_on_the_real_grid(key: str, convention: str) -> None:
    sel = select_cells(BUILTIN_REGIONS[key], LAT, LON, convention)
    assert sel.shape == EXPECTED_SHAPES[key]
    assert sel.lat.shape == (EXPECTED_SHAPES[key][0],)
    assert sel.lon.shape == (EXPECTED_SHAPES[key][1],)
    _assert_increasing(sel.lat)
    _assert_increasing(sel.lon)
    np.testing.assert_allclose(np.diff(sel.lon), 0.25)


@pytest.mark.parametrize("key", list(EXPECTED_SHAPES))
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_builtin_regions_are_grid_independent(key: str, convention: str) -> None:
    """The same cells (mod 360) on a -180..180 grid with descending latitude, still increasing."""
    region = BUILTIN_REGIONS[key]
    ref = select_cells(region, LAT, LON, convention)
    for lat, lon in ((LAT_DESC, LON), (LAT, LON_180), (LAT_DESC, LON_180)):
        sel = select_cells(region, lat, lon, convention)
        assert sel.shape == EXPECTED_SHAPES[key]
        _assert_increasing(sel.lat)
        _assert_increasing(sel.lon)
        np.testing.assert_array_equal(sel.lat, ref.lat)
        assert _centres_mod_360(sel.lon) == _centres_mod_360(ref.lon)
        # the indices point at exactly those centres of the grid given
        np.testing.assert_array_equal(lat[sel.lat_index], sel.lat)
        np.testing.assert_allclose(lon[sel.lon_index] % 360.0, sel.lon % 360.0)


def test_builtin_edges_on_the_real_grid() -> None:
    conus = select_cells(BUILTIN_REGIONS["CONUS"], LAT, LON)
    assert (conus.lat[0], conus.lat[-1]) == (24.125, 49.875)
    assert (conus.lon[0], conus.lon[-1]) == (234.125, 293.875)
    prvi = select_cells(BUILTIN_REGIONS["PRVI"], LAT, LON)
    np.testing.assert_array_equal(prvi.lat, [17.625, 17.875, 18.125, 18.375])
    assert (prvi.lon[0], prvi.lon[-1]) == (292.125, 295.375)


def test_alaska_in_minus180_grid_stays_one_piece() -> None:
    """Alaska crosses the antimeridian in -180..180 terms: one contiguous run continuing past 180."""
    for convention in CONVENTIONS:
        sel = select_cells(BUILTIN_REGIONS["AK"], LAT_DESC, LON_180, convention)
        assert sel.shape == (88, 260)
        assert sel.lon[0] == 170.125
        assert sel.lon[-1] == 234.875  # 170.125 + 259 * 0.25, not -125.125
        np.testing.assert_allclose(np.diff(sel.lon), 0.25)
        # the indices walk east: 170.125 .. 179.875, then -179.875 .. -125.125 of the input grid
        np.testing.assert_allclose(LON_180[sel.lon_index[:40]], 170.125 + 0.25 * np.arange(40))
        np.testing.assert_allclose(LON_180[sel.lon_index[40:]], -179.875 + 0.25 * np.arange(220))


@pytest.mark.parametrize(
    ("key", "convention", "grid", "first", "last"),
    [
        ("CONUS", "input", "0_360", 234.125, 293.875),
        ("CONUS", "input", "-180_180", -125.875, -66.125),
        ("CONUS", "0_360", "-180_180", 234.125, 293.875),
        ("CONUS", "-180_180", "0_360", -125.875, -66.125),
        ("HI", "input", "0_360", 181.875, 205.125),
        ("HI", "input", "-180_180", -178.125, -154.875),
        ("HI", "0_360", "-180_180", 181.875, 205.125),
        ("HI", "-180_180", "0_360", -178.125, -154.875),
        ("GU", "-180_180", "0_360", 144.625, 145.875),
        ("AK", "input", "0_360", 170.125, 234.875),
        ("AK", "-180_180", "0_360", 170.125, 234.875),
    ],
)
def test_lon_convention_of_the_output(key: str, convention: str, grid: str, first: float, last: float) -> None:
    lon = LON if grid == "0_360" else LON_180
    sel = select_cells(BUILTIN_REGIONS[key], LAT, lon, convention)
    assert (sel.lon[0], sel.lon[-1]) == (first, last)


def test_unknown_lon_convention() -> None:
    with pytest.raises(ValueError, match="east"):
        select_cells(BUILTIN_REGIONS["GU"], LAT, LON, "east")


# ------------------------------------------------------------------------------------------------ custom boxes


@pytest.mark.parametrize("grid", ["0_360", "-180_180"])
def test_box_given_in_minus180_longitudes(grid: str) -> None:
    lon = LON if grid == "0_360" else LON_180
    sel = select_cells(_box(10.0, 20.0, -100.0, -80.0), LAT, lon)
    assert sel.shape == (40, 80)
    assert _centres_mod_360(sel.lon) == _centres_mod_360(-99.875 + 0.25 * np.arange(80))
    _assert_increasing(sel.lon)
    same = select_cells(_box(10.0, 20.0, 260.0, 280.0), LAT, lon)
    np.testing.assert_array_equal(sel.lon_index, same.lon_index)
    np.testing.assert_array_equal(sel.lon, same.lon)


@pytest.mark.parametrize("grid", ["0_360", "-180_180"])
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_box_crossing_greenwich(grid: str, convention: str) -> None:
    lon = LON if grid == "0_360" else LON_180
    sel = select_cells(_box(-5.0, 5.0, 350.0, 10.0), LAT, lon, convention)
    assert sel.shape == (40, 80)
    _assert_increasing(sel.lon)
    np.testing.assert_allclose(np.diff(sel.lon), 0.25)
    assert _centres_mod_360(sel.lon) == _centres_mod_360(-9.875 + 0.25 * np.arange(80))
    expected_first = {"input": 350.125 if grid == "0_360" else -9.875, "0_360": 350.125, "-180_180": -9.875}
    assert sel.lon[0] == expected_first[convention]


@pytest.mark.parametrize("grid", ["0_360", "-180_180"])
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_box_crossing_the_antimeridian(grid: str, convention: str) -> None:
    lon = LON if grid == "0_360" else LON_180
    sel = select_cells(_box(-5.0, 5.0, 170.0, -170.0), LAT_DESC, lon, convention)
    assert sel.shape == (40, 80)
    _assert_increasing(sel.lat)
    np.testing.assert_array_equal(sel.lon, 170.125 + 0.25 * np.arange(80))


def test_box_lon_width() -> None:
    assert _box(0, 1, 170.0, -170.0).lon_width == 20.0
    assert _box(0, 1, 350.0, 10.0).lon_width == 20.0
    assert _box(0, 1, -100.0, -80.0).lon_width == 20.0
    assert _box(0, 1, 0.0, 360.0).lon_width == 360.0


def test_global_box_selects_every_column_once() -> None:
    sel = select_cells(_box(-90.0, 90.0, 0.0, 360.0), LAT, LON)
    assert sel.shape == (600, 1440)
    assert len(set(sel.lon_index.tolist())) == 1440
    _assert_increasing(sel.lon)


def test_edges_are_inclusive_on_cell_centres() -> None:
    sel = select_cells(_box(10.125, 10.625, 20.125, 20.625), LAT, LON)
    np.testing.assert_array_equal(sel.lat, [10.125, 10.375, 10.625])
    np.testing.assert_array_equal(sel.lon, [20.125, 20.375, 20.625])
    # the same edges written in the other convention, on the other grid
    sel = select_cells(_box(10.125, 10.625, -20.625, -20.125), LAT_DESC, LON_180)
    np.testing.assert_array_equal(sel.lat, [10.125, 10.375, 10.625])
    np.testing.assert_array_equal(sel.lon, [-20.625, -20.375, -20.125])


def test_edges_just_inside_a_centre_exclude_it() -> None:
    sel = select_cells(_box(10.13, 10.62, 20.13, 20.62), LAT, LON)
    np.testing.assert_array_equal(sel.lat, [10.375])
    np.testing.assert_array_equal(sel.lon, [20.375])


def test_float32_coordinates_select_the_same_cells() -> None:
    for key, shape in EXPECTED_SHAPES.items():
        sel = select_cells(BUILTIN_REGIONS[key], LAT.astype(np.float32), LON.astype(np.float32))
        assert sel.shape == shape


@pytest.mark.parametrize(
    "box",
    [_box(0.0, 0.1, 20.0, 30.0), _box(0.0, 10.0, 20.2, 20.24), _box(95.0, 96.0, 0.0, 10.0)],
    ids=["no-lat", "no-lon", "north-of-grid"],
)
def test_box_without_cells_gives_empty_indices(box: Region) -> None:
    sel = select_cells(box, LAT, LON)
    assert 0 in sel.shape
    assert sel.lat_index.size * sel.lon_index.size == 0
    data = np.zeros((LAT.size, LON.size), dtype=np.float32)
    assert data[np.ix_(sel.lat_index, sel.lon_index)].size == 0


# ------------------------------------------------------------------------------------------------ brute force


def _brute_force(region: Region, lat: np.ndarray, lon: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Loop over every cell; order rows by latitude and columns eastward from the box's western edge."""
    rows = sorted(i for i in range(lat.size) if region.lat_min - 1e-9 <= lat[i] <= region.lat_max + 1e-9)
    rows.sort(key=lambda i: lat[i])
    cols = [j for j in range(lon.size) if _in_lon_box(float(lon[j]), region)]
    cols.sort(key=lambda j: (lon[j] - region.lon_min) % 360.0)
    out = np.empty((len(rows), len(cols)), dtype=data.dtype)
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            out[a, b] = data[i, j]
    return out


@pytest.mark.parametrize(
    "region",
    [
        *BUILTIN_REGIONS.values(),
        _box(-5.0, 5.0, 350.0, 10.0),
        _box(-5.0, 5.0, 170.0, -170.0),
        _box(10.0, 20.0, -100.0, -80.0),
    ],
    ids=[*BUILTIN_REGIONS, "greenwich", "antimeridian", "minus180"],
)
@pytest.mark.parametrize("grid", ["asc-0_360", "desc-180"])
def test_selected_values_match_a_brute_force_loop(region: Region, grid: str) -> None:
    """On a coarser 1° grid (fast loops), data indexed with the selection equals a cell-by-cell search."""
    lat = -59.5 + np.arange(150.0)
    lon = 0.5 + np.arange(360.0)
    if grid == "desc-180":
        lat = lat[::-1].copy()
        lon = np.sort(_to_180(lon))
    data = lat[:, None] * 1000.0 + (lon[None, :] % 360.0)  # each cell's value encodes its centre
    sel = select_cells(region, lat, lon)
    got = data[np.ix_(sel.lat_index, sel.lon_index)]
    expected = _brute_force(region, lat, lon, data)
    assert got.size > 0
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(sel.lat, lat[sel.lat_index])

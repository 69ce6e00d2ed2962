"""Reading only the parts of a grid the regions need (climnorm.read.fastread.FastReader.read_many, grids.read_boxes)
gives exactly the values netCDF4 gives for the same cells, each chunk inflated once."""

from __future__ import annotations

import itertools
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from climnorm.read import fastread, grids
from climnorm.read.extract import read_file
from climnorm.read.grids import cut_region, layout_of
from climnorm.read.orders import ReadTask
from climnorm.types import Region

NT, NY, NX = 365, 12, 36  # one noleap year, 10-degree grid: lat -55..55, lon 0..350 or -180..170
FILL = np.float32(1e20)
CHUNKINGS = {
    "one_step": (1, NY, NX),  # NEX layout
    "odd": (5, 5, 7),  # partial edge chunks on both horizontal axes
    "tiles": (73, 4, 9),
}
REGIONS = (
    Region("ZERO", "Across 0", -20.0, 20.0, -25.0, 25.0),  # 0..360 grid: the first and last columns
    Region("DATELINE", "Across 180", 30.0, 60.0, 165.0, -165.0),  # -180..180 grid: the first and last columns
    Region("WEST", "West", -60.0, -5.0, 40.0, 80.0),
    Region("EAST", "East", 10.0, 40.0, 200.0, 260.0),  # disjoint from WEST in rows and columns
    Region("INNER", "Inside EAST", 20.0, 30.0, 210.0, 230.0),
    Region("EDGE", "Last row and column", 50.0, 90.0, 340.0, 359.0),
)


def _values(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(280.0, 20.0, shape).astype("f4")
    data[rng.random(shape) < 0.1] = FILL
    data[rng.random(shape) < 0.05] = np.nan
    return data


def _write(path: Path, chunks: tuple[int, int, int], convention: str, transposed: bool) -> Path:
    """One year of daily values on the 10-degree grid, (time, lat, lon) or (time, lon, lat) in the file."""
    lon = np.arange(NX) * 10.0 - (180.0 if convention == "-180_180" else 0.0)
    lat = np.arange(NY) * 10.0 - 55.0
    dims = ("time", "lon", "lat") if transposed else ("time", "lat", "lon")
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        for name, size in (("time", None), ("lat", NY), ("lon", NX)):
            ds.createDimension(name, size)
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2001-01-01", "noleap"
        t[:] = np.arange(NT) + 0.5
        for name, values, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            ds.createVariable(name, "f8", (name,))[:] = values
            ds.variables[name].units = units
        file_chunks = (chunks[0], chunks[2], chunks[1]) if transposed else chunks
        var = ds.createVariable(
            "tas", "f4", dims, zlib=True, complevel=1, shuffle=True, chunksizes=file_chunks, fill_value=FILL
        )
        var.units, var.standard_name = "K", "air_temperature"
        var.missing_value = FILL
        data = _values((NT, NY, NX))
        var[:] = np.transpose(data, (0, 2, 1)) if transposed else data
    return path


def _expected(path: Path, region: Region) -> np.ndarray:
    """The region's daily values read by netCDF4 alone: the whole field, masked values NaN, then cut."""
    with netCDF4.Dataset(path) as ds:
        var = ds.variables["tas"]
        layout = layout_of(ds, var, str(path))
        full = np.ma.filled(np.ma.asarray(var[:]).astype(np.float32), np.nan)
        cut = cut_region(layout, region)
    assert cut is not None
    full = np.transpose(full, layout.transpose)
    return np.take(np.take(full, cut.index[0], axis=1), cut.index[1], axis=2)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize(
    ("chunking", "convention", "transposed", "part_cells"),
    [
        *itertools.product(CHUNKINGS, ["0_360", "-180_180"], [False], [0, grids.PART_CELLS, 10**9]),
        ("odd", "0_360", True, 0),
        ("one_step", "-180_180", True, 10**9),
    ],
)
def test_regions_read_from_boxes_equal_netcdf4(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunking: str,
    convention: str,
    transposed: bool,
    part_cells: int,
) -> None:
    """Every region's values, whether each region gets its own boxes (part_cells 0) or all share one (10**9)."""
    path = _write(tmp_path / "a.nc", CHUNKINGS[chunking], convention, transposed)
    monkeypatch.setattr(grids, "PART_CELLS", part_cells)
    inflated: list[bytes] = []
    decompress = fastread.deflate.zlib_decompress

    def counting(data: bytes, size: int) -> bytes:
        inflated.append(data)
        return decompress(data, size)

    monkeypatch.setattr(fastread.deflate, "zlib_decompress", counting)
    fast = read_file(ReadTask(str(path), "tas", REGIONS, "calendar_day", (2001,), fast_read_threads=1))
    assert fast.fast_path and not fast.empty_regions
    assert len(inflated) == len(set(inflated)), "a chunk was inflated twice"
    slow = read_file(ReadTask(str(path), "tas", REGIONS, "calendar_day", (2001,), fast_read=False))
    for region in REGIONS:
        expected = _expected(path, region)
        assert np.isnan(expected).any() and np.isfinite(expected).any()
        for result in (fast, slow):
            piece = result.pieces[(2001, region.key)]
            assert piece.values.shape == expected.shape
            np.testing.assert_array_equal(_bits(piece.values), _bits(expected))
            np.testing.assert_array_equal(piece.steps, np.ones(NT))
    assert fast.bytes_read == slow.bytes_read


def test_boxes_hold_every_region_and_join_when_cheaper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "a.nc", CHUNKINGS["one_step"], "0_360", False)
    with netCDF4.Dataset(path) as ds:
        layout = layout_of(ds, ds.variables["tas"], str(path))
    cuts = {r.key: c for r in REGIONS if (c := cut_region(layout, r)) is not None}
    monkeypatch.setattr(grids, "PART_CELLS", 0)
    boxes, where = grids.read_boxes(cuts)
    assert boxes[where["ZERO"][0]].cols == ((0, 3), (34, 36))  # across 0: the first and last columns
    assert where["INNER"][0] == where["EAST"][0]  # inside EAST: no box of its own
    assert len({where[k][0] for k in ("WEST", "EAST", "ZERO")}) == 3
    monkeypatch.setattr(grids, "PART_CELLS", 10**9)
    boxes, where = grids.read_boxes(cuts)
    assert len(boxes) == 1 and len(boxes[0].cols) == 1


SELECTIONS = [
    [slice(None), slice(None), [slice(0, 3), slice(30, 36)]],  # first and last columns (a wrapping region)
    [slice(3, 200), [slice(1, 4), slice(6, 12)], [slice(5, 9), slice(13, 14), slice(20, 33)]],
    [slice(364, 365), slice(11, 12), [slice(35, 36)]],  # last step, row and column: edge chunks
    [slice(0, 10), [slice(2, 2), slice(4, 6)], slice(0, 36)],  # an empty range is dropped
    [slice(5, 5), slice(None), slice(None)],  # empty
]


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("threads", [1, 2])
def test_read_many_equals_netcdf4_hyperslabs(tmp_path: Path, chunking: str, threads: int) -> None:
    path = _write(tmp_path / "a.nc", CHUNKINGS[chunking], "0_360", False)
    fast = fastread.reader_for(str(path), "tas", threads=threads)
    assert fast is not None
    got = fast.read_many(SELECTIONS)
    assert got is not None and len(got) == len(SELECTIONS) and not fast.failed
    with netCDF4.Dataset(path) as ds:
        var = ds.variables["tas"]
        var.set_auto_maskandscale(False)
        for selection, out in zip(SELECTIONS, got, strict=True):
            parts = [[item] if isinstance(item, slice) else item for item in selection]
            expected = _outer(var, parts)
            assert out.shape == expected.shape, selection
            np.testing.assert_array_equal(_bits(out), _bits(expected))


def _outer(var: netCDF4.Variable, parts: list[list[slice]]) -> np.ndarray:
    """netCDF4's values of an outer selection: each axis's ranges read separately and laid side by side."""
    rows = []
    for r in parts[1]:
        cols = [np.asarray(var[parts[0][0], r, c]) for c in parts[2]]
        rows.append(np.concatenate(cols, axis=2))
    return np.concatenate(rows, axis=1)

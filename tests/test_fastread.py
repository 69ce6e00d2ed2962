"""The fast read path (climnorm.read.fastread) returns exactly what netCDF4 returns, or declines and netCDF4 reads."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest

from climnorm.errors import InputFileError
from climnorm.read import fastread
from climnorm.read.extract import _read_block, read_file
from climnorm.read.orders import ReadTask
from climnorm.regions import BUILTIN_REGIONS, Region
from climnorm.synth import SynthSpec, file_path, write_year

NT, NY, NX = 7, 12, 16
FILL = 1e20
CHUNKINGS = {
    "one_step": (1, NY, NX),  # NEX layout
    "partial_time": (3, NY, NX),  # 7 steps: the last chunk holds one
    "halves": (2, NY // 2, NX),
    "odd": (2, 5, 7),  # partial chunks on every axis
    "longer_than_time": (10, NY, NX),  # one chunk, longer than the data
}
INDEXES = [
    (slice(None), slice(None), slice(None)),
    (slice(2, 6), slice(3, 10), slice(None)),
    (slice(6, 7), slice(0, 1), slice(5, 16)),
    (slice(1, 5), slice(4, 9), slice(2, 13)),
    (slice(3, 3), slice(None), slice(None)),  # empty
]


def _values(dtype: str, seed: int = 0) -> np.ndarray:
    """Random values with a spread of exponents, 1e20 fill holes and NaN holes."""
    rng = np.random.default_rng(seed)
    data = (rng.normal(280.0, 40.0, (NT, NY, NX)) * 10.0 ** rng.integers(-3, 4, (NT, NY, NX))).astype(dtype)
    data[rng.random(data.shape) < 0.1] = FILL
    data[rng.random(data.shape) < 0.05] = np.nan
    data[0, 0, :3] = [0.0, -0.0, np.finfo(dtype).tiny]
    return data


def _write(path: Path, dtype: str = "f4", endian: str = "native", **encoding: object) -> Path:
    """One NetCDF4 file holding the same values in one variable per chunking in CHUNKINGS."""
    stored = np.dtype(dtype).newbyteorder({"big": ">", "little": "<"}.get(endian, "="))
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", NY)
        ds.createDimension("lon", NX)
        for name, chunks in CHUNKINGS.items():
            var = ds.createVariable(
                name, stored, ("time", "lat", "lon"), chunksizes=chunks, endian=endian, fill_value=FILL, **encoding
            )
            var.missing_value = np.asarray(FILL, dtype=dtype)
            var.set_auto_maskandscale(False)
            var[:] = _values(dtype)
    return path


def _raw(var: netCDF4.Variable, index: tuple[slice, ...]) -> np.ndarray:
    var.set_auto_maskandscale(False)
    return np.asarray(var[index])


def _assert_bits_equal(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert a.dtype.kind == b.dtype.kind and a.dtype.itemsize == b.dtype.itemsize
    ints = f"=u{a.dtype.itemsize}"
    np.testing.assert_array_equal(
        a.astype(a.dtype.newbyteorder("=")).view(ints), b.astype(b.dtype.newbyteorder("=")).view(ints)
    )


@pytest.mark.parametrize(
    ("shuffle", "complevel", "dtype", "endian"),
    list(itertools.product([False, True], [1, 4, 9], ["f4", "f8"], ["little", "big"])),
)
def test_bit_identical_to_netcdf4(tmp_path: Path, shuffle: bool, complevel: int, dtype: str, endian: str) -> None:
    path = _write(tmp_path / "a.nc", dtype, endian, zlib=True, complevel=complevel, shuffle=shuffle)
    with netCDF4.Dataset(path) as ds:
        for name in CHUNKINGS:
            var = ds.variables[name]
            assert var.endian() == endian
            fast = fastread.reader_for(str(path), name, var.shape, threads=2 if name == "odd" else 1)
            assert fast is not None, name
            assert (fast.shuffle_bit is not None) == shuffle
            for index in INDEXES:
                expected = _raw(var, index)
                got = fast.read(index)
                assert got is not None
                assert got.dtype.isnative
                _assert_bits_equal(got, expected)
                # what extract makes of it, fill values to NaN included
                _assert_bits_equal(_read_block(var, index, str(path), fast), _read_block(var, index, str(path)))
            assert not fast.failed


def test_threads_give_the_same_bits(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.nc", zlib=True, complevel=1, shuffle=True)
    index = (slice(1, 7), slice(2, 11), slice(None))
    one = fastread.reader_for(str(path), "odd", threads=1)
    four = fastread.reader_for(str(path), "odd", threads=4)
    assert one is not None and four is not None
    _assert_bits_equal(one.read(index), four.read(index))  # type: ignore[arg-type]


def test_no_threads_available_inflates_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a tight address-space cap a thread may not start; the read then runs on the calling thread."""

    class NoThreads:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("can't start new thread")

    path = _write(tmp_path / "a.nc", zlib=True, complevel=1, shuffle=True)
    fast = fastread.reader_for(str(path), "one_step", threads=2)
    assert fast is not None
    monkeypatch.setattr(fastread, "ThreadPoolExecutor", NoThreads)
    got = fast.read((slice(None),) * 3)
    assert got is not None and not fast.failed and fast.threads == 1
    with netCDF4.Dataset(path) as ds:
        _assert_bits_equal(got, _raw(ds.variables["one_step"], (slice(None),) * 3))


def test_h5py_file_with_chunks_that_skipped_filters(tmp_path: Path) -> None:
    """HDF5 records per chunk which (optional) filters were skipped; those chunks are stored less encoded."""
    path = tmp_path / "h5.nc"
    data = _values("f4")
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", data=data, chunks=(1, NY, NX), shuffle=True, compression="gzip", compression_opts=4)
        plane = data[3]
        shuffled = np.frombuffer(plane.tobytes(), np.uint8).reshape(-1, 4).T.copy().tobytes()
        ds.id.write_direct_chunk((3, 0, 0), shuffled, filter_mask=0b10)  # shuffled, not deflated
        ds.id.write_direct_chunk((5, 0, 0), data[5].tobytes(), filter_mask=0b11)  # stored as is
    with h5py.File(path, "r") as f:
        expected = f["v"][:]
    _assert_bits_equal(expected, data)
    fast = fastread.reader_for(str(path), "v")
    assert fast is not None
    _assert_bits_equal(fast.read((slice(None),) * 3), data)  # type: ignore[arg-type]


def _classic(path: Path) -> tuple[Path, str]:
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as ds:
        for dim, n in zip(("time", "lat", "lon"), (NT, NY, NX), strict=True):
            ds.createDimension(dim, n)
        ds.createVariable("v", "f4", ("time", "lat", "lon"), fill_value=FILL)[:] = _values("f4")
    return path, "not an HDF5-based"


def _nc4(path: Path, reason: str, attrs: dict[str, float] | None = None, **encoding: object) -> tuple[Path, str]:
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", NT if encoding.get("contiguous") else None)
        ds.createDimension("lat", NY)
        ds.createDimension("lon", NX)
        if encoding.pop("packed", False):
            var = ds.createVariable("v", "i2", ("time", "lat", "lon"), fill_value=-32767, **encoding)
            var.scale_factor, var.add_offset = 0.01, 280.0
            var.set_auto_maskandscale(False)
            var[:] = np.where(_values("f4") > 1e10, -32767, np.arange(NT * NY * NX).reshape(NT, NY, NX) % 3000)
        else:
            var = ds.createVariable("v", "f4", ("time", "lat", "lon"), fill_value=FILL, **encoding)
            var.setncatts(attrs or {})
            var.set_auto_maskandscale(False)
            var[:] = _values("f4")
    return path, reason


def _h5_reversed_filters(path: Path) -> tuple[Path, str]:
    """Deflate, then shuffle: not HDF5's usual order, so the bytes would need undoing the other way round."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk((1, NY, NX))
    dcpl.set_deflate(4)
    dcpl.set_shuffle()
    with h5py.File(path, "w") as f:
        space = h5py.h5s.create_simple((NT, NY, NX))
        dsid = h5py.h5d.create(f.id, b"v", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        ds = h5py.Dataset(dsid)
        ds[:] = _values("f4")
    return path, "filters deflate + shuffle"


def _gaps(path: Path) -> tuple[Path, str]:
    """Steps 2-4 never written: HDF5 never allocated their chunks."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", NY)
        ds.createDimension("lon", NX)
        var = ds.createVariable("v", "f4", ("time", "lat", "lon"), fill_value=FILL, zlib=True, chunksizes=(1, NY, NX))
        var[0:2] = _values("f4")[0:2]
        var[5:7] = _values("f4")[5:7]
    return path, "not allocated"


def _short(path: Path) -> tuple[Path, str]:
    """``v`` has fewer steps than the unlimited dimension: netCDF4 pads the rest with fill values."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", NY)
        ds.createDimension("lon", NX)
        ds.createVariable("time", "f8", ("time",))[:] = np.arange(NT)
        var = ds.createVariable("v", "f4", ("time", "lat", "lon"), fill_value=FILL, zlib=True, chunksizes=(1, NY, NX))
        var[0:4] = _values("f4")[0:4]
    return path, "differs from the NetCDF shape"


FALLBACKS = {
    "netcdf3": _classic,
    "fletcher32": lambda p: _nc4(p, "fletcher32", zlib=True, fletcher32=True),
    "packed": lambda p: _nc4(p, "data type", zlib=True, packed=True),
    "packed_float": lambda p: _nc4(p, "packed data (scale_factor)", {"scale_factor": 2.0}, zlib=True),
    "contiguous": lambda p: _nc4(p, "not chunked", contiguous=True),
    "chunked_uncompressed": lambda p: _nc4(p, "filters none", chunksizes=(1, NY, NX)),
    "shuffle_only": lambda p: _nc4(p, "filters", shuffle=True, chunksizes=(1, NY, NX)),
    "zstd": lambda p: _nc4(p, "filters", compression="zstd", complevel=4),
    "shuffle_zstd": lambda p: _nc4(p, "filters", compression="zstd", shuffle=True),
    "szip": lambda p: _nc4(p, "filters", compression="szip", szip_coding="nn", szip_pixels_per_block=8),
    "deflate_then_shuffle": lambda p: _h5_reversed_filters(p),
    "unallocated_chunks": _gaps,
    "shorter_than_unlimited": _short,
}


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_files_that_do_not_qualify_take_the_netcdf4_path(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        path, reason = FALLBACKS[case](tmp_path / f"{case}.nc")
    except (RuntimeError, ValueError) as err:  # a filter this netCDF4 build lacks
        pytest.skip(f"cannot write a {case} file with this netCDF4 build: {err}")
    with netCDF4.Dataset(path) as ds:
        var = ds.variables["v"]
        with caplog.at_level(logging.DEBUG, logger="climnorm.read.fastread"):
            assert fastread.reader_for(str(path), "v", var.shape) is None
        assert reason in caplog.text
        assert "netCDF4 read path" in caplog.text
        index = (slice(None), slice(2, 9), slice(None))
        assert np.isnan(_read_block(var, index, str(path), None)).any()


def test_corrupt_chunk_falls_back_to_netcdf4(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.nc", zlib=True, complevel=4, shuffle=True)
    fast = fastread.reader_for(str(path), "one_step")
    assert fast is not None
    ref = fast.index[(4, 0, 0)]
    with open(path, "r+b") as fh:
        fh.seek(ref.offset + ref.size // 2)
        fh.write(b"\xff" * 16)
    assert fast.read((slice(0, 4), slice(None), slice(None))) is not None
    assert fast.read((slice(None),) * 3) is None
    assert fast.failed


def test_truncated_file_falls_back(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.nc", zlib=True, complevel=1)
    fast = fastread.reader_for(str(path), "one_step")
    assert fast is not None
    last = max(fast.index.values(), key=lambda r: r.offset)
    with open(path, "r+b") as fh:
        fh.truncate(last.offset + 2)
    assert fast.read((slice(None),) * 3) is None


def test_missing_variable_and_non_float(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.nc", zlib=True)
    assert fastread.reader_for(str(path), "nope") is None
    with netCDF4.Dataset(path, "a") as ds:
        ds.createVariable("i", "i4", ("time", "lat", "lon"), zlib=True)[:] = np.ones((NT, NY, NX), "i4")
    assert fastread.reader_for(str(path), "i") is None
    assert fastread.reader_for(str(tmp_path / "missing.nc"), "v") is None


SPEC = SynthSpec(
    variables=("tas",),
    historical_years=(2001, 2001),
    calendar="standard",
    resolution=1.0,
    box=(10.0, 75.0, 140.0, 300.0),
    holes=0.02,
)


@pytest.mark.parametrize("shuffle", [True, False])
def test_read_file_identical_both_ways(tmp_path: Path, shuffle: bool) -> None:
    spec = SynthSpec(**{**SPEC.__dict__, "shuffle": shuffle})
    path = write_year(file_path(tmp_path, spec, "tas", "historical", 2001), spec, "tas", "historical", 2001)
    regions = (*BUILTIN_REGIONS.values(), Region("DATELINE", "Dateline", 50.0, 70.0, 170.0, -170.0))
    task = ReadTask(str(path), "tas", regions, "calendar_day", (2001,))
    fast = read_file(task)
    slow = read_file(ReadTask(str(path), "tas", regions, "calendar_day", (2001,), fast_read=False))
    single = read_file(ReadTask(str(path), "tas", regions, "calendar_day", (2001,), fast_read_threads=1))
    assert fast.fast_path and single.fast_path and not slow.fast_path
    assert fast.pieces and fast.pieces.keys() == slow.pieces.keys() == single.pieces.keys()
    for key, piece in slow.pieces.items():
        for other in (fast, single):
            _assert_bits_equal(other.pieces[key].values, piece.values)
            np.testing.assert_array_equal(other.pieces[key].steps, piece.steps)
    assert any(np.isnan(p.values).any() for p in slow.pieces.values())
    assert fast.grids.keys() == slow.grids.keys()
    assert fast.empty_regions == slow.empty_regions
    assert fast.bytes_read == slow.bytes_read
    assert (fast.impossible, fast.impossible_rule) == (slow.impossible, slow.impossible_rule)


def test_read_file_corrupt_chunk_reports_like_netcdf4(tmp_path: Path) -> None:
    path = write_year(file_path(tmp_path, SPEC, "tas", "historical", 2001), SPEC, "tas", "historical", 2001)
    fast = fastread.reader_for(str(path), "tas")
    assert fast is not None
    ref = fast.index[(100, 0, 0)]
    with open(path, "r+b") as fh:
        fh.seek(ref.offset + ref.size // 2)
        fh.write(b"\x00\xff" * 32)
    errors = []
    for on in (True, False):
        task = ReadTask(str(path), "tas", (BUILTIN_REGIONS["CONUS"],), "calendar_day", (2001,), fast_read=on)
        with pytest.raises(InputFileError) as err:
            read_file(task)
        errors.append(str(err.value))
    assert errors[0] == errors[1]

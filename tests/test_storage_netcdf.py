"""A real NetCDF4 file on S3 (moto): h5py through the file-like view, netCDF4 from memory, chunks by ranged reads."""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path

import h5py
import netCDF4
import numpy as np
import pytest

from climnorm.storage import LocalSource, S3Source, StorageOptions, open_source
from s3server import FaultProxy

pytest.importorskip("obstore", reason="needs the s3 extra")
pytest.importorskip("moto.server", reason="needs the test-s3 extra")
pytest_plugins = ("conftest_s3",)


def _chunk_index(f: h5py.File) -> list[tuple[tuple[int, ...], int, int, int]]:
    dsid = f["tas"].id
    infos = [dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks())]
    return [(i.chunk_offset, i.filter_mask, i.byte_offset, i.size) for i in infos]


def test_h5py_opens_the_object_and_its_chunk_index_equals_the_local_one(
    nc_on_s3: str, netcdf_file: Path, anon_options: StorageOptions, proxy: FaultProxy
) -> None:
    source = S3Source(f"s3://{nc_on_s3}", anon_options)
    with h5py.File(netcdf_file, "r") as local, h5py.File(source.open(), "r") as remote:
        assert _chunk_index(remote) == _chunk_index(local)
        iterated: list[tuple[int, ...]] = []
        remote["tas"].id.chunk_iter(lambda info: iterated.append(info.chunk_offset))
        assert len(iterated) == 200
        opened = source.stats()
        np.testing.assert_array_equal(remote["tas"][17], local["tas"][17])
        np.testing.assert_array_equal(remote["lat"][:], local["lat"][:])
    assert opened.requests == len(proxy.seen(nc_on_s3.split("/", 1)[1])) - (source.stats().requests - opened.requests)
    assert opened.requests <= 8, opened  # HEAD + a few blocks: superblock, headers, B-tree nodes
    assert opened.bytes_fetched <= netcdf_file.stat().st_size


def test_small_blocks_fetch_fewer_bytes_for_the_same_index(nc_on_s3: str, anon_options: StorageOptions) -> None:
    small = replace(anon_options, reads=replace(anon_options.reads, block_size=64 * 1024))
    big = S3Source(f"s3://{nc_on_s3}", anon_options)
    little = S3Source(f"s3://{nc_on_s3}", small)
    for source in (big, little):
        with h5py.File(source.open(), "r") as f:
            assert len(_chunk_index(f)) == 200
    assert little.stats().bytes_fetched < big.stats().bytes_fetched
    assert little.stats().cache_hits > 0


def test_netcdf4_from_memory_equals_the_local_read(
    nc_on_s3: str, netcdf_file: Path, anon_options: StorageOptions
) -> None:
    source = open_source(f"s3://{nc_on_s3}", anon_options)
    data = source.read_all()
    assert len(data) == source.size == netcdf_file.stat().st_size
    with pytest.raises(OSError):  # libnetcdf takes an s3:// name for a URL to fetch itself, memory= or not
        netCDF4.Dataset(source.name, memory=data)
    name = source.name.rsplit("/", 1)[-1]  # so give it a plain name
    with netCDF4.Dataset(name, memory=data) as remote, netCDF4.Dataset(netcdf_file) as local:
        np.testing.assert_array_equal(remote["tas"][:], local["tas"][:])
        np.testing.assert_array_equal(remote["time"][:], local["time"][:])
        assert remote["tas"].units == "K"


def test_chunks_read_by_coalesced_ranges_decompress_to_the_data(
    nc_on_s3: str, netcdf_file: Path, anon_options: StorageOptions, proxy: FaultProxy
) -> None:
    with h5py.File(netcdf_file, "r") as local:
        index = _chunk_index(local)
        expected = local["tas"][:]
    ranges = [(offset, size) for _, _, offset, size in index]
    source = S3Source(f"s3://{nc_on_s3}", anon_options)
    proxy.clear()
    raw = source.read_ranges(ranges)
    assert raw == LocalSource(netcdf_file).read_ranges(ranges)
    gets = proxy.seen(nc_on_s3.split("/", 1)[1], "GET")
    assert len(gets) < len(ranges) / 20  # 200 chunk ranges, adjacent in the file: a handful of requests
    lat, lon = expected.shape[1:]
    for (step, _, _), payload in zip([c[0] for c in index], raw, strict=True):
        values = np.frombuffer(zlib.decompress(payload), dtype="<f4").reshape(lat, lon)
        np.testing.assert_array_equal(values, expected[step])


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_one_interface_for_both_kinds(
    kind: str, nc_on_s3: str, netcdf_file: Path, anon_options: StorageOptions
) -> None:
    location = str(netcdf_file) if kind == "local" else f"s3://{nc_on_s3}"
    source = open_source(location, anon_options)
    assert source.name == location and source.size == netcdf_file.stat().st_size
    assert source.read_ranges([(0, 8)]) == [b"\x89HDF\r\n\x1a\n"]
    with h5py.File(source.open(), "r") as f:
        assert f["tas"].shape == (200, 60, 120)
    ident = source.identity
    assert (ident.mtime_ns is not None) == (kind == "local") and (ident.etag is not None) == (kind == "s3")
